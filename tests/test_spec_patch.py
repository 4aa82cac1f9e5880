"""``patch:`` inserting rows (issue 22 item 9): a derived spec equals the table written out
with the rows in place, names and all."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mncost.cli import cli

BASE = """\
name: base
layers:
  - {op: conv, k: 3, c: 16, s: 2}
  - {op: bottleneck, t: 6, c: 24, s: 2}
  - {op: bottleneck, t: 6, c: 32, s: 2}
  - {op: pool}
  - {op: fc, c: classes}
"""
#: BASE with a 1x1 conv after the stem and an extra bottleneck before the pool, written out.
WRITTEN = """\
name: derived
layers:
  - {op: conv, k: 3, c: 16, s: 2}
  - {op: conv, k: 1, c: 16}
  - {op: bottleneck, t: 6, c: 24, s: 2}
  - {op: bottleneck, t: 6, c: 32, s: 2}
  - {op: bottleneck, t: 4, c: 32}
  - {op: pool}
  - {op: fc, c: classes}
"""
DERIVED = """\
name: derived
extends: base.yaml
patch:
  - where: {index: 0}
    insert_after:
      - {op: conv, k: 1, c: 16}
  - where: {op: pool}
    insert_before:
      - {op: bottleneck, t: 4, c: 32}
"""


def analyze(path) -> dict:
    result = CliRunner().invoke(cli, ["analyze", str(path), "--per-layer", "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    doc.pop("spec")
    doc.pop("model")
    return doc


def test_inserted_rows_equal_the_table_written_out(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "written.yaml").write_text(WRITTEN)
    (tmp_path / "derived.yaml").write_text(DERIVED)
    written, derived = analyze(tmp_path / "written.yaml"), analyze(tmp_path / "derived.yaml")
    assert derived == written
    names = [layer["name"] for layer in derived["layers"]]
    assert "layers.1" in names and "layers.4.add" in names   # the inserted rows' own names


def test_a_later_entry_counts_the_inserted_rows(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "d.yaml").write_text(DERIVED + "  - where: {index: 1}\n    set: {c: 24}\n")
    layers = analyze(tmp_path / "d.yaml")["layers"]
    inserted = next(layer for layer in layers if layer["name"] == "layers.1")
    assert inserted["out_shape"][0] == 24


@pytest.mark.parametrize("entry, message", [
    ("{where: {op: bottleneck}, insert_after: [{op: conv, c: 8}]}",
     "patch[0].where: where {'op': 'bottleneck'} matches 2 rows; an insert needs exactly one"),
    ("{where: {index: 9}, insert_after: [{op: conv, c: 8}]}",
     "matches 0 rows; an insert needs exactly one"),
    ("{where: {index: 0}, insert_after: [{op: conv, c: 8}], set: {c: 8}}",
     "patch[0]: an insert entry has 'where:' and one of"),
    ("{where: {index: 0}, insert_after: [], insert_before: [{op: conv, c: 8}]}",
     "patch[0]: an insert entry has 'where:' and one of"),
    ("{where: {index: 0}, insert_after: []}",
     "patch[0].insert_after: must be a non-empty list of rows"),
    ("{where: {index: 0}, insert_after: [3]}",
     "patch[0].insert_after[0]: a row must be a mapping"),
    ("{where: {index: 0}, insert_after: [{op: cnv, c: 8}]}",
     "layers[1].op: unknown layer kind 'cnv' (did you mean 'conv'?)"),
    ("{where: {index: 0}, replace: [{op: conv, c: 8}]}",
     "each patch entry needs 'where:' and 'set:' and/or 'unset:', or 'insert_before:'"),
])
def test_bad_inserts_are_one_line(tmp_path, entry, message):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "d.yaml").write_text(f"name: d\nextends: base.yaml\npatch:\n  - {entry}\n")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "d.yaml")])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
