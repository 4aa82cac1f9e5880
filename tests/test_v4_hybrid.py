"""MobileNetV4's hybrid models (issue 19, second slice): the GELU activation, the ``mqa`` row
(Mobile MQA: a batch norm, query / key / value projections with an optional strided depthwise
on keys and values, the attention's two matmuls, an output projection, layer scale and the
residual add), the layer scale of ``uib`` rows, by hand; how memory and the streamed schedule
take the attention. The two built-ins are held to timm layer by layer in
test_reference_counts.py."""

from __future__ import annotations

from mncost import analyze
from mncost.costs.conventions import conventions
from mncost.network.catalog import resolve_model

STEM = "name: s\nlayers:\n  - {op: conv, k: 3, c: 16, s: 2}\n"   # 32x32 -> 16 x 16x16


def net(tmp_path, rows: str, name: str = "s.yaml", stem: str = STEM):
    path = tmp_path / name
    path.write_text(stem + rows)
    return resolve_model(str(path), resolution=32)


def test_gelu_is_an_activation_of_five_ops_per_element(tmp_path):
    network = net(tmp_path, "", stem=STEM.replace("s: 2}", "s: 2, act: GELU}"))
    layer = network.layers[0]
    assert layer.act == "gelu"
    ops = conventions(analyze(network)).count("ops")
    assert ops.term("gelu").count == 5 * 16 * 16 * 16
