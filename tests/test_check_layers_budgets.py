"""``mncost check``: per-layer changes are checked in their own right, even when they cancel
in the totals (issue 10, item 2), and latency budgets without ``--latency`` are reported as
skipped, never dropped (item 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _helpers import parse_junit, run


@pytest.fixture
def cancelling(tmp_path, monkeypatch) -> Path:
    """A v1 baseline edited so that one layer had 1000 MACs more and another 1000 fewer than
    now: the totals are unchanged."""
    monkeypatch.chdir(tmp_path)
    assert run("baseline", "write", "v1", "-o", "base.json").exit_code == 0
    doc = json.loads(Path("base.json").read_text())
    layers = {layer["name"]: layer for layer in doc["entries"][0]["layers"]}
    layers["layers.1.dw"]["macs"] += 1000
    layers["layers.1.pw"]["macs"] -= 1000
    assert sum(layer["macs"] for layer in layers.values()) == doc["entries"][0]["totals"]["macs"]
    Path("base.json").write_text(json.dumps(doc))
    return tmp_path / "base.json"


def test_changes_that_cancel_in_the_total_fail(cancelling):
    result = run("check", "--baseline", "base.json", "--report-md", "r.md", "--junit", "j.xml")
    assert result.exit_code == 1, result.output
    assert "FAILED: 1 of 1 configurations moved beyond tolerance 0" in result.stderr
    # Totals held; the layers did not. Both layers are listed with exact counts.
    table = result.stdout
    assert "| layers | - | 2 layers moved |" in Path("r.md").read_text()
    assert parse_junit("j.xml").get("failures") == "1"
    assert "2 layers moved" in table and "MOVED" in table
    dw_before = 112 * 112 * 32 * 9 + 1000
    pw_before = 112 * 112 * 32 * 64 - 1000
    for text in (table, Path("r.md").read_text()):
        assert "layers.1.dw" in text and "layers.1.pw" in text
        assert f"{dw_before:,}" in text and f"{pw_before:,}" in text
    failure = parse_junit("j.xml").find(".//failure")
    assert "2 layers moved" in failure.get("message")
    assert (f"layer layers.1.dw changed: MACs {dw_before} -> {dw_before - 1000}, params 352 -> "
            "352") in failure.text
    assert f"layer layers.1.pw changed: MACs {pw_before} -> {pw_before + 1000}" in failure.text


@pytest.mark.parametrize("tolerance,code", [
    ("999", 1), ("1000", 0),                          # absolute, per layer: the edge passes
    ("0.0276%", 1), ("0.0277%", 0),                   # 1000 / 3,613,672 = 0.02767%
])
def test_layers_are_held_to_the_tolerance_one_by_one(cancelling, tolerance, code):
    result = run("check", "--baseline", "base.json", "--tolerance", tolerance)
    assert result.exit_code == code, result.output
    assert ("MOVED" in result.stdout) == bool(code)


def test_added_and_removed_layers_fail(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("baseline", "write", "v1", "-o", "base.json").exit_code == 0
    doc = json.loads(Path("base.json").read_text())
    doc["entries"][0]["layers"][1]["name"] = "renamed"       # same counts, other name
    Path("base.json").write_text(json.dumps(doc))
    result = run("check", "--baseline", "base.json", "--tolerance", "10%")
    assert result.exit_code == 1
    assert "renamed" in result.stdout and "removed" in result.stdout
    assert "added" in result.stdout


BUDGETS = """\
budgets:
  - {model: v1, max_macs: 600M, max_params: 4.3M}
  - {model: v2, max_macs: 310M, max_latency_ms: 5}
"""


def test_latency_budgets_without_latency_are_skipped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("b.yaml").write_text(BUDGETS)
    result = run("check", "--budget", "b.yaml", "--report-md", "r.md", "--junit", "j.xml")
    assert result.exit_code == 0, result.output
    summary = "OK: 0 of 3 checked budgets broken, 1 skipped (latency budgets need --latency)"
    assert summary in result.stdout
    assert "latency_ms" in result.stdout and "skipped" in result.stdout
    md = Path("r.md").read_text()
    assert summary in md
    assert "| v2 | alpha=1 res=224 classes=1000 | latency_ms | - | <= 5 ms | skipped |" in md
    suite = parse_junit("j.xml").find("testsuite[@name='mncost.budget']")
    assert suite.get("tests") == "4" and suite.get("skipped") == "1"
    assert suite.get("failures") == "0"
    skipped = suite.findall(".//skipped")
    assert len(skipped) == 1 and "--latency" in skipped[0].get("message")
    assert parse_junit("j.xml").get("skipped") == "1"


def test_a_broken_budget_beside_a_skipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("b.yaml").write_text(BUDGETS.replace("310M", "300M"))
    result = run("check", "--budget", "b.yaml")
    assert result.exit_code == 1
    assert result.stderr == ("mncost: error: FAILED: 1 of 3 checked budgets broken, 1 skipped "
                             "(latency budgets need --latency)\n")


def test_without_latency_budgets_the_summary_is_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("b.yaml").write_text("budgets:\n  - {model: v1, max_macs: 600M}\n")
    result = run("check", "--budget", "b.yaml")
    assert result.exit_code == 0 and "OK: 0 of 1 budgets broken" in result.stdout
