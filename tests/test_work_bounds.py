"""Bounds on the work, not only the counts (issue 22, item 20): a JSON input within the byte
limit cannot take gigabytes to read; a sweep's resolves (and ``--memory``'s) are bounded, and
``--per-layer`` rows too; a file name that is not UTF-8 and an ASCII stdout do not crash the
output."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from _helpers import one_error_line, run

from mncost import limits
from mncost.check.baseline import load_baseline
from mncost.errors import InputError
from mncost.files.inputfile import Refused, load_json

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# JSON inputs: memory bounded by what the file holds, not only by its bytes

#: Documents of a few MB that the parser would blow up 20-fold: empty objects, one-key
#: objects, empty arrays, short strings.
HOSTILE_JSON = {
    "objects": "[" + ",".join(["{}"] * 1_500_000) + "]",
    "members": "[" + ",".join(['{"a":0}'] * 700_000) + "]",
    "arrays": "[" + ",".join(["[]"] * 1_500_000) + "]",
    "items": "[" + ",".join(["0"] * 3_000_000) + "]",
}


@pytest.mark.parametrize("shape", sorted(HOSTILE_JSON))
def test_hostile_json_is_refused_before_it_is_parsed(shape):
    text = HOSTILE_JSON[shape]
    assert len(text) < limits.MAX_BASELINE_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(Refused, match="at most"):
            load_json(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(text), peak       # the parse (10-25 bytes a byte) never ran


def test_a_hostile_baseline_file_is_refused_in_one_line(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(HOSTILE_JSON["objects"])
    line = one_error_line(run("check", "--baseline", str(path)))
    assert str(path) in line and "1,500,001" in line and "at most" in line


def test_baseline_byte_limit_is_what_a_real_baseline_needs(tmp_path):
    """Every built-in at 4 alphas x 4 resolutions (352 configurations, every layer) is under a
    third of the limit, and reads."""
    path = tmp_path / "b.json"
    result = run("baseline", "write", "--alpha", "0.5,0.75,1.0,1.4", "--res", "128,160,192,224",
                 "-o", str(path))
    assert result.exit_code == 0, result.output
    size = path.stat().st_size
    assert 3 * size < limits.MAX_BASELINE_BYTES < 8 * size
    doc = load_baseline(str(path))
    assert len(doc["entries"]) == 352


@pytest.mark.parametrize("args, says", [
    (("--alpha", "0.1:4:0.0001"), f"{limits.MAX_ENTRIES:,} configurations"),
    (("efficientnet-b7", "--alpha", "0.5:1.5:0.001"), f"{limits.MAX_BASELINE_LAYERS:,} layers"),
])
def test_baseline_write_is_bounded_by_what_check_reads(tmp_path, args, says):
    out = tmp_path / "b.json"
    line = one_error_line(run("baseline", "write", *args, "-o", str(out)))
    assert says in line and not out.exists()


def test_a_hostile_device_profile_is_refused_in_one_line(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(HOSTILE_JSON["arrays"])
    line = one_error_line(run("predict", "v1", "--device-profile", str(path)))
    assert str(path) in line and "at most" in line


def test_a_baseline_over_the_byte_limit_is_refused(tmp_path):
    path = tmp_path / "b.json"
    path.write_text(" " * (limits.MAX_BASELINE_BYTES + 1))
    line = one_error_line(run("check", "--baseline", str(path)))
    assert f"{limits.MAX_BASELINE_BYTES:,}" in line


# ---------------------------------------------------------------------------------------------
# Sweeps: the resolves are bounded, not only the configurations

def test_sweep_with_too_many_distinct_alphas_is_refused_before_work():
    # 19,001 alphas of v2: about 1.2 million layers to resolve (40 s); 2,000,000 took an hour
    result = run("sweep", "v2", "--alpha", "0.1:1.9:0.0001", "-f", "csv")
    line = one_error_line(result)
    assert f"{limits.MAX_RESOLVED_LAYERS:,}" in line and "--alpha" in line
    assert result.stdout == ""


def test_sweep_with_too_many_resolutions_is_refused_before_work():
    result = run("sweep", "efficientnet-b7", "--res", "32:600000:2", "-f", "csv")
    line = one_error_line(result)
    assert f"{limits.MAX_RESOLVED_LAYERS:,}" in line and "--res" in line


def test_sweep_memory_resolves_every_configuration_and_is_bounded():
    result = run("sweep", "v2", "--memory", "--alpha", "0.25:1.5:0.01", "--res", "96:480:2",
                 "-f", "csv")
    line = one_error_line(result)
    assert "--memory" in line and f"{limits.MAX_RESOLVED_LAYERS:,}" in line


def test_per_layer_rows_are_bounded():
    # 126 alphas x 433 resolutions x 64 layers: 3.5 million rows
    result = run("sweep", "v2", "--per-layer", "--alpha", "0.25:1.5:0.01", "--res", "96:960:2",
                 "-f", "csv")
    line = one_error_line(result)
    assert f"{limits.MAX_SWEEP_ROWS:,}" in line and "--per-layer" in line


def test_a_sweep_within_the_bounds_runs():
    result = run("sweep", "v1", "v2", "--alpha", "0.25:1.5:0.05", "--res", "96:480:16",
                 "-f", "csv")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1 + 2 * 26 * 25


def test_the_slow_path_is_bounded_while_it_runs(monkeypatch):
    """Where the pixel split does not hold (a spec whose structure changes with alpha), each
    configuration is resolved: the work is counted as it is done and stopped at the limit."""
    from mncost.network.catalog import load_model
    from mncost.sweep import run as core

    monkeypatch.setattr(core, "_alpha_costs", lambda report, params: None)
    monkeypatch.setattr(core, "MAX_RESOLVED_LAYERS", 5_000)
    grid = core.Grid(models=("v1",), specs=(load_model("v1"),), alphas=(0.5, 0.75, 1.0),
                     resolutions=tuple((r, r) for r in range(96, 480, 4)))
    rows = core.iter_rows(grid)
    with pytest.raises(InputError, match="5,000"):
        for _ in rows:
            pass


# ---------------------------------------------------------------------------------------------
# File names that are not UTF-8; an ASCII stdout

def mncost(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mncost", *args], capture_output=True,
                          timeout=120, cwd=cwd or ROOT,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)})


@pytest.fixture
def latin1_spec(tmp_path):
    """A spec whose file name is not UTF-8 (the byte 0xff), as bytes."""
    name = os.fsencode(tmp_path) + b"/net\xff.yaml"
    with open(name, "w") as handle:
        handle.write("name: net\nresolution: 32\nlayers:\n  - {op: conv, c: 8, k: 3, s: 2}\n"
                     "  - {op: pool}\n  - {op: fc, c: 10}\n")
    return name


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "markdown", "table"])
def test_sweep_of_a_non_utf8_file_name(latin1_spec, tmp_path, fmt):
    for out in (None, tmp_path / f"out.{fmt}"):
        proc = mncost("sweep", latin1_spec, "-f", fmt, *(("-o", str(out)) if out else ()))
        assert proc.returncode == 0, proc.stderr.decode()
        text = proc.stdout if out is None else out.read_bytes()
        text.decode("utf-8")                           # the output is UTF-8 text
        # the byte, escaped: as \xff in text, as JSON's own \udcff escape in JSON (which
        # reads back as the name Python gave the file)
        assert (b"\\udcff" if fmt.startswith("json") else b"\\xff") in text


def test_analyze_of_a_non_utf8_file_name(latin1_spec):
    proc = mncost("analyze", latin1_spec, "-f", "csv")
    assert proc.returncode == 0, proc.stderr.decode()


def test_check_with_non_utf8_file_names(latin1_spec, tmp_path):
    baseline = os.fsencode(tmp_path) + b"/base\xfe.json"
    proc = mncost("baseline", "write", latin1_spec, "v1", "-o", baseline)
    assert proc.returncode == 0, proc.stderr.decode()
    budgets = os.fsencode(tmp_path) + b"/budgets\xfe.yaml"
    with open(budgets, "w") as handle:
        handle.write("budgets:\n  - model: v1\n    max_macs: 600M\n")
    report = tmp_path / "report.md"
    proc = mncost("check", "--baseline", baseline, "--budget", budgets, "--report-md",
                  str(report), "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 0, proc.stderr.decode()
    # the model, from the baseline; in Markdown its backslash is escaped (renders as \xff)
    assert b"net\\\\xff.yaml" in report.read_bytes()
    proc = mncost("check", "--baseline", baseline, "--report-md", "-")
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"net\\\\xff.yaml" in proc.stdout                 # the Markdown
    assert b"net\\xff.yaml " in proc.stdout                    # the table


def test_error_line_names_a_non_utf8_file_by_its_byte(tmp_path):
    proc = mncost("analyze", os.fsencode(tmp_path) + b"/missing\xff.yaml")
    assert proc.returncode == 2
    assert b"missing\\xff.yaml" in proc.stderr


@pytest.mark.parametrize("failing", [False, True])
def test_report_md_on_an_ascii_stdout(tmp_path, failing):
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(f"budgets:\n  - model: v1\n    max_macs: {'1M' if failing else '600M'}\n")
    proc = mncost("check", "--budget", str(budgets), "--report-md", "-",
                  env={"PYTHONIOENCODING": "ascii"})
    assert proc.returncode == (1 if failing else 0), proc.stderr.decode()
    assert (b"[FAIL]" if failing else b"[ok]") in proc.stdout
    assert b"Traceback" not in proc.stderr


def test_sweep_plot_points_are_bounded(tmp_path):
    result = run("sweep", "v1", "--alpha", "0.25:1.5:0.01", "--res", "96:960:1", "-f", "csv",
                 "-o", str(tmp_path / "g.csv"), "--plot", str(tmp_path / "g.png"))
    line = one_error_line(result)
    assert "--plot" in line and "100,000" in line


def test_check_budgets_work_is_bounded_before_it_starts(tmp_path, monkeypatch):
    """Each budget is a network to analyze (10,000 budgets of EfficientNet-B7 are 4.3 million
    layers, minutes): the layers are counted first, and nothing is analyzed past the limit."""
    from mncost.check import baseline as core

    monkeypatch.setattr(core, "MAX_RESOLVED_LAYERS", 2_000)
    monkeypatch.setattr("mncost.cli.check.analyze_network",
                        lambda network: pytest.fail("analyzed before the bound was checked"))
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n" + "".join(
        f"  - {{model: efficientnet-b7, alpha: {a}, max_macs: 100G}}\n"
        for a in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)))
    line = one_error_line(run("check", "--budget", str(budgets)))
    assert "2,000" in line and "budgets" in line
