"""``mncost predict``, ``sweep --device-profile``, ``check`` on predicted latency (no torch), and
``mncost calibrate`` end to end on a tiny set (torch)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os

import pytest
from _helpers import BETWEEN, FIXED, TRUTH, assert_cli_imports_none
from click.testing import CliRunner
from conftest import TINY_EVERY_KIND

from mncost import resolve_model
from mncost.cli import cli
from mncost.latency import device_profile as dp
from mncost.latency import model as lm

MODEL = lm.LatencyModel({k: v for k, v in TRUTH.items()}, BETWEEN, FIXED)


def device_doc(**env):
    return {"schema": "mncost.device/1", "runtime": "eager", "threads": 1,
            "created": "2026-01-01T00:00:00Z",
            "environment": {"device_name": "Test CPU", **env}, "model": MODEL.to_dict(),
            "coverage": {"alpha": [0.35, 1.0], "resolution": [96, 224],
                         "macs": [1_000_000, 700_000_000]}}


@pytest.fixture
def device(tmp_path):
    from mncost.measure.timing import cpu_name

    path = tmp_path / "dev.json"
    path.write_text(json.dumps(device_doc(device_name=cpu_name(), cpu_count=os.cpu_count())))
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_predict_json_is_the_model_prediction(device):
    result = run("predict", "v2", "--alpha", "0.6", "--res", "176", "--device-profile", device,
                 "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = MODEL.predict(resolve_model("v2", 0.6, 176))
    assert data["schema"] == "mncost.prediction/1"
    assert data["predicted_ms"] == expected.total_ms
    assert data["between_layers_ms"] == pytest.approx(BETWEEN * len(expected.layers))
    assert data["fixed_ms"] == FIXED
    assert [l["ms"] for l in data["layers"]] == [p.ms for p in expected.layers]
    assert sum(k["ms"] for k in data["by_kind"]) == pytest.approx(data["layers_ms"])
    assert sum(s["share"] for s in data["by_stage"]) == pytest.approx(1.0)
    assert data["warnings"] == [] and result.stderr == ""
    assert data["device"]["runtime"] == "eager" and data["device"]["threads"] == 1


def test_predict_every_format(device):
    out = {f: run("predict", "v3-large", "--device-profile", device, "-f", f, "--per-layer")
           for f in ("table", "csv", "markdown")}
    assert all(r.exit_code == 0 for r in out.values())
    rows = list(csv.DictReader(io.StringIO(out["csv"].stdout)))
    total = MODEL.predict(resolve_model("v3-large")).total_ms
    # CSV floats carry 12 significant digits (README, "Output").
    assert rows[0]["scope"] == "total"
    assert float(rows[0]["predicted_ms"]) == float(f"{total:.12g}")
    assert {r["scope"] for r in rows} == {"total", "between_layers", "fixed", "kind",
                                          "stage", "layer"}
    assert "### By layer kind" in out["markdown"].stdout
    assert "layers.4.se.fc1" in out["table"].stdout     # --per-layer table


def test_predict_warns_outside_the_calibration_and_on_another_machine(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(device_doc(device_name="Another CPU 9000")))
    result = run("predict", "v2", "--alpha", "1.4", "--res", "256", "--device-profile", str(path))
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"mncost: warning: {path} was calibrated on device_name "
                               "'Another CPU 9000'")
    assert "mncost: warning: alpha 1.4 is outside the calibrated 0.35-1" in lines
    assert "mncost: warning: resolution 256x256 is outside the calibrated 96-224" in lines


def test_bad_device_profile_is_one_line_exit_2(tmp_path):
    doc = device_doc()
    doc["model"]["kinds"]["depthwise"]["ms_per_byte"] = "fast"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text("budgets:\n  - {model: v2, max_predicted_latency_ms: 5}\n")
    for args in (["predict", "v2", "--device-profile"], ["sweep", "v2", "--device-profile"],
                 ["check", "--budget", str(budgets), "--device-profile"]):
        result = run(*args, str(path))
        assert result.exit_code == 2
        assert result.stderr == (f"mncost: error: {path}: model.kinds.depthwise.ms_per_byte: "
                                 "must be a finite number >= 0, got 'fast'\n")


def test_sweep_predict_adds_exact_columns(device):
    result = run("sweep", "v2", "v3-small", "--alpha", "0.35,0.6,1.0", "--res", "96,176,224",
                 "--device-profile", device, "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 18
    for row in rows:
        net = resolve_model(row["model"], float(row["alpha"]), int(row["resolution"]))
        assert float(row["predicted_ms"]) == round(MODEL.predict(net).total_ms, 4)
        assert (row["predicted_runtime"], row["predicted_threads"]) == ("eager", "1")
        assert row["predicted_statistic"] == "median"    # a profile from before the quiet one
    assert result.stderr == ""


def test_sweep_predict_refuses_per_layer(device):
    result = run("sweep", "v2", "--per-layer", "--device-profile", device)
    assert result.exit_code == 2 and "--device-profile adds whole-configuration columns" in \
        result.stderr


#: ONNX Runtime-like: blocked and plain kernels, padded channels, activation terms.
ORT_MODEL = lm.LatencyModel(
    {**MODEL.kinds, **{f"{k}@nchw": (3 * a, 2 * b, c) for k, (a, b, c) in MODEL.kinds.items()
                       if k in ("conv", "pointwise", "depthwise", "grouped", "se_fc")}},
    -0.001, MODEL.fixed_ms, layout=lm.ChannelLayout(4, 16),
    activations={"relu": (1e-9, 0.002), "hswish": (3e-9, 0.004), "swish": (5e-9, 0.006)})


#: ONNX Runtime's model with weights re-read from memory beyond a 4 MiB footprint: the grid
#: below has configurations on both sides of it.
ORT_CACHE_MODEL = dataclasses.replace(ORT_MODEL, cache_bytes=1 << 22, ms_per_uncached_byte=5e-8)


#: Eager PyTorch's oneDNN paths, at 1 thread and at more (every 1x1 conv through oneDNN but
#: on small maps): padded kernels, and kernels the input map's size decides.
ONEDNN_MODELS = [lm.LatencyModel(
    {**MODEL.kinds, **{f"{k}@padded": (3 * a, 2 * b, c) for k, (a, b, c) in MODEL.kinds.items()
                       if k in ("conv", "pointwise", "depthwise", "se_fc")}},
    -0.001, MODEL.fixed_ms, layout=lm.OneDnnPaths(16, pointwise))
    for pointwise in (False, True)]


#: An int8 model: float32 and generic kernels of their own, MLAS's symmetric kernels computing
#: whole blocks of 6 output pixels and packs of 16 channels (MACs not linear in the pixels),
#: and Quantize / Dequantize copies of maps at the layer's input, its output or 1 x 1.
INT8_MODEL = lm.LatencyModel(
    {**MODEL.kinds,
     **{f"{k}@float32": (2 * a, 3 * b, c) for k, (a, b, c) in MODEL.kinds.items()},
     **{f"{k}@generic": (5 * a, b, 2 * c) for k, (a, b, c) in MODEL.kinds.items()
        if k in ("conv", "pointwise", "depthwise", "grouped", "se_fc")}},
    -0.001, MODEL.fixed_ms, dtype_bytes=1, layout=lm.Int8ConvPaths(), precision="int8",
    between_float_ms=0.002, ms_per_converted_element=3e-7,
    activations={"relu": (1e-9, 0.002), "hswish": (3e-9, 0.004), "swish": (5e-9, 0.006)})


@pytest.mark.parametrize("model_", [MODEL, ORT_MODEL, ORT_CACHE_MODEL, *ONEDNN_MODELS,
                                    INT8_MODEL],
                         ids=["eager", "ort", "ort-uncached-weights", "onednn-1-thread",
                              "onednn-threads", "int8"])
def test_sweep_split_matches_full_prediction_on_odd_grids(model_):
    from mncost.latency.predict import SweepPredictor
    from mncost.network.catalog import load_model

    dev = dp.DeviceProfile("x", "eager", 1, {}, model_, {"alpha": (0.1, 2), "resolution":
                                                         (32, 512), "macs": (0, 10 ** 12)})
    models = ("v1", "v2", "v3-large", "v3-small-tf", "v1-conv", TINY_EVERY_KIND)
    predictor = SweepPredictor(dev, {m: load_model(m) for m in models})
    for model in models:
        for alpha in (0.3, 0.77, 1.3):
            for res in ((97, 97), (224, 160), (8, 8), (331, 331), (64, 64)):
                net = resolve_model(model, alpha, res)
                assert predictor.predict(model, alpha, res, None) == pytest.approx(
                    model_.predict(net).total_ms, rel=1e-12), (model, alpha, res)
    # Only a kernel the map's size decides sends a configuration down the slow path.
    assert (predictor.slow > 0) == isinstance(model_.layout, lm.OneDnnPaths)


def write_budgets(tmp_path, limit):
    path = tmp_path / "budgets.yaml"
    path.write_text("budgets:\n"
                    f"  - {{model: v2, alpha: 0.6, resolution: 176, "
                    f"max_predicted_latency_ms: {limit}}}\n")
    return str(path)


def test_check_predicted_latency_budget(device, tmp_path):
    predicted = MODEL.predict(resolve_model("v2", 0.6, 176)).total_ms
    ok = run("check", "--budget", write_budgets(tmp_path, round(predicted + 0.01, 2)),
             "--device-profile", device)
    assert ok.exit_code == 0, ok.output
    assert "predicted_latency_ms" in ok.stdout and f"{predicted:.3f} ms" in ok.stdout
    broken = run("check", "--budget", write_budgets(tmp_path, round(predicted - 0.01, 2)),
                 "--device-profile", device)
    assert broken.exit_code == 1
    assert broken.stderr.endswith("FAILED: 1 of 1 budgets broken\n")


def test_check_predicted_budget_without_a_device_is_an_error(tmp_path):
    path = write_budgets(tmp_path, 5)
    result = run("check", "--budget", path)
    assert result.exit_code == 2
    assert result.stderr == (f"mncost: error: {path}:2: max_predicted_latency_ms needs a "
                             "device profile: give --device-profile FILE (written by `mncost "
                             "calibrate`)\n")


def test_prediction_paths_never_import_torch(device, tmp_path):
    budgets = write_budgets(tmp_path, 100)
    p = "--device-profile"
    assert_cli_imports_none([["predict", "v2", p, device, "-f", "json"],
                             ["sweep", "v2", "--alpha", "0.5,1", p, device, "-f", "csv"],
                             ["check", "--budget", str(budgets), p, device]])


def test_calibrate_refuses_an_unwritable_output_before_measuring(tmp_path):
    result = run("calibrate", "-o", str(tmp_path / "no" / "dir.json"))
    assert result.exit_code == 2
    assert result.stderr == (f"mncost: error: --output: cannot write {tmp_path}/no/dir.json: "
                             f"directory {tmp_path}/no does not exist\n")
    result = run("calibrate", "-o", str(tmp_path))
    assert result.exit_code == 2


# ---------------------------------------------------------------------------------------------
# Calibration (torch): the pipeline on a tiny set, no timing asserted


@pytest.fixture
def tiny_set(monkeypatch):
    from mncost.torch_backend import calibrate as cal

    configs = [cal.Config(m, resolve_model(m, a, r)) for m, a, r in (
        ("v3-small", 0.35, 64), ("v3-small", 0.5, 64), ("v2", 0.35, 64),
        (TINY_EVERY_KIND, 1.0, 32), ("v1", 0.25, 64))]
    monkeypatch.setattr(cal, "calibration_set", lambda: configs)
    monkeypatch.setattr(cal, "MIN_ROUNDS", 2)
    return configs


@pytest.mark.torch
def test_calibrate_writes_a_valid_device_profile(tiny_set, tmp_path):
    out = tmp_path / "dev.json"
    result = run("calibrate", "-o", str(out), "--budget-s", "0.5", "--allow-unstable")
    assert result.exit_code == 0, result.output
    assert "mncost: 5 configurations" in result.stderr
    assert f"wrote {out}: 5 configurations" in result.stderr
    device = dp.load_device(str(out))             # valid by the same validator predict uses
    doc = device.data
    assert doc["runtime"] == "eager" and doc["threads"] == 1
    assert doc["environment"]["malloc"] and doc["environment"]["torch"]
    assert len(doc["training"]) == 5
    for row, config in zip(doc["training"], tiny_set):
        assert row["model"] == config.model and row["runs"] >= 6
        assert len(row["layer_ms"]) == len(config.network.layers)
        assert row["residual"] == pytest.approx(row["predicted_ms"] / row["measured_ms"] - 1)
        assert row["predicted_ms"] == pytest.approx(
            device.model.predict(config.network).total_ms)
    assert doc["coverage"]["alpha"] == [0.25, 1.0]
    assert doc["coverage"]["resolution"] == [32, 64]
    predicted = run("predict", "v3-small", "--alpha", "0.4", "--res", "64", "--device-profile",
                    str(out), "-f", "json")
    assert predicted.exit_code == 0 and json.loads(predicted.stdout)["predicted_ms"] > 0


@pytest.mark.torch
def test_calibrate_interrupted_writes_nothing(tiny_set, tmp_path, monkeypatch):
    from mncost.torch_backend import calibrate as cal

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cal, "measure_set", interrupted)
    out = tmp_path / "dev.json"
    result = run("calibrate", "-o", str(out))
    # (after the progress lines of what ran before measuring: the oneDNN probe)
    assert result.exit_code == 130 and result.stderr.endswith("\nmncost: error: interrupted\n")
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.torch
def test_busy_machine_refuses_to_fit_without_allow_unstable(tiny_set):
    from mncost.errors import InputError
    from mncost.torch_backend import calibrate as cal

    # Even rounds read 1 ms, odd rounds 2 ms: the quiet estimate moves by 100% between them.
    rounds = [[1_000_000] * 3 if r % 2 == 0 else [2_000_000] * 3 for r in range(6)]
    sampled = [cal.Sampled(c, [list(r) for r in rounds]) for c in tiny_set]
    assert sampled[0].unstable() == ("its quiet estimate differs by 100% between alternate "
                                     "rounds (limit 15%)")
    with pytest.raises(InputError, match="^5 of 5 configurations measured unstable "
                                         r"\(median spread 100% between alternate rounds"):
        cal.fit_device(sampled, "eager", 1, {}, lambda m: None)


@pytest.mark.torch
def test_calibrate_that_stops_early_keeps_its_measurements(tiny_set, tmp_path, monkeypatch):
    from mncost.torch_backend import calibrate as cal

    def stopped(configs, *args, stop=None, **kwargs):
        rounds = [[1_000_000] * 3 if r % 2 == 0 else [2_000_000] * 3 for r in range(6)]
        sampled = [cal.Sampled(c, [list(r) for r in rounds],
                               {l.name: [10_000] * 4 for l in c.network.layers})
                   for c in configs]
        assert stop is not None and stop(sampled, 6, 30) is not None
        raise cal.StoppedEarly(stop(sampled, 6, 30), sampled)

    monkeypatch.setattr(cal, "measure_set", stopped)
    out = tmp_path / "dev.json"
    result = run("calibrate", "-o", str(out))
    assert result.exit_code == 2 and not out.exists()
    kept = tmp_path / "dev.measurements.json"
    assert result.stderr.splitlines()[-1] == (
        "mncost: error: stopped early: after 6 of 30 rounds, 5 of 5 configurations would "
        "still have a quiet estimate that moves by more than 15% between alternate rounds "
        "(median spread 100%, worst 100%); the budget cannot reach a usable fit: try a quieter "
        f"moment, or fit them anyway with --allow-unstable; the measurements are kept in {kept}: "
        f"`mncost calibrate --refit {kept} --allow-unstable -o {out}` fits them without "
        "measuring again")
    refit = run("calibrate", "--refit", str(kept), "--allow-unstable", "-o", str(out))
    assert refit.exit_code == 0, refit.output
    assert dp.load_device(str(out)).fitted_unstable


@pytest.mark.torch
def test_round_spread_does_not_grow_with_the_number_of_rounds(tiny_set):
    """Under --statistic median: two stray rounds in 40 leave a configuration stable; a wide
    spread in most does not."""
    from mncost.torch_backend import calibrate as cal

    def sampled(medians_ms):
        return cal.Sampled(tiny_set[0], [[int(m * 1e6)] * 3 for m in medians_ms])

    steady = [1.0] * 38 + [0.7, 1.4]       # max / min - 1 = 100%; p90 / p10 - 1 = 0%
    assert sampled(steady).unstable("median") is None
    drifting = [1.0 + 0.02 * i for i in range(40)]   # p10 1.078, p90 1.702: +58%
    assert sampled(drifting).unstable("median").endswith("round medians p10-p90 1.078-1.702 ms")


class FakeRunner:
    """A runner with fixed times: 1 ms a run, 0.1 ms a layer; records the order it ran in."""

    order: list[str] = []
    batch_layer_runs = False

    def __init__(self, network, threads):
        self.network = network

    def timed(self, warmup, repeats, faults=None):
        FakeRunner.order.append(self.network.spec_name + str(self.network.resolution[0]))
        return [1_000_000] * repeats

    def profiled_nodes(self):
        return None

    def layer_runs(self, warmup, runs):
        return ({l.name: [100_000] * runs for l in self.network.layers}, [1_200_000] * runs)


class BatchedFakeRunner(FakeRunner):
    batch_layer_runs = True
    calls: list[int] = []

    def layer_runs(self, warmup, runs):
        BatchedFakeRunner.calls.append(runs)
        return super().layer_runs(warmup, runs)


@pytest.mark.torch
@pytest.mark.parametrize("runner", [FakeRunner, BatchedFakeRunner])
def test_measure_set_interleaves_rounds_and_gathers_layers(monkeypatch, tiny_set, runner):
    from mncost.torch_backend import calibrate as cal
    from mncost.torch_backend import runners

    monkeypatch.setitem(runners.RUNNERS, "eager", runner)
    FakeRunner.order = []
    BatchedFakeRunner.calls = []
    lines = []
    sampled = cal.measure_set(tiny_set, "eager", 1, 0.0, lines.append,
                              per_layer=lambda c: c is not tiny_set[0])
    rounds = cal.MIN_ROUNDS                                # a zero budget: the minimum
    assert [len(s.round_medians_ms) for s in sampled] == [rounds] * len(tiny_set)
    assert all(len(s.plain_ns) == rounds * cal.PLAIN_RUNS for s in sampled)
    assert sampled[0].layer_ns == {} and sampled[0].layer_ms() is None
    # A profiling runtime gets its layer runs in passes after rounds (one per round here: 2
    # rounds, at most LAYER_PASSES passes), 2 x LAYER_RUNS runs a pass.
    passes = min(rounds, cal.LAYER_PASSES)
    layer_runs = cal.LAYER_RUNS * (2 * passes if runner.batch_layer_runs else rounds)
    for s in sampled[1:]:
        assert all(len(v) == layer_runs for v in s.layer_ns.values())
        assert s.layer_ms() == {l.name: 0.1 for l in s.config.network.layers}
    # After the probe pass (one visit each), every round visits every configuration once,
    # in a shuffled order that differs between rounds.
    visits = FakeRunner.order[len(tiny_set):]
    per_round = [visits[i * len(tiny_set):(i + 1) * len(tiny_set)] for i in range(rounds)]
    assert all(sorted(r) == sorted(per_round[0]) for r in per_round)
    assert len({tuple(r) for r in per_round}) > 1
    if runner.batch_layer_runs:
        assert BatchedFakeRunner.calls == [2 * cal.LAYER_RUNS] * (passes * (len(tiny_set) - 1))
    assert any(line.startswith("5 configurations, about") for line in lines)
    assert all(s.unstable() is None for s in sampled)
