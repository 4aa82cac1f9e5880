"""Eager PyTorch's oneDNN paths (``mncost.latency.model.OneDnnPaths``): the rule against what
torch 2.13's oneDNN was seen to do on this project's machine, its padded work by hand,
inferring it from probes, reading oneDNN's verbose log, the device profile's ``model.layout``;
and (torch) the probe and the rule against a real oneDNN, on every conv of real networks."""

from __future__ import annotations

import json

import pytest
from _helpers import assert_profile_refused

from mncost import resolve_model
from mncost.latency import device_profile as dp
from mncost.latency import model as lm
from mncost.torch_backend import onednn_probe as probe

#: (cin, cout, groups, kernel, stride) -> (ran through oneDNN, padded), as oneDNN 3.12's
#: verbose log had them in torch 2.13 at 1 thread on an AVX-512 CPU (read by hand).
SEEN_1_THREAD = {
    (72, 72, 72, 3, 1): (True, True), (80, 80, 80, 3, 1): (True, False),
    (88, 88, 88, 3, 1): (True, True), (24, 24, 24, 5, 2): (True, True),
    (3, 32, 1, 3, 2): (True, False),            # the stem: reads NCHW, writes 2 blocks
    (12, 32, 1, 3, 1): (True, False),           # fewer than 16 inputs: read as they are
    (20, 32, 1, 3, 1): (True, True), (24, 40, 1, 3, 1): (True, True),
    (32, 64, 1, 1, 1): (False, False),          # 1x1 stride 1: PyTorch's own kernel
    (40, 40, 1, 1, 1): (False, False),
    (24, 40, 1, 1, 2): (True, True),            # strided 1x1: oneDNN
    (48, 48, 2, 3, 1): (True, False),           # 24 per group: blocks of 8, no padding
}
TORCH_2_13 = lm.OneDnnPaths(block=16, pointwise=False)


def test_the_rule_reproduces_what_onednn_did():
    for conv, (ran, padded) in SEEN_1_THREAD.items():
        assert TORCH_2_13.onednn_conv(*conv) == ran, conv
        assert TORCH_2_13.padded_conv(*conv) == padded, conv


def test_v1_at_alpha_0_6_by_hand():
    # 19, 38, 76, 153, 307, 614 channels: every depthwise conv is padded to 16s, every
    # pointwise conv is PyTorch's own (1x1, stride 1, 1 thread), the stem writes 19 of 32.
    net = resolve_model("v1", 0.6, 144)
    model = lm.LatencyModel({}, 0.0, 0.0, layout=TORCH_2_13)
    kernels = {model.kernel(l) for l in net.layers}
    assert kernels == {"conv@stem", "depthwise@padded", "pointwise", "pool", "fc"}
    dw = net.layer("layers.5.dw")                        # 153 channels at 18 x 18
    assert model.effective_channels(dw) == (160, 160)
    h, w = dw.out_shape.h, dw.out_shape.w
    assert model.features(dw)[0] == 160 * 9 * h * w
    read, written, weights = 153 * dw.in_shape.h * dw.in_shape.w, 160 * h * w, 153 * 10
    assert model.features(dw)[1] == 4 * (160 * dw.in_shape.h * dw.in_shape.w + written
                                         + weights) and read
    pw = net.layer("layers.5.pw")
    assert model.effective_channels(pw) == (153, 153)
    stem = net.layers[0]
    assert model.effective_channels(stem) == (3, 32)
    assert model.features(stem)[0] == 32 * 3 * 9 * stem.out_shape.h * stem.out_shape.w


def test_at_more_threads_pointwise_convs_are_onednn_too():
    rule = lm.OneDnnPaths(16, pointwise=True)
    net = resolve_model("v1", 0.6, 144)
    pw = net.layer("layers.5.pw")                        # 153 -> 153
    assert rule.kernel(pw) == "pointwise@padded"
    assert rule.effective_channels(pw) == (160, 160)
    assert rule.features(pw, 4)[0] == 160 * 160 * pw.out_shape.h * pw.out_shape.w
    assert rule.kernel(net.layer("layers.2.pw")) == "pointwise@padded"      # 38 -> 76


def _padded(model, alpha):
    net = resolve_model(model, alpha, 160)
    return [(l.name, l.out_shape.c) for l in net.layers
            if TORCH_2_13.padded(l) and l.inputs != ("input",)]


def test_networks_in_multiples_of_16_have_no_padded_kernel():
    for model, alpha in (("v1", 1.0), ("v1", 0.5), ("v2", 1.0)):
        assert _padded(model, alpha) == [], (model, alpha)
    # MnasNet's 3x-expanded 24 and 40 channels are 72 and 120: multiples of 8, not of 16.
    assert _padded("mnasnet", 1.0) == [("layers.3.1.dw", 72), ("layers.3.2.dw", 72),
                                       ("layers.4.0.dw", 72), ("layers.4.1.dw", 120),
                                       ("layers.4.2.dw", 120)]


def test_grouped_convs_and_non_convs_have_no_variant():
    net = resolve_model("v1", 0.6, 144)
    assert TORCH_2_13.kernel(net.layers[-1]) == "fc"
    assert TORCH_2_13.effective_channels(net.layers[-1]) == (net.layers[-1].in_shape.c,
                                                             net.layers[-1].out_shape.c)
    assert not TORCH_2_13.padded_conv(36, 36, 3, 3, 1)     # 12 per group


@pytest.mark.parametrize("block, pointwise", [(16, False), (16, True), (8, False), (32, True)])
def test_infer_onednn_recovers_a_known_rule_from_the_probes(block, pointwise):
    truth = lm.OneDnnPaths(block, pointwise)
    observed = [(*c, truth.onednn_conv(*c), truth.padded_conv(*c)) for c in lm.ONEDNN_PROBES]
    assert lm.infer_onednn(observed) == truth


def test_infer_onednn_without_onednn_or_a_consistent_rule():
    assert lm.infer_onednn([(*c, False, False) for c in lm.ONEDNN_PROBES]) is None
    # 24 channels padded and 40 not: no block explains both.
    assert lm.infer_onednn([(24, 24, 24, 3, 1, True, True),
                            (40, 40, 40, 3, 1, True, False)]) is None
    # a 3x3 conv PyTorch kept: no rule has that.
    assert lm.infer_onednn([(16, 16, 16, 3, 1, True, False),
                            (32, 32, 1, 3, 1, False, False)]) is None


#: Lines of oneDNN 3's verbose log (torch 2.13), cut to what matters, and one of oneDNN 2's.
LOG = [
    "onednn_verbose,v1,info,oneDNN v3.12.0 (commit 80afa71049cd69a3df32adcccb623b12cd7baa22)",
    "onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:abcd::f0 "
    "dst:f32:p:blocked:aBcd16b::f0,attr-scratchpad:user,,1x24x36x36,0.007",
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit_dw:avx512_core,forward_training,"
    "src:f32:ap:blocked:aBcd16b::f0 wei:f32:ap:blocked:Abcde16a::f0 bia:f32:a:blocked:a::f0 "
    "dst:f32:ap:blocked:aBcd16b::f0,attr-scratchpad:user,alg:convolution_direct,"
    "g24mb1_ic24oc24_ih36oh36kh3sh1dh0ph1_iw36ow36kw3sw1dw0pw1,0.0849609",
    "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx512_core,forward_training,"
    "src:f32:a:blocked:abcd::f0 wei:f32:a:blocked:Acdb16a::f0 bia:f32:a:blocked:a::f0 "
    "dst:f32:a:blocked:aBcd16b::f0,attr-scratchpad:user,alg:convolution_direct,"
    "mb1_ic3oc32_ih224oh112kh3sh2dh0ph1_iw224ow112kw3sw2dw0pw1,0.2",
    "onednn_verbose,create:cache_miss,cpu,convolution,jit_1x1:avx512_core,forward_training,"
    "src:f32:ap:blocked:aBcd16b::f0,,alg:convolution_direct,mb1_ic40oc40_ih9oh9kh1sh1,0.01",
    "dnnl_verbose,exec,cpu,convolution,jit:avx2,forward_inference,src_f32:p:blocked:aBcd8b:f0 "
    "wei_f32::blocked:ABcd8b8a:f0 dst_f32:p:blocked:aBcd8b:f0,,alg:convolution_direct,"
    "mb1_ic12oc20_ih16oh16kh3sh1dh0ph1_iw16ow16kw3sw1dw0pw1,0.03",
]


def test_the_log_says_which_convs_ran_and_padded():
    assert probe.executed_convs(LOG) == {(24, 24, 24, 3, 1, 36): True,
                                         (3, 32, 1, 3, 2, 224): False,
                                         (12, 20, 1, 3, 1, 16): True}
    seen = probe.observations(LOG, [(24, 24, 24, 3, 1, 36), (3, 32, 1, 3, 2, 224),
                                    (32, 32, 1, 1, 1, 36), (3, 32, 1, 3, 2)])
    assert seen == [(24, 24, 24, 3, 1, True, True), (3, 32, 1, 3, 2, True, False),
                    (32, 32, 1, 1, 1, False, False), (3, 32, 1, 3, 2, False, False)]


def _doc(model):
    return {"schema": "mncost.device/1", "runtime": "eager", "threads": 1,
            "environment": {}, "model": model.to_dict(),
            "coverage": {"alpha": [0.35, 1.0], "resolution": [96, 224],
                         "macs": [1, 10 ** 10]}}


KINDS = {"conv": (1e-9, 1e-7, 1e-3), "conv@stem": (2e-9, 1e-7, 1e-3),
         "depthwise": (3e-9, 1e-7, 1e-3), "depthwise@padded": (3e-9, 5e-7, 1e-3),
         "pointwise": (1e-9, 1e-8, 1e-3), "pool": (0.0, 1e-7, 1e-3), "fc": (1e-9, 1e-8, 0.0)}


def test_device_profile_keeps_the_rule_and_the_variants(tmp_path):
    path = tmp_path / "dev.json"
    model = lm.LatencyModel(KINDS, 0.002, 0.3, layout=TORCH_2_13)
    path.write_text(json.dumps(_doc(model)))
    dev = dp.load_device(str(path))
    assert dev.model.layout == TORCH_2_13
    assert dev.model.kinds["depthwise@padded"] == KINDS["depthwise@padded"]
    net = resolve_model("v1", 0.6, 144)
    assert dev.outside(net) == []
    assert dev.model.predict(net).total_ms == model.predict(net).total_ms
    # the padded kernel costs more per byte: the same layer, unpadded rule, is cheaper
    dw = net.layer("layers.5.dw")
    assert model.kernel(dw) == "depthwise@padded"
    assert model.coefficients(dw) == lm.full_coefficients(KINDS["depthwise@padded"])


def test_an_uncalibrated_padded_kernel_falls_back_and_is_named(tmp_path):
    kinds = {k: v for k, v in KINDS.items() if k != "depthwise@padded"}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(lm.LatencyModel(kinds, 0.0, 0.0, layout=TORCH_2_13))))
    notes = dp.load_device(str(path)).outside(resolve_model("v1", 0.6, 144))
    assert notes == ["kernels never calibrated, predicted with their kind's coefficients: "
                     "depthwise@padded"]


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(layout=None), "model.kinds.depthwise@padded: unknown layer kind"),
    (lambda m: m["layout"].update(name="nchwc"),
     "model.layout.pointwise: unknown field"),
    (lambda m: m["layout"].update(block=0), "model.layout.block: must be an integer 1-1024"),
    (lambda m: m["layout"].update(pointwise=1), "model.layout.pointwise: must be true or"),
    (lambda m: m["layout"].pop("pointwise"), "model.layout.pointwise: must be true or false"),
    (lambda m: m["layout"].update(name=["onednn"]), "model.layout.name: must be one of"),
    (lambda m: m["kinds"].update({"depthwise@nchw": m["kinds"]["conv"]}),
     "model.kinds.depthwise@nchw: unknown layer kind"),
])
def test_bad_onednn_layouts_are_one_line(tmp_path, edit, message):
    doc = _doc(lm.LatencyModel(KINDS, 0.002, 0.3, layout=TORCH_2_13))
    edit(doc["model"])
    assert_profile_refused(tmp_path, doc, message)


# ---------------------------------------------------------------------------------------------
# Against the installed PyTorch


def _onednn_here():
    torch = pytest.importorskip("torch")
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch has no oneDNN")


@pytest.mark.torch
def test_the_probe_finds_a_rule_that_explains_every_probe():
    _onednn_here()
    for threads in (1, 2):
        rule, observed = probe.probe_onednn(threads)
        assert rule is not None, observed
        assert rule.pointwise == (threads > 1)
        for *conv, ran, padded in observed:
            assert (rule.onednn_conv(*conv), rule.padded_conv(*conv)) == (ran, padded), conv


@pytest.mark.torch
@pytest.mark.parametrize("threads", [1, 2])
def test_the_rule_holds_for_every_conv_of_real_networks(threads):
    # Beyond the probes: every conv of networks at ragged and round alphas, on its own input
    # map (SE convs on 1 x 1), as oneDNN's log has it. v1-conv is left out at small sizes:
    # its last 3x3 convs are the small-map exception the rule leaves out (its docstring).
    _onednn_here()
    rule = probe.probe_onednn(threads)[0]
    layers = {(l.in_shape.c, l.out_shape.c, l.groups, l.kernel, l.stride, l.in_shape.h): l
              for model, alpha, res in (("v1", 0.6, 144), ("v1-conv", 1.0, 224),
                                        ("v2", 0.75, 160), ("v3-large", 0.9, 160),
                                        ("v4-conv-small", 0.6, 160), ("mnasnet", 1.0, 128),
                                        ("efficientnet-b0", 1.0, 160))
              for l in resolve_model(model, alpha, res).layers
              if rule.applies(l) and l.in_shape.h == l.in_shape.w}
    convs = sorted(layers)
    seen = probe.observations(probe.run_probes(threads, convs).splitlines(), convs)
    wrong = [(*c, ran, padded) for c, (*_, ran, padded) in zip(convs, seen)
             if (rule.onednn(layers[c]), rule.padded(layers[c])) != (ran, padded)]
    assert wrong == [], wrong
    assert any(padded for *_, padded in seen) and any(not ran for *_, ran, _ in seen)
