"""``mncost baseline write`` and ``mncost check``: the baseline format, a regression fixture
(exit 1 with the right report), tolerance edges, budgets, the Markdown and JUnit reports, and
corrupt inputs (exit 2, one line)."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from _helpers import parse_junit, run

from mncost.check.units import Tolerance, parse_count
from mncost.errors import InputError
from mncost.network.catalog import BUILTINS, configs_dir

# torchvision's published figures (num_params; MACs = its "ops" x 1e9 / 2 rounded here exactly).
V2_MACS, V2_PARAMS = 300_774_272, 3_504_872
V3L_MACS, V3L_PARAMS = 216_589_760, 5_483_032
# Narrowing the v2 head 1x1 conv from 1280 to 1024 channels (at 7x7 from 320 channels, and
# the 1000-way fc after it) removes, in closed form:
HEAD_MACS = 320 * 256 * 7 * 7 + 256 * 1000              # 4,270,080
HEAD_PARAMS = 320 * 256 + 2 * 256 + 256 * 1000           # conv weights + BN + fc weights


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stderr.startswith("mncost: error: ") and result.stderr.count("\n") == 1
    return result.stderr


@pytest.fixture
def spec(tmp_path, monkeypatch) -> Path:
    """A private copy of the v2 spec, and the working directory where it lies."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "my_v2.yaml"
    shutil.copy(configs_dir() / "mobilenet_v2.yaml", path)
    return path


@pytest.fixture
def baseline(spec) -> Path:
    result = run("baseline", "write", spec.name, "v3-large", "--alpha", "1.0,0.5",
                 "-o", "base.json")
    assert result.exit_code == 0, result.output
    assert result.stderr == "wrote base.json (4 configurations)\n"
    return spec.parent / "base.json"


def narrow_head(spec: Path) -> None:
    text = spec.read_text()
    assert "c: 1280" in text
    spec.write_text(text.replace("c: 1280", "c: 1024"))


# ---------------------------------------------------------------------------------------------
# The baseline file

def test_baseline_format(baseline):
    doc = json.loads(baseline.read_text())
    assert doc["schema"] == "mncost.baseline/1" and doc["param_convention"] == "trainable"
    assert [(e["model"], e["alpha"], e["resolution"], e["classes"]) for e in doc["entries"]] == [
        ("my_v2.yaml", 1.0, [224, 224], 1000), ("my_v2.yaml", 0.5, [224, 224], 1000),
        ("v3-large", 1.0, [224, 224], 1000), ("v3-large", 0.5, [224, 224], 1000)]
    v2 = doc["entries"][0]
    # Memory metrics (float32, naive): worked in tests/test_memory.py.
    assert v2["totals"] == {"macs": V2_MACS, "params": V2_PARAMS, "layers": 64,
                            "peak_activation_bytes": 6_623_232, "bytes_moved": 70_589_120}
    assert sum(layer["macs"] for layer in v2["layers"]) == V2_MACS
    assert v2["layers"][0] == {"name": "layers.0", "kind": "conv", "out_shape": [32, 112, 112],
                               "macs": 112 * 112 * 32 * 27, "params": 27 * 32 + 2 * 32}
    assert doc["entries"][2]["totals"]["macs"] == V3L_MACS
    assert "created" not in doc                       # no timestamp: rewrites diff cleanly


def test_rewriting_an_unchanged_baseline_is_identical(baseline):
    before = baseline.read_bytes()
    run("baseline", "write", "my_v2.yaml", "v3-large", "--alpha", "1.0,0.5", "-o", "base.json")
    assert baseline.read_bytes() == before


def test_default_models_are_the_builtins(tmp_path):
    assert run("baseline", "write", "-o", str(tmp_path / "all.json")).exit_code == 0
    doc = json.loads((tmp_path / "all.json").read_text())
    assert len(doc["entries"]) == len(BUILTINS) and doc["entries"][0]["model"] == "v1"


# ---------------------------------------------------------------------------------------------
# Passing and failing checks

def test_unchanged_passes(baseline):
    result = run("check", "--baseline", "base.json")
    assert result.exit_code == 0, result.output
    assert "OK: 0 of 4 configurations moved beyond tolerance 0" in result.stdout


def test_regression_fails_with_the_report(baseline, spec):
    narrow_head(spec)
    result = run("check", "--baseline", "base.json", "--report-md", "report.md",
                 "--junit", "junit.xml")
    assert result.exit_code == 1
    assert result.stderr.endswith("mncost: error: FAILED: 2 of 4 configurations moved beyond "
                                  "tolerance 0\n")
    assert "Traceback" not in result.output
    md = (spec.parent / "report.md").read_text()
    new_macs, new_params = V2_MACS - HEAD_MACS, V2_PARAMS - HEAD_PARAMS
    macs_delta = f"{(new_macs - V2_MACS) / V2_MACS * 100:+.2f}%"
    params_delta = f"{(new_params - V2_PARAMS) / V2_PARAMS * 100:+.2f}%"
    assert macs_delta == "-1.42%" and params_delta == "-9.66%"
    assert (f"| my_v2.yaml | alpha=1 res=224 classes=1000 | macs | {V2_MACS:,} | "
            f"{new_macs:,} | {macs_delta} | MOVED |") in md
    assert (f"| my_v2.yaml | alpha=1 res=224 classes=1000 | params | {V2_PARAMS:,} | "
            f"{new_params:,} | {params_delta} | MOVED |") in md
    assert f"| v3-large | alpha=1 res=224 classes=1000 | macs | {V3L_MACS:,} | " in md
    # Which layers changed: the head conv and the classifier, with exact old and new counts.
    assert ("<details><summary>Layers changed: my_v2.yaml alpha=1 res=224 classes=1000 "
            "(2 layers shown)</summary>") in md
    assert (f"| layers.8 | changed | {320 * 1280 * 49:,} | {320 * 1024 * 49:,} | "
            f"{320 * 1280 + 2 * 1280:,} | {320 * 1024 + 2 * 1024:,} |") in md
    assert (f"| layers.10 | changed | {1280 * 1000:,} | {1024 * 1000:,} | "
            f"{1280 * 1000 + 1000:,} | {1024 * 1000 + 1000:,} |") in md
    assert md.startswith("## ❌ mncost check: FAILED: 2 of 4 configurations moved")
    assert parse_junit(spec.parent / "junit.xml").get("failures") == "2"
    # The terminal table names the moved configuration too.
    assert "MOVED" in result.stdout and "layers.8" in result.stdout


def test_junit_report_parses(baseline, spec):
    narrow_head(spec)
    run("check", "--baseline", "base.json", "--junit", "junit.xml")
    root = parse_junit(spec.parent / "junit.xml")
    assert root.get("failures") == "2"
    assert (root.get("tests"), root.get("failures")) == ("4", "2")
    suite = root.find("testsuite[@name='mncost.baseline']")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("mncost.baseline.my_v2", "alpha=1 res=224 classes=1000"),
        ("mncost.baseline.my_v2", "alpha=0.5 res=224 classes=1000"),
        ("mncost.baseline.v3-large", "alpha=1 res=224 classes=1000"),
        ("mncost.baseline.v3-large", "alpha=0.5 res=224 classes=1000")]
    failure = cases[0].find("failure")
    assert failure.get("type") == "regression"
    assert failure.get("message").startswith("my_v2.yaml alpha=1 res=224 classes=1000: macs "
                                             "-1.42%")
    assert f"macs: {V2_MACS} -> {V2_MACS - HEAD_MACS}" in failure.text
    assert "layer layers.8 changed" in failure.text
    assert cases[2].find("failure") is None


def _edit_baseline(path: Path, macs: int) -> None:
    doc = json.loads(path.read_text())
    doc["entries"][0]["totals"]["macs"] = macs
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("tolerance,code", [("6.00804%", 0), ("6.00803%", 1),
                                            ("19225728", 0), ("19225727", 1),
                                            ("19.3M", 0), ("19.2M", 1), ("0", 1)])
def test_tolerance_edges(baseline, tolerance, code):
    # baseline 320,000,000 vs now 300,774,272: delta 19,225,728 = exactly 6.00804%.
    _edit_baseline(baseline, 320_000_000)
    result = run("check", "--baseline", "base.json", "--tolerance", tolerance)
    assert result.exit_code == code, result.output
    if code:
        assert "-6.01%" in result.stdout and "MOVED" in result.stdout


def test_tolerance_parsing():
    assert Tolerance.parse("0.5%").allows(1000, 1005)
    assert not Tolerance.parse("0.5%").allows(1000, 1006)
    assert Tolerance.parse("0.5%").allows(1000, 995)
    assert not Tolerance.parse("0.5%").allows(0, 1)
    assert Tolerance.parse("1k").allows(0, 1000) and not Tolerance.parse("1k").allows(0, 1001)
    assert str(Tolerance.parse("10k")) == "10000" and str(Tolerance.parse("0.5%")) == "0.5%"
    for bad in ("-1%", "abc", "%", "5x"):
        with pytest.raises(InputError, match="tolerance must be"):
            Tolerance.parse(bad)


def test_units():
    assert parse_count("220M") == 220_000_000 and parse_count("5.5M") == 5_500_000
    assert parse_count("300k") == 300_000 and parse_count("1.2G") == 1_200_000_000
    assert parse_count(220_000_000) == 220_000_000 and parse_count("12") == 12
    assert parse_count(2.5) == Decimal("2.5")
    for bad in ("M", "5 MB", True, None, "-3M"):
        with pytest.raises(ValueError):
            parse_count(bad)


# ---------------------------------------------------------------------------------------------
# Budgets

def write_budget(tmp_path: Path, text: str) -> str:
    path = tmp_path / "budgets.yaml"
    path.write_text(text)
    return str(path)


def test_budget_passes_at_the_edge(tmp_path):
    budget = write_budget(tmp_path, (
        "# v3-large at 1.0/224: MACs <= 220M, params <= 5.5M\n"
        "budgets:\n"
        "  - {model: v3-large, alpha: 1.0, resolution: 224, max_macs: 220M, max_params: 5.5M}\n"
        f"  - {{model: v2, max_macs: {V2_MACS}, max_params: 3504872}}\n"))
    result = run("check", "--budget", budget, "--junit", str(tmp_path / "j.xml"))
    assert result.exit_code == 0, result.output
    assert "OK: 0 of 4 budgets broken" in result.stdout
    root = parse_junit(tmp_path / "j.xml")
    budget_suite = root.find("testsuite[@name='mncost.budget']")
    assert len(budget_suite.findall("testcase")) == 4 and budget_suite.get("failures") == "0"


def test_budget_fails(tmp_path):
    budget = write_budget(tmp_path, (
        "budgets:\n"
        "  - model: v2\n"
        "    alpha: 1.0\n"
        "    max_macs: 300M\n"
        "    max_params: 3.6M\n"))
    md = tmp_path / "r.md"
    result = run("check", "--budget", budget, "--report-md", str(md), "--junit",
                 str(tmp_path / "j.xml"))
    assert result.exit_code == 1
    assert result.stderr.endswith("mncost: error: FAILED: 1 of 2 budgets broken\n")
    assert (f"| v2 | alpha=1 res=224 classes=1000 | macs | {V2_MACS:,} | <= 300M | "
            "BROKEN |") in md.read_text()
    failure = parse_junit(tmp_path / "j.xml").find(".//failure")
    assert failure.get("type") == "budget"
    assert failure.get("message") == (f"v2 alpha=1 res=224 classes=1000: macs {V2_MACS:,} > "
                                      f"budget 300M ({budget}:2)")


def test_baseline_and_budget_together(baseline, tmp_path):
    budget = write_budget(tmp_path, "budgets:\n  - {model: v3-large, max_macs: 200M}\n")
    result = run("check", "--baseline", "base.json", "--budget", budget)
    assert result.exit_code == 1
    assert "0 of 4 configurations moved beyond tolerance 0; 1 of 1 budgets broken" in (
        result.stderr)


@pytest.mark.parametrize("text,message", [
    ("budgets: [\n", "budgets.yaml:2: YAML syntax error"),
    ("limits: []\n", "budgets.yaml:1: budgets: the file must hold a 'budgets:' list"),
    ("budgets: []\n", "budgets.yaml:1: budgets: the list is empty"),
    ("budgets:\n  - {model: v2, max_mac: 3M}\n",
     "budgets.yaml:2: budgets[0].max_mac: unknown key"),
    ("budgets:\n  - model: v2\n    max_macs: 3x\n",
     "budgets.yaml:3: budgets[0].max_macs: must be a number such as 220M or 5.5M, got '3x'"),
    ("budgets:\n  - model: v2\n    alpha: 0\n    max_macs: 3M\n",
     "budgets.yaml:3: budgets[0].alpha: alpha must be a number in (0, 10000], got 0"),
    ("budgets:\n  - {model: v2}\n", "budgets.yaml:2: budgets[0]: give at least one of"),
    ("budgets:\n  - {max_macs: 3M}\n", "budgets.yaml:2: budgets[0].model: a model name"),
    ("budgets:\n  - {model: v9, max_macs: 3M}\n",
     "budgets.yaml:2: budget for 'v9': unknown model 'v9'"),
])
def test_bad_budget_files(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    write_budget(tmp_path, text)
    error = one_line_error(run("check", "--budget", "budgets.yaml"))
    assert message in error


# ---------------------------------------------------------------------------------------------
# Corrupt or missing inputs: exit 2, one line, no report written

@pytest.mark.parametrize("content,message", [
    (None, "missing.json: baseline file not found"),
    ("{", "base.json: not a valid mncost baseline: invalid JSON at line 1, column 2"),
    ("[]", "base.json: not a valid mncost baseline: no \"schema\" field"),
    ('{"schema": "mncost.baseline/2"}', "base.json: unknown baseline schema "
                                        "'mncost.baseline/2' (this mncost reads "
                                        "mncost.baseline/1)"),
    ('{"schema": "mncost.baseline/1", "param_convention": "trainable", "entries": []}',
     "\"entries\" must be a non-empty list"),
    ('{"schema": "mncost.baseline/1", "param_convention": "trainable", "entries": '
     '[{"model": "v2"}]}', "entries[0].alpha is missing or has the wrong type"),
])
def test_corrupt_baseline(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    name = "missing.json" if content is None else "base.json"
    if content is not None:
        (tmp_path / name).write_text(content)
    error = one_line_error(run("check", "--baseline", name, "--report-md", "r.md"))
    assert message in error
    assert not (tmp_path / "r.md").exists()


def test_model_no_longer_exists(baseline, spec):
    spec.unlink()
    error = one_line_error(run("check", "--baseline", "base.json"))
    assert error == ("mncost: error: base.json: model 'my_v2.yaml' (alpha=1 res=224 "
                     "classes=1000) in the baseline cannot be recomputed: my_v2.yaml: no such "
                     "file\n")


def test_broken_spec_is_input_error_not_regression(baseline, spec):
    spec.write_text(spec.read_text().replace("c: 1280", "c: -5"))
    error = one_line_error(run("check", "--baseline", "base.json"))
    assert "my_v2.yaml" in error and "-5" in error


def test_params_convention_mismatch(baseline):
    error = one_line_error(run("check", "--baseline", "base.json", "--params", "weights"))
    assert "counts params as 'trainable', not 'weights'" in error


def test_needs_baseline_or_budget():
    result = run("check")
    assert result.exit_code == 2 and "give --baseline FILE, --budget FILE or both" in (
        result.stderr)


# ---------------------------------------------------------------------------------------------
# Latency (noisy, off by default), with a fake profiler

@pytest.fixture
def fake_latency(fake_profiler):
    """conftest.py's fake profiler with a fixed median of ``state['ms']`` and a quiet
    estimate of ``state['quiet']``."""
    fake_profiler["ms"], fake_profiler["quiet"] = 12.5, 10.0
    return fake_profiler


def test_latency_check_compares_quiet_estimates(tmp_path, monkeypatch, fake_latency):
    monkeypatch.chdir(tmp_path)
    assert run("baseline", "write", "v1", "--latency", "-o", "b.json").exit_code == 0
    doc = json.loads((tmp_path / "b.json").read_text())
    assert (doc["entries"][0]["latency_ms_quiet"], doc["entries"][0]["latency_ms_median"]) == (
        10.0, 12.5)
    assert doc["latency"]["device"] == "cpu" and "quiet estimate (p5" in doc["latency"]["note"]
    fake_latency["quiet"] = 11.0                                # +10%: the edge passes
    assert run("check", "--baseline", "b.json", "--latency").exit_code == 0
    fake_latency["ms"] = 30.0                     # a busy runner: the median triples, passes
    assert run("check", "--baseline", "b.json", "--latency").exit_code == 0
    fake_latency["quiet"] = 5.0                                 # faster never fails
    assert run("check", "--baseline", "b.json", "--latency").exit_code == 0
    fake_latency["ms"], fake_latency["quiet"] = 12.5, 11.5      # the quiet estimate +15%
    result = run("check", "--baseline", "b.json", "--latency", "--report-md", "r.md")
    assert result.exit_code == 1
    md = (tmp_path / "r.md").read_text()
    assert "| v1 | alpha=1 res=224 classes=1000 | latency_ms_quiet | 10.000 ms | 11.500 ms " \
           "| +15.00% | MOVED |" in md
    assert "Latency is measured and noisy; it is compared on the quiet estimate (p5" in md
    # Without --latency the stored latency is ignored.
    assert run("check", "--baseline", "b.json").exit_code == 0


def test_a_baseline_without_the_quiet_estimate_is_checked_on_medians(tmp_path, monkeypatch,
                                                                     fake_latency):
    """A baseline written before the quiet estimate holds only ``latency_ms_median``."""
    monkeypatch.chdir(tmp_path)
    assert run("baseline", "write", "v1", "--latency", "-o", "b.json").exit_code == 0
    doc = json.loads((tmp_path / "b.json").read_text())
    del doc["entries"][0]["latency_ms_quiet"]
    (tmp_path / "b.json").write_text(json.dumps(doc))
    fake_latency["quiet"] = 1.0          # read only where the baseline has it
    fake_latency["ms"] = 13.75                                 # the median +10%: passes
    assert run("check", "--baseline", "b.json", "--latency").exit_code == 0
    fake_latency["ms"] = 14.5
    result = run("check", "--baseline", "b.json", "--latency", "--report-md", "r.md")
    md = (tmp_path / "r.md").read_text()
    assert result.exit_code == 1
    assert "| latency_ms_median | 12.500 ms | 14.500 ms | +16.00% | MOVED |" in md
    assert "latency_ms_quiet" not in md


def test_latency_check_needs_latency_in_the_baseline(baseline, fake_latency):
    error = one_line_error(run("check", "--baseline", "base.json", "--latency"))
    assert "the baseline has no latency to check against" in error


def test_latency_budget_holds_the_quiet_estimate(tmp_path, fake_latency):
    budget = write_budget(tmp_path, "budgets:\n  - {model: v1, max_latency_ms: 12}\n")
    fake_latency["ms"], fake_latency["quiet"] = 20.0, 11.5
    assert run("check", "--budget", budget, "--latency").exit_code == 0
    fake_latency["quiet"] = 12.5
    assert run("check", "--budget", budget).exit_code == 0      # latency only with --latency
    assert run("check", "--budget", budget, "--latency").exit_code == 1


def test_latency_under_other_settings_is_flagged(tmp_path, monkeypatch, fake_latency):
    monkeypatch.chdir(tmp_path)
    assert run("baseline", "write", "v1", "--latency", "--threads", "2", "-o",
               "b.json").exit_code == 0
    same = run("check", "--baseline", "b.json", "--latency", "--threads", "2")
    other = run("check", "--baseline", "b.json", "--latency", "--threads", "1")
    assert same.exit_code == other.exit_code == 0
    assert "not like for like" not in same.output
    assert "warning: latency measured with other settings" in other.output
    assert "threads 2 -> 1" in other.output


def test_markdown_report_summary_first_details_and_how_to_accept(baseline, spec):
    """Issue 10, item 20: the verdict, the failing rows and how to accept the change come
    first; every full table (the layer tables too) is folded in <details>."""
    narrow_head(spec)
    run("check", "--baseline", "base.json", "--report-md", "report.md")
    md = (spec.parent / "report.md").read_text()
    first_details = md.index("<details>")
    head = md[:first_details]
    assert head.startswith("## ❌ mncost check: FAILED")
    assert ("accept it by committing a new baseline with the change: `mncost baseline write "
            "my_v2.yaml v3-large --alpha 1,0.5 --res 224 -o base.json`") in head
    moved = head[head.index("### Moved beyond tolerance"):]
    # Every moved metric (macs and params of both alphas, and main's memory metrics), each
    # once up front and once in the folded full table; nothing that is ok up front.
    assert moved.count("| MOVED |") == md[first_details:].count("| MOVED |") >= 4
    assert "| ok |" not in moved
    assert md.count("<details>") == md.count("</details>") == 3     # baseline, 2 layer tables
    assert "<summary>Baseline (" in md
    assert not [line for line in md[first_details:].splitlines() if line.startswith("### ")]


def test_passing_report_has_no_accept_line(baseline):
    run("check", "--baseline", "base.json", "--report-md", "ok.md")
    md = (baseline.parent / "ok.md").read_text()
    assert md.startswith("## ✅ mncost check: OK") and "accept" not in md


def test_junit_class_names_have_no_file_name_dots():
    from mncost.render.check import _class

    assert _class("specs/my_net.v2.yaml") == "specs/my_net_v2"
    assert _class("v3-large") == "v3-large"
