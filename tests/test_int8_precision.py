"""What ONNX Runtime runs each layer in at int8 (mncost.costs.int8.precisions), worked by hand
on small specs. The rule is pure; tests/test_ort_int8.py holds it to ORT's optimized graph.

ORT fuses ``DQ -> op -> Q`` into an int8 kernel only when the group owns its tensors: a tensor
with two readers leaves its writer and all its readers float32."""

from __future__ import annotations

import pytest
from conftest import ROOT

from mncost.costs.int8 import FLOAT_RUN, FOLDED, INT8_RUN, MIXED_RUN, precisions
from mncost.network.catalog import resolve_model

EVERY = str(ROOT / "tests" / "data" / "tiny_every_kind.yaml")
SMALL = str(ROOT / "tests" / "data" / "int8_small.yaml")


def spec(tmp_path, layers: str, se: str = "") -> str:
    path = tmp_path / "net.yaml"
    path.write_text(f"name: t\nresolution: 16\nclasses: 10\n{se}layers:\n{layers}")
    return str(path)


def test_a_chain_without_branches_runs_int8_throughout():
    # conv, depthwise, global pool, fc: every tensor has one reader.
    p = precisions(resolve_model(SMALL, None, None, None))
    assert set(p.values()) == {INT8_RUN}


def test_every_kind_by_hand():
    p = precisions(resolve_model(EVERY, None, None, None))
    assert p == {
        # the stem's hswish is x * hardsigmoid(x): its output before the activation has two
        # readers, and its output after it is read by the expand and by the residual add
        "layers.0": FLOAT_RUN,
        "layers.1.expand": FLOAT_RUN,        # reads the stem's shared output
        "layers.1.dw": FLOAT_RUN,            # written for the SE pool and the SE scale
        "layers.1.se.pool": FLOAT_RUN,       # reads the depthwise's shared output
        "layers.1.se.fc1": INT8_RUN,
        "layers.1.se.fc2": MIXED_RUN,        # int8 conv, float32 hsigmoid
        "layers.1.se.scale": FLOAT_RUN,      # reads the depthwise's shared output
        "layers.1.project": INT8_RUN,        # reads the scale alone, writes for the add alone
        "layers.1.add": FLOAT_RUN,           # reads the stem's shared output
        "layers.2": INT8_RUN,                # max pool (NhwcMaxPool on int8 data)
        "layers.3": INT8_RUN,
        "layers.4": INT8_RUN,
    }


def test_a_residual_leaves_its_skip_writer_and_readers_float(tmp_path):
    # v2's repeated bottleneck: the first block's projection is read by the second block's
    # expand and by its add.
    path = spec(tmp_path, "  - {op: conv, k: 3, c: 16, s: 2}\n"
                          "  - {op: bottleneck, t: 2, c: 16, n: 2, s: 1, act: relu6}\n")
    p = precisions(resolve_model(path, None, None, None))
    assert p["layers.0"] == FLOAT_RUN           # read by layers.1.0.expand and its add
    assert p["layers.1.0.expand"] == FLOAT_RUN
    assert p["layers.1.0.dw"] == INT8_RUN
    assert p["layers.1.0.project"] == INT8_RUN  # its one reader is the add
    assert p["layers.1.0.add"] == FLOAT_RUN
    assert p["layers.1.1.expand"] == FLOAT_RUN  # reads layers.1.0.add, shared by the next add
    assert p["layers.1.1.add"] == FLOAT_RUN


@pytest.mark.parametrize("act, expected", [("relu", INT8_RUN), ("relu6", INT8_RUN),
                                           ("none", INT8_RUN), ("hsigmoid", MIXED_RUN),
                                           ("hswish", FLOAT_RUN), ("swish", FLOAT_RUN),
                                           ("gelu", FLOAT_RUN)])
def test_the_activation_decides_between_int8_mixed_and_float(tmp_path, act, expected):
    path = spec(tmp_path, "  - {op: conv, k: 3, c: 16, s: 2}\n"
                          f"  - {{op: conv, k: 1, c: 32, act: {act}}}\n"
                          "  - {op: pool}\n  - {op: fc, c: classes}\n")
    assert precisions(resolve_model(path, None, None, None))["layers.1"] == expected


def test_layer_scale_is_folded_into_its_conv_which_writes_for_the_scale_readers():
    net = resolve_model("v4-hybrid-medium", 0.25, 64)
    p = precisions(net)
    scales = [la for la in net.layers if la.kind == "layer_scale"]
    assert scales and all(p[la.name] == FOLDED for la in scales)
    # the projection before a layer scale whose output two layers read runs float32
    readers = {}
    for la in net.layers:
        for t in la.inputs:
            readers[t] = readers.get(t, 0) + 1
    for la in scales:
        if readers.get(la.name, 0) > 1:
            assert p[la.inputs[0]] == FLOAT_RUN
    attention = [la for la in net.layers if la.kind == "attention"]
    assert attention and all(p[la.name] == MIXED_RUN for la in attention)


def test_v1_runs_int8_everywhere_and_v2_keeps_its_residual_tensors_float():
    assert set(precisions(resolve_model("v1", 1.0, 224)).values()) == {INT8_RUN}
    p = precisions(resolve_model("v2", 1.0, 224))
    # ORT's own count on this machine: 39 layers int8, 25 float32 (10 adds, 15 convs)
    assert sum(v == INT8_RUN for v in p.values()) == 39
    assert sum(v == FLOAT_RUN for v in p.values()) == 25
