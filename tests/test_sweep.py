"""``mncost sweep``: grid parsing, golden outputs from closed-form counts, the fast path against
resolving every configuration, atomic and partial writes, latency with a fake profiler, and
the analytic path never importing torch."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys

import pytest
from _helpers import run
from click.testing import CliRunner

from mncost.cli import cli
from mncost.errors import InputError
from mncost.measure.profile_options import ProfileOptions
from mncost.network.catalog import BUILTINS, load_model
from mncost.sweep.grid import parse_alphas, parse_resolutions
from mncost.sweep.run import (
    LATENCY_COLUMNS,
    LAYER_COLUMNS,
    Grid,
    config_columns,
    pareto_front,
    sweep,
)

# ---------------------------------------------------------------------------------------------
# MobileNet v1 in closed form (v1 paper Table 1; TF-slim width rule max(int(c * alpha), 8)),
# written out here independently of the engine.

V1_BODY = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
    (1024, 2), (1024, 1)]


def v1_counts(alpha: float, r: int, classes: int = 1000) -> dict[str, int]:
    """MACs by kind and trainable params (weights + BN scale/shift + fc bias) of v1."""
    def w(c: int) -> int:
        return max(int(c * alpha), 8)

    h = math.ceil(r / 2)
    c = w(32)
    conv = h * h * 3 * c * 9
    params = 27 * c + 2 * c
    dw = pw = 0
    for c_out, s in V1_BODY:
        h = math.ceil(h / s)
        dw += h * h * c * 9
        pw += h * h * c * w(c_out)
        params += 9 * c + 2 * c + c * w(c_out) + 2 * w(c_out)
        c = w(c_out)
    fc = c * classes
    params += c * classes + classes
    return {"macs": conv + dw + pw + fc, "conv": conv, "depthwise": dw, "pointwise": pw,
            "fc": fc, "params": params}


def test_v1_closed_form_matches_the_published_figures():
    # TF-slim's docstring: 567,716,352 mult-adds for the 1.0/224 body (+ the 1024 x 1000 fc).
    counts = v1_counts(1.0, 224)
    assert counts["macs"] - counts["fc"] == 567_716_352
    assert counts["params"] == 4_231_976


# ---------------------------------------------------------------------------------------------
# Grid parsing

def test_alpha_range_is_inclusive_and_free_of_float_drift():
    values = parse_alphas("0.25:1.5:0.05")
    assert len(values) == 26
    assert values == tuple(float(f"{0.25 + 0.05 * i:.2f}") for i in range(26))
    assert values[-1] == 1.5 and 0.35 in values and 0.7 in values


def test_lists_ranges_mix_and_duplicates():
    assert parse_alphas("0.25,0.5,1.0") == (0.25, 0.5, 1.0)
    assert parse_alphas("1.0,0.5:0.6:0.05,0.5") == (1.0, 0.5, 0.55, 0.6)
    assert parse_alphas("0.1:0.35:0.1") == (0.1, 0.2, 0.3)          # stop not on a step
    assert parse_resolutions("128:160:16,224x160,224") == ((128, 128), (144, 144), (160, 160),
                                                           (224, 160), (224, 224))


@pytest.mark.parametrize("flag,text,message", [
    ("alpha", "1:0.5:0.1", "ends before it starts"),
    ("alpha", "0.25:1:0", "needs a step > 0"),
    ("alpha", "0.25:1", "must be start:stop:step"),
    ("alpha", "0.5,,1", "comma-separated"),
    ("alpha", "half", "'half' is not a number"),
    ("alpha", "0,1", "alpha must be a number in"),
    ("alpha", "nan", "not a finite number"),
    ("res", "100:110:0.5", "not a whole number of pixels"),
    ("res", "0", "at least 1 pixel"),
    ("res", "224y160", "R or HxW with a lowercase x"),
])
def test_bad_grid_values(flag, text, message):
    with pytest.raises(InputError, match=message):
        parse_alphas(text) if flag == "alpha" else parse_resolutions(text)
    result = run("sweep", "v2", f"--{flag}", text, "-f", "csv")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message in result.stderr


# ---------------------------------------------------------------------------------------------
# Golden outputs

def _expected_csv(configs) -> str:
    lines = [",".join(config_columns())]
    ref = v1_counts(1.0, 224)
    for alpha, r in configs:
        c = v1_counts(alpha, r)
        lines.append(",".join(map(str, [
            "v1", alpha, 1.0, r, 1000, c["macs"], c["params"], "trainable", c["conv"],
            c["pointwise"], c["depthwise"], 0, c["fc"], 0, 0, round(c["macs"] / ref["macs"], 6),
            round(c["params"] / ref["params"], 6)])))
    return "\n".join(lines) + "\n"


def test_csv_golden_v1_grid():
    result = run("sweep", "v1", "--alpha", "0.25,0.5,0.75,1.0", "--res", "128:224:32",
                 "-f", "csv")
    assert result.exit_code == 0, result.output
    configs = [(a, r) for a in (0.25, 0.5, 0.75, 1.0) for r in (128, 160, 192, 224)]
    assert result.stdout == _expected_csv(configs)
    assert result.stderr == ""


def test_json_golden_v1():
    result = run("sweep", "v1", "--alpha", "0.5", "--res", "160", "-f", "json")
    doc = json.loads(result.stdout)
    c, ref = v1_counts(0.5, 160), v1_counts(1.0, 224)
    assert doc == {
        "schema": "mncost.sweep/1", "rows_are": "configurations", "partial": False,
        "columns": list(config_columns()),
        "rows": [{"model": "v1", "alpha": 0.5, "depth": 1.0, "resolution": "160",
                  "classes": 1000,
                  "macs": c["macs"], "params": c["params"], "param_convention": "trainable",
                  "macs_conv": c["conv"], "macs_pointwise": c["pointwise"],
                  "macs_depthwise": c["depthwise"], "macs_grouped": 0, "macs_fc": c["fc"],
                  "macs_se_fc": 0, "macs_attention": 0,
                  "macs_ratio": round(c["macs"] / ref["macs"], 6),
                  "params_ratio": round(c["params"] / ref["params"], 6)}]}
    assert c["macs"] == 76_524_800 and c["params"] == 1_331_592   # v1 paper Table 7: 76M, 1.32M


def test_markdown_golden():
    result = run("sweep", "v1", "--alpha", "1.0,0.5", "--res", "224", "-f", "markdown")
    assert result.stdout == (
        "| model | alpha | res | MACs | params | MACs ratio | params ratio |\n"
        "|---|---:|---|---:|---:|---:|---:|\n"
        "| v1 | 1 | 224 | 568.74M | 4.23M | 1.000x | 1.000x |\n"
        "| v1 | 0.5 | 224 | 149.50M | 1.33M | 0.263x | 0.315x |\n"
        "\nMACs = multiply-accumulates; params: trainable.\n"
        "\nRatios: to the same model at its own alpha, depth and resolution.\n")


def test_params_convention_and_classes():
    result = run("sweep", "v1", "--params", "weights", "--classes", "10", "-f", "csv")
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    # weights only: 3x3x3x32 conv, each separable pair 9 M + M N, the 1024 x 10 fc.
    widths = [32] + [c for c, _ in V1_BODY]
    weights = 27 * 32 + sum(9 * m + m * n for m, n in zip(widths, widths[1:])) + 1024 * 10
    assert int(row["params"]) == weights == 3_195_328
    assert row["param_convention"] == "weights" and row["classes"] == "10"


def test_per_layer_long_rows_sum_to_the_totals():
    result = run("sweep", "v1", "v2", "--alpha", "0.5,1.0", "--res", "160,224x192",
                 "--per-layer", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(LAYER_COLUMNS)
    assert len(rows) == 2 * 2 * 29 + 2 * 2 * 64      # v1: 29 layers, v2: 64
    first = rows[0]
    assert (first["layer"], first["kind"], first["in_shape"], first["out_shape"]) == (
        "layers.0", "conv", "3x160x160", "16x80x80")
    v1_160 = [r for r in rows if r["model"] == "v1" and r["alpha"] == "0.5"
              and r["resolution"] == "160"]
    c = v1_counts(0.5, 160)
    assert sum(int(r["macs"]) for r in v1_160) == c["macs"]
    assert sum(int(r["params"]) for r in v1_160) == c["params"]
    assert {r["resolution"] for r in rows} == {"160", "224x192"}


def test_table_goes_to_stdout_and_names_the_convention():
    result = run("sweep", "v3-small", "--alpha", "0.75")
    assert result.exit_code == 0
    assert "v3-small" in result.stdout and "params: trainable" in result.stdout


# ---------------------------------------------------------------------------------------------
# The fast path is exactly the slow path

@pytest.mark.parametrize("model", list(BUILTINS))
@pytest.mark.parametrize("per_layer", [False, True])
def test_fast_path_equals_resolving_every_configuration(model, per_layer):
    grid = Grid((model,), (load_model(model),), parse_alphas("0.1,0.35,0.6:1.4:0.4,1.3"),
                parse_resolutions("33,96,127,224x161,250"), classes=None)
    assert sweep(grid, per_layer, fast=True) == sweep(grid, per_layer, fast=False)


def test_ratio_columns_are_relative_to_alpha_1_at_224():
    rows = sweep(Grid(("v2",), (load_model("v2"),), (1.0, 0.5), ((224, 224),)))
    assert rows[0]["macs"] == 300_774_272 and rows[0]["params"] == 3_504_872  # torchvision
    assert rows[0]["macs_ratio"] == 1.0 and rows[0]["params_ratio"] == 1.0
    assert rows[1]["macs_ratio"] == round(rows[1]["macs"] / 300_774_272, 6)


# ---------------------------------------------------------------------------------------------
# Files

def test_output_file_is_written_atomically(tmp_path):
    out = tmp_path / "grid.csv"
    result = run("sweep", "v1", "--alpha", "0.5", "-f", "csv", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text() == _expected_csv([(0.5, 224)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.csv"]
    # A failing sweep leaves the previous file alone.
    result = run("sweep", "v1", "--alpha", "0.5,-1", "-f", "csv", "-o", str(out))
    assert result.exit_code == 2
    assert out.read_text() == _expected_csv([(0.5, 224)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.csv"]


def test_unknown_model_is_one_line():
    result = run("sweep", "v7", "-f", "csv")
    assert result.exit_code == 2
    assert result.stderr.startswith("mncost: error: unknown model 'v7'")
    assert result.stderr.count("\n") == 1


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "grid.png"
    result = run("sweep", "v1", "v2", "--alpha", "0.5:1.0:0.25", "--res", "128,224",
                 "-f", "csv", "-o", str(tmp_path / "g.csv"), "--plot", str(png))
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    import mncost.sweep.run as core

    monkeypatch.setattr(core, "iter_rows", None)      # checked before anything is computed
    result = run("sweep", "v1", "-f", "csv", "-o", str(tmp_path / "x.csv"),
                 "--plot", str(tmp_path / "x.png"))
    assert result.exit_code == 2
    assert result.stderr == ("mncost: error: this command needs matplotlib, which is not "
                             "installed: pip install 'mncost[plot]'\n")
    assert list(tmp_path.iterdir()) == []


def test_missing_torch_hint_does_not_pin_torch():
    from mncost.errors import MissingDependency

    text = str(MissingDependency("torch", "torch"))
    assert "pip install 'mncost[torch]'" in text and "==" not in text


def test_pareto_front():
    """Lower latency and fewer MACs are better: (1.0, 10) is fastest, (1.5, 5) the cheapest;
    every other point has one of them both faster (or as fast) and cheaper."""
    points = [(1.0, 10), (2.0, 30), (1.5, 5), (3.0, 20), (2.5, 40), (1.0, 12), (1.2, 8)]
    assert pareto_front(points) == [(1.0, 10), (1.2, 8), (1.5, 5)]
    assert pareto_front([(2.0, 5), (1.0, 5)]) == [(1.0, 5)]     # as cheap and faster wins
    assert pareto_front([]) == []


# ---------------------------------------------------------------------------------------------
# Latency, with the fake profiler of conftest.py (the contract of
# mncost.torch_backend.profile)

def test_latency_columns(fake_profiler):
    result = run("sweep", "v1", "--alpha", "0.5,1.0", "--res", "160", "--latency",
                 "--threads", "2", "--batch", "4", "--repeats", "7", "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(config_columns() + LATENCY_COLUMNS)
    c = v1_counts(0.5, 160)
    assert float(rows[0]["latency_ms_median"]) == round(c["macs"] / 1e7, 4)
    assert (rows[0]["latency_runs"], rows[0]["latency_device"], rows[0]["latency_threads"],
            rows[0]["latency_batch"]) == ("7", "cpu", "2", "4")
    assert fake_profiler["options"][0] == ProfileOptions(threads=2, batch=4, repeats=7)
    assert "2/2" in result.stderr                      # the progress bar, on stderr


def test_ctrl_c_keeps_measured_rows_as_partial(fake_profiler, tmp_path):
    fake_profiler["interrupt_at"] = 3
    out = tmp_path / "lat.csv"
    result = run("sweep", "v1", "--alpha", "0.25,0.5,0.75,1.0", "--latency", "-f", "csv",
                 "-o", str(out))
    assert result.exit_code == 130
    assert not out.exists()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "lat.partial.csv").read_text())))
    assert [r["alpha"] for r in rows] == ["0.25", "0.5"]
    assert "interrupted: 2 of 4 configurations measured; partial results in" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lat.partial.csv"]


def test_ctrl_c_json_is_marked_partial(fake_profiler, tmp_path):
    fake_profiler["interrupt_at"] = 2
    result = run("sweep", "v1", "--alpha", "0.5,1.0", "--latency", "-f", "json",
                 "-o", str(tmp_path / "lat.json"))
    assert result.exit_code == 130
    doc = json.loads((tmp_path / "lat.partial.json").read_text())
    assert doc["partial"] is True and doc["configurations_total"] == 2
    assert len(doc["rows"]) == 1


def test_ctrl_c_to_stdout_writes_nothing(fake_profiler):
    fake_profiler["interrupt_at"] = 2
    result = run("sweep", "v1", "--alpha", "0.5,1.0", "--latency", "-f", "csv")
    assert result.exit_code == 130 and result.stdout == ""
    assert "nothing written" in result.stderr


def test_latency_and_per_layer_do_not_mix():
    result = run("sweep", "v1", "--latency", "--per-layer")
    assert result.exit_code == 2 and "drop --per-layer" in result.stderr


@pytest.mark.torch
def test_real_latency_small(tmp_path):
    out = tmp_path / "lat.csv"
    result = run("sweep", "v3-small", "--alpha", "0.35", "--res", "64,96", "--latency",
                 "--repeats", "2", "--warmup", "1", "--min-time", "0", "--threads", "1",
                 "-f", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2
    assert all(float(r["latency_ms_median"]) > 0 and int(r["latency_runs"]) >= 2
               for r in rows)


# ---------------------------------------------------------------------------------------------
# The analytic path never imports torch

def test_analytic_sweep_does_not_import_torch(tmp_path):
    code = (
        "import sys\n"
        "from mncost.cli import cli\n"
        "try:\n"
        f"    cli.main(['sweep', 'v2', 'v3-large', '--alpha', '0.5:1.0:0.25', '--res', "
        f"'160,224', '-f', 'csv', '-o', {str(tmp_path / 'g.csv')!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"
    assert (tmp_path / "g.csv").read_text().count("\n") == 1 + 2 * 3 * 2


def test_alpha_dependent_layouts_and_the_fallback(monkeypatch):
    """v3-large at alpha 0.1 skips an expansion conv that alpha 1 has (both widths round to
    8), so the fast path keeps two layouts; and when the pixel split is refused, the slow
    path gives the same rows."""
    import mncost.sweep.run as core

    grid = Grid(("v3-large",), (load_model("v3-large"),), (0.1, 1.0), ((160, 160), (224, 224)))
    rows = sweep(grid)
    layers = sweep(grid, per_layer=True)
    per_config = {(r["alpha"], r["resolution"]): 0 for r in layers}
    for r in layers:
        per_config[r["alpha"], r["resolution"]] += 1
    assert per_config == {(0.1, (160, 160)): 88, (0.1, (224, 224)): 88,
                          (1.0, (160, 160)): 91, (1.0, (224, 224)): 91}
    monkeypatch.setattr(core, "_alpha_costs", lambda report, params: None)
    assert sweep(grid) == rows and sweep(grid, per_layer=True) == layers


def test_per_layer_markdown_is_a_well_formed_table():
    """Every Markdown row, the alignment row included, has one cell per header."""
    out = CliRunner().invoke(cli, ["sweep", "v1", "--alpha", "0.5", "--res", "128",
                                   "--per-layer", "-f", "markdown"]).stdout
    table = [line for line in out.splitlines() if line.startswith("|")]
    widths = {line.count("|") for line in table}
    assert len(table) > 2 and len(widths) == 1


# ---------------------------------------------------------------------------------------------
# Streaming (issue 10, item 12): rows are written as computed, in bounded memory

def test_rows_are_a_lazy_stream():
    """The first rows of the largest grid accepted (2,000,000 configurations) come without
    computing the rest: nothing holds the whole grid."""
    import itertools

    from mncost.sweep.run import MAX_CONFIGS, iter_rows

    grid = Grid(("v1",), (load_model("v1"),), parse_alphas("0.0005:1:0.0005"),
                parse_resolutions("33:1032:1"))
    assert grid.size == MAX_CONFIGS
    first = list(itertools.islice(iter_rows(grid), 3))
    assert [(r["alpha"], r["resolution"]) for r in first] == [
        (0.0005, (33, 33)), (0.0005, (34, 34)), (0.0005, (35, 35))]


@pytest.mark.parametrize("per_layer", [False, True])
def test_cache_limit_keeps_the_rows_exact(monkeypatch, per_layer):
    """With the spatial cache full (resolutions resolved again per alpha) the rows are the
    slow path's, for a spec with several layouts."""
    import mncost.sweep.split as split

    monkeypatch.setattr(split, "CACHE_LAYERS", 150)
    grid = Grid(("v3-large",), (load_model("v3-large"),), (0.1, 0.6, 1.0),
                ((160, 160), (224, 224), (97, 131)))
    assert sweep(grid, per_layer) == sweep(grid, per_layer, fast=False)


def test_jsonl_is_one_object_per_row():
    result = run("sweep", "v1", "--alpha", "0.5,1.0", "--res", "128,224", "-f", "jsonl")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    csv_rows = list(csv.DictReader(io.StringIO(run("sweep", "v1", "--alpha", "0.5,1.0",
                                                   "--res", "128,224", "-f", "csv").stdout)))
    assert [r["macs"] for r in rows] == [int(r["macs"]) for r in csv_rows]
    assert rows[-1]["macs"] == v1_counts(1.0, 224)["macs"] == 568_740_352
    assert list(rows[0]) == list(config_columns())


def test_streamed_json_per_layer_and_empty_are_valid():
    doc = json.loads(run("sweep", "v1", "--alpha", "0.5", "--res", "128", "--per-layer",
                         "-f", "json").stdout)
    assert doc["rows_are"] == "layers" and doc["partial"] is False
    assert sum(r["macs"] for r in doc["rows"]) == v1_counts(0.5, 128)["macs"]
    from mncost.render.sweep import stream

    empty = json.loads("".join(stream("json", [], False, False)))
    assert empty["rows"] == [] and empty["columns"] == list(config_columns())


def test_big_table_is_refused_before_work():
    result = run("sweep", "v1", "--alpha", "0.01:1:0.01", "--res", "96:296:2")
    assert result.exit_code == 2
    assert result.stderr == ("mncost: error: 10,100 rows are too many for -f table (at most "
                             "10,000); use -f csv or -f jsonl, which stream\n")
    layers = run("sweep", "v1", "--alpha", "0.1:1:0.1", "--res", "96:400:1", "--per-layer",
                 "-f", "markdown")
    assert layers.exit_code == 2 and "rows are too many for -f markdown" in layers.stderr


def test_csv_floats_have_no_binary_noise():
    from mncost.render.text import csv_value

    assert csv_value(0.9414600000000011) == "0.94146"
    assert csv_value(0.1 + 0.2) == "0.3"
    assert csv_value(1.0) == "1.0" and csv_value(1e-07) == "1e-07"
    assert csv_value(568740352) == 568740352


def test_plot_is_readable():
    """Linear axes from zero with M ticks (300M reads off the axis), one colour per model,
    a params panel, and the Pareto points labelled alpha/resolution."""
    pytest.importorskip("matplotlib")
    from mncost.render.sweep import plot_figure

    grid = Grid(("v1", "v2"), (load_model("v1"), load_model("v2")), (0.5, 0.75, 1.0),
                ((160, 160), (224, 224)))
    rows = [{**r, "latency_ms_median": r["macs"] / 1e8} for r in sweep(grid)]
    fig = plot_figure(rows, latency=True)
    fig.canvas.draw()
    macs_alpha, macs_res, params, pareto = fig.axes
    assert params.get_title().startswith("params vs alpha")
    for ax in fig.axes:
        assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0
    ticks = [t.get_text() for t in macs_alpha.get_yticklabels()]
    assert "300M" in ticks
    colours = {line.get_label().split(",")[0]: line.get_color() for line in macs_alpha.lines}
    assert colours["v1"] != colours["v2"]
    markers = [line.get_marker() for line in macs_alpha.lines if line.get_label().startswith("v1")]
    assert len(set(markers)) == len(markers) == 2              # one per resolution
    labels = {t.get_text() for t in pareto.texts}
    assert "0.5/160" in labels and "1/224" not in labels    # the cheapest, fastest v1
    import matplotlib.pyplot as plt
    plt.close(fig)
