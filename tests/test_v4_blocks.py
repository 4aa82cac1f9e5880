"""MobileNetV4's conv blocks (issue 19): the ``uib`` row (Universal Inverted Bottleneck, in its
four instances) and the ``fused`` row (FusedIB), by hand; the post-pool head conv with BN and
no bias; how the streamed memory schedule runs them; the width variants' fixed stem and head.
The three built-ins themselves are held to timm layer by layer in test_reference_counts.py."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mncost import analyze
from mncost.cli import cli
from mncost.costs.memory import peak_memory
from mncost.network.catalog import resolve_model

STEM = "name: s\nlayers:\n  - {op: conv, k: 3, c: 16, s: 2}\n"   # 32x32 -> 16 x 16x16


def net(tmp_path, rows: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(STEM + rows)
    return resolve_model(str(path), resolution=32)


def parts(network):
    return [(la.name, la.kind, la.role, la.kernel, la.stride, la.act, la.bn, la.bias,
             la.out_shape.c, la.out_shape.h) for la in network.layers[1:]]


def test_uib_extra_dw_by_hand(tmp_path):
    bare = net(tmp_path, "", "bare.yaml")
    extra = net(tmp_path, "  - {op: uib, start: 3, mid: 5, t: 2, c: 16}\n")
    assert parts(extra) == [
        ("layers.1.dw_start", "depthwise", "dw_start", 3, 1, "none", True, False, 16, 16),
        ("layers.1.expand", "pointwise", "expand", 1, 1, "relu", True, False, 32, 16),
        ("layers.1.dw_mid", "depthwise", "dw", 5, 1, "relu", True, False, 32, 16),
        ("layers.1.project", "pointwise", "project", 1, 1, "none", True, False, 16, 16),
        ("layers.1.add", "add", "add", 1, 1, "none", False, False, 16, 16)]
    assert extra.layer("layers.1.add").inputs == ("layers.1.project", "layers.0")
    hw = 16 * 16
    macs = hw * (16 * 9 + 16 * 32 + 32 * 25 + 32 * 16)
    params = (16 * 9 + 2 * 16) + (16 * 32 + 2 * 32) + (32 * 25 + 2 * 32) + (32 * 16 + 2 * 16)
    assert analyze(extra).total.macs - analyze(bare).total.macs == macs
    assert (analyze(extra).total.params("trainable") - analyze(bare).total.params("trainable")
            == params)


@pytest.mark.parametrize("row, roles, strided", [
    # ExtraDW: the stride on the middle depthwise
    ("{op: uib, start: 3, mid: 3, t: 4, c: 24, s: 2}",
     ["dw_start", "expand", "dw", "project"], "layers.1.dw_mid"),
    # IB
    ("{op: uib, mid: 3, t: 4, c: 24, s: 2}", ["expand", "dw", "project"], "layers.1.dw_mid"),
    # ConvNeXt-like: the stride on the start depthwise
    ("{op: uib, start: 5, t: 4, c: 24, s: 2}", ["dw_start", "expand", "project"],
     "layers.1.dw_start"),
    # FFN, no residual at a width change
    ("{op: uib, t: 4, c: 24}", ["expand", "project"], None),
])
def test_uib_instances(tmp_path, row, roles, strided):
    network = net(tmp_path, f"  - {row}\n")
    assert [la.role for la in network.layers[1:]] == roles
    assert [la.name for la in network.layers if la.stride == 2][1:] == (
        [strided] if strided else [])
    assert network.layers[-1].out_shape.c == 24
    assert network.layer("layers.1.expand").out_shape.c == 64   # make_divisible(16 * 4)


def test_uib_expansion_follows_the_specs_rounding(tmp_path):
    # expansion_rounding: make_divisible(16 * 2.3 = 36.8, 8) = 40 (timm's mid_chs, the v4
    # specs'); the default round gives 37
    assert net(tmp_path, "  - {op: uib, t: 2.3, c: 16}\n").layer(
        "layers.1.expand").out_shape.c == 37
    path = tmp_path / "md.yaml"
    path.write_text(STEM.replace("layers:", "expansion_rounding: make_divisible\nlayers:")
                    + "  - {op: uib, t: 2.3, c: 16}\n")
    network = resolve_model(str(path), resolution=32)
    assert network.layer("layers.1.expand").out_shape.c == 40
    assert network.layers[-1].kind == "add"


def test_fused_by_hand(tmp_path):
    bare = net(tmp_path, "", "bare.yaml")
    fused = net(tmp_path, "  - {op: fused, k: 3, t: 4, c: 24, s: 2}\n")
    assert parts(fused) == [
        ("layers.1.expand", "conv", "expand", 3, 2, "relu", True, False, 64, 8),
        ("layers.1.project", "pointwise", "project", 1, 1, "none", True, False, 24, 8)]
    macs = 8 * 8 * (16 * 9 * 64 + 64 * 24)
    assert analyze(fused).total.macs - analyze(bare).total.macs == macs
    same = net(tmp_path, "  - {op: fused_ib, t: 2, c: 16}\n", "same.yaml")
    assert same.layers[-1].name == "layers.1.add"


@pytest.mark.parametrize("rows, message", [
    ("  - {op: uib, t: 4, c: 24, s: 2}\n", "layers[1].s: layers.1 has no depthwise conv"),
    ("  - {op: uib, start: 4, t: 4, c: 24}\n", "layers[1].start"),
    ("  - {op: uib, mid: true, t: 4, c: 24}\n", "layers[1].mid"),
    ("  - {op: uib, mid: 3, c: 24}\n", "layers[1]"),
    ("  - {op: uib, mid: 3, t: 4, c: 24, residual: true}\n",
     "layers[1].residual: residual add between mismatched shapes"),
    ("  - {op: fused, k: 3, t: 4, c: 16, s: 2, residual: true}\n",
     "layers[1].residual: residual add between mismatched shapes"),
])
def test_bad_v4_rows_are_one_line(tmp_path, rows, message):
    path = tmp_path / "bad.yaml"
    path.write_text(STEM + rows)
    result = CliRunner().invoke(cli, ["analyze", str(path)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1


def test_streamed_schedule_runs_the_start_depthwise_alone(tmp_path):
    # ExtraDW: the start depthwise is a step of its own (input 4096 + its output 4096
    # elements); expand, dw_mid and project stream in 2 pieces of 16 of the 32 channels
    # (16x16 each: 4096 + 4096), with the dw_start output, the block input (kept for the add)
    # and the block output alive: 3 * 4096 + 8192.
    network = net(tmp_path, "  - {op: uib, start: 3, mid: 3, t: 2, c: 16}\n"
                            "  - {op: uib, start: 3, t: 2, c: 16}\n")
    steps = peak_memory(network, "streamed", split=2).steps
    assert [(s.name, s.live_bytes // 4, s.piece_bytes // 4) for s in steps[1:3]] == [
        ("layers.1.dw_start", 2 * 4096, 0), ("layers.1", 3 * 4096 + 8192, 8192)]
    # ConvNeXt-like (no middle depthwise): layer by layer
    assert [s.name for s in steps[3:]] == ["layers.2.dw_start", "layers.2.expand",
                                          "layers.2.project", "layers.2.add"]


def test_v4_head_conv_has_bn_and_no_bias():
    head = resolve_model("v4-conv-small").layers[-2]
    assert (head.kind, head.in_shape.c, head.out_shape.c, head.bn, head.bias, head.act) == (
        "pointwise", 960, 1280, True, False, "relu")
    assert head.in_shape.h == head.in_shape.w == 1


@pytest.mark.parametrize("alpha, stem, last, head", [
    (0.35, 32, 336, 1280), (0.5, 32, 480, 1280), (1.0, 32, 960, 1280), (1.5, 48, 1440, 1280)])
def test_v4_width_variants_fix_the_stem_and_head(alpha, stem, last, head):
    """timm: fix_stem below alpha 1, the head's 1280 (num_features) at every alpha, every
    other width make_divisible(alpha * c, 8)."""
    layers = resolve_model("v4-conv-small", alpha).layers
    assert (layers[0].out_shape.c, layers[-4].out_shape.c, layers[-2].out_shape.c) == (
        stem, last, head)


@pytest.mark.parametrize("model, resolution", [
    ("v4-conv-small", 224), ("v4-conv-medium", 256), ("v4-conv-large", 384)])
def test_v4_default_resolutions(model, resolution):
    assert resolve_model(model).resolution == (resolution, resolution)
