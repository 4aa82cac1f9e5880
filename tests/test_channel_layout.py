"""Kernel variants by channel layout (``mncost.latency.model.ChannelLayout``): the rule against
what ONNX Runtime 1.32 was seen to do on this project's machine, inferring the rule from
probes, fitting blocked and plain kernels apart, and the device profile's ``model.layout``.
No torch (the probe against a real ORT is in tests/test_onnx_runtime.py)."""

from __future__ import annotations

import json

import pytest
from _helpers import assert_profile_refused

from mncost import resolve_model
from mncost.latency import device_profile as dp
from mncost.latency import model as lm

#: (cin, cout, groups) -> blocked, as ORT 1.32's optimized graph had them on an AVX-512 CPU
#: (nodes in domain com.microsoft.nchwc or not), read by hand from single-conv exports.
SEEN_ORT_1_32 = {
    (3, 16, 1): True, (3, 17, 1): True, (5, 16, 1): True, (12, 17, 1): True,
    (14, 16, 1): True,                      # fewer than 16 inputs: reads NCHW directly
    (16, 18, 1): True, (20, 16, 1): True, (28, 30, 1): True, (32, 33, 1): True,
    (17, 32, 1): False, (18, 32, 1): False,  # 16 or more inputs, not a multiple of 4
    (8, 8, 8): True, (12, 12, 12): True, (28, 28, 28): True, (36, 36, 36): True,
    (30, 30, 30): False,                     # depthwise: channels a multiple of 4
    (32, 64, 2): True, (32, 64, 4): False, (48, 48, 4): False, (64, 64, 8): False,
    (64, 64, 16): False,                     # grouped: 16 channels per group in and out
}
ORT_1_32 = lm.ChannelLayout(alignment=4, block=16)


def test_the_rule_reproduces_what_ort_did():
    for (cin, cout, groups), blocked in SEEN_ORT_1_32.items():
        assert ORT_1_32.blocked_conv(cin, cout, groups) == blocked, (cin, cout, groups)


def test_v1_at_alpha_0_9_by_hand():
    # 28, 57, 115, 230, 460, 921 channels: ORT ran 15 of v1's 27 convs blocked (seen in its
    # optimized graph): the stem (3 inputs), layers 1, 7 and 8 (28 and 460 channels).
    net = resolve_model("v1", 0.9, 208)
    plain = [l.name for l in net.layers if ORT_1_32.kernel(l).endswith("@nchw")]
    assert plain == ["layers.2.dw", "layers.2.pw", "layers.3.dw", "layers.3.pw",
                     "layers.4.dw", "layers.4.pw", "layers.5.dw", "layers.5.pw",
                     "layers.6.dw", "layers.6.pw", "layers.9.dw", "layers.9.pw"]
    assert ORT_1_32.kernel(net.layers[-1]) == "fc"          # a GEMM: no layout
    assert ORT_1_32.kernel(net.layer("layers.10")) == "pool"


def test_divisible_by_8_networks_are_all_blocked():
    for model in ("v2", "v3-large", "v3-small", "efficientnet-b0", "mnasnet"):
        net = resolve_model(model, 0.5, 160)
        assert all(ORT_1_32.blocked(l) for l in net.layers), model


@pytest.mark.parametrize("alignment, block", [(4, 16), (8, 8), (8, 16), (16, 16), (2, 32)])
def test_infer_layout_recovers_a_known_rule_from_the_probes(alignment, block):
    truth = lm.ChannelLayout(alignment, block)
    observed = [(ci, co, g, truth.blocked_conv(ci, co, g)) for ci, co, g in lm.LAYOUT_PROBES]
    assert lm.infer_layout(observed) == truth


def test_when_every_probe_is_blocked_the_rule_blocks_every_probe():
    rule = lm.infer_layout([(ci, co, g, True) for ci, co, g in lm.LAYOUT_PROBES])
    assert rule is not None
    assert all(rule.blocked_conv(ci, co, g) for ci, co, g in lm.LAYOUT_PROBES)


def test_infer_layout_from_what_ort_did():
    observed = [(*k, v) for k, v in SEEN_ORT_1_32.items()]
    assert lm.infer_layout(observed) == ORT_1_32


def test_infer_layout_without_a_blocked_layout_or_a_consistent_rule():
    assert lm.infer_layout([(32, 32, 1, False), (16, 16, 16, False)]) is None
    # 32 input channels plain but 16 blocked: no alignment explains both.
    assert lm.infer_layout([(32, 32, 1, False), (16, 32, 1, True), (24, 32, 1, True)]) is None


#: Known coefficients with blocked and plain kernels far apart (plain depthwise 8x per MAC).
TRUTH = {"conv": (2.0e-8, 1.0e-8, 0.010), "conv@nchw": (4.0e-8, 1.0e-8, 0.020),
         "pointwise": (1.2e-8, 2.0e-9, 0.006), "pointwise@nchw": (1.5e-8, 3.0e-9, 0.009),
         "depthwise": (6.0e-8, 4.0e-9, 0.008), "depthwise@nchw": (4.8e-7, 5.0e-9, 0.030),
         "fc": (5.0e-9, 4.0e-10, 0.004), "pool": (0.0, 3.0e-9, 0.005)}


def test_fit_separates_blocked_and_plain_kernels():
    truth = lm.LatencyModel(TRUTH, 0.002, 0.3, layout=ORT_1_32)
    measured = []
    for alpha in (0.35, 0.5, 0.75, 0.9, 1.0):
        for res in (96, 160, 224):
            for spec in ("v1", "v1-conv"):
                net = resolve_model(spec, alpha, res)
                pred = truth.predict(net)
                measured.append(lm.Measured(net, pred.total_ms,
                                            {p.name: p.ms for p in pred.layers}))
    model = lm.fit(measured, layout=ORT_1_32)
    assert model.layout == ORT_1_32
    assert set(model.kinds) == set(TRUTH) | {"conv@stem"}
    # Every layer of v1 follows a ReLU, so a kernel's per-call term and ReLU's trade off
    # freely; what must come back is each layer's time, blocked and plain, on networks the
    # fit never saw.
    for spec, alpha, res in (("v1", 0.6, 144), ("v1-conv", 0.85, 192), ("v1", 0.45, 112)):
        net = resolve_model(spec, alpha, res)
        for layer in net.layers:
            assert model.layer_ms(layer) == pytest.approx(truth.layer_ms(layer), rel=1e-6), \
                layer.name
    for kernel in ("depthwise", "depthwise@nchw", "pointwise", "pointwise@nchw"):
        assert model.kinds[kernel][:2] == pytest.approx(TRUTH[kernel][:2], rel=1e-6), kernel
    # Without the layout, one depthwise kernel has to average the two: a worse fit.
    flat = lm.fit(measured)
    assert "depthwise@nchw" not in flat.kinds
    net = resolve_model("v1", 0.9, 208)
    assert abs(flat.predict(net).total_ms / truth.predict(net).total_ms - 1) > 0.02
    assert model.predict(net).total_ms == pytest.approx(truth.predict(net).total_ms)


def test_prediction_names_each_layers_kernel():
    model = lm.LatencyModel(TRUTH, 0.0, 0.0, layout=ORT_1_32)
    pred = model.predict(resolve_model("v1", 0.9, 208))
    by_name = {p.name: p for p in pred.layers}
    assert by_name["layers.2.dw"].kernel == "depthwise@nchw"
    assert by_name["layers.7.0.dw"].kernel == "depthwise"
    assert by_name["layers.2.dw"].kind == "depthwise"      # kinds stay the breakdown's key


def _doc(model):
    return {"schema": "mncost.device/1", "runtime": "onnxruntime", "threads": 1,
            "environment": {}, "model": model.to_dict(),
            "coverage": {"alpha": [0.35, 1.0], "resolution": [96, 224],
                         "macs": [1, 10 ** 10]}}


def test_device_profile_keeps_the_layout_and_the_variants(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(lm.LatencyModel(TRUTH, 0.002, 0.3, layout=ORT_1_32))))
    dev = dp.load_device(str(path))
    assert dev.model.layout == ORT_1_32
    assert dev.model.kinds["depthwise@nchw"] == TRUTH["depthwise@nchw"]
    assert dev.outside(resolve_model("v1", 0.9, 208)) == []


def test_an_uncalibrated_plain_kernel_falls_back_and_is_named(tmp_path):
    kinds = {k: v for k, v in TRUTH.items() if k != "conv@nchw"}
    model = lm.LatencyModel(kinds, 0.0, 0.0, layout=ORT_1_32)
    net = resolve_model("v1-conv", 0.6, 144)            # 19, 38, 76 ... channels
    layer = net.layer("layers.2")                        # 38 -> 76, plain
    assert model.kernel(layer) == "conv@nchw"
    assert model.coefficients(layer) == lm.full_coefficients(TRUTH["conv"])
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(model)))
    notes = dp.load_device(str(path)).outside(net)
    assert notes == ["kernels never calibrated, predicted with their blocked kind's "
                     "coefficients: conv@nchw"]


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(layout=None), "model.kinds.conv@nchw: unknown layer kind"),
    (lambda m: m["kinds"].update({"depthwise@nchwc": m["kinds"]["conv"]}),
     "model.kinds.depthwise@nchwc: unknown layer kind"),
    (lambda m: m["layout"].update(alignment=0), "model.layout.alignment: must be an integer"),
    (lambda m: m["layout"].update(block="16"), "model.layout.block: must be an integer"),
    (lambda m: m["layout"].update(name="nhwc"), "model.layout.name: must be one of 'nchwc'"),
    (lambda m: m["layout"].update(extra=1), "model.layout.extra: unknown field"),
    (lambda m: m.update(layout=[4, 16]), "model.layout: must be a mapping"),
])
def test_bad_layouts_are_one_line(tmp_path, edit, message):
    doc = _doc(lm.LatencyModel(TRUTH, 0.002, 0.3, layout=ORT_1_32))
    edit(doc["model"])
    assert_profile_refused(tmp_path, doc, message)


def test_blocked_convs_work_on_whole_blocks_by_hand():
    net = resolve_model("v1", 0.9, 208)                 # channels 28, 57, 115, ...
    stem, dw1, pw1, dw2 = (net.layer(n) for n in ("layers.0", "layers.1.dw", "layers.1.pw",
                                                    "layers.2.dw"))
    # The stem reads the 3-channel image directly; writes 28 channels in two blocks of 16.
    assert ORT_1_32.effective_channels(stem) == (3, 32)
    assert ORT_1_32.features(stem, 4)[0] == 104 * 104 * 32 * 3 * 9
    # Depthwise over 28 channels (blocked: 28 is a multiple of 4) computes 32.
    assert ORT_1_32.effective_channels(dw1) == (32, 32)
    assert ORT_1_32.features(dw1, 4) == (104 * 104 * 32 * 9,
                                         (104 * 104 * 32 * 2 + 28 * 9 + 28) * 4)
    # 28 -> 57 pointwise: blocked (28 inputs, a multiple of 4): 32 in, 64 out.
    assert ORT_1_32.effective_channels(pw1) == (32, 64)
    assert ORT_1_32.features(pw1, 4)[0] == 104 * 104 * 64 * 32
    # 57-channel depthwise runs plain: nothing padded, the engine's own counts.
    assert ORT_1_32.effective_channels(dw2) == (57, 57)
    assert ORT_1_32.features(dw2, 4) == lm.layer_features(dw2, 4)[:2]
    # The prediction still reports the engine's MACs and bytes, not the padded ones.
    model = lm.LatencyModel(TRUTH, 0.0, 0.0, layout=ORT_1_32)
    by_name = {p.name: p for p in model.predict(net).layers}
    assert by_name["layers.1.pw"].macs == 104 * 104 * 57 * 28


def test_device_profile_keeps_activation_terms(tmp_path):
    acts = {"relu": (1e-9, 0.002), "swish": (4e-9, 0.007)}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(lm.LatencyModel(TRUTH, 0.002, 0.3, layout=ORT_1_32,
                                                    activations=acts))))
    assert dp.load_device(str(path)).model.activations == acts


@pytest.mark.parametrize("acts, message", [
    ({"elu": {"ms_per_byte": 0, "ms_per_call": 0}}, "model.activations.elu: unknown act"),
    ({"none": {"ms_per_byte": 0, "ms_per_call": 0}}, "model.activations.none: unknown act"),
    ({"relu": {"ms_per_byte": -1, "ms_per_call": 0}},
     "model.activations.relu.ms_per_byte: must be a finite number >= 0"),
    ({"relu": {"ms_per_mac": 0}}, "model.activations.relu.ms_per_mac: unknown coefficient"),
    ([1], "model.activations: must be a mapping"),
])
def test_bad_activation_terms_are_one_line(tmp_path, acts, message):
    doc = _doc(lm.LatencyModel(TRUTH, 0.002, 0.3, layout=ORT_1_32))
    doc["model"]["activations"] = acts
    assert_profile_refused(tmp_path, doc, message)


def test_a_plain_grouped_conv_calls_its_kernel_once_per_group():
    net = resolve_model("v1", 0.9, 208)
    assert ORT_1_32.calls(net.layer("layers.2.dw")) == 57        # plain depthwise
    assert ORT_1_32.calls(net.layer("layers.1.dw")) == 1         # blocked depthwise
    assert ORT_1_32.calls(net.layer("layers.2.pw")) == 1         # plain, one group
    model = lm.LatencyModel({"depthwise@nchw": (0.0, 0.0, 0.001)}, 0.0, 0.0,
                            layout=ORT_1_32)
    assert model.layer_ms(net.layer("layers.2.dw")) == pytest.approx(0.057)
    assert lm.LatencyModel({"depthwise": (0.0, 0.0, 0.001)}, 0.0, 0.0).calls(
        net.layer("layers.2.dw")) == 1                           # eager: one call


def test_predict_names_the_variant_in_json_csv_and_the_per_layer_table():
    from mncost.latency.predict import predict_network
    from mncost.render import predict as view

    model = lm.LatencyModel({k: v for k, v in TRUTH.items() if k != "conv@nchw"}, 0.0, 0.0,
                            layout=ORT_1_32)
    dev = dp.DeviceProfile("dev.json", "onnxruntime", 1, {}, model,
                           {"alpha": (0.35, 1.0), "resolution": (96, 224), "macs": (0, 10**12)})
    data = predict_network("v1", resolve_model("v1", 0.9, 208), dev).to_dict()
    variants = {l["name"]: l["variant"] for l in data["layers"]}
    assert (variants["layers.0"], variants["layers.1.dw"], variants["layers.2.dw"]) == (
        "conv@stem", "depthwise", "depthwise@nchw")
    assert ",layer,layers.2.dw,depthwise,depthwise@nchw," in view.render("csv", data, True)
    table = view.sections(data, per_layer=True)[-1]
    assert table.headers[1] == "kernel"
    assert ("layers.2.dw", "depthwise@nchw") == table.rows[3][:2]
