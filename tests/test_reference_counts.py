"""The engine against torchvision's and timm's own models, by exact integers, without torch.

tests/data/reference_counts.json is written by scripts/make_reference_counts.py, which builds
each reference model (torchvision 0.28.0, timm 1.0.31 on torch 2.13.0) and records, in
execution order, every Conv2d / Linear's MACs (FlopCounterMode / 2), own parameters and output
shape (and an attention's matmuls as one layer with no parameters), and the totals.
Regenerate it with that script when a reference changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mncost import analyze, resolve_model
from mncost.costs.reference import Counts, LayerCount, compare, count_network
from mncost.network.catalog import BUILTINS

DATA = json.loads((Path(__file__).parent / "data" / "reference_counts.json").read_text())
CONFIGS = DATA["configurations"]


def _theirs(record: dict) -> Counts:
    layers = tuple(LayerCount(f"#{i}", macs, params, (c, h, w))
                   for i, (macs, params, c, h, w) in enumerate(record["layers"]))
    return Counts(layers, record["macs"], record["params"], (1, record["classes"]))


def _ours(record: dict) -> Counts:
    return count_network(resolve_model(record["model"], record["alpha"], record["resolution"],
                                       record["classes"], record["depth"]))


@pytest.mark.parametrize("record", CONFIGS,
                         ids=[f"{r['library']}:{r['reference']}" for r in CONFIGS])
def test_engine_equals_the_reference_layer_by_layer(record):
    ours, theirs = _ours(record), _theirs(record)
    assert compare(ours, theirs) == ()
    assert (ours.macs, ours.params) == (record["macs"], record["params"])
    # the per-layer lists add up to the totals on the reference side too (MACs are all in
    # Conv2d / Linear or an attention's matmuls; parameters also sit in batch norm)
    assert sum(layer.macs for layer in theirs.layers) == record["macs"]


def test_a_wrong_count_is_found():
    record = next(r for r in CONFIGS if r["reference"] == "mnasnet1_0")
    theirs = _theirs(record)
    bumped = Counts((LayerCount("#0", theirs.layers[0].macs + 1, theirs.layers[0].params,
                                theirs.layers[0].shape),) + theirs.layers[1:],
                    theirs.macs, theirs.params, theirs.output)
    assert compare(_ours(record), bumped) == (
        "layer 0 layers.0 / #0: macs ours 10,838,016 != reference 10,838,017",)
    short = Counts(theirs.layers[:-1], theirs.macs, theirs.params + 1, theirs.output)
    lines = compare(_ours(record), short)
    assert lines[0] == "conv/linear layers: ours 53 != reference 52"
    assert lines[-1] == "total params: ours 4,383,312 != reference 4,383,313"


@pytest.mark.parametrize("alpha,reference,macs,params", [
    # torchvision mnasnet0_5 ... 1_3 (weights metadata: 2,218,512 / 3,170,208 / 4,383,312 /
    # 6,282,256 params; 0.104 / 0.215 / 0.314 / 0.526 GFLOPS, i.e. GMACs)
    (0.5, "mnasnet0_5", 104_455_968, 2_218_512),
    (0.75, "mnasnet0_75", 215_493_104, 3_170_208),
    (1.0, "mnasnet1_0", 314_415_872, 4_383_312),
    (1.3, "mnasnet1_3", 526_362_432, 6_282_256),
])
def test_mnasnet_at_every_width_torchvision_ships(alpha, reference, macs, params):
    total = analyze(resolve_model("mnasnet", alpha)).total
    assert (total.macs, total.params()) == (macs, params)
    assert next(r for r in CONFIGS if r["reference"] == reference)["macs"] == macs
    head = resolve_model("mnasnet", alpha).layer("layers.9")
    assert head.out_shape.c == 1280          # keep_width: always, in both directions


@pytest.mark.parametrize("b,resolution,macs,params", [
    # torchvision efficientnet_b0...b7 (weights metadata num_params and GFLOPS)
    (0, 224, 385_814_752, 5_288_548), (1, 240, 686_802_832, 7_794_184),
    (2, 260, 993_561_872, 9_109_994), (3, 300, 1_827_141_392, 12_233_232),
    (4, 380, 4_393_771_024, 19_341_616), (5, 456, 10_266_384_752, 30_389_784),
    (6, 528, 19_067_593_536, 43_040_704), (7, 600, 37_745_884_192, 66_347_960),
])
def test_efficientnet_b0_to_b7_at_their_own_resolution(b, resolution, macs, params):
    network = resolve_model(f"efficientnet-b{b}")
    assert network.resolution == (resolution, resolution)
    total = analyze(network).total
    assert (total.macs, total.params()) == (macs, params)
    assert next(r for r in CONFIGS if r["reference"] == f"efficientnet_b{b}")["params"] == params


@pytest.mark.parametrize("model, alpha, reference, macs, params", [
    ("v4-conv-small", 1.0, "mobilenetv4_conv_small", 186_005_568, 3_774_024),
    ("v4-conv-small", 0.5, "mobilenetv4_conv_small_050", 64_741_408, 2_238_952),
    ("v4-conv-small", 0.35, "mobilenetv4_conv_small_035", 47_723_040, 1_905_384),
    ("v4-conv-medium", 1.0, "mobilenetv4_conv_medium", 1_080_244_224, 9_715_512),
    ("v4-conv-large", 1.0, "mobilenetv4_conv_large", 6_376_220_672, 32_590_864),
])
def test_mobilenet_v4_conv_at_timms_default_resolution(model, alpha, reference, macs, params):
    """Issue 19: each MobileNetV4 conv model at timm's default resolution (224, 256, 384) and
    timm's registered width variants equals timm's own count."""
    total = analyze(resolve_model(model, alpha)).total
    assert (total.macs, total.params()) == (macs, params)
    record = next(r for r in CONFIGS if r["reference"] == reference)
    assert (record["macs"], record["params"]) == (macs, params)


@pytest.mark.parametrize("model, alpha, resolution, reference, macs, attention, params", [
    ("v4-hybrid-medium", 1.0, 256, "mobilenetv4_hybrid_medium", 1_271_183_360, 41_943_040,
     11_074_648),
    ("v4-hybrid-large", 1.0, 384, "mobilenetv4_hybrid_large", 7_711_877_120, 339_738_624,
     37_764_624),
    ("v4-hybrid-medium", 0.75, 224, "mobilenetv4_hybrid_medium_075", 649_844_400, 24_586_240,
     7_313_528),
    ("v4-hybrid-large", 0.75, 256, "mobilenetv4_hybrid_large_075", 2_036_234_240, 67_108_864,
     22_754_984),
])
def test_mobilenet_v4_hybrid_equals_timm(model, alpha, resolution, reference, macs, attention,
                                         params):
    """Issue 19: the hybrids at timm's default resolution (256, 384) and its registered _075
    at theirs (224, 256) equal timm's own count: every conv and linear layer, and each
    attention's Q K^T and A V (the matmuls timm runs between the value and the output
    projection), in order; trainable parameters (layer scale's gamma included) are the
    paper's 11.07M and 37.76M."""
    report = analyze(resolve_model(model, alpha, resolution))
    assert (report.total.macs, report.by_kind["attention"].macs,
            report.total.params()) == (macs, attention, params)
    record = next(r for r in CONFIGS if r["reference"] == reference)
    assert (record["macs"], record["params"], record["resolution"]) == (
        macs, params, [resolution] * 2)
    ours = count_network(report.network)
    assert [x.macs for x in ours.layers if x.name.endswith(".attn")] == [
        x[0] for x in record["layers"] if x[1] == 0 and x[0]]     # no params: the matmuls
    assert sum(x.macs for x in ours.layers if x.name.endswith(".attn")) == attention
    assert compare(ours, _theirs(record)) == ()


def test_every_builtin_with_a_shipped_implementation_is_covered():
    covered = {r["model"] for r in CONFIGS}
    named = {"v3-large", "v3-small", "v3-large-tf", "v3-small-tf", "v1", "v2", "mnasnet",
             *(f"efficientnet-b{i}" for i in range(8)),
             *(f"v4-conv-{size}" for size in ("small", "medium", "large")),
             *(f"v4-hybrid-{size}" for size in ("medium", "large"))}
    assert covered == named
    # v1-conv and v1-shallow are the v1 paper's ablations (Tables 4 and 5): nothing ships them
    assert set(BUILTINS) - covered == {"v1-conv", "v1-shallow"}
