"""int8 as ONNX Runtime's QDQ static quantization runs it (mncost.costs.int8): byte counts
worked by hand in the comments, per-tensor and per-channel, and the CLI, sweep and budgets
that take ``--dtype int8``.

Which layers run int8 is mncost.costs.int8.precisions (worked by hand in
tests/test_int8_precision.py, held to ORT's graph in tests/test_ort_int8.py): a tensor with two
readers (a residual's skip, the map squeeze-excite pools and scales, the input of hswish)
keeps its writer and all its readers float32. Sizes: an int8 (or mixed) layer's weights 1 B,
its biases (folded batch norm) int32 4 B, a scale (4 B) and zero point (1 B) = 5 B per weight
tensor (or per output channel with per_channel) and per int8 tensor it reads or writes; a
float32 layer's weights and output 4 B; a mixed layer's hsigmoid output float32. The image is
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
    layer_traffic,
    memory_report,
    network_traffic,
    peak_memory,
)
from mncost.errors import InputError
from mncost.network.catalog import resolve_model
from mncost.network.layers import Network, ResolvedLayer, Shape

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
# tests/data/tiny_every_kind.yaml: a hswish stem, a bottleneck with squeeze-excite whose gate
# is hsigmoid, relu6 elsewhere, a residual add, a max pool. What ORT runs each layer in
# (tests/test_int8_precision.py): the stem is float32 (hswish is x * hardsigmoid(x): its
# pre-activation has two readers), and its output has two readers (expand, add), so expand
# and add are float32; the depthwise output has two (SE pool, SE scale): dw, pool and scale
# float32; fc1 int8; fc2 mixed (int8 conv, float32 hsigmoid); project, the pools, fc int8.
#   layers.0 conv 3x3 s2 3->16 hswish      4x4x16 = 256     float32   432 w + 16 b
#   layers.1.expand 16->32 relu6           512              float32   512 w + 32 b
#   layers.1.dw 3x3 relu6                  512              float32   288 w + 32 b
#   layers.1.se.pool                       32               float32
#   layers.1.se.fc1 32->8 relu (bias)      8                int8      256 w + 8 b
#   layers.1.se.fc2 8->32 hsigmoid (bias)  32               mixed     256 w + 32 b
#   layers.1.se.scale dw x gate            512              float32
#   layers.1.project 32->16                256              int8      512 w + 16 b
#   layers.1.add project + layers.0        256              float32
#   layers.2 max pool 3x3 s2               2x2x16 = 64      int8
#   layers.3 global avg pool               16               int8
#   layers.4 fc 16->10 (bias)              10               int8      160 w + 10 b

def test_some_stay_float_traffic_by_hand():
    t = traffic(EVERY)
    # stem, float32: image 192 x 4 = 768; (432 + 16) x 4 = 1792; 256 x 4 = 1024
    assert t["layers.0"] == Traffic(768, 1792, 1024, 16 * 16 * 27)
    # expand, float32: the stem's 1024; (512 + 32) x 4 = 2176; 512 x 4 = 2048
    assert t["layers.1.expand"] == Traffic(1024, 2176, 2048, 16 * 32 * 16)
    # dw, float32: 2048 in, (288 + 32) x 4 = 1280, 2048 out
    assert t["layers.1.dw"] == Traffic(2048, 1280, 2048, 16 * 32 * 9)
    # the SE pool, float32: 2048 in, no weights, 32 x 4 out
    assert t["layers.1.se.pool"] == Traffic(2048, 0, 128, 0)
    # fc1, int8, reads the float32 pool output (its Quantize copy works in cache): 32 x 4;
    # 256 + 8 x 4 + 5 + 2 x 5 = 303; int8 out 8
    assert t["layers.1.se.fc1"] == Traffic(128, 303, 8, 256)
    # fc2, mixed: int8 in 8; 256 + 32 x 4 + 15 = 399; hsigmoid's float32 32 x 4
    assert t["layers.1.se.fc2"] == Traffic(8, 399, 128, 256)
    # scale, float32: the float32 map 512 x 4 and gate 32 x 4 = (512 + 32) x 4; no weights
    assert t["layers.1.se.scale"] == Traffic(2176, 0, 2048, 0)
    # project, int8: the float32 scale output 2048; 512 + 16 x 4 + 15 = 591; int8 256
    assert t["layers.1.project"] == Traffic(2048, 591, 256, 16 * 16 * 32)
    # add, float32: int8 projection 256 + the float32 stem output 1024; float32 out 1024
    assert t["layers.1.add"] == Traffic(256 + 1024, 0, 1024, 0)
    # max pool, int8 (NhwcMaxPool): reads the float32 sum 1024; its in/out parameters 10
    assert t["layers.2"] == Traffic(1024, 10, 64, 0)
    assert t["layers.3"] == Traffic(64, 10, 16, 0)
    assert t["layers.4"] == Traffic(16, 160 + 40 + 15, 10, 160)


def test_some_stay_float_per_channel():
    pc, pt = traffic(EVERY, True), traffic(EVERY)
    extra = {name: pc[name].weight_bytes - pt[name].weight_bytes for name in pc}
    # (channels - 1) x 5 more where an int8 or mixed op has weights; float32 ones have no
    # scales
    assert {k: v for k, v in extra.items() if v} == {
        "layers.1.se.fc1": 35, "layers.1.se.fc2": 155, "layers.1.project": 75, "layers.4": 45}


def test_some_stay_float_naive_by_hand():
    # ORT's nodes and what each adds (the image, 768, is held throughout):
    #   0 stem -> 1024 (float32, reads the image itself; held until the add)
    #   1 expand -> 2048                    2 dw -> 2048 (held until the scale)
    #   3 SE pool -> 128                    4 Quantize(pool) -> 32      5 fc1 -> 8
    #   6 fc2 -> int8 32                    7 Dequantize -> 128         8 HardSigmoid -> 128
    #   9 scale -> 2048                     10 Quantize(scale) -> 512   11 project -> 256
    #   12 Dequantize(project) -> 1024      13 add -> 1024
    #   14 Quantize(add) -> 256             15 max pool -> 64           16 pool -> 16
    #   17 fc -> 10                         18 Dequantize(logits) -> 40
    # Alive at each: 0: 768 + 1024 = 1792; 1: + 2048 = 3840; 2: 768 + 1024 + 2048 + 2048 =
    # 5888; 3: 768 + 1024 + 2048 + 128 = 3968; 4: + 32 = 4000; 5: 768 + 1024 + 2048 + 32 + 8
    # = 3880; 6: 768 + 1024 + 2048 + 8 + 32 = 3880; 7: ... + 32 + 128 = 4000; 8: ... + 128 +
    # 128 = 4096; 9: 768 + 1024 + 2048 + 128 + 2048 = 6016 (the peak, as at float32: every
    # tensor alive there is float32); 10: 768 + 1024 + 2048 + 512 = 4352; 11: 768 + 1024 +
    # 512 + 256 = 2560; 12: 768 + 1024 + 256 + 1024 = 3072; 13: 768 + 1024 + 1024 + 1024 =
    # 3840; 14: 768 + 1024 + 256 = 2048; 15: 768 + 256 + 64 = 1088; 16: 768 + 64 + 16 = 848;
    # 17: 768 + 16 + 10 = 794; 18: 768 + 10 + 40 = 818. A copy's node counts for its reader.
    steps = dict((s.name, s.live_bytes) for s in peak_memory(net(EVERY), "naive", "int8").steps)
    assert steps == {
        "layers.0": 1792, "layers.1.expand": 3840, "layers.1.dw": 5888,
        "layers.1.se.pool": 3968, "layers.1.se.fc1": 4000, "layers.1.se.fc2": 4096,
        "layers.1.se.scale": 6016, "layers.1.project": 4352, "layers.1.add": 3840,
        "layers.2": 2048, "layers.3": 848, "layers.4": 818}
    assert peak_memory(net(EVERY), "naive", "int8").bytes == 6016


def test_some_stay_float_streamed_by_hand():
    # Streamed: no copies. The stem step: image 768 + float32 output 1024 = 1792; the
    # expand+dw step holds the residual (float32 1024), the whole float32 dw output 2048 and
    # an expand piece of ceil(32 / 6) = 6 channels x 16 px = 96 float32 = 384: 3456; the
    # scale step (the peak) the residual 1024 + dw 2048 + the float32 gate 32 x 4 + its
    # float32 output 2048 = 5248.
    peak = peak_memory(net(EVERY), "streamed", "int8")
    steps = {s.name: (s.live_bytes, s.piece_bytes) for s in peak.steps}
    assert steps["layers.0"] == (1792, 0)
    assert steps["layers.1 (expand+dw)"] == (1024 + 2048 + 384, 384)
    assert (peak.bytes, peak.step.name) == (1024 + 2048 + 128 + 2048, "layers.1.se.scale")


# ---------------------------------------------------------------------------------------------
# A residual alone, an SE block alone, a folded layer scale: small specs worked by hand

def small_spec(tmp_path, layers: str, se: str = "") -> str:
    path = tmp_path / "net.yaml"
    path.write_text(f"name: t\nresolution: 8\nclasses: 4\n{se}layers:\n{layers}"
                    "  - {op: pool}\n  - {op: fc, c: classes}\n")
    return str(path)


# image 8x8x3 = 192 (float32, 768 B) -> conv 3x3 s2 3->8 relu6 4x4x8 = 128 -> expand 8->16
# relu6 256 -> dw 3x3 relu6 256 -> project 16->8 128 -> add (project + stem) 128 -> global
# avg pool 8 -> fc 8->4. The stem's output is the skip: read by expand and by the add, so
# the stem, expand and add run float32; dw and project own their tensors: int8.
RESIDUAL = ("  - {op: conv, k: 3, c: 8, s: 2, act: relu6}\n"
            "  - {op: bottleneck, t: 2, c: 8, n: 1, s: 1, act: relu6}\n")


def test_a_residual_keeps_its_skip_float_by_hand(tmp_path):
    network = net(small_spec(tmp_path, RESIDUAL))
    t = dict(zip((la.name for la in network.layers), network_traffic(network, "int8")))
    # stem, float32: 768 in; (216 w + 8 b) x 4 = 896; 128 x 4 = 512 out
    assert t["layers.0"] == Traffic(768, 896, 512, 16 * 8 * 27)
    # expand, float32: 512 in; (128 + 16) x 4 = 576; 256 x 4 = 1024 out
    assert t["layers.1.expand"] == Traffic(512, 576, 1024, 16 * 16 * 8)
    # dw, int8: reads the float32 expand output 1024; 144 + 16 x 4 + 5 + 2 x 5 = 223; 256
    assert t["layers.1.dw"] == Traffic(1024, 223, 256, 16 * 16 * 9)
    # project, int8: 256 in; 128 + 8 x 4 + 15 = 175; 128 out
    assert t["layers.1.project"] == Traffic(256, 175, 128, 16 * 8 * 16)
    # add, float32: int8 projection 128 + float32 skip 128 x 4 = 640; no weights; 512 out
    assert t["layers.1.add"] == Traffic(640, 0, 512, 0)
    # pool, int8: the float32 sum 512; 2 x 5; 8.   fc: 8; 32 + 4 x 4 + 15 = 63; 4
    assert t["layers.2"] == Traffic(512, 10, 8, 0)
    assert t["layers.3"] == Traffic(8, 63, 4, 32)
    # Naive, ORT's nodes (image 768 held throughout): 0 stem -> 512 (held to the add),
    # 1 expand -> 1024, 2 Quantize(expand) -> 256, 3 dw -> 256, 4 project -> 128,
    # 5 Dequantize(project) -> 512, 6 add -> 512, 7 Quantize(add) -> 128, 8 pool -> 8,
    # 9 fc -> 4, 10 Dequantize(logits) -> 16. Alive: 0: 768 + 512 = 1280; 1: + 1024 = 2304;
    # 2: 768 + 512 + 1024 + 256 = 2560 (the peak); 3: 768 + 512 + 256 + 256 = 1792;
    # 4: 768 + 512 + 256 + 128 = 1664; 5: 768 + 512 + 128 + 512 = 1920; 6: 768 + 512 + 512 +
    # 512 = 2304; 7: 768 + 512 + 128 = 1408; 8: 768 + 128 + 8 = 904; 9: 768 + 8 + 4 = 780;
    # 10: 768 + 4 + 16 = 788.
    peak = peak_memory(network, "naive", "int8")
    assert [(s.name, s.live_bytes) for s in peak.steps] == [
        ("layers.0", 1280), ("layers.1.expand", 2304), ("layers.1.dw", 2560),
        ("layers.1.project", 1664), ("layers.1.add", 2304), ("layers.2", 1408),
        ("layers.3", 788)]


# image 192 -> conv 3x3 s2 3->8 relu 128 -> expand 8->16 relu 256 -> dw 3x3 relu 256 ->
# SE: pool 16, fc1 16->8 relu 8, fc2 8->16 sigmoid 16 (QLinearSigmoid), scale 256 ->
# project 16->16 256 (no residual: 8 -> 16 channels) -> pool 16 -> fc 16->4. The dw output is
# read by the SE pool and the scale: dw, pool and scale run float32; the rest int8.
SE = ("  - {op: conv, k: 3, c: 8, s: 2, act: relu}\n"
      "  - {op: bottleneck, k: 3, exp: 16, c: 16, se: true, act: relu, s: 1}\n")
SE_GATE = "se: {ratio: 0.25, of: expanded, divisor: 8, act: relu, gate: sigmoid}\n"


def test_squeeze_excite_keeps_its_map_float_by_hand(tmp_path):
    network = net(small_spec(tmp_path, SE, SE_GATE))
    t = dict(zip((la.name for la in network.layers), network_traffic(network, "int8")))
    # stem, int8: 768 in; 216 + 8 x 4 + 15 = 263; 128.   expand: 128; 128 + 64 + 15 = 207; 256
    assert t["layers.0"] == Traffic(768, 263, 128, 16 * 8 * 27)
    assert t["layers.1.expand"] == Traffic(128, 207, 256, 16 * 16 * 8)
    # dw, float32: reads the int8 expand output 256; (144 + 16) x 4 = 640; 256 x 4 = 1024
    assert t["layers.1.dw"] == Traffic(256, 640, 1024, 16 * 16 * 9)
    # SE pool, float32: 1024 in, 16 x 4 = 64 out
    assert t["layers.1.se.pool"] == Traffic(1024, 0, 64, 0)
    # fc1, int8: the float32 means 64; 128 + 8 x 4 + 15 = 175; 8.  fc2: 8; 128 + 64 + 15; 16
    assert t["layers.1.se.fc1"] == Traffic(64, 175, 8, 128)
    assert t["layers.1.se.fc2"] == Traffic(8, 207, 16, 128)
    # scale, float32: the float32 map 1024 + the int8 gate 16; no weights; 256 x 4 out
    assert t["layers.1.se.scale"] == Traffic(1040, 0, 1024, 0)
    # project, int8: the float32 scaled map 1024; 256 + 16 x 4 + 15 = 335; 256
    assert t["layers.1.project"] == Traffic(1024, 335, 256, 16 * 16 * 16)
    assert t["layers.2"] == Traffic(256, 10, 16, 0)
    assert t["layers.3"] == Traffic(16, 64 + 16 + 15, 4, 64)
    # Naive (image 768 throughout): 0 Quantize(image) 192, 1 stem 128, 2 expand 256,
    # 3 Dequantize(expand) 1024, 4 dw 1024 (held to the scale), 5 SE pool 64,
    # 6 Quantize(pool) 16, 7 fc1 8, 8 fc2 16, 9 Dequantize(gate) 64, 10 scale 1024,
    # 11 Quantize(scale) 256, 12 project 256, 13 pool 16, 14 fc 4, 15 Dequantize(logits) 16.
    # Alive: 0: 768 + 192 = 960; 1: + 128 = 1088; 2: 768 + 128 + 256 = 1152; 3: 768 + 256 +
    # 1024 = 2048; 4: 768 + 1024 + 1024 = 2816; 5: 768 + 1024 + 64 = 1856; 6: + 16 = 1872;
    # 7: 768 + 1024 + 16 + 8 = 1816; 8: 768 + 1024 + 8 + 16 = 1816; 9: 768 + 1024 + 16 + 64 =
    # 1872; 10: 768 + 1024 + 64 + 1024 = 2880 (the peak); 11: 768 + 1024 + 256 = 2048;
    # 12: 768 + 256 + 256 = 1280; 13: 768 + 256 + 16 = 1040; 14: 768 + 16 + 4 = 788;
    # 15: 768 + 4 + 16 = 788.
    peak = peak_memory(network, "naive", "int8")
    assert [(s.name, s.live_bytes) for s in peak.steps] == [
        ("layers.0", 1088), ("layers.1.expand", 1152), ("layers.1.dw", 2816),
        ("layers.1.se.pool", 1856), ("layers.1.se.fc1", 1872), ("layers.1.se.fc2", 1816),
        ("layers.1.se.scale", 2880), ("layers.1.project", 2048), ("layers.2", 1040),
        ("layers.3", 788)]


def test_conversions_are_the_graphs_quantize_and_dequantize_copies_by_hand(tmp_path):
    # The SE network above: ORT's copies between int8 and float32 (its nodes 0, 3, 6, 9, 11),
    # each attributed to the layer it is made for, with the elements it copies; the graph
    # output's Dequantize (node 15) belongs to no layer.
    from mncost.latency.model import timed_conversions

    network = net(small_spec(tmp_path, SE, SE_GATE))
    assert int8.conversions(network) == {
        "layers.0": (("input", 3 * 8 * 8),),                   # Quantize(image)
        "layers.1.dw": (("layers.1.expand", 16 * 4 * 4),),      # Dequantize(expand)
        "layers.1.se.fc1": (("layers.1.se.pool", 16),),         # Quantize(pool)
        "layers.1.se.scale": (("layers.1.se.fc2", 16),),        # Dequantize(gate)
        "layers.1.project": (("layers.1.se.scale", 16 * 4 * 4),)}  # Quantize(scale)
    # what ORT's profiler times with each layer: the image's Quantize is a graph edge
    assert timed_conversions(network) == {"layers.1.dw": 256, "layers.1.se.fc1": 16,
                                          "layers.1.se.scale": 16, "layers.1.project": 256}


def test_a_layer_scale_is_folded_into_its_conv_by_hand(tmp_path):
    # A UIB FFN with layer scale on a relu stem: image 192 -> conv 3->8 128 -> expand 8->16
    # 256 -> project 16->8 128 -> layer scale (gamma: 8) -> add (+ stem) -> pool -> fc 8->4.
    # The stem is the skip (float32, so is expand, and the add); the layer scale is folded
    # into the projection (no node), which writes for the add alone: int8.
    network = net(small_spec(tmp_path, "  - {op: conv, k: 3, c: 8, s: 2, act: relu}\n"
                                       "  - {op: uib, t: 2, c: 8, layer_scale: true}\n"))
    t = dict(zip((la.name for la in network.layers), network_traffic(network, "int8")))
    # the projection's int8 weights hold gamma: 128 + 8 x 4 + 15 = 175, as without it; the
    # layer scale moves nothing (float32 counts its gamma, 8 x 4 = 32 B, and its map; it has
    # no MACs at either: an elementwise multiply)
    assert t["layers.1.project"] == Traffic(1024, 175, 128, 16 * 8 * 16)
    assert t["layers.1.layer_scale"] == Traffic(0, 0, 0, 0)
    assert layer_traffic(network.layers[3]).weight_bytes == 32
    # the add reads the projection's int8 tensor 128 + the float32 stem 512
    assert t["layers.1.add"] == Traffic(640, 0, 512, 0)
    # Naive (image 768): 0 stem 512, 1 expand 1024, 2 Quantize(expand) 256, 3 project 128,
    # 4 Dequantize(project) 512, 5 add 512. Alive: 0: 1280; 1: 768 + 512 + 1024 = 2304;
    # 2: + 256 = 2560; 3: 768 + 512 + 256 + 128 = 1664; 4: 768 + 512 + 128 + 512 = 1920;
    # 5: 768 + 512 + 512 + 512 = 2304. The layer scale's step is its conv's: 2560.
    steps = dict((s.name, s.live_bytes) for s in peak_memory(network, "naive", "int8").steps)
    assert [steps[n] for n in ("layers.0", "layers.1.expand", "layers.1.project",
                               "layers.1.layer_scale", "layers.1.add")] == [
        1280, 2304, 2560, 2560, 2304]


def test_attentions_scores_are_held_float32():
    # calibration/attention.yaml at 0.5/64: layers.3.attn, 2 heads, 8x8 queries, keys and
    # values 4x4: 2 x 64 x 16 = 2,048 scores. ORT runs it mixed: QLinearMatMul, the scores
    # dequantized and scaled by 1/sqrt(key_dim) in float32, QLinearSoftmax, QLinearMatMul
    # writing int8; the score matrix is held once, at float32: 8,192 B (its int8 output
    # would have sized it 2,048).
    from mncost.network.catalog import configs_dir

    network = resolve_model(str(configs_dir() / "calibration/attention.yaml"), 0.5, 64)
    attn = next(la for la in network.layers if la.name == "layers.3.attn")
    assert int8.precisions(network)[attn.name] == int8.MIXED_RUN
    assert int8.sizes(network)[attn.name] == 1
    assert int8.workspace_bytes(attn, int8.MIXED_RUN) == 4 * 2 * 64 * 16
    assert int8.workspace_bytes(attn, int8.INT8_RUN) == 2 * 64 * 16
    steps = {s.name: s for s in peak_memory(network, "streamed", "int8").steps}
    assert steps[attn.name].piece_bytes == 8192
    tensors, _ = int8.runtime_graph(network)
    assert tensors[f"{attn.name}/workspace"] == 8192


def test_a_kind_ort_does_not_know_stays_float():
    # a one-layer network of a kind from a plug-in: float32 op, float32 weights and output
    layer = ResolvedLayer("x", "mystery", "x", ("input",), Shape(4, 2, 2), Shape(4, 2, 2))
    network = Network("t", "t.yaml", 1.0, (2, 2), 4, (layer,), ("x",))
    with registered_kind(Kind("mystery", "a kind from a plug-in")):
        assert not int8.op_quantized(layer)
        assert int8.precisions(network) == {"x": int8.FLOAT_RUN}
        assert int8.sizes(network) == {"input": 4, "x": 4}


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


def test_precisions_is_the_one_home_of_what_runs_int8():
    # the per-kind tables feed mncost.costs.int8.precisions only: no other module decides
    # int8-ness from a layer's kind or activation
    uses = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "mncost").rglob("*.py")
                  if path.name != "int8.py" or path.parent.name != "costs"
                  for word in ("op_quantized", "act_quantized", "runs_int8")
                  if word in path.read_text())
    assert uses == []


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
    # What ORT runs (tests/test_int8_precision.py): 25 layers float32. Each stage of n > 1
    # blocks (24: n 2, 32: 3, 64: 4, 96: 3, 160: 3) keeps float32 its first block's
    # projection (read by the next expand and its add), the n - 1 later expands and the
    # n - 1 adds (each reads a skip with two readers): 15 convs, 10 adds.
    # Naive: at layers.2.1.dw's Quantize node, the image (602,112) + the float32 skip
    # layers.2.0.project 56x56x24 x 4 (301,056, held to its add) + the float32 expanded
    # 56x56x144 x 4 (1,806,336) + its int8 copy for the int8 depthwise (451,584); the dw node
    # then holds 602,112 + 301,056 + 451,584 x 2 = 1,806,336. No other tensor of v2 is as
    # large in float32 (the next, layers.3.1.expand's, is 28x28x192 x 4 = 602,112).
    naive = peak_memory(network, "naive", "int8")
    assert (naive.bytes, naive.step.name) == (
        602_112 + 301_056 + 1_806_336 + 451_584, "layers.2.1.dw") == (3_161_088,
                                                                         "layers.2.1.dw")
    # Streamed: the stem step, image 602,112 + 112x112x32 int8 = 1,003,520. Block 2.1 holds
    # its float32 input (the skip) and float32 output, 75,264 x 4 each, an expand piece of
    # ceil(144 / 6) = 24 channels x 56 x 56 = 75,264 float32 and the same int8 dw piece:
    # 301,056 x 3 + 75,264 = 978,432.
    streamed = peak_memory(network, "streamed", "int8")
    assert (streamed.bytes, streamed.step.name) == (1_003_520, "layers.0")
    assert {s.name: s.live_bytes for s in streamed.steps}["layers.2.1"] == 978_432
    # Weights of the 15 float32 convs, float32 (weights + one bias per output channel):
    #   2.0.project 96 (6 x 16) -> 24 = 2,304 + 24
    #   2.1.expand 24 -> 144 = 3,456 + 144;  3.0.project 144 -> 32 = 4,608 + 32
    #   3.1, 3.2.expand 32 -> 192 = 6,144 + 192 each;  4.0.project 192 -> 64 = 12,288 + 64
    #   4.1-4.3.expand 64 -> 384 = 24,576 + 384 each;  5.0.project 384 -> 96 = 36,864 + 96
    #   5.1, 5.2.expand 96 -> 576 = 55,296 + 576 each;  6.0.project 576 -> 160 = 92,160 + 160
    #   6.1, 6.2.expand 160 -> 960 = 153,600 + 960 each
    # = 655,488 weights + 5,128 biases. The int8 rest: 3,469,760 - 655,488 = 2,814,272
    # weights, 18,056 - 5,128 = 12,928 int32 biases, 53 - 15 = 38 weight tensors x 5, and
    # 39 int8 layers reading one tensor and writing one: 78 x 5 (the float adds have none).
    float_convs = 655_488 + 5_128
    per_tensor = memory_report(network, "int8").total
    assert per_tensor.weight_bytes == (2_814_272 + 4 * 12_928 + 5 * 38 + 5 * 78
                                       + 4 * float_convs) == 5_509_028
    per_channel = memory_report(network, "int8", per_channel=True).total
    assert per_channel.weight_bytes == 2_814_272 + 4 * 12_928 + 5 * 12_928 + 5 * 78 + 4 * (
        float_convs)
    # Activations: every layer int8 would read 7,262,688 elements at 1 B and the image at 4 B.
    # The float32 tensors a reader reads, per stage of n blocks, output map E, expanded map
    # H: E x (2 (n - 1) + 1) (the skips read by expand and add, the last add's output by the
    # next stage) + H x (n - 1) (float expands read by their dw):
    #   24: 75,264 x 3 + 451,584 = 677,376     32: 25,088 x 5 + 150,528 x 2 = 426,496
    #   64: 12,544 x 7 + 75,264 x 3 = 313,600  96: 18,816 x 5 + 112,896 x 2 = 319,872
    #   160: 7,840 x 5 + 47,040 x 2 = 133,280  = 1,870,624 elements at 4 B, not 1.
    assert per_tensor.input_bytes == 7_262_688 + 3 * 150_528 + 3 * 1_870_624
    # Outputs: 27,587,104 / 4 elements, the float32 ones (per stage E x n, the first
    # projection and n - 1 adds, + H x (n - 1): 602,112 + 376,320 + 275,968 + 282,240 +
    # 117,600 = 1,654,240) at 4 B.
    assert per_tensor.output_bytes == 27_587_104 // 4 + 3 * 1_654_240
    assert per_tensor.bytes_moved == 30_694_668


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
    assert data["dtype"] == "int8" and data["peaks"][0]["bytes"] == 6016
    # tests/data/tiny_every_kind.yaml's precisions (above): int8 fc1, project, both pools, fc;
    # mixed fc2; float32 the stem, expand, dw, SE pool, scale and add, which with fc2's
    # hsigmoid leave 7 float32 tensors
    assert data["quantization"] == {
        "runtime": "onnxruntime QDQ static quantization", "weights": "per-channel",
        "layers_by_precision": {"int8": 5, "mixed": 1, "float32": 6, "-": 0},
        "float_kinds": ["add", "conv", "depthwise", "pointwise", "pool", "scale"],
        "float_activations": ["hsigmoid"], "float_outputs": 7}
    assert "quantization" not in json.loads(invoke("memory", EVERY, "-f", "json").stdout)
    md = invoke("memory", "v2", "--dtype", "int8", "-f", "markdown").stdout
    assert "dtype=int8 (per-tensor)" in md and "3,161,088" in md
    assert "layers: 39 int8, 25 float32" in md
    assert "float32: kinds add, pointwise (25 outputs)" in md
    md = invoke("memory", "v1", "--dtype", "int8", "-f", "markdown").stdout
    assert "layers: 29 int8 (" in md and "float32: none" in md


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
        3_161_088, 30_694_668)
    rows = list(csv.DictReader(io.StringIO(invoke(
        "sweep", "v2", "--memory", "--dtype", "int8", "--per-channel", "-f", "csv").stdout)))
    # one scale and zero point per channel of the int8 convs and fc (12,928), not per tensor
    # (38)
    assert int(rows[0]["bytes_moved"]) == 30_694_668 + 5 * (12_928 - 38)


def test_budget_int8(tmp_path):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(
        "budgets:\n"
        "  - {model: v2, dtype: int8, max_peak_activation_bytes: 3161088}\n"
        "  - {model: v2, dtype: int8, per_channel: true, max_bytes_moved: 30759117}\n")
    md = tmp_path / "report.md"
    result = invoke("check", "--budget", str(budgets), "--report-md", str(md))
    # the int8 peak holds to the byte; per-channel moves 30,694,668 + 5 x 12,890 =
    # 30,759,118 B, one over
    assert result.exit_code == 1 and "FAILED: 1 of 2 budgets broken" in result.output
    assert "30,759,118" in md.read_text() and "3,161,088" in md.read_text()


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

    @dataclass(frozen=True)
    class WithWorkspace(Kind):
        workspace: Callable = lambda layer: 10

    layer = ResolvedLayer("x", "scratchy", "x", ("input",), Shape(3, 2, 2), Shape(4, 2, 2))
    network = Network("t", "t.yaml", 1.0, (2, 2), 4, (layer,), ("x",))
    with registered_kind(WithWorkspace("scratchy", "a kind with scores")):
        # a float32 kind: image 12 x 4 = 48, scores 10 x 4 = 40, output 16 x 4 = 64
        assert int8.naive_live_bytes(network) == [("x", 48 + 40 + 64)]
