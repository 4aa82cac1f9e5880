"""Counting and parameter conventions against hand-computed integers (no torch).

The expected numbers are derived by hand from the papers' tables (v1 Table 1) or from a tiny spec
whose every layer is worked out below, never from the engine's own output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mncost import analyze, resolve_model
from mncost.costs.analytic import PARAM_CONVENTIONS
from mncost.costs.conventions import COUNT_CONVENTIONS, conventions
from mncost.costs.schema import conventions_dict
from mncost.network.catalog import BUILTINS

#: v1 1.0/224 (Table 1): output elements of the 27 conv layers, each followed by BN + ReLU.
V1_BN_ELEMENTS = sum([
    112 * 112 * 32,                                   # conv / s2
    112 * 112 * 32, 112 * 112 * 64,                   # dw / s1, 1x1x32x64
    56 * 56 * 64, 56 * 56 * 128,                      # dw / s2, 1x1x64x128
    56 * 56 * 128, 56 * 56 * 128,                     # dw / s1, 1x1x128x128
    28 * 28 * 128, 28 * 28 * 256,                     # dw / s2, 1x1x128x256
    28 * 28 * 256, 28 * 28 * 256,                     # dw / s1, 1x1x256x256
    14 * 14 * 256, 14 * 14 * 512,                     # dw / s2, 1x1x256x512
    *[14 * 14 * 512] * 10,                            # 5 x (dw / s1, 1x1x512x512)
    7 * 7 * 512, 7 * 7 * 1024,                        # dw / s2, 1x1x512x1024
    7 * 7 * 1024, 7 * 7 * 1024,                       # dw / s1, 1x1x1024x1024
])
#: v1 batch-normed channels (the 27 conv outputs), for the BN parameter terms.
V1_BN_CHANNELS = 32 + (32 + 64) + (64 + 128) + (128 + 128) + (128 + 256) + (256 + 256) + (
    256 + 512) + 5 * (512 + 512) + (512 + 1024) + (1024 + 1024)
V1_MACS = 567_716_352 + 1024 * 1000        # TF-slim body docstring + the 1024 x 1000 FC
V1_POOL_INPUT = 7 * 7 * 1024


def test_v1_conventions_by_hand():
    conv = conventions(analyze(resolve_model("v1")))
    bn = 2 * V1_BN_ELEMENTS
    assert V1_BN_ELEMENTS == 5_042_688
    assert conv.count("macs").total == V1_MACS == 568_740_352
    assert conv.count("flops").total == 2 * V1_MACS
    fv = conv.count("fvcore")
    assert [(t.name, t.count) for t in fv.terms] == [
        ("macs", V1_MACS), ("batch_norm", bn), ("adaptive_avg_pool2d", V1_POOL_INPUT)]
    assert fv.total == 578_875_904 and fv.beyond() == bn + V1_POOL_INPUT
    ops = conv.count("ops")
    assert [(t.name, t.count) for t in ops.terms] == [
        ("macs", V1_MACS), ("batch_norm", bn), ("relu", V1_BN_ELEMENTS),
        ("global_avg_pool", V1_POOL_INPUT)]
    assert ops.total == V1_MACS + 3 * V1_BN_ELEMENTS + V1_POOL_INPUT == 583_918_592
    assert ops.term("relu").layers == 27 and ops.term("batch_norm").elements == V1_BN_ELEMENTS


def test_v1_param_conventions_by_hand():
    conv = conventions(analyze(resolve_model("v1")))
    weights = 4_209_088                   # TF-slim body 3,185,088 + FC 1024 x 1000
    assert weights == 3_185_088 + 1024 * 1000
    assert conv.param("weights").total == weights
    assert conv.param("trainable").total == weights + 1000 + 2 * V1_BN_CHANNELS == 4_231_976
    assert conv.param("checkpoint").total == weights + 1000 + 4 * V1_BN_CHANNELS == 4_253_864
    assert [t.name for t in conv.param("checkpoint").terms] == [
        "weights", "biases", "bn_affine", "bn_stats"]


TINY = (Path(__file__).parent / "data" / "tiny_every_kind.yaml").read_text()
# Worked by hand, layer by layer (out elements; MACs = out * C_in/g * k^2):
#   conv      4x4x16 = 256, MACs 256*3*9 = 6912, BN, h-swish
#   expand    4x4x32 = 512, MACs 512*16 = 8192, BN, ReLU6
#   dw        512,          MACs 512*9 = 4608,  BN, ReLU6
#   se.pool   global avg over 512 inputs
#   se.fc1    32 -> 8 (make_divisible(32/4, 8)), MACs 256, ReLU on 8, bias 8
#   se.fc2    8 -> 32, MACs 256, h-sigmoid on 32, bias 32
#   se.scale  512 multiplies
#   project   256, MACs 256*32 = 8192, BN, linear
#   add       256
#   max pool  3/2 over 256 inputs -> 2x2x16; global avg over 64 inputs; fc 16*10 = 160, bias 10
TINY_MACS = 6912 + 8192 + 4608 + 256 + 256 + 8192 + 160
TINY_BN_ELEMENTS = 256 + 512 + 512 + 256


@pytest.fixture()
def tiny_spec(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


def test_tiny_spec_every_term_by_hand(tiny_spec):
    conv = conventions(analyze(resolve_model(tiny_spec)))
    assert TINY_MACS == 28_576
    assert [(t.name, t.count) for t in conv.count("fvcore").terms] == [
        ("macs", TINY_MACS), ("batch_norm", 2 * TINY_BN_ELEMENTS),
        ("adaptive_avg_pool2d", 512 + 64)]
    ops = conv.count("ops")
    assert {t.name: (t.per_element, t.elements, t.count) for t in ops.terms[1:]} == {
        "batch_norm": (2, TINY_BN_ELEMENTS, 3072),
        "relu": (1, 8, 8),
        "relu6": (2, 1024, 2048),
        "hsigmoid": (4, 32, 128),
        "hswish": (5, 256, 1280),
        "se_scale": (1, 512, 512),
        "residual_add": (1, 256, 256),
        "global_avg_pool": (1, 576, 576),
        "max_pool": (1, 256, 256),
    }
    assert ops.total == 36_712 and conv.count("fvcore").total == 32_224
    weights = 432 + 512 + 288 + 256 + 256 + 512 + 160
    bn = 2 * (16 + 32 + 32 + 16)
    assert [c.total for c in conv.params] == [weights, weights + 50 + bn,
                                              weights + 50 + 2 * bn]


@pytest.mark.parametrize("model", list(BUILTINS))
@pytest.mark.parametrize("alpha,resolution", [(1.0, 224), (0.35, 97), (1.4, "224x160")])
def test_conventions_agree_with_the_engine_sums(model, alpha, resolution):
    """The conventions group the engine's per-layer costs by term; each grouping must add up
    to the engine's own totals, and every element-wise term to elements x per-element cost."""
    report = analyze(resolve_model(model, alpha, resolution))
    conv = conventions(report)
    total = report.total
    # the names are the interface (--params choices, JSON keys): written out, since
    # conv.params is built by iterating PARAM_CONVENTIONS
    assert [c.name for c in conv.counts] == list(COUNT_CONVENTIONS) == [
        "macs", "flops", "fvcore", "ops"]
    assert [c.name for c in conv.params] == ["weights", "trainable", "checkpoint"]
    assert conv.count("macs").total == total.macs
    assert conv.count("flops").total == 2 * total.macs
    assert conv.count("fvcore").total == total.fvcore
    assert conv.count("ops").total == total.macs + total.elementwise.total == total.ops
    for name in PARAM_CONVENTIONS:
        assert conv.param(name).total == total.params(name)
    for c in conv.counts:
        assert c.term("macs").count == total.macs
        for t in c.terms:
            if t.per_element is not None:
                assert t.count == t.per_element * t.elements and t.layers > 0


def test_conventions_dict_is_plain_data():
    data = conventions_dict(conventions(analyze(resolve_model("v3-small"))))
    assert [c["name"] for c in data["counts"]] == ["macs", "flops", "fvcore", "ops"]
    ops = data["counts"][3]
    assert ops["total"] == sum(t["count"] for t in ops["terms"]) == 64_464_080
    assert {t["name"] for t in ops["terms"]} >= {"hswish", "hsigmoid", "se_scale",
                                                  "residual_add"}


def test_conventions_never_import_torch():
    code = ("import sys, mncost.costs.conventions as c, mncost;"
            "c.conventions(mncost.analyze(mncost.resolve_model('v3-large')));"
            "assert 'torch' not in sys.modules and 'fvcore' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
