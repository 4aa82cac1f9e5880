"""Analytic memory (mncost.costs.memory), v2 Table 3 (mncost.costs.table3), the roofline
(mncost.costs.roofline) and the ``memory`` command: exact integers, worked by hand in the
comments."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from conftest import ROOT

from mncost.check.units import parse_bytes
from mncost.cli import cli
from mncost.costs.analytic import layer_cost
from mncost.costs.kinds import REGISTRY
from mncost.costs.memory import SCHEDULES, layer_traffic, memory_report, peak_memory
from mncost.costs.roofline import Traffic, bound, join_profile, make_device
from mncost.costs.table3 import paper_comparison, paper_k, per_resolution
from mncost.errors import InputError
from mncost.network.catalog import resolve_model

TINY = str(ROOT / "tests" / "data" / "tiny_memory.yaml")


def net(model, alpha=1.0, resolution=None):
    return resolve_model(model, alpha, resolution, None)


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


# ---------------------------------------------------------------------------------------------
# The tiny spec, by hand (float32, 4 bytes). Layers and element counts:
#   input            8x8x3   = 192
#   layers.0         conv 3x3 s2 3->4, BN      out 4x4x4 = 64
#   layers.1.expand  1x1 4->8, BN              out 4x4x8 = 128
#   layers.1.dw      3x3 dw 8, BN              out 4x4x8 = 128
#   layers.1.project 1x1 8->4, BN              out 4x4x4 = 64
#   layers.1.add     project + layers.0        out 64
#   layers.2         global avg pool           out 1x1x4 = 4
#   layers.3         fc 4->2 with bias         out 2

def test_tiny_traffic_by_hand():
    layers = {la.name: layer_traffic(la) for la in net(TINY).layers}
    # conv: in 192, weights 4*3*9 = 108 + 4 folded-BN biases = 112, out 64 (elements x 4 B)
    assert layers["layers.0"] == Traffic(192 * 4, 112 * 4, 64 * 4, 4 * 4 * 4 * 3 * 9)
    # expand: in 64, weights 8*4 + 8 = 40, out 128; MACs 16 px * 8 * 4 = 512
    assert layers["layers.1.expand"] == Traffic(256, 160, 512, 512)
    # dw: in 128, weights 8*9 + 8 = 80, out 128; MACs 16 * 8 * 9 = 1152
    assert layers["layers.1.dw"] == Traffic(512, 320, 512, 1152)
    assert layers["layers.1.project"] == Traffic(512, (4 * 8 + 4) * 4, 256, 512)
    # add reads two 64-element maps, no weights
    assert layers["layers.1.add"] == Traffic(512, 0, 256, 0)
    assert layers["layers.2"] == Traffic(256, 0, 16, 0)
    # fc: weights 4*2 + 2 biases (no BN)
    assert layers["layers.3"] == Traffic(16, 40, 8, 8)
    dw = layers["layers.1.dw"]
    assert dw.bytes_moved == 1344 and dw.intensity == 1152 / 1344
    # float16 scales every byte figure (int8 does not: tests/test_memory_int8.py)
    dw16 = layer_traffic(net(TINY).layer("layers.1.dw"), "float16")
    assert (dw16.input_bytes, dw16.weight_bytes, dw16.output_bytes) == (256, 160, 256)


def test_tiny_naive_by_hand():
    # naive: the input (192) is held by forward(x) throughout; a tensor lives to its last
    # reader. Live elements per step:
    #   layers.0:  192 + 64                               = 256
    #   expand:    192 + 64 (also the residual) + 128     = 384
    #   dw:        192 + 64 + 128 + 128                   = 512   <- peak
    #   project:   192 + 64 + 128 + 64                    = 448
    #   add:       192 + 64 + 64 + 64                     = 384
    #   pool:      192 + 64 + 4                           = 260
    #   fc:        192 + 4 + 2                            = 198
    peak = peak_memory(net(TINY), "naive")
    assert [s.live_bytes // 4 for s in peak.steps] == [256, 384, 512, 448, 384, 260, 198]
    assert (peak.bytes, peak.step.name) == (2048, "layers.1.dw")
    assert peak_memory(net(TINY), "naive", "float16").bytes == 1024


def test_tiny_streamed_by_hand():
    # streamed: the block layers.1 is one step: input 64 + output 64 + a piece of
    # ceil(8 / split) channels of the expand output (4x4) and of the dw output (4x4).
    # The input image is freed after layers.0 reads it.
    #   split 3: piece 3 * (16 + 16) = 96 -> block step 224; layers.0 step 192 + 64 = 256 peak
    #   split 1: piece 8 * 32 = 256 -> block step 384 = peak (worse than naive's dw step? no:
    #            naive is 512 because it also holds the input image)
    #   pool: 64 + 4 = 68; fc: 4 + 2 = 6
    three = peak_memory(net(TINY), "streamed", split=3)
    assert [(s.name, s.live_bytes // 4, s.piece_bytes // 4) for s in three.steps] == [
        ("layers.0", 256, 0), ("layers.1", 224, 96), ("layers.2", 68, 0), ("layers.3", 6, 0)]
    assert (three.bytes, three.step.name) == (1024, "layers.0")
    one = peak_memory(net(TINY), "streamed", split=1)
    assert (one.bytes, one.step.name, one.step.piece_bytes) == (1536, "layers.1", 1024)
    # split beyond the width: one channel per piece, 1 * 32 = 32
    assert peak_memory(net(TINY), "streamed", split=100).steps[1].live_bytes == 4 * 160


def test_squeeze_excite_block_by_hand():
    """tests/data/tiny_every_kind.yaml: 8x8x3 image (192) -> layers.0 4x4x16 (256) ->
    bottleneck exp 32 with SE: expand 512, dw 512, se.pool 32, fc1 8, fc2 32, scale 512,
    project 256, add 256 -> max pool 2x2x16 (64) -> pool 16 -> fc 10."""
    network = net(str(ROOT / "tests" / "data" / "tiny_every_kind.yaml"))
    # naive peak at the scale: image 192 + residual 256 + dw 512 + gate 32 + scale out 512
    naive = peak_memory(network, "naive")
    assert (naive.bytes, naive.step.name) == (4 * 1504, "layers.1.se.scale")
    # streamed: expand+dw is one step making the dw output whole with an expand piece of
    # ceil(32 / 6) = 6 channels x 16 px = 96: residual 256 + dw 512 + 96 = 864 (the image is
    # gone). The SE part runs as naive: the scale step 256 + 512 + 32 + 512 = 1312 is the peak.
    streamed = peak_memory(network, "streamed")
    steps = {s.name: (s.live_bytes // 4, s.piece_bytes // 4) for s in streamed.steps}
    assert steps["layers.1 (expand+dw)"] == (864, 96)
    assert steps["layers.1.project"] == (256 + 512 + 256, 0)
    assert (streamed.bytes, streamed.step.name) == (4 * 1312, "layers.1.se.scale")


# ---------------------------------------------------------------------------------------------
# v1 and v2, closed form

V1_IMAGE = 224 * 224 * 3                    # 150,528


def test_v1_peaks():
    # Peak at layers.1.pw: input image + dw output 112*112*32 + pw output 112*112*64.
    naive = peak_memory(net("v1"), "naive")
    assert (naive.bytes, naive.step.name) == (
        4 * (V1_IMAGE + 112 * 112 * 32 + 112 * 112 * 64), "layers.1.pw")
    assert naive.bytes == 5_419_008
    # v1 has no inverted residuals: streamed = naive without the held image.
    streamed = peak_memory(net("v1"), "streamed")
    assert (streamed.bytes, streamed.step.name) == (4 * (112 * 112 * (32 + 64)), "layers.1.pw")
    assert streamed.bytes == 4_816_896
    assert peak_memory(net("v1"), "naive", "float16").bytes == 2_709_504


def test_v2_peaks():
    # naive: layers.2.0.dw holds the image, the expanded 112x112x96 and its 56x56x96 output
    # (block 2.0 has stride 2, so no residual is held).
    naive = peak_memory(net("v2"), "naive")
    assert (naive.bytes, naive.step.name) == (
        4 * (V1_IMAGE + 112 * 112 * 96 + 56 * 56 * 96), "layers.2.0.dw")
    assert naive.bytes == 6_623_232
    # streamed, split 6: block layers.1 (t = 1, no expand) holds its input 112x112x32, its
    # output 112x112x16 and a dw piece of ceil(32 / 6) = 6 channels of 112x112.
    streamed = peak_memory(net("v2"), "streamed")
    assert (streamed.bytes, streamed.step.name) == (
        4 * (112 * 112 * 32 + 112 * 112 * 16 + 6 * 112 * 112), "layers.1")
    assert streamed.bytes == 2_709_504
    # block layers.2.0: in 112x112x16 + out 56x56x24 + 16 channels of (112^2 + 56^2)
    step = {s.name: s for s in streamed.steps}["layers.2.0"]
    assert step.live_bytes == 4 * (200_704 + 75_264 + 16 * (12_544 + 3_136))


def test_v1_traffic_totals():
    report = memory_report(net("v1"))
    # weights: every conv/fc weight + one bias per BN channel (folded) + the fc's 1000 biases
    assert report.total.weight_bytes == 4 * (4_209_088 + 21_888 // 2 + 1000)
    # inputs: every layer reads its in_shape (no add/scale in v1)
    assert report.total.input_bytes == 4 * sum(la.in_shape.numel for la in net("v1").layers)
    assert report.total.output_bytes == 4 * 5_044_712      # analyze's "activations"
    assert report.total.bytes_moved == 57_839_936
    dw = report.by_kind["depthwise"]
    assert (dw.macs, dw.bytes_moved) == (17_385_984, 20_168_448)


def test_every_kind_has_memory_formulas():
    """The element formulas are fields of each kind's record (mncost.costs.kinds.Kind): every
    kind has them, and a layer holds inference weights exactly when the engine counts
    parameters for it: conv weights, a layer scale's gamma, a lone batch norm's scale and shift
    (every_kind.yaml has every kind)."""
    network = net(str(ROOT / "tests" / "data" / "every_kind.yaml"))
    assert {layer.kind for layer in network.layers} == set(REGISTRY)
    for layer in network.layers:
        traffic = layer_traffic(layer)
        assert traffic.input_bytes > 0 and traffic.output_bytes == 4 * layer.out_shape.numel
        assert (traffic.weight_bytes > 0) == (layer_cost(layer).params() > 0)


def test_schedule_errors():
    with pytest.raises(InputError, match="unknown schedule"):
        peak_memory(net(TINY), "lazy")
    with pytest.raises(InputError, match="unknown dtype"):
        peak_memory(net(TINY), "naive", "float64")
    with pytest.raises(InputError, match="split"):
        peak_memory(net(TINY), "streamed", split=0)
    assert set(SCHEDULES) == {"naive", "streamed"}


# ---------------------------------------------------------------------------------------------
# v2 paper Table 3

def test_paper_k():
    assert [paper_k(b) for b in (1_605_632, 802_816, 401_408, 200_704, 100_352, 62_720,
                                 31_360, 2_560, 2_048)] == [1600, 800, 400, 200, 100, 62, 31,
                                                            2, 2]


def _computed(model, tensor_set):
    return [(r.h, r.channels, r.bytes) for r in per_resolution(net(model), tensor_set)]


def test_table3_v1_column():
    # every layer output, 16-bit: H * W * max channels * 2
    assert _computed("v1", "layer-outputs") == [
        (112, 64, 1_605_632), (56, 128, 802_816), (28, 256, 401_408), (14, 512, 200_704),
        (7, 1024, 100_352), (1, 1024, 2_048)]
    entries = {e.size: e for e in paper_comparison(net("v1"))}
    assert [s for s, e in entries.items() if "layer-outputs" in e.matched_by] == [
        112, 56, 28, 14, 1]
    # the outlier: the paper prints 199 at 7x7, 7*7*1024*2 = 100,352 B = 100 K
    assert entries[7].matched_by == () and entries[7].paper_k == 199


def test_table3_v2_column():
    # block-io: block outputs at their own size, stem fused, last 1x1 conv pooled on the fly
    assert _computed("v2", "block-io") == [
        (112, 16, 401_408), (56, 24, 150_528), (28, 32, 50_176), (14, 96, 37_632),
        (7, 320, 31_360), (1, 1280, 2_560)]
    # row-input: a block's output at its input size (a stride-2 block's c at the size before)
    assert _computed("v2", "row-input") == [
        (112, 24, 602_112), (56, 32, 200_704), (28, 64, 100_352), (14, 160, 62_720),
        (7, 320, 31_360), (1, 1280, 2_560)]
    matched = {e.size: e.matched_by for e in paper_comparison(net("v2"))}
    assert matched == {112: ("block-io",), 56: ("row-input",), 28: ("row-input",),
                       14: ("row-input",), 7: (), 1: ("layer-outputs", "block-io",
                                                      "row-input")}


def test_table3_cli_shows_outliers():
    out = invoke("memory", "v2", "--per-resolution", "block-io", "-f", "markdown").stdout
    # "*" escaped: unescaped, Markdown would set "7" in italics and eat the stars
    assert "7\\*7\\*320\\*2 B = 31,360 B = 31.36 K" in out
    assert "only rounding up gives 32" in out
    out = invoke("memory", "v1", "--per-resolution", "layer-outputs", "-f", "markdown").stdout
    assert "7\\*7\\*1024\\*2 B = 100,352 B" in out and "199 follows from neither" in out
    data = json.loads(invoke("memory", "v1", "--per-resolution", "layer-outputs",
                             "--alpha", "0.5", "-f", "json").stdout)
    assert data["table3"] is None                  # not the paper's configuration


# ---------------------------------------------------------------------------------------------
# Roofline

def test_v1_depthwise_memory_bound():
    device = make_device(50, 10)          # ridge 5 MACs per byte
    report = memory_report(net("v1"))
    dw = [(la, t) for la, t in report.layers if la.kind == "depthwise"]
    assert len(dw) == 13 and all(bound(t, device).bound == "memory" for _, t in dw)
    assert report.layers[1][0].name == "layers.1.dw"
    first = bound(report.layers[1][1], device)
    # layers.1.dw: 3,612,672 MACs / 5e10 = 72.25 us; 3,212,544 B / 1e10 = 321.25 us
    assert first.compute_s == 3_612_672 / 50e9 and first.memory_s == 3_212_544 / 10e9
    assert first.time_s == first.memory_s
    pw = [t for la, t in report.layers if la.kind == "pointwise"]
    assert all(bound(t, device).bound == "compute" for t in pw)


def test_join_profile_fraction():
    network = net(TINY)
    device = make_device(1, 1)            # 1 GMAC/s, 1 GB/s
    data = {"options": {"dtype": "float32", "batch": 1},
            "per_layer": {"layers": [{"name": la.name, "kind": la.kind, "median_ms": 0.01}
                                     for la in network.layers]}}
    roof = join_profile(data, network, device)["roofline"]
    dw = {r["name"]: r for r in roof["layers"]}["layers.1.dw"]
    # 1152 MACs -> 1.152 us; 1344 B -> 1.344 us: memory-bound, 1.344 us of 10 us measured
    assert dw["bound"] == "memory" and dw["time_bound_ms"] == pytest.approx(1.344e-3, rel=1e-12)
    assert dw["roof_fraction"] == pytest.approx(0.1344, rel=1e-12)
    with pytest.raises(InputError, match="--per-layer"):
        join_profile({"per_layer": None, "options": {}}, network, device)


# ---------------------------------------------------------------------------------------------
# The command, every format; byte units

def test_memory_command_formats(tmp_path):
    data = json.loads(invoke("memory", "v2", "-f", "json", "--peak-gmacs", "50",
                             "--bandwidth-gbs", "10").stdout)
    assert data["schema"] == "mncost.memory/1"
    assert [(p["schedule"], p["bytes"], p["step"]) for p in data["peaks"]] == [
        ("naive", 6_623_232, "layers.2.0.dw"), ("streamed", 2_709_504, "layers.1")]
    assert data["totals"]["bytes_moved"] == 70_589_120
    dw = [r for r in data["layers"] if r["kind"] == "depthwise"]
    assert all(r["bound"] == "memory" for r in dw)
    rows = list(csv.DictReader(io.StringIO(invoke("memory", "v1", "-f", "csv").stdout)))
    assert rows[-1]["kind"] == "total" and int(rows[-1]["bytes_moved"]) == 57_839_936
    layers = list(csv.DictReader(io.StringIO(
        invoke("memory", "v1", "-f", "csv", "--per-layer").stdout)))
    assert int(layers[2]["live_bytes_naive"]) == 5_419_008
    md = invoke("memory", "v1", "-f", "markdown", "--dtype", "float16").stdout
    assert "| naive | 2.71MB | 2,709,504 | layers.1.pw |" in md
    table = invoke("memory", "v3-small", "--per-layer")
    assert table.exit_code == 0 and "Peak activation memory" in table.stdout
    device = tmp_path / "device.json"
    device.write_text(json.dumps({"peak_gmacs": 50, "bandwidth_gbs": 10}))
    md = invoke("memory", "v1", "--roofline", str(device), "-f", "markdown").stdout
    assert "| depthwise | 13 |" in md and "13/13" in md


@pytest.mark.parametrize("args, message", [
    (["--peak-gmacs", "50"], "go together"),
    (["--peak-gmacs", "0", "--bandwidth-gbs", "1"], "peak GMAC/s must be a number > 0"),
    (["--roofline", "/nonexistent/device.json"], "cannot read device file"),
])
def test_memory_command_errors(args, message):
    result = invoke("memory", "v1", *args)
    assert result.exit_code == 2 and message in result.output
    assert result.output.count("\n") == 1 and result.output.startswith("mncost: error:")


def test_analyze_json_adds_memory_fields_only():
    data = json.loads(invoke("analyze", "v1", "-f", "json").stdout)
    t = data["totals"]
    assert (t["macs"], t["bytes_moved"], t["peak_activation_bytes"],
            t["peak_activation_bytes_streamed"]) == (568_740_352, 57_839_936, 5_419_008,
                                                     4_816_896)
    dw = data["layers"][1]
    assert (dw["name"], dw["macs"], dw["input_bytes"], dw["weight_bytes"],
            dw["output_bytes"]) == ("layers.1.dw", 3_612_672, 1_605_632, (288 + 32) * 4,
                                    1_605_632)


def test_sweep_memory_columns():
    rows = list(csv.DictReader(io.StringIO(
        invoke("sweep", "v1", "v2", "--memory", "-f", "csv").stdout)))
    assert [(r["model"], int(r["peak_activation_bytes"]), int(r["bytes_moved"]))
            for r in rows] == [("v1", 5_419_008, 57_839_936), ("v2", 6_623_232, 70_589_120)]
    assert invoke("sweep", "v1", "--memory", "--per-layer").exit_code == 2


def test_parse_bytes_units():
    assert parse_bytes("2MB") == 2_000_000 and parse_bytes("2MiB") == 2 * 2 ** 20
    assert parse_bytes("512kB") == parse_bytes("512KB") == 512_000
    assert parse_bytes("1.5KiB") == 1536 and parse_bytes("3GB") == 3 * 10 ** 9
    assert parse_bytes("2M") == 2_000_000 and parse_bytes(4096) == 4096
    assert parse_bytes("10B") == Decimal(10)
    with pytest.raises(ValueError, match="byte size"):
        parse_bytes("2 MQ")


def test_budget_on_peak_activation(tmp_path):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n"
                       "  - {model: v2, max_peak_activation_bytes: 2MB}\n"
                       "  - {model: v3-small, max_peak_activation_bytes: 2MiB}\n")
    md = tmp_path / "report.md"
    result = invoke("check", "--budget", str(budgets), "--report-md", str(md))
    assert result.exit_code == 1
    report = md.read_text()
    # 2MB = 2,000,000 B (broken by v2's 6,623,232); 2MiB = 2,097,152 B (v3-small holds)
    assert "6,623,232" in report and "1,731,072" in report
    assert "FAILED: 1 of 2 budgets broken" in result.output
