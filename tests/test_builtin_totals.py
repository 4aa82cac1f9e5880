"""Every built-in's totals, one reviewable line each, held to the engine and to an outside count.

tests/data/builtin_totals.csv lists every built-in at alpha 1.0 / 224 and 0.75 / 192 (the
configurations the per-model ``analyze`` golden files used to cover), and the MobileNetV4
built-ins at their own resolutions: 44 lines. Each line is checked here against ``mncost analyze
-f json`` (layers, MACs, the three parameter columns, activations, element-wise ops, peak
activation bytes), and:

**Anchored to an outside oracle** (``anchor`` = torchvision or timm, 39 of 44 lines): MACs and
parameters equal that library's own count of the same model at the same width, depth,
resolution and classes in tests/data/reference_counts.json (written by
scripts/make_reference_counts.py from torchvision 0.28 / timm 1.0.31;
tests/test_reference_counts.py compares the same records layer by layer). That covers v2,
v3-large, v3-small, mnasnet and efficientnet-b0...b7 (torchvision) and v1 at 1.0 / 224 and the
TF-slim variants v3-large-tf and v3-small-tf with their 1001-class head (timm's
tf_mobilenetv3_*), at both configurations except where noted below.

**Not anchored** (``anchor`` = ``-``; :data:`UNANCHORED`): no library ships these, so the line
holds only what the engine printed when it was written, and its review is the check:

* ``v1`` at 0.75 / 192: timm ships v1 at widths 1.0 and 1.25 only. The v1 body is held to
  TF-slim's published per-layer table at 1.0 / 224 and 0.75 / 128, and the v1 paper's printed
  figures at several widths and resolutions (test_published.py), not at this one.
* ``v1-conv`` and ``v1-shallow`` (the v1 paper's Table 4 and 5 ablations), both lines: at
  1.0 / 224 test_published.py holds v1-conv's MACs to the closed form exactly and v1-shallow to
  the paper's printed 307M mult-adds / 2.9M weights; at 0.75 / 192 nothing outside does.

The set of unanchored lines is itself a test: a new reference configuration that covers one of
them fails until its ``anchor`` says so.

Regenerate with ``python scripts/make_builtin_totals.py`` when a built-in is added or an
output is meant to change, and review the diff line by line.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mncost import BUILTINS
from mncost.cli import cli

DATA = Path(__file__).resolve().parent / "data"
#: The configurations every built-in is listed at: (alpha, resolution), as the CLI takes them.
CONFIGS = (("1.0", "224"), ("0.75", "192"))
#: The ``analyze -f json`` totals kept per line.
FIELDS = ("layers", "macs", "params", "weights", "bn_params", "activations", "elementwise_ops",
          "peak_activation_bytes")
#: (model, alpha, resolution) of the lines no reference library counts (see the docstring).
UNANCHORED = {("v1", "0.75", "192"), ("v1-conv", "1.0", "224"), ("v1-conv", "0.75", "192"),
              ("v1-shallow", "1.0", "224"), ("v1-shallow", "0.75", "192")}


def _table() -> list[dict[str, str]]:
    lines = [line for line in (DATA / "builtin_totals.csv").read_text().splitlines()
             if not line.startswith("#")]
    return list(csv.DictReader(lines))


TABLE = _table()
REFERENCES = json.loads((DATA / "reference_counts.json").read_text())["configurations"]


def _key(row: dict[str, str]) -> tuple[str, str, str]:
    return row["model"], row["alpha"], row["resolution"]


def _id(row: dict[str, str]) -> str:
    return f"{row['model']}@{row['alpha']}/{row['resolution']}"


def _references(row: dict[str, str]) -> list[dict]:
    """The reference records of exactly this line's configuration."""
    want = (row["model"], float(row["alpha"]), float(row["depth"]),
            [int(row["resolution"])] * 2, int(row["classes"]))
    return [r for r in REFERENCES
            if (r["model"], r["alpha"], r["depth"], r["resolution"], r["classes"]) == want]


def test_one_line_per_builtin_and_configuration():
    keys = [_key(row) for row in TABLE]
    assert len(keys) == len(set(keys)), "a configuration is listed twice"
    assert set(keys) == {(m, a, r) for m in BUILTINS for a, r in CONFIGS}


@pytest.mark.parametrize("row", TABLE, ids=[_id(r) for r in TABLE])
def test_line_is_what_analyze_prints(row):
    model, alpha, res = _key(row)
    result = CliRunner().invoke(cli, ["analyze", model, "--alpha", alpha, "--res", res,
                                      "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["depth"], doc["resolution"], doc["classes"]) == (
        float(row["depth"]), [int(res)] * 2, int(row["classes"]))
    got = {f: doc["totals"][f] for f in FIELDS}
    want = {f: int(row[f]) for f in FIELDS}
    assert got == want, (
        f"{_id(row)}: analyze prints {got}; if the change is intended, run "
        "python scripts/make_builtin_totals.py and review the diff")


@pytest.mark.parametrize("row", TABLE, ids=[_id(r) for r in TABLE])
def test_line_equals_the_reference_count_where_one_exists(row):
    records = _references(row)
    assert row["anchor"] == ("+".join(sorted({r["library"] for r in records})) or "-")
    for record in records:
        assert (int(row["macs"]), int(row["params"])) == (record["macs"], record["params"]), (
            f"{_id(row)} differs from {record['library']} {record['reference']}")


def test_the_unanchored_lines_are_the_documented_ones():
    assert {_key(row) for row in TABLE if row["anchor"] == "-"} == UNANCHORED
