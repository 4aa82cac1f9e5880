"""``mncost analyze``, ``list``, ``validate``: formats, files, and the torch-free fast path."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import ROOT

from mncost.cli import cli


def invoke(*args):
    result = CliRunner().invoke(cli, list(args))
    return result


def test_json_is_complete_and_exact():
    result = invoke("analyze", "v1", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["schema"] == "mncost.analyze/1"
    assert data["totals"]["macs"] == 568_740_352
    assert data["totals"]["flops"] == 2 * 568_740_352
    assert data["totals"]["params"] == data["totals"]["params_trainable"] == 4_231_976
    assert data["totals"]["params_weights"] == 4_209_088
    assert len(data["layers"]) == 29
    assert sum(layer["macs"] for layer in data["layers"]) == 568_740_352
    first = data["layers"][0]
    assert (first["name"], first["kind"], first["in_shape"], first["out_shape"]) == (
        "layers.0", "conv", [3, 224, 224], [32, 112, 112])
    assert (first["weights"], first["macs"]) == (864, 10_838_016)
    kinds = {row["kind"]: row for row in data["by_kind"]}
    assert round(100 * kinds["pointwise"]["macs_share"], 2) == 94.86


def test_params_convention_option():
    data = json.loads(invoke("analyze", "v1", "--params", "weights", "-f", "json").stdout)
    assert data["param_convention"] == "weights"
    assert data["totals"]["params"] == 4_209_088


def test_csv_summary_and_per_layer():
    rows = list(csv.DictReader(io.StringIO(invoke("analyze", "v2", "-f", "csv").stdout)))
    assert rows[-1]["kind"] == "total" and int(rows[-1]["macs"]) == 300_774_272
    assert sum(int(r["macs"]) for r in rows[:-1]) == 300_774_272
    layers = list(csv.DictReader(io.StringIO(
        invoke("analyze", "v2", "-f", "csv", "--per-layer", "--alpha", "0.5").stdout)))
    assert layers[0]["alpha"] == "0.5" and layers[0]["in_shape"] == "3x224x224"
    assert len(layers) == len(json.loads(invoke("analyze", "v2", "-f", "json", "--alpha",
                                                "0.5").stdout)["layers"])


def test_markdown_and_table():
    md = invoke("analyze", "v3-small", "-f", "markdown", "--per-layer", "--stages").stdout
    assert md.startswith("## v3-small") and "| squeeze-excite FC |" in md
    assert "### Per layer" in md and "### By stage" in md
    table = invoke("analyze", "v1", "--alpha", "0.5", "--res", "160")
    assert table.exit_code == 0
    assert "76,524,800" in table.stdout and "\x1b[" not in table.stdout


def test_separable_comparison_in_json():
    data = json.loads(invoke("analyze", "v1", "--separable", "-f", "json").stdout)
    pair = [p for p in data["separable"] if p["depthwise"] == "layers.7.0.dw"][0]
    assert pair["standard_macs"] == 462_422_016
    assert pair["ratio"] == pytest.approx(1 / 512 + 1 / 9, rel=0, abs=1e-15)


def test_output_file_written_whole(tmp_path):
    target = tmp_path / "v1.json"
    result = invoke("analyze", "v1", "-f", "json", "-o", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(target.read_text())["totals"]["macs"] == 568_740_352
    assert [p.name for p in tmp_path.iterdir()] == ["v1.json"]


def test_output_to_missing_directory_is_an_input_error(tmp_path):
    result = invoke("analyze", "v1", "-f", "json", "-o", str(tmp_path / "no" / "x.json"))
    assert result.exit_code == 2 and "cannot write" in result.output


def test_list_and_validate(tmp_path):
    out = invoke("list").stdout
    for name in ("v1", "v1-conv", "v1-shallow", "v2", "v3-large", "v3-small"):
        assert name in out
    models = json.loads(invoke("list", "-f", "json").stdout)
    assert [m["model"] for m in models][:1] == ["v1"]
    result = invoke("validate", str(ROOT / "configs" / "mobilenet_v2.yaml"))
    assert result.exit_code == 0 and "ok" in result.stdout


def test_help_explains():
    out = invoke("analyze", "--help").stdout
    for word in ("--alpha", "--res", "--classes", "--per-layer", "--format", "--output",
                 "HxW", "trainable", "checkpoint"):
        assert word in out


def _run_module(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    code = ("import runpy, sys; sys.argv = ['mncost', *sys.argv[1:]];\n"
            "try:\n    runpy.run_module('mncost', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "else:\n    code = 0\n"
            "print('TORCH_LOADED' if 'torch' in sys.modules else 'NO_TORCH', file=sys.stderr)\n"
            "sys.exit(code)\n")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.mark.parametrize("args", [["analyze", "v1"], ["analyze", "v3-large", "-f", "json"],
                                  ["list"], ["--help"],
                                  ["validate", str(ROOT / "configs" / "mobilenet_v1.yaml")],
                                  ["memory", "v2", "--per-resolution", "block-io", "--per-layer",
                                   "--peak-gmacs", "50", "--bandwidth-gbs", "10"],
                                  ["sweep", "v1", "--memory", "-f", "csv"]])
def test_analytic_path_never_imports_torch(args):
    proc = _run_module(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().endswith("NO_TORCH")


def test_python_dash_m_and_clean_stdout():
    proc = subprocess.run([sys.executable, "-m", "mncost", "analyze", "v1", "-f", "csv"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.splitlines()[0].startswith("model,alpha,depth,resolution,classes,kind")
    proc = subprocess.run([sys.executable, "-m", "mncost", "analyze", "v1", "--alpha", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == "mncost: error: alpha must be a number in (0, 10000], got 0"


def test_conventions_view_without_torch():
    """v1 1.0/224: fvcore's default = MACs + 2 x BN elements + the global pool's input."""
    data = json.loads(invoke("analyze", "v1", "--conventions", "-f", "json").stdout)
    totals = {c["name"]: c["total"] for c in data["conventions"]["counts"]}
    bn_elements = 5_042_688        # 27 convs of Table 1, each followed by batch norm
    assert totals["fvcore"] == 568_740_352 + 2 * bn_elements + 7 * 7 * 1024
    assert totals["ops"] == totals["fvcore"] + bn_elements       # + one ReLU per BN output
    assert totals["flops"] == 2 * 568_740_352
    proc = _run_module("analyze", "v3-large", "--conventions")
    assert proc.returncode == 0 and proc.stderr.strip().endswith("NO_TORCH")


# ---------------------------------------------------------------------------------------------
# Issue 10, items 16 and 21: each parameter convention once, the chosen one named; CSV says
# which convention its params are; shapes in one order

#: v1 1.0/224 under each convention (README "Conventions": weights 4,209,088; trainable adds
#: BN scale/shift and the fc bias; checkpoint adds BN running statistics).
V1_PARAMS = {"weights": "4,209,088", "trainable": "4,231,976", "checkpoint": "4,253,864"}


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.parametrize("chosen", list(V1_PARAMS))
def test_params_rows_once_each_chosen_first(chosen, fmt):
    out = CliRunner().invoke(cli, ["analyze", "v1", "--params", chosen, "-f", fmt]).stdout
    rows = [line for line in out.splitlines() if "params (" in line]
    assert len(rows) == 3
    assert "chosen" in rows[0] and V1_PARAMS[chosen] in rows[0]
    for convention, exact in V1_PARAMS.items():
        assert sum(exact in row for row in rows) == 1, convention


@pytest.mark.parametrize("per_layer", [False, True])
def test_analyze_csv_names_the_param_convention(per_layer):
    args = ["analyze", "v1", "--params", "checkpoint", "-f", "csv"] + (
        ["--per-layer"] if per_layer else [])
    rows = list(csv.DictReader(io.StringIO(CliRunner().invoke(cli, args).stdout)))
    assert {r["param_convention"] for r in rows} == {"checkpoint"}
    if not per_layer:
        assert rows[-1]["params"] == V1_PARAMS["checkpoint"].replace(",", "")


def test_shapes_are_c_h_w_in_table_and_csv():
    table = CliRunner().invoke(cli, ["analyze", "v1", "--per-layer"]).stdout
    first = next(csv.DictReader(io.StringIO(CliRunner().invoke(
        cli, ["analyze", "v1", "--per-layer", "-f", "csv"]).stdout)))
    assert first["in_shape"] == "3x224x224" and first["out_shape"] == "32x112x112"
    assert "in CxHxW" in table and "3x224x224" in table and "32x112x112" in table


def test_list_shows_spec_file_and_one_source():
    out = CliRunner().invoke(cli, ["list"]).stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    v1_conv = lines[lines.index(next(l for l in lines if l.startswith("v1-conv ")))
                    :][:3]
    assert v1_conv[0].split() == ["v1-conv", "Conv", "MobileNet"]
    assert v1_conv[1].split(":", 1)[1].strip() == "arXiv 1704.04861, Table 4"
    assert v1_conv[2].strip().startswith("file:")
    assert v1_conv[2].rstrip().endswith("mobilenet_v1_conv.yaml")
    assert out.count("Table 4") == 1                # the source, not repeated in the title


def test_readme_ci_examples_install_from_the_repository():
    """Issue 10, item 15: mncost is not on the package index; the GitHub Actions example and
    the shell script (docs/ci.md, moved there from the README) install it from the repository
    being checked."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "ci.md").read_text()
    ci = page[page.index("## GitHub Actions"):]
    installs = [line.strip() for line in ci.splitlines() if "pip install" in line]
    assert len(installs) >= 2
    assert not [line for line in installs if "pip install mncost" in line]
    assert all("pip install ." in line or "git+" in line for line in installs), installs
