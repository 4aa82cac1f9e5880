"""The depth multiplier, widths fixed at every alpha, and the MnasNet / EfficientNet built-ins
on the analytic path (no torch): closed-form repeats, exact layer lists, every CLI surface."""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap

import pytest
from click.testing import CliRunner

from mncost import resolve_model
from mncost.cli import cli
from mncost.network.catalog import load_model
from mncost.network.resolve import resolve
from mncost.network.width import repeats

EFFICIENTNET = {  # torchvision efficientnet_b0...b7: (width_mult, depth_mult, resolution)
    0: (1.0, 1.0, 224), 1: (1.0, 1.1, 240), 2: (1.1, 1.2, 260), 3: (1.2, 1.4, 300),
    4: (1.4, 1.8, 380), 5: (1.6, 2.2, 456), 6: (1.8, 2.6, 528), 7: (2.0, 3.1, 600)}
B0_REPEATS = (1, 2, 2, 3, 3, 4, 1)          # EfficientNet paper Table 1, stages 2-8


def run(*args):
    return CliRunner().invoke(cli, list(args))


def _blocks(network, stage):
    return sorted({layer.name.rsplit(".", 1)[0] if ".dw" in layer.name else None
                   for layer in network.layers if layer.stage == stage} - {None})


# ---------------------------------------------------------------------------------------------
# Repeat rounding

@pytest.mark.parametrize("n,depth,rounding,expected", [
    (1, 1.1, "ceil", 2), (3, 1.4, "ceil", 5), (4, 3.1, "ceil", 13), (2, 1.1, "ceil", 3),
    (1, 0.5, "ceil", 1), (3, 0.1, "ceil", 1), (0, 2.0, "ceil", 0),
    (3, 1.4, "round", 4), (4, 1.1, "round", 4), (3, 0.5, "round", 2),  # round(1.5) == 2
    (3, 1.4, "floor", 4), (1, 0.5, "floor", 1), (4, 1.0, "floor", 4),
])
def test_repeats_closed_form(n, depth, rounding, expected):
    assert repeats(n, depth, rounding) == expected


@pytest.mark.parametrize("b", range(8))
def test_efficientnet_repeats_are_ceil_d_n(b):
    alpha, depth, res = EFFICIENTNET[b]
    network = resolve_model(f"efficientnet-b{b}")
    assert (network.alpha, network.depth, network.resolution) == (alpha, depth, (res, res))
    for stage, n in zip(network.stages[1:8], B0_REPEATS):
        assert len(_blocks(network, stage)) == math.ceil(depth * n), stage
    # the stem, head, pool and classifier are not repeated
    for stage in (network.stages[0], *network.stages[8:]):
        assert sum(1 for layer in network.layers if layer.stage == stage) == 1


@pytest.mark.parametrize("b", range(8))
def test_each_efficientnet_is_b0_at_its_coefficients(b):
    alpha, depth, res = EFFICIENTNET[b]
    scaled = resolve_model(f"efficientnet-b{b}")
    from_b0 = resolve_model("efficientnet-b0", alpha, res, None, depth)
    assert scaled.layers == from_b0.layers
    # an explicit --alpha / --depth replaces the spec's coefficient
    assert resolve_model(f"efficientnet-b{b}", 1.0, 224, None, 1.0).layers == \
        resolve_model("efficientnet-b0").layers


def test_efficientnet_b0_layers_by_hand():
    """Table 1 at 224 with torchvision's conventions: SE squeeze = block input // 4, head = 4 x
    the last block's width, expansion make_divisible(in * t, 8)."""
    net = resolve_model("efficientnet-b0")
    first = net.layer("layers.1.se.fc1")       # MBConv1, 32 in: no expand conv, squeeze 8
    assert "layers.1.expand" not in [layer.name for layer in net.layers]
    assert (first.in_shape.c, first.out_shape.c) == (32, 8)
    assert net.layer("layers.2.0.se.fc1").out_shape.c == 4       # 16 // 4
    assert net.layer("layers.2.0.expand").out_shape.c == 96      # 16 x 6
    assert net.layer("layers.8").out_shape.c == 1280
    assert resolve_model("efficientnet-b0", 0.33).layer("layers.8").out_shape.c == 4 * 104


def test_depth_keeps_stem_and_head_and_is_recorded():
    net = resolve_model("v2", depth=2.0)
    assert net.depth == 2.0
    assert [layer.name for layer in net.layers[:2]] == ["layers.0", "layers.1.0.dw"]
    assert sum(1 for layer in net.layers if layer.stage == "layers.8") == 1
    assert len(_blocks(net, "layers.4")) == 8          # n = 4 -> ceil(2 x 4)
    # depth 1 is the spec as written
    assert resolve_model("v2", depth=1.0).layers == resolve_model("v2").layers


def test_spec_names_its_depth_rounding(tmp_path):
    from mncost.network.catalog import find_spec
    from mncost.spec.load import load_spec

    counts = {}
    for rounding in ("ceil", "round", "floor"):
        spec = tmp_path / f"{rounding}.yaml"
        spec.write_text(textwrap.dedent(f"""\
            name: tiny
            depth_rounding: {rounding}
            layers:
              - {{op: conv, c: 8, s: 2, keep_depth: true}}
              - {{op: bottleneck, t: 2, c: 8, n: 3}}
              - {{op: pool}}
              - {{op: fc, c: classes}}
        """))
        net = resolve(load_spec(spec, find_spec), depth=1.5)
        counts[rounding] = len(_blocks(net, "layers.1"))
    assert counts == {"ceil": 5, "round": 4, "floor": 4}   # 4.5: ceil 5, round-half-even 4


# ---------------------------------------------------------------------------------------------
# Widths fixed at every alpha

@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75, 1.0, 1.3, 2.0])
def test_keep_width_always_holds_in_both_directions(alpha):
    head = resolve_model("mnasnet", alpha).layer("layers.9")
    assert head.out_shape.c == 1280
    v2_head = resolve_model("v2", alpha).layer("layers.8")    # keep_width: true (below 1 only)
    expected = 1280 if alpha <= 1 else {1.3: 1664, 2.0: 2560}[alpha]
    assert v2_head.out_shape.c == expected


def test_mnasnet_widths_follow_torchvision_rounding():
    """torchvision _get_depths: _round_to_multiple_of(c * alpha, 8, 0.9) of 32, 16, 24, 40,
    80, 96, 192, 320."""
    for alpha, widths in {0.5: (16, 8, 16, 24, 40, 48, 96, 160),
                          0.75: (24, 16, 24, 32, 64, 72, 144, 240),
                          1.3: (40, 24, 32, 56, 104, 128, 248, 416)}.items():
        net = resolve_model("mnasnet", alpha)
        got = (net.layer("layers.0").out_shape.c, net.layer("layers.2").out_shape.c,
               *(net.layer(f"layers.{i}.0.project" if i < 8 else "layers.8.project")
                 .out_shape.c for i in range(3, 9)))
        assert got == widths, alpha


# ---------------------------------------------------------------------------------------------
# CLI

def test_analyze_b3_equals_b0_scaled():
    b3 = json.loads(run("analyze", "efficientnet-b3", "-f", "json").stdout)
    b0 = json.loads(run("analyze", "efficientnet-b0", "--alpha", "1.2", "--depth", "1.4",
                        "--res", "300", "-f", "json").stdout)
    assert (b3["alpha"], b3["depth"], b3["resolution"]) == (1.2, 1.4, [300, 300])
    assert b3["totals"] == b0["totals"] and b3["layers"] == b0["layers"]
    assert b3["totals"]["macs"] == 1_827_141_392 and b3["totals"]["params"] == 12_233_232
    table = run("analyze", "efficientnet-b3").stdout
    assert "alpha=1.2 depth=1.4 resolution=300" in table


@pytest.mark.parametrize("fmt", ["csv", "json", "markdown", "table"])
def test_sweep_alpha_depth_resolution_grid(fmt):
    result = run("sweep", "efficientnet-b0", "--alpha", "1.0,1.2", "--depth", "1.0:1.4:0.4",
                 "--res", "224,300", "-f", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [(r["alpha"], r["depth"], r["resolution"]) for r in rows] == [
            (a, d, r) for a in ("1.0", "1.2") for d in ("1.0", "1.4") for r in ("224", "300")]
        b3 = rows[-1]
        assert (int(b3["macs"]), int(b3["params"])) == (1_827_141_392, 12_233_232)
        b0 = rows[0]
        assert (int(b0["macs"]), b0["macs_ratio"]) == (385_814_752, "1.0")
    elif fmt == "json":
        doc = json.loads(result.stdout)
        assert len(doc["rows"]) == 8 and doc["rows"][-1]["depth"] == 1.4


def test_sweep_defaults_to_each_spec_own_multipliers():
    rows = list(csv.DictReader(io.StringIO(run("sweep", "efficientnet-b3", "v2", "-f",
                                               "csv").stdout)))
    assert [(r["model"], r["alpha"], r["depth"], r["resolution"]) for r in rows] == [
        ("efficientnet-b3", "1.2", "1.4", "300"), ("v2", "1.0", "1.0", "224")]


@pytest.mark.parametrize("args,message", [
    (("analyze", "efficientnet-b0", "--depth", "0"), "depth must be a number in (0, 10000]"),
    (("analyze", "v2", "--depth", "-1"), "depth must be a number in (0, 10000]"),
    (("sweep", "v2", "--depth", "1,x"), "--depth: 'x' is not a number"),
    (("sweep", "v2", "--depth", "2:1:0.5"), "ends before it starts"),
])
def test_bad_depth_is_one_line_exit_2(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


@pytest.mark.parametrize("text,message", [
    ("keep_width: sometimes", "must be false, true (= below: not thinned below alpha 1) or "
                              "always"),
    ("keep_depth: 1", "must be true or false"),
])
def test_bad_row_keys_name_file_line_and_field(tmp_path, text, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"name: bad\nlayers:\n  - {{op: conv, c: 8, {text}}}\n")
    result = run("validate", str(spec))
    assert result.exit_code == 2
    assert f"bad.yaml:3: layers[0].{text.split(':')[0]}: {message}" in result.stderr


@pytest.mark.parametrize("text,message", [
    ("depth_rounding: up", "must be one of ceil, round, floor"),
    ("depth: 0", "must be a number in (0, 10000]"),
    ("alpha: -1", "must be a number in (0, 10000]"),
])
def test_bad_top_level_multipliers(tmp_path, text, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"name: bad\n{text}\nlayers:\n  - {{op: conv, c: 8}}\n")
    result = run("validate", str(spec))
    assert result.exit_code == 2 and message in result.stderr
    assert f"bad.yaml:2: {text.split(':')[0]}:" in result.stderr


def test_baseline_records_depth_and_checks_it(tmp_path):
    out = tmp_path / "base.json"
    result = run("baseline", "write", "efficientnet-b1", "v2", "--depth", "1.0,2.0", "-o",
                 str(out))
    assert result.exit_code == 0, result.output
    entries = json.loads(out.read_text())["entries"]
    assert [(e["model"], e["alpha"], e["depth"]) for e in entries] == [
        ("efficientnet-b1", 1.0, 1.0), ("efficientnet-b1", 1.0, 2.0), ("v2", 1.0, 1.0),
        ("v2", 1.0, 2.0)]
    assert run("check", "--baseline", str(out)).exit_code == 0
    # spec defaults when --depth is not given: B1's own 1.1
    run("baseline", "write", "efficientnet-b1", "-o", str(out))
    assert json.loads(out.read_text())["entries"][0]["depth"] == 1.1


def test_validate_reports_the_spec_multipliers():
    result = run("validate", str(load_model("efficientnet-b5").file))
    assert result.exit_code == 0
    assert "at alpha=1.6 depth=2.2)" in result.stdout


def test_sweep_plot_draws_one_series_per_depth(tmp_path):
    pytest.importorskip("matplotlib")
    from mncost.render.sweep import plot_png

    rows = [{"model": "efficientnet-b0", "alpha": a, "depth": d, "resolution": (r, r),
             "macs": int(1e8 * a * d * r / 224), "params": int(5e6 * a * d)}
            for a in (1.0, 1.5) for d in (1.0, 2.0) for r in (224, 300)]
    png = plot_png(rows, latency=False)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
