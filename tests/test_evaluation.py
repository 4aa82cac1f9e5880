"""The held-out evaluation (``mncost calibrate --evaluate``, ``mncost.latency.evaluation``): the
set is disjoint from the calibration set, the figures by hand, the fit never reads a held-out
measurement, the report at 80 columns, and the profile's ``evaluation`` section validated.

Measuring is faked: a runner whose times are a known latency model's predictions."""

from __future__ import annotations

import copy
import json

import pytest
from _helpers import BETWEEN, FIXED, TRUTH, assert_readable, profile_doc
from click.testing import CliRunner
from conftest import ROOT, TINY_EVERY_KIND

from mncost import resolve_model
from mncost.cli import cli
from mncost.errors import InputError
from mncost.latency import device_profile as dp
from mncost.latency import evaluation as ev
from mncost.latency import model as lm

TRUE_MODEL = lm.LatencyModel(TRUTH, BETWEEN, FIXED)


def run(*args):
    return CliRunner().invoke(cli, list(args))


# ---------------------------------------------------------------------------------------------
# The set


@pytest.mark.torch
def test_held_out_set_is_disjoint_from_the_calibration_set():
    from mncost.torch_backend import calibrate as cal

    calibration = cal.calibration_set()
    held = ev.held_out()
    key = lambda net: (net.spec_file, net.alpha, net.resolution)  # noqa: E731
    calibrated = {key(c.network) for c in calibration}
    calibrated_layers = {c.network.layers for c in calibration}
    for point in held:
        net = point.network()
        assert key(net) not in calibrated, point
        assert net.layers not in calibrated_layers, point      # not the same network renamed
    for alpha, res in ev.OFF_GRID:                             # really off the grid
        assert alpha not in cal.CALIBRATION_ALPHAS or res not in cal.CALIBRATION_RESOLUTIONS
    assert ev.SHARE_CONFIG[1] not in cal.CALIBRATION_RESOLUTIONS
    assert not set(ev.UNSEEN_BUILTINS) & set(cal.CALIBRATION_MODELS)
    assert len({(p.label, p.alpha, p.resolution) for p in held}) == len(held)


def test_per_layer_shares_are_v1_v2_v3_large_off_the_resolution_grid():
    shared = [(p.label, p.alpha, p.resolution) for p in ev.held_out() if p.per_layer]
    assert shared == [("v1", 1.0, 192), ("v2", 1.0, 192), ("v3-large", 1.0, 192)]


def test_user_specs_ship_as_package_data_and_are_not_built_ins():
    for name in ev.USER_SPECS:
        path = ev.user_spec_path(name)
        assert path.startswith(str(ROOT / "configs" / "evaluation"))
        assert resolve_model(path).layers                      # a valid spec
    package_data = [line for line in (ROOT / "pyproject.toml").read_text().splitlines()
                    if line.startswith('"mncost.configs" = [')]
    assert len(package_data) == 1 and '"evaluation/*.yaml"' in package_data[0]
    listed = run("list", "-f", "json")
    assert listed.exit_code == 0
    assert "evaluation" not in listed.stdout and "mnasnet-a1" not in listed.stdout
    assert not (ROOT / "benchmarks" / "specs").exists()


# ---------------------------------------------------------------------------------------------
# The figures, by hand


def row(model, measured, predicted, baseline, unstable=None):
    return {"model": model, "alpha": 1.0, "resolution": [224, 224], "classes": 1000,
            "measured_ms": measured, "predicted_ms": predicted, "macs_baseline_ms": baseline,
            "unstable": unstable}


def test_error_summaries_all_and_stable():
    rows = [row("a", 10.0, 10.4, 5.0),                   # model +4%, MACs -50%
            row("b", 10.0, 9.2, 10.0),                   # -8%, 0%
            row("c", 10.0, 12.0, 11.0, "noisy")]         # +20%, +10%: unstable
    s = ev.error_summaries(rows)
    assert s["model"]["all"] == {"count": 3, "within_5pct": pytest.approx(1 / 3),
                                 "within_10pct": pytest.approx(2 / 3),
                                 "median_abs_error": pytest.approx(0.08),
                                 "max_abs_error": pytest.approx(0.20),
                                 "median_error": pytest.approx(0.04)}    # -8%, +4%, +20%
    assert s["macs_baseline"]["all"]["median_error"] == pytest.approx(0.0)   # -50%, 0, +10%
    assert s["model"]["stable"]["count"] == 2
    assert s["model"]["stable"]["within_10pct"] == 1.0
    assert s["model"]["stable"]["max_abs_error"] == pytest.approx(0.08)
    assert s["macs_baseline"]["all"]["median_abs_error"] == pytest.approx(0.10)
    assert s["macs_baseline"]["stable"]["within_5pct"] == 0.5


def test_layer_shares_by_hand():
    net = resolve_model(TINY_EVERY_KIND)
    names = [l.name for l in net.layers]
    n = len(names)
    # Every layer one call of 1 ms: predicted shares 1/n each. Measured: the first layer 3 ms,
    # the others 1 ms: shares 3/(n+2) and 1/(n+2).
    flat = lm.LatencyModel({k: (0.0, 0.0, 1.0) for k in TRUTH}, 0.0, 0.0)
    measured = {name: (3.0 if i == 0 else 1.0) for i, name in enumerate(names)}
    s = ev.layer_shares({"model": "tiny"}, net, measured, flat)
    first = 100 * (1 / n - 3 / (n + 2))
    other = 100 * (1 / n - 1 / (n + 2))
    assert s["layers"] == n and s["worst_layer"] == names[0]
    assert s["max_abs_points"] == pytest.approx(abs(first))
    assert s["mean_abs_points"] == pytest.approx((abs(first) + (n - 1) * abs(other)) / n)
    assert s["within_5_points"] == pytest.approx(
        (abs(first) <= 5) / n + (n - 1) * (abs(other) <= 5) / n)
    kinds = s["by_kind"]
    assert sum(k["measured"] for k in kinds.values()) == pytest.approx(1.0)
    first_kind = net.layers[0].kind
    count = sum(l.kind == first_kind for l in net.layers)
    assert kinds[first_kind]["predicted"] == pytest.approx(count / n)
    assert kinds[first_kind]["measured"] == pytest.approx((count + 2) / (n + 2))


def test_agreement_and_cross_run_by_hand():
    a = [row("x", 10.0, 10.0, 8.0), row("y", 20.0, 20.8, 30.0), row("z", 5.0, 5.0, 5.0)]
    b = [row("x", 11.0, 10.4, 9.0), row("y", 20.0, 20.0, 32.0), row("z", 5.0, 4.5, 5.0)]
    agree = ev.agreement(a, b)                 # -3.8%, +4%, +11.1%
    assert agree["count"] == 3
    assert agree["within_5pct"] == pytest.approx(2 / 3)
    assert agree["max_abs_difference"] == pytest.approx(1 / 9)
    cross = ev.cross_run(a, b)                             # A's predictions, B's measurements
    assert cross["model"]["median_abs_error"] == pytest.approx(0.04)   # 1/11, 0.04, 0
    assert cross["macs_baseline"]["max_abs_error"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="different configurations"):
        ev.agreement(a, b[::-1])


# ---------------------------------------------------------------------------------------------
# Same run: faked measuring


class TrueRunner:
    """Times from :data:`TRUE_MODEL` (exact, no noise); held-out networks named in ``absurd``
    take 1000 times as long. Records which networks got per-layer runs."""

    batch_layer_runs = False
    absurd: set = set()
    layered: list = []
    #: Runners built after this many run 10% slower (a machine that drifts), None: never.
    drift_after: int | None = None
    built = 0

    def __init__(self, network, threads):
        self.network = network
        self.prediction = TRUE_MODEL.predict(network)
        self.scale = 1000.0 if network.layers in TrueRunner.absurd else 1.0
        TrueRunner.built += 1
        if TrueRunner.drift_after is not None and TrueRunner.built > TrueRunner.drift_after:
            self.scale *= 1.1

    @staticmethod
    def versions():
        return {"torch": "(true runner)"}

    @staticmethod
    def layout(threads, progress):
        return None

    def profiled_nodes(self):
        return None

    def timed(self, warmup, repeats, faults=None):
        return [round(self.prediction.total_ms * self.scale * 1e6)] * repeats

    def layer_runs(self, warmup, runs):
        TrueRunner.layered.append(self.network)
        return ({p.name: [round(p.ms * self.scale * 1e6)] * runs
                 for p in self.prediction.layers},
                [round(self.prediction.total_ms * self.scale * 1e6)] * runs)


@pytest.fixture
def true_runner(monkeypatch):
    from mncost.torch_backend import calibrate as cal
    from mncost.torch_backend import runners

    monkeypatch.setitem(runners.RUNNERS, "eager", TrueRunner)
    monkeypatch.setattr(cal, "MIN_ROUNDS", 2)
    TrueRunner.absurd = set()
    TrueRunner.layered = []
    TrueRunner.drift_after, TrueRunner.built = None, 0
    return cal


@pytest.fixture(scope="module")
def sets():
    pytest.importorskip("torch")
    from mncost.torch_backend import calibrate as cal

    return cal.calibration_set(), cal.evaluation_set()


@pytest.mark.torch
def test_held_out_measurements_never_reach_the_fit(true_runner, sets, monkeypatch):
    cal = true_runner
    calibration, (held, per_layer) = sets
    monkeypatch.setattr(cal, "evaluation_set", lambda: (held, per_layer))
    absurd = held[-1]                                     # efficientnet_b0.yaml 0.75/192
    TrueRunner.absurd = {absurd.network.layers}
    plain = cal.calibrate(budget_s=0.01, configs=calibration)
    TrueRunner.layered = []
    doc = cal.calibrate(budget_s=0.01, configs=calibration, evaluate=True)
    assert doc["model"] == plain["model"]
    assert doc["macs_baseline"] == plain["macs_baseline"]
    assert doc["training"] == plain["training"]
    assert [r["model"] for r in doc["training"]] == [c.model for c in calibration]
    # Per-layer runs: every calibration configuration and the three share configurations.
    layered = {id(n) for n in TrueRunner.layered}
    assert layered == {id(c.network) for c in calibration + per_layer}
    e = doc["evaluation"]
    assert e["configurations"] == len(held) and e["rounds"] == cal.MIN_ROUNDS
    # The fit recovers TRUE_MODEL from exact times, so every held-out configuration is
    # predicted as measured, except the absurd one (measured 1000 x its true time).
    rows = {(r["model"], r["alpha"], r["resolution"][0]): r for r in e["rows"]}
    assert len(rows) == len(held)
    bad = rows[("efficientnet_b0.yaml", 0.75, 192)]
    assert bad["error"] == pytest.approx(1 / 1000 - 1, rel=1e-3)
    for r in e["rows"]:
        if r is not bad:
            assert r["error"] == pytest.approx(0.0, abs=1e-4), r["model"]
            assert r["measured_ms"] == pytest.approx(
                TRUE_MODEL.predict(resolve_model(ev.user_spec_path(r["model"])
                                                 if r["model"].endswith(".yaml")
                                                 else r["model"], r["alpha"],
                                                 r["resolution"][0])).total_ms, rel=1e-6)
    assert e["error"]["model"]["all"]["within_5pct"] == pytest.approx(
        (len(held) - 1) / len(held))
    assert e["error"]["model"]["all"]["max_abs_error"] == pytest.approx(0.999, rel=1e-3)
    assert e["error"]["macs_baseline"]["all"]["within_10pct"] < 0.5   # MACs alone: far off
    assert [s["model"] for s in e["layer_shares"]] == ["v1", "v2", "v3-large"]
    assert all(s["max_abs_points"] < 1e-3 for s in e["layer_shares"])   # points
    dp.device_from_dict(json.loads(json.dumps(doc)), "dev.json")    # the reader accepts it


@pytest.mark.torch
def test_report_reads_at_80_columns(true_runner, sets, monkeypatch):
    from io import StringIO

    from rich.console import Console

    import mncost.render.tables as tables
    from mncost.render import evaluation as view

    cal = true_runner
    calibration, (held, per_layer) = sets
    monkeypatch.setattr(cal, "evaluation_set", lambda: (held, per_layer))
    doc = cal.calibrate(budget_s=0.01, configs=calibration[::6], evaluate=True)
    e = doc["evaluation"]
    e["rows"][3]["unstable"] = "round medians p10-p90 1.000-2.000 ms"
    real = tables._column_groups
    drawn = []
    monkeypatch.setattr(tables, "_column_groups", lambda s, w: drawn.append(s) or real(s, w))
    for width in (80, 120):
        drawn.clear()
        buffer = StringIO()
        view.render("table", e)(Console(file=buffer, width=width, no_color=True))
        text = buffer.getvalue()
        assert_readable(text, drawn, width)
        assert all(len(real(s, 80)) == 1 for s in drawn)     # no table needs splitting
        assert "efficientnet_b0.yaml 0.75/192" in text and " *" in text
    markdown = view.render("markdown", e)
    assert markdown.startswith(f"## Evaluation: {len(held)} held-out configurations, eager, "
                               "1 thread\n")
    assert f"| mncost model, all {len(held)} |" in markdown and "| v1 1.0/192 |" in markdown


# ---------------------------------------------------------------------------------------------
# The command


@pytest.fixture
def tiny_sets(true_runner, monkeypatch):
    cal = true_runner
    calibration = [cal.Config(m, resolve_model(m, a, r)) for m, a, r in (
        ("v3-small", 0.35, 64), ("v3-small", 0.5, 64), ("v2", 0.35, 64),
        (TINY_EVERY_KIND, 1.0, 32), ("v1", 0.25, 64),
        # a third stem width: the stem's weights (27 x its outputs) have a rate of their own
        ("v1", 0.75, 48))]
    held = [cal.Config(m, resolve_model(m, a, r)) for m, a, r in (
        ("v2", 0.45, 48), ("v1", 0.3, 48), ("v3-small", 0.4, 56))]
    monkeypatch.setattr(cal, "calibration_set", lambda: calibration)
    monkeypatch.setattr(cal, "evaluation_set", lambda: (held, held[:1]))
    return calibration, held


@pytest.mark.torch
@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_calibrate_evaluate_prints_the_report(tiny_sets, tmp_path, fmt):
    out = tmp_path / "dev.json"
    result = run("calibrate", "-o", str(out), "--budget-s", "0.01", "--evaluate", "-f", fmt)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert dp.load_device(str(out)).data["evaluation"] == doc["evaluation"]
    assert "mncost: evaluation: 3 held-out configurations join the rounds" in result.stderr
    assert f"wrote {out}: 6 configurations" in result.stderr
    if fmt == "json":
        assert json.loads(result.stdout) == doc["evaluation"]
    else:
        assert "Error on the held-out configurations" in result.stdout
        assert "v2 0.45/48" in result.stdout and "Time shares by layer kind" in result.stdout
    assert "mncost:" not in result.stdout                  # progress stays on stderr


@pytest.mark.torch
def test_calibrate_without_evaluate_has_no_section_and_prints_nothing(tiny_sets, tmp_path):
    out = tmp_path / "dev.json"
    result = run("calibrate", "-o", str(out), "--budget-s", "0.01")
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "evaluation" not in json.loads(out.read_text())


def test_format_without_evaluate_is_refused(tmp_path):
    result = run("calibrate", "-o", str(tmp_path / "d.json"), "-f", "json")
    assert result.exit_code == 2
    assert result.stderr == ("mncost: error: --format applies to the --evaluate report; the "
                             "device profile is always JSON\n")
    assert not (tmp_path / "d.json").exists()


@pytest.mark.torch
@pytest.mark.parametrize("args, budget", [((), 180.0), (("--evaluate",), 300.0),
                                          (("--evaluate", "--budget-s", "42"), 42.0)])
def test_default_budget_grows_with_evaluate(monkeypatch, tmp_path, args, budget):
    from mncost.torch_backend import calibrate as cal

    seen = {}

    def stop(**kwargs):
        seen.update(kwargs)
        raise InputError("stopped")

    monkeypatch.setattr(cal, "calibrate", stop)
    result = run("calibrate", "-o", str(tmp_path / "d.json"), *args)
    assert result.exit_code == 2 and seen["budget_s"] == budget
    assert seen["evaluate"] == ("--evaluate" in args)


# ---------------------------------------------------------------------------------------------
# The device profile's evaluation section


def evaluation_doc():
    rows = [row("v2", 10.0, 10.4, 5.0), row("v1", 8.0, 7.0, 9.0, "noisy")]
    shares = [{"model": "v2", "alpha": 1.0, "resolution": [192, 192], "layers": 3,
               "max_abs_points": 1.5, "worst_layer": "layers.1", "mean_abs_points": 0.7,
               "within_5_points": 1.0, "by_kind": {}, "unstable": None}]
    return dp.evaluation_section(rows, shares, "eager", 1, 5)


def profile_with(evaluation):
    doc = profile_doc()
    doc["evaluation"] = evaluation
    return doc


def test_profile_with_an_evaluation_section_loads(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(profile_with(evaluation_doc())))
    assert dp.load_device(str(path)).data["evaluation"]["configurations"] == 2


def _broken(edit):
    doc = evaluation_doc()
    edit(doc)
    return doc


@pytest.mark.parametrize("evaluation, message", [
    ([], "evaluation: must be a mapping, got list"),
    (_broken(lambda d: d.pop("error")), "evaluation.error: must be a mapping, got NoneType"),
    (_broken(lambda d: d["error"]["model"].pop("stable")),
     "evaluation.error.model.stable: must be a mapping"),
    (_broken(lambda d: d["error"]["macs_baseline"]["all"].update(median_abs_error=-1)),
     "evaluation.error.macs_baseline.all.median_abs_error: must be a finite number >= 0"),
    (_broken(lambda d: d.update(rows={})), "evaluation.rows: must be a list, got dict"),
    (_broken(lambda d: d["rows"].append(3)), "evaluation.rows[2]: must be a mapping"),
    (_broken(lambda d: d["rows"][0].update(measured_ms="fast")),
     "evaluation.rows[0].measured_ms: must be a finite number >= 0, got 'fast'"),
    (_broken(lambda d: d["rows"][1].update(model=None)),
     "evaluation.rows[1].model: must be a string, got None"),
    (_broken(lambda d: d["rows"][1].update(unstable=True)),
     "evaluation.rows[1].unstable: must be null or a reason"),
    (_broken(lambda d: d["layer_shares"][0].pop("max_abs_points")),
     "evaluation.layer_shares[0].max_abs_points: must be a finite number"),
])
def test_broken_evaluation_section_is_one_line_naming_the_field(tmp_path, evaluation, message):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(profile_with(copy.deepcopy(evaluation))))
    with pytest.raises(InputError) as err:
        dp.load_device(str(path))
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)
    result = run("predict", "v2", "--device-profile", str(path))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


@pytest.mark.torch
def test_benchmark_compares_two_same_run_evaluations(tiny_sets):
    """benchmarks/evaluate_prediction.py: calibration B runs on a machine 10% slower than A
    did. Each same-run figure is exact; A predicts B's measurements 9.1% low."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "evaluate_prediction", ROOT / "benchmarks" / "evaluate_prediction.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    calibration, held = tiny_sets
    TrueRunner.drift_after = len(calibration) + len(held)       # B's runners drift
    result = bench.evaluate_runtime("eager", 1, 0.02, seed=0)
    for name in ("evaluation_a", "evaluation_b"):
        assert result[name]["error"]["model"]["all"]["max_abs_error"] < 1e-3
    assert result["agreement"]["within_5pct"] == 0.0
    assert result["agreement"]["max_abs_difference"] == pytest.approx(1 / 11, rel=1e-3)
    assert result["cross_run"]["model"]["median_abs_error"] == pytest.approx(1 / 11, rel=1e-3)
    assert result["cross_run"]["model"]["within_10pct"] == 1.0
    text = bench.report(result)
    assert "| mncost model, A predicts B's measurements | 0% | 100% | 9.1% | 9.1% |" in text
    assert "0% of 3 within ±5% of each other, largest difference 9.1%" in text
