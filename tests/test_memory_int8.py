"""int8 as ONNX Runtime's QDQ static quantization runs it (mncost.costs.int8): byte counts
worked by hand in the comments, per-tensor and per-channel, and the CLI, sweep and budgets
that take ``--dtype int8``.

Sizes: weights and activations 1 B, biases (folded batch norm) int32 4 B, a scale (4 B) and
zero point (1 B) = 5 B per weight tensor (or per output channel with per_channel) and per
int8 tensor an int8 op reads or writes. The image is float32; hswish / hsigmoid outputs stay
float32.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import pytest
from click.testing import CliRunner
from conftest import ROOT

from mncost.cli import cli
from mncost.costs import int8
from mncost.costs.kinds import Kind, registered_kind
from mncost.costs.memory import (
    Traffic,
    memory_report,
    network_traffic,
    peak_memory,
)
from mncost.errors import InputError
from mncost.network.catalog import resolve_model
from mncost.network.layers import ResolvedLayer, Shape

SMALL = str(ROOT / "tests" / "data" / "int8_small.yaml")
EVERY = str(ROOT / "tests" / "data" / "tiny_every_kind.yaml")


def net(model):
    return resolve_model(model, None, None, None)


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def traffic(model, per_channel=False):
    n = net(model)
    return dict(zip((la.name for la in n.layers), network_traffic(n, "int8", per_channel)))


# ---------------------------------------------------------------------------------------------
# tests/data/int8_small.yaml: image 8x8x3 = 192 (float32) -> conv 3x3 s2 +bn+relu 4x4x4 = 64
# -> depthwise 3x3 +bn+relu 64 -> global avg pool 4 -> fc 4->3 with bias. Everything int8.

def test_small_traffic_per_tensor_by_hand():
    t = traffic(SMALL)
    # conv: reads the float32 image 192 x 4 = 768; weights 4*3*9 = 108 x 1 + 4 biases x 4 = 16
    # + 5 (weights' scale and zero point) + 2 x 5 (its input's and output's) = 139; out 64
    assert t["layers.0"] == Traffic(768, 139, 64, 16 * 4 * 27)
    # depthwise: in 64; 4*9 = 36 + 16 + 5 + 10 = 67; out 64; MACs 16 px * 4 * 9
    assert t["layers.1"] == Traffic(64, 67, 64, 576)
    # QLinearGlobalAveragePool: only its input's and output's parameters, 2 x 5
    assert t["layers.2"] == Traffic(64, 10, 4, 0)
    # QGemm: 3*4 = 12 + 3 int32 biases 12 + 5 + 10 = 39
    assert t["layers.3"] == Traffic(4, 39, 3, 12)


def test_small_traffic_per_channel_by_hand():
    t = traffic(SMALL, per_channel=True)
    # one scale and zero point per output channel: conv 4 x 5 = 20 (not 5), dw 20, fc 15
    assert [t[n].weight_bytes for n in ("layers.0", "layers.1", "layers.2", "layers.3")] == [
        139 + 15, 67 + 15, 10, 39 + 10]
    assert t["layers.0"].input_bytes == 768 and t["layers.0"].output_bytes == 64


def test_small_naive_by_hand():
    # ORT's nodes: 0 Quantize(image) 192, 1 conv 64, 2 dw 64, 3 pool 4, 4 fc 3,
    # 5 Dequantize(logits) 3 x 4 = 12 (the graph output). The image (768) is held throughout.
    #   0: 768 + 192 = 960        1: 768 + 192 + 64 = 1024     -> layers.0 1024 (peak)
    #   2: 768 + 64 + 64 = 896    3: 768 + 64 + 4 = 836
    #   4: 768 + 4 + 3 = 775      5: 768 + 3 + 12 = 783         -> layers.3 783
    peak = peak_memory(net(SMALL), "naive", "int8")
    assert [(s.name, s.live_bytes) for s in peak.steps] == [
        ("layers.0", 1024), ("layers.1", 896), ("layers.2", 836), ("layers.3", 783)]
    assert (peak.bytes, peak.step.name) == (1024, "layers.0")
    # float32 for contrast: 4 x (192 + 64 + 64) at the depthwise
    assert peak_memory(net(SMALL), "naive").bytes == 1280


def test_small_streamed_by_hand():
    # No copies; the image (float32) is freed after the conv: 768 + 64, then 64 + 64, 64 + 4,
    # 4 + 3.
    peak = peak_memory(net(SMALL), "streamed", "int8")
    assert [s.live_bytes for s in peak.steps] == [832, 128, 68, 7]


# ---------------------------------------------------------------------------------------------
# tests/data/tiny_every_kind.yaml: a hswish stem (float32 output), a bottleneck with
# squeeze-excite whose gate is hsigmoid (float32), relu6 elsewhere, a residual add, a max pool.
#   layers.0 conv 3x3 s2 3->16 hswish      4x4x16 = 256     float32 out
#   layers.1.expand 16->32 relu6           512
#   layers.1.dw 3x3 relu6                  512
#   layers.1.se.pool                       32
#   layers.1.se.fc1 32->8 relu (bias)      8
#   layers.1.se.fc2 8->32 hsigmoid (bias)  32               float32 out
#   layers.1.se.scale dw x gate            512
#   layers.1.project 32->16                256
#   layers.1.add project + layers.0        256
#   layers.2 max pool 3x3 s2               2x2x16 = 64
#   layers.3 global avg pool               16
#   layers.4 fc 16->10 (bias)              10

def test_some_stay_float_traffic_by_hand():
    t = traffic(EVERY)
    # stem: image 768; 16*27 = 432 + 16 x 4 + 5 + 10 = 511; writes hswish's float32 256 x 4
    assert t["layers.0"] == Traffic(768, 511, 1024, 16 * 16 * 27)
    # expand reads the float32 stem output (1024); 512 + 128 + 15 = 655
    assert t["layers.1.expand"] == Traffic(1024, 512 + 128 + 15, 512, 16 * 32 * 16)
    assert t["layers.1.dw"].weight_bytes == 288 + 128 + 15
    assert t["layers.1.se.pool"] == Traffic(512, 10, 32, 0)
    assert t["layers.1.se.fc1"] == Traffic(32, 256 + 8 * 4 + 15, 8, 256)
    # fc2's gate is hsigmoid: written as float32, 32 x 4
    assert t["layers.1.se.fc2"] == Traffic(8, 256 + 128 + 15, 128, 256)
    # QLinearMul: the int8 map 512 + the float32 gate 32 x 4; 3 tensors' parameters
    assert t["layers.1.se.scale"] == Traffic(512 + 128, 15, 512, 0)
    # QLinearAdd: int8 projection 256 + the float32 stem output 256 x 4
    assert t["layers.1.add"] == Traffic(256 + 1024, 15, 256, 0)
    assert t["layers.2"] == Traffic(256, 10, 64, 0)     # MaxPool: int8
    assert t["layers.4"] == Traffic(16, 160 + 40 + 15, 10, 160)


def test_some_stay_float_per_channel():
    pc, pt = traffic(EVERY, True), traffic(EVERY)
    extra = {name: pc[name].weight_bytes - pt[name].weight_bytes for name in pc}
    # (channels - 1) x 5 more where there are weights
    assert {k: v for k, v in extra.items() if v} == {
        "layers.0": 75, "layers.1.expand": 155, "layers.1.dw": 155, "layers.1.se.fc1": 35,
        "layers.1.se.fc2": 155, "layers.1.project": 75, "layers.4": 45}


def test_some_stay_float_naive_by_hand():
    # The stem runs Quantize(image) 192, QLinearConv -> int8 256, Dequantize -> 1024,
    # HardSwish -> 1024: at HardSwish 768 + 1024 + 1024 = 2816 (the peak). Its float32
    # output gets one int8 copy (256) for both readers, expand and the add, held to the add.
    #   expand: 768 + 1024 + 256 (Quantize) = 2048; then 768 + 256 + 512 = 1536
    #   dw: 768 + 256 + 512 + 512 = 2048
    #   se.fc2: QLinearConv 8 -> 32, Dequantize -> 128, HardSigmoid -> 128:
    #           768 + 256 + 512 (dw, held for the scale) + 128 + 128 = 1792
    #   scale: Quantize(gate) 32, then 768 + 256 + 512 + 32 + 512 = 2080
    #   add: 768 + 256 + 256 + 256 = 1536; fc then Dequantize: 768 + 10 + 40 = 818
    steps = dict((s.name, s.live_bytes) for s in peak_memory(net(EVERY), "naive", "int8").steps)
    assert (steps["layers.0"], steps["layers.1.expand"], steps["layers.1.dw"]) == (
        2816, 2048, 2048)
    assert (steps["layers.1.se.fc2"], steps["layers.1.se.scale"], steps["layers.1.add"],
            steps["layers.4"]) == (1792, 2080, 1536, 818)
    assert peak_memory(net(EVERY), "naive", "int8").bytes == 2816


def test_some_stay_float_streamed_by_hand():
    # Streamed: no copies. The stem step: image 768 + float32 output 1024 = 1792; the
    # expand+dw step holds the residual (float32 1024), the whole dw output 512 and an expand
    # piece of ceil(32 / 6) = 6 channels x 16 px = 96: 1632; the scale step (the peak) the
    # residual 1024 + dw 512 + the float32 gate 32 x 4 + its output 512 = 2176.
    peak = peak_memory(net(EVERY), "streamed", "int8")
    steps = {s.name: (s.live_bytes, s.piece_bytes) for s in peak.steps}
    assert steps["layers.0"] == (1792, 0)
    assert steps["layers.1 (expand+dw)"] == (1024 + 512 + 96, 96)
    assert (peak.bytes, peak.step.name) == (1024 + 512 + 128 + 512, "layers.1.se.scale")


def test_a_kind_ort_does_not_know_stays_float():
    layer = ResolvedLayer("x", "mystery", "x", ("input",), Shape(4, 2, 2), Shape(4, 2, 2))
    before = int8.float_kinds()
    assert "conv" not in before and "pool" not in before
    with registered_kind(Kind("mystery", "a kind from a plug-in")):
        assert not int8.op_quantized(layer) and int8.output_size(layer) == 4
        assert int8.float_kinds() == (*before, "mystery")
    assert int8.float_kinds() == before


def test_kind_and_activation_tables_cover_the_builtins():
    from mncost.costs.kinds import _BUILT_IN
    from mncost.spec.values import ACTIVATIONS

    assert set(_BUILT_IN) <= set(int8.KIND_OPS)
    assert set(ACTIVATIONS) <= set(int8.ACT_OPS)
    # what stays float: the activations with an op ORT does not quantize, a lone batch norm
    # (quantized, but no int8 kernel)
    assert [a for a, ops in int8.ACT_OPS.items()
            if not all(int8.runs_int8(op) for op in ops)] == ["hsigmoid", "hswish", "gelu"]
    assert [k for k, op in int8.KIND_OPS.items() if not callable(op)
            and not int8.runs_int8(op)] == ["norm"]


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                    reason="onnxruntime is not installed")
def test_quantized_ops_are_the_installed_ort_registry():
    from onnxruntime.quantization import registry

    assert int8.ORT_QUANTIZED_OPS == set(registry.QLinearOpsRegistry) | set(
        registry.QDQRegistry)


# ---------------------------------------------------------------------------------------------
# v2 1.0/224

def test_v2_int8_by_hand():
    network = net("v2")
    # Naive: at layers.2.0.dw the image (float32 150,528 x 4 = 602,112) + the int8 expanded
    # 112x112x96 (1,204,224) + its 56x56x96 depthwise output (301,056).
    naive = peak_memory(network, "naive", "int8")
    assert (naive.bytes, naive.step.name) == (2_107_392, "layers.2.0.dw")
    # Streamed: the stem step, image 602,112 + 112x112x32 int8 = 1,003,520.
    streamed = peak_memory(network, "streamed", "int8")
    assert (streamed.bytes, streamed.step.name) == (1_003_520, "layers.0")
    # Weights: 3,469,760 int8 weights + 18,056 int32 biases (one per conv/fc output channel)
    # + 53 weight tensors x 5 + 138 activation tensors read or written x 5 (64 layers, 10
    # adds read 2).
    per_tensor = memory_report(network, "int8").total
    assert per_tensor.weight_bytes == 3_469_760 + 4 * 18_056 + 5 * 53 + 5 * 138 == 3_542_939
    per_channel = memory_report(network, "int8", per_channel=True).total
    assert per_channel.weight_bytes == 3_469_760 + 4 * 18_056 + 5 * 18_056 + 5 * 138
    # Activations: float32 reads 7,262,688 elements; at int8 one byte each but the image's
    # 150,528, read as float32 by the stem.
    assert per_tensor.input_bytes == 7_262_688 + 3 * 150_528
    assert per_tensor.output_bytes == 27_587_104 // 4
    assert per_tensor.bytes_moved == 18_153_987


def test_float32_is_unchanged():
    network = net("v2")
    report = memory_report(network)
    assert (report.peaks["naive"].bytes, report.peaks["streamed"].bytes,
            report.total.bytes_moved, report.total.weight_bytes) == (
        6_623_232, 2_709_504, 70_589_120, 13_951_264)


# ---------------------------------------------------------------------------------------------
# Commands

def test_memory_command_int8():
    data = json.loads(invoke("memory", EVERY, "--dtype", "int8", "--per-channel",
                             "-f", "json").stdout)
    assert data["dtype"] == "int8" and data["peaks"][0]["bytes"] == 2816
    assert data["quantization"] == {
        "runtime": "onnxruntime QDQ static quantization", "weights": "per-channel",
        "float_kinds": [], "float_activations": ["hsigmoid", "hswish"], "float_outputs": 2}
    assert "quantization" not in json.loads(invoke("memory", EVERY, "-f", "json").stdout)
    md = invoke("memory", "v2", "--dtype", "int8", "-f", "markdown").stdout
    assert "dtype=int8 (per-tensor)" in md and "2,107,392" in md
    assert "float32: none" in md


@pytest.mark.parametrize("args, message", [
    (["memory", "v2", "--per-channel"], "--per-channel quantizes weights: it needs --dtype int8"),
    (["memory", "v2", "--per-channel", "--dtype", "float16"], "not float16"),
    (["sweep", "v2", "--dtype", "int8"], "--dtype sizes --memory's columns: add --memory"),
    (["sweep", "v2", "--memory", "--per-channel"], "needs --dtype int8"),
])
def test_per_channel_errors(args, message):
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.startswith("mncost: error:")


def test_sweep_memory_int8():
    rows = list(csv.DictReader(io.StringIO(
        invoke("sweep", "v2", "--memory", "--dtype", "int8", "-f", "csv").stdout)))
    assert (int(rows[0]["peak_activation_bytes"]), int(rows[0]["bytes_moved"])) == (
        2_107_392, 18_153_987)
    rows = list(csv.DictReader(io.StringIO(invoke(
        "sweep", "v2", "--memory", "--dtype", "int8", "--per-channel", "-f", "csv").stdout)))
    assert int(rows[0]["bytes_moved"]) == 18_153_987 + 5 * (18_056 - 53)


def test_budget_int8(tmp_path):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "budgets:\n"
        "  - {model: v2, dtype: int8, max_peak_activation_bytes: 2107392}\n"
        "  - {model: v2, dtype: int8, per_channel: true, max_bytes_moved: 18244001}\n")
    md = tmp_path / "report.md"
    result = invoke("check", "--budget", str(budgets), "--report-md", str(md))
    # the int8 peak holds to the byte; per-channel moves 18,244,002 B, one over
    assert result.exit_code == 1 and "FAILED: 1 of 2 budgets broken" in result.output
    assert "18,244,002" in md.read_text() and "2,107,392" in md.read_text()


@pytest.mark.parametrize("entry, message", [
    ("{model: v2, dtype: int4, max_bytes_moved: 2MB}", "dtype: must be one of float32"),
    ("{model: v2, per_channel: true, max_bytes_moved: 2MB}", "needs dtype: int8, not float32"),
    ("{model: v2, dtype: int8, max_macs: 2M}", "sizes the memory budgets"),
    ("{model: v2, dtype: int8, per_channel: 1, max_bytes_moved: 2M}", "must be true or false"),
])
def test_budget_int8_errors(tmp_path, entry, message):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(f"budgets:\n  - {entry}\n")
    result = invoke("check", "--budget", str(budgets))
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1 and ":2: budgets[0]." in result.output


def test_layer_traffic_refuses_int8():
    with pytest.raises(InputError, match="network_traffic"):
        from mncost.costs.memory import layer_traffic
        layer_traffic(net(SMALL).layers[0], "int8")


def test_a_kinds_workspace_is_held_by_its_op():
    """A kind with a ``workspace`` (main's attention scores) holds it while its op runs."""
    from dataclasses import dataclass
    from typing import Callable

    from mncost.network.layers import Network

    @dataclass(frozen=True)
    class WithWorkspace(Kind):
        workspace: Callable = lambda layer: 10

    layer = ResolvedLayer("x", "scratchy", "x", ("input",), Shape(3, 2, 2), Shape(4, 2, 2))
    network = Network("t", "t.yaml", 1.0, (2, 2), 4, (layer,), ("x",))
    with registered_kind(WithWorkspace("scratchy", "a kind with scores")):
        # a float32 kind: image 12 x 4 = 48, scores 10 x 4 = 40, output 16 x 4 = 64
        assert int8.naive_live_bytes(network) == [("x", 48 + 40 + 64)]
