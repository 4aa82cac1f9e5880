"""Two spec forms timm's networks need (issue 22 item 9): ``expand: always`` (an inverted
residual keeps its 1x1 expansion at t = 1, as timm's InvertedResidual does) and
``residual_from:`` (a residual add spanning several rows, as in FFN-style blocks)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import ROOT

from mncost import analyze
from mncost.cli import cli
from mncost.network.catalog import resolve_model

FBNET = str(ROOT / "tests" / "data" / "fbnetc.yaml")


def spec(tmp_path, rows: str, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text("name: s\nlayers:\n  - {op: conv, k: 3, c: 16, s: 2}\n" + rows)
    return str(path)


def test_expand_always_keeps_the_1x1_at_t_1(tmp_path):
    auto = resolve_model(spec(tmp_path, "  - {op: bottleneck, t: 1, c: 16}\n", "a.yaml"),
                         resolution=32)
    always = resolve_model(spec(tmp_path, "  - {op: bottleneck, t: 1, c: 16, expand: always}\n",
                                "b.yaml"), resolution=32)
    assert [l.name for l in auto.layers] == ["layers.0", "layers.1.dw", "layers.1.project",
                                             "layers.1.add"]
    assert [l.name for l in always.layers] == ["layers.0", "layers.1.expand", "layers.1.dw",
                                               "layers.1.project", "layers.1.add"]
    expand = always.layer("layers.1.expand")
    assert (expand.role, expand.block) == ("expand", "layers.1")
    # 16 -> 16 1x1 on a 16x16 map: 16*16*16*16 MACs, 16*16 weights + 2*16 batch norm
    extra = analyze(always).total.macs - analyze(auto).total.macs
    assert extra == 16 * 16 * 16 * 16
    assert (analyze(always).total.params("trainable") - analyze(auto).total.params("trainable")
            == 16 * 16 + 2 * 16)


def test_residual_from_adds_the_input_of_the_first_row(tmp_path):
    net = resolve_model(spec(tmp_path, "  - {op: conv, k: 1, t: 4, name: ffn_in}\n"
                                       "  - {op: conv, k: 1, c: 16, act: none, "
                                       "residual_from: ffn_in}\n"), resolution=32)
    add = net.layers[-1]
    assert (add.name, add.kind, add.inputs) == ("layers.2_add", "add", ("layers.2", "layers.0"))
    assert net.layer("ffn_in").out_shape.c == 64 and add.out_shape.c == 16


@pytest.mark.parametrize("rows, message", [
    ("  - {op: conv, k: 1, c: 16, residual_from: nowhere}\n",
     "layers[1].residual_from: 'nowhere' is not this row or an earlier row's name"),
    ("  - {op: conv, k: 1, c: 24, name: a}\n  - {op: conv, k: 1, c: 32, residual_from: a}\n",
     "layers[2].residual_from: residual add between mismatched shapes"),
    ("  - {op: conv, k: 1, c: 16, name: a, n: 2}\n  - {op: conv, k: 1, c: 16, residual_from: a}\n",
     "spans a row that repeats"),
    ("  - {op: conv, k: 1, c: 16, name: a}\n  - {op: conv, k: 1, c: 16, residual_from: a, n: 2}\n",
     "spans a row that repeats"),
    ("  - {op: bottleneck, t: 1, c: 16, expand: sometimes}\n", "layers[1].expand"),
])
def test_bad_rows_are_one_line(tmp_path, rows, message):
    result = CliRunner().invoke(cli, ["analyze", spec(tmp_path, rows)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1


def test_defaults_cannot_set_residual_from(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("name: d\ndefaults: {residual_from: x}\nlayers:\n  - {op: conv, c: 8}\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and "unknown key 'residual_from' for defaults" in result.output


@pytest.mark.torch
@pytest.mark.fvcore
def test_a_spanning_residual_builds_and_counts(tmp_path):
    path = spec(tmp_path, "  - {op: conv, k: 1, t: 4, name: ffn_in}\n"
                          "  - {op: conv, k: 1, c: 16, act: none, residual_from: ffn_in}\n"
                          "  - {op: pool}\n  - {op: fc, c: classes}\n")
    result = CliRunner().invoke(cli, ["crosscheck", path, "--res", "32", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"]


@pytest.mark.torch
@pytest.mark.reference
def test_fbnet_c_equals_timm():
    """FBNet-C needs ``expand: always`` (its t = 1 blocks keep the 1x1): with it the spec is
    timm's fbnetc_100 layer for layer; without it 3 conv layers would be missing."""
    result = CliRunner().invoke(cli, ["crosscheck", FBNET, "--reference", "timm", "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["totals"]["macs"] == [384_960_160, 384_960_160]
    assert doc["totals"]["params"] == [5_572_200, 5_572_200]
