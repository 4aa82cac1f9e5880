"""``mncost zoo``: the published configurations, counted, filtered, with latency, the Pareto
front first; every format; the plot's labels; one-line errors; no torch on its path."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from _helpers import BETWEEN, FIXED, TRUTH, assert_cli_imports_none
from click.testing import CliRunner

from mncost import resolve_model
from mncost.cli import cli
from mncost.latency import model as lm
from mncost.zoo import Filters, LatencySource, load_zoo, pareto_flags, zoo_rows

MODEL = lm.LatencyModel(dict(TRUTH), BETWEEN, FIXED)


@pytest.fixture
def device(tmp_path):
    """A device profile of the synthetic device, calibrated on this machine."""
    import os

    from mncost.measure.timing import cpu_name

    doc = {"schema": "mncost.device/1", "runtime": "eager", "threads": 1,
           "created": "2026-01-01T00:00:00Z",
           "environment": {"device_name": cpu_name(), "cpu_count": os.cpu_count()},
           "model": MODEL.to_dict(),
           "coverage": {"alpha": [0.25, 1.5], "resolution": [96, 640],
                        "macs": [1_000_000, 40_000_000_000]}}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(doc))
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, list(args))


def rows_of(*args):
    result = run("zoo", *args, "-f", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def dominated(row, rows, axis):
    return any(o is not row and o[axis] is not None and o[axis] <= row[axis]
               and o["top1"] >= row["top1"] and (o[axis] < row[axis] or o["top1"] > row["top1"])
               for o in rows)


# ---------------------------------------------------------------------------------------------
# The front

def test_pareto_flags_ties_and_missing_costs():
    points = [(10, 70.0), (10, 70.0), (10, 69.0), (5, 60.0), (20, 70.0), (30, 75.0),
              (None, 99.0), (5, 60.0), (4, 59.0)]
    assert pareto_flags(points) == [True, True, False, True, False, True, False, True, True]


def test_without_a_device_the_front_is_top1_against_macs_and_reads_first():
    data = rows_of()
    rows = data["rows"]
    assert data["schema"] == "mncost.zoo/1" and data["axis"] == "macs"
    assert {"model", "alpha", "resolution", "top1", "source", "macs", "params",
            "pareto"} <= set(rows[0])
    front = [r for r in rows if r["pareto"]]
    assert rows[:len(front)] == front                      # the front first
    assert [r["macs"] for r in front] == sorted(r["macs"] for r in front)
    for r in rows:
        assert r["pareto"] is not dominated(r, rows, "macs"), r
    # Ends of the front: the fewest MACs (v2 0.35/96) and the best top-1 (EfficientNet-B7).
    assert (front[0]["model"], front[0]["alpha"], front[0]["resolution"]) == ("v2", 0.35,
                                                                             [96, 96])
    assert front[-1]["model"] == "efficientnet-b7" and front[-1]["top1"] == 86.85


def test_rows_are_mncosts_counts_of_the_checkpoints_network():
    rows = rows_of("v1", "--dtype", "float32")["rows"]
    slim = next(r for r in rows if r["source"] == "tfslim_v1" and r["alpha"] == 0.5
                and r["resolution"] == [160, 160])
    assert (slim["macs"], slim["classes"], slim["top1"]) == (76_525_312, 1001, 59.1)
    paper = next(r for r in rows if r["source"] == "paper_v1" and r["alpha"] == 0.5
                 and r["resolution"] == [160, 160])
    assert (paper["macs"], paper["classes"], paper["top1"]) == (76_524_800, 1000, 60.2)
    # EfficientNet-B2 at its evaluation crops: 260 (timm's tf_ port), 288 (torchvision, timm).
    effnet = rows_of("efficientnet-b2", "--min-top1", "80.6", "--max-macs", "1.1G")["rows"]
    assert [(r["resolution"], r["macs"], r["top1"], r["pareto"]) for r in effnet] == [
        ([260, 260], 993_561_872, 82.412, True), ([288, 288], 1_087_529_456, 80.612, False),
        ([288, 288], 1_087_529_456, 80.608, False)]


# ---------------------------------------------------------------------------------------------
# Latency

def test_published_device_gives_each_rows_printed_figure_and_dashes_the_others():
    data = rows_of("v3-small", "--published-device", "pixel2")
    rows = data["rows"]
    assert data["axis"] == "published_ms"
    device = dict(data["device"])
    # Too few Pixel 2 figures for a fit: no predictions, and the reason (test_published_fit).
    assert device.pop("predicted")["model"] is None
    assert device == {"published": "pixel2", "name": "Google Pixel 2", "kind": "phone CPU"}
    small = [r for r in rows if r["source"] == "paper_v3" and r["table"].startswith("Table 3")]
    assert sorted((r["alpha"], r["published_ms"]) for r in small) == [(0.75, 15.6), (1.0, 19.4)]
    assert small[0]["published"]["runtime"] == "TF-Lite"
    assert small[0]["published"]["what"].startswith("single-threaded large core")
    none = [r for r in rows if r["published_ms"] is None]
    assert none and not any(r["pareto"] for r in none)
    assert rows[-len(none):] == none                        # no latency: last
    assert any(n.startswith(f"-: {len(none)} of {len(rows)} rows have no latency on Google "
                            "Pixel 2") for n in data["notes"])
    for r in rows:
        if r["published_ms"] is not None:
            assert r["pareto"] is not dominated(r, rows, "published_ms"), r
    table = run("zoo", "v3-small", "--published-device", "pixel2").stdout
    assert "Google Pixel 2 ms" in table and " - " in table


def test_max_ms_keeps_rows_within_the_budget_on_the_published_device():
    rows = rows_of("--published-device", "pixel1", "--max-ms", "8", "--min-top1", "55")["rows"]
    assert rows and all(r["published_ms"] <= 8 and r["top1"] >= 55 for r in rows)
    best = max(rows, key=lambda r: r["top1"])
    assert (best["model"], best["alpha"], best["resolution"], best["top1"]) == (
        "v3-small-tf", 0.5, [224, 224], 58.0)


def test_device_profile_predicts_float32_rows_and_dashes_int8(device):
    data = rows_of("v2", "--device-profile", device)
    rows = data["rows"]
    assert data["axis"] == "predicted_ms" and data["device"]["profile"] == device
    for r in rows:
        if r["precision"] == "float32":
            network = resolve_model(r["model"], r["alpha"], r["resolution"][0], r["classes"])
            assert r["predicted_ms"] == round(MODEL.predict(network).total_ms, 4)
        else:
            assert r["predicted_ms"] is None and not r["pareto"]
    assert any("int8 rows are not predicted" in n for n in data["notes"])
    for r in rows:
        if r["predicted_ms"] is not None:
            assert r["pareto"] is not dominated(r, rows, "predicted_ms"), r


# ---------------------------------------------------------------------------------------------
# Filters

def test_filters():
    assert all(r["top1"] >= 75 for r in rows_of("--min-top1", "75")["rows"])
    assert all(r["macs"] <= 300_000_000 for r in rows_of("--max-macs", "300M")["rows"])
    assert all(r["params"] <= 3_500_000 for r in rows_of("--max-params", "3.5M")["rows"])
    int8 = rows_of("--dtype", "int8")["rows"]
    assert int8 and {r["precision"] for r in int8} == {"int8"}
    # v3-large selects the TF-slim reading's rows too (the same Table 1).
    assert {r["model"] for r in rows_of("v3-large")["rows"]} == {"v3-large", "v3-large-tf"}
    assert {r["model"] for r in rows_of("v3-large-tf")["rows"]} == {"v3-large-tf"}


def test_rows_without_a_built_in_are_left_out_and_said_so():
    notes = rows_of()["notes"]
    assert ("not shown, no built-in spec to count them yet: 26 rows of mnasnet-a1, 3 rows of "
            "v3-large-minimalistic, 2 rows of v3-small-minimalistic") in notes


@pytest.mark.parametrize("args,message", [
    (("v9",), "no published configurations of 'v9'; models with some: v1, v1-conv"),
    (("mnasnet-a1",), "mnasnet-a1 has published rows but no built-in spec yet"),
    (("--published-device", "pixel9"), "unknown published device 'pixel9'; devices with "
                                       "published latencies: pixel1, pixel2, pixel3"),
    (("--max-ms", "8"), "--max-ms needs a latency: give --device-profile"),
    (("--max-macs", "lots"), "--max-macs: must be a number such as 220M"),
    (("--min-top1", "nan"), "--min-top1 must be a number from 0 to 100, got nan"),
    (("--published-device", "pixel1", "--max-ms", "inf"),
     "--max-ms must be a finite number >= 0, got inf"),
    (("--device-profile", "x.json", "--published-device", "pixel1"),
     "give --device-profile or --published-device, not both"),
    (("--device-profile", "missing.json"), "missing.json: no such file"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    result = run("zoo", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("mncost: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


# ---------------------------------------------------------------------------------------------
# Formats

def test_every_format(device):
    for fmt in ("table", "markdown", "csv", "json"):
        result = run("zoo", "v1", "--device-profile", device, "-f", fmt)
        assert result.exit_code == 0, (fmt, result.output)
    md = run("zoo", "v1", "-f", "markdown").stdout
    assert md.startswith("## Published configurations: top-1 against MACs (")
    assert "### Pareto front: " in md and "| v1 | 0.25 | 128 | float32 | 41.5 |" in md


def test_csv_has_every_row_and_the_latency_columns():
    text = run("zoo", "v2", "--published-device", "pixel1", "-f", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(rows_of("v2")["rows"])
    assert list(rows[0])[:14] == ["model", "alpha", "depth", "resolution", "classes",
                                  "precision", "top1", "top5", "macs", "params",
                                  "peak_activation_bytes", "published_ms", "predicted_ms",
                                  "published_runtime"]
    first = rows[0]
    assert (first["model"], first["resolution"], first["published_ms"], first["pareto"]) == (
        "v2", "96x96", "4.5", "true")


# ---------------------------------------------------------------------------------------------
# The plot

def test_plot_labels_every_point_without_overlap_inside_the_frame():
    pytest.importorskip("matplotlib")
    from mncost.render.zoo import plot_figure

    result = zoo_rows(load_zoo(), Filters(models=("v2", "v3-small")),
                      LatencySource(None, "pixel1"))
    fig = plot_figure(result)
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    texts = [t for t in ax.texts]
    drawn = [r for r in result.rows if r["published_ms"] is not None]
    assert len(texts) == len(drawn) > 20
    boxes = [t.get_window_extent(renderer) for t in texts]
    frame = ax.get_window_extent(renderer)
    for i, a in enumerate(boxes):
        assert frame.x0 <= a.x0 and a.x1 <= frame.x1 and frame.y0 <= a.y0 and a.y1 <= frame.y1
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (texts[i].get_text(), a, b)
    assert ax.get_xscale() == "log"
    assert "ms per image" in ax.get_xlabel() and "top-1 (%)" in ax.get_ylabel()
    assert len({t.get_text() for t in texts}) == len(texts)      # every label tells apart
    import matplotlib.pyplot as plt

    plt.close(fig)


@pytest.mark.parametrize("args", [("v1",), ("v1", "--max-macs", "1")])
def test_plot_option_writes_a_png(tmp_path, args):
    """Also when no row is left to draw."""
    pytest.importorskip("matplotlib")
    out = tmp_path / "front.png"
    result = run("zoo", *args, "--plot", str(out), "-f", "csv")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# The analytic path

def test_zoo_never_imports_torch_or_numpy(device):
    assert_cli_imports_none([["zoo", "-f", "json"],
                             ["zoo", "--device-profile", device, "-f", "csv"],
                             ["zoo", "--published-device", "pixel1"]], timeout=300)


def test_the_readme_worked_example_reproduces():
    """README, "Which MobileNet should I ship?": the answers it prints come from the shipped
    profile of this project's machine, the latency ∝ MACs budget and the Pixel 1 figures."""
    from conftest import ROOT

    profile = str(ROOT / "docs" / "examples" / "epyc-eager-1t.json")
    readme = " ".join((ROOT / "README.md").read_text().split())    # wrapping aside

    def best(*args):
        out = run("zoo", *args, "-f", "json")
        assert out.exit_code == 0, out.output
        return max(json.loads(out.stdout)["rows"], key=lambda r: r["top1"])

    mine = best("--device-profile", profile, "--max-ms", "10", "--min-top1", "65")
    assert (mine["model"], mine["alpha"], mine["resolution"], mine["top1"]) == \
        ("v3-small-tf", 1.25, [224, 224], 70.4)
    assert f"predicted {mine['predicted_ms']:.2f} ms" in readme
    ms_per_mac = json.loads(Path(profile).read_text())["macs_baseline"]["ms_per_mac"]
    budget = 10 / ms_per_mac
    assert round(budget / 1e6, -1) == 150 and "10 ms is 150M MACs" in readme
    by_macs = best("--max-macs", "150M")
    assert (by_macs["model"], by_macs["alpha"], by_macs["resolution"], by_macs["top1"]) == \
        ("v3-large-tf", 1.0, [160, 160], 71.7)
    out = run("predict", "v3-large-tf", "--res", "160", "--device-profile", profile, "-f",
              "json")
    over = json.loads(out.stdout)["predicted_ms"]
    assert over > 10 and f"predicts {over:.2f} ms here" in readme
    pixel = best("--published-device", "pixel1", "--max-ms", "10")
    assert (pixel["model"], pixel["alpha"], pixel["resolution"], pixel["top1"]) == \
        ("v3-small-tf", 1.0, [160, 160], 62.8)
    assert pixel["published_ms"] == 8.6 and "(62.8%, 8.6 ms)" in readme
