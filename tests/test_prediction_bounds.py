"""Predictions are finite times above 0 ms or an error (issue 22, item 11); every consumer of a
prediction shows predict's warnings (item 12); device profiles are read within the bounds of
specs (item 18). No torch."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from _helpers import BETWEEN, FIXED, TRUTH
from click.testing import CliRunner
from conftest import TINY_EVERY_KIND

from mncost import resolve_model
from mncost.cli import cli
from mncost.latency import device_profile as dp
from mncost.latency import model as lm
from mncost.measure.timing import cpu_name

COVERAGE = {"alpha": [0.35, 1.0], "resolution": [96, 224], "macs": [1_000_000, 700_000_000]}


def doc_of(model: lm.LatencyModel, **env) -> dict:
    return {"schema": "mncost.device/1", "runtime": "eager", "threads": 1,
            "environment": {"device_name": cpu_name(), "cpu_count": os.cpu_count(), **env},
            "model": model.to_dict(), "coverage": json.loads(json.dumps(COVERAGE))}


def write(tmp_path, doc, name="dev.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, list(args))


def budgets(tmp_path, limit, model="v1", alpha=0.5, resolution=128) -> str:
    path = tmp_path / "budgets.yaml"
    path.write_text(f"budgets:\n  - {{model: {model}, alpha: {alpha}, resolution: {resolution}, "
                    f"max_predicted_latency_ms: {limit}}}\n")
    return str(path)


def one_line_error(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.output[-1000:])
    assert "Traceback" not in result.output and result.stdout == ""
    assert result.stderr.startswith("mncost: error: ") and result.stderr.count("\n") == 1, \
        result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


# ---------------------------------------------------------------------------------------------
# Item 11: no layer below 0 ms; a prediction is finite and above 0 or an error

#: Every kernel nearly free and a negative time between layers larger than any layer's time:
#: summed as it was, v1 at 0.5/128 came to 0.05 - 28 x 0.003 = -0.034 ms.
FREE = lm.LatencyModel({k: (1e-15, 0.0, 0.0) for k in TRUTH}, -0.003, 0.05)


def test_a_negative_time_between_layers_takes_no_layer_below_zero(tmp_path):
    path = write(tmp_path, doc_of(FREE))
    result = run("predict", "v1", "--alpha", "0.5", "--res", "128", "--device-profile", path, "-f",
                 "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    layers = len(data["layers"])
    # Every layer's time plus its share of the time between layers is below 0: each counts
    # as 0 ms, and the total is the fixed cost.
    assert data["predicted_ms"] == pytest.approx(0.05, abs=1e-12)
    assert data["between_layers_ms"] == pytest.approx(-data["layers_ms"], abs=1e-15)
    assert data["predicted_ms"] > 0
    warning = (f"{layers} of {layers} layers would take less than 0 ms with the time between "
               "layers (-0.003 ms each): counted as 0 ms")
    assert data["warnings"] == [warning]
    assert f"mncost: warning: {warning}\n" == result.stderr


def test_the_clamp_is_per_layer():
    """Layers whose time exceeds the negative time between layers keep their difference; the
    others count as 0 (the rule summed here from the per-layer times, not by the model)."""
    model = lm.LatencyModel(TRUTH, -0.02, FIXED)
    net = resolve_model("v2", 0.5, 128)
    pred = model.predict(net)
    times = [model.layer_ms(layer) for layer in net.layers]
    assert any(t < 0.02 for t in times) and any(t > 0.02 for t in times)
    assert pred.clamped == sum(t < 0.02 for t in times)
    assert pred.total_ms == pytest.approx(sum(max(0.0, t - 0.02) for t in times) + FIXED,
                                          rel=1e-12)


def test_a_zero_budget_no_longer_passes_on_a_negative_time_between_layers(tmp_path):
    path = write(tmp_path, doc_of(FREE))
    result = run("check", "--budget", budgets(tmp_path, 0), "--device-profile", path)
    assert result.exit_code == 1, result.output
    assert result.stderr.endswith("FAILED: 1 of 1 budgets broken\n")


HUGE = lm.LatencyModel({**{k: v for k, v in TRUTH.items()}, "pointwise": (1e308, 1e308, 0.0)},
                       BETWEEN, FIXED)


@pytest.mark.parametrize("command", ["predict", "sweep", "check"])
def test_huge_coefficients_are_an_error_not_infinity(tmp_path, command):
    path = write(tmp_path, doc_of(HUGE))
    args = {"predict": ("predict", "v1", "--alpha", "0.5", "--res", "128", "--device-profile",
                        path,
                        "-f", "json"),
            "sweep": ("sweep", "v1", "--alpha", "0.5", "--res", "128", "--device-profile", path,
                      "-f", "csv"),
            "check": ("check", "--budget", budgets(tmp_path, 5), "--device-profile",
                      path)}[command]
    one_line_error(run(*args), f"{path}: the fitted model predicts inf ms for ",
                   "0.5/128", "a latency must be finite and above 0 ms")


def test_a_prediction_of_nothing_is_an_error(tmp_path):
    path = write(tmp_path, doc_of(lm.LatencyModel({k: (0.0, 0.0, 0.0) for k in TRUTH},
                                                  0.0, 0.0)))
    one_line_error(run("predict", "v2", "--device-profile", path),
                   "predicts 0 ms for mobilenet-v2 1/224")


#: ONNX Runtime-like with a time between layers that takes some layers (not all) below 0.
ORT_NEGATIVE = lm.LatencyModel(
    {**TRUTH, **{f"{k}@nchw": (3 * a, 2 * b, c) for k, (a, b, c) in TRUTH.items()
                 if k in ("conv", "pointwise", "depthwise", "grouped", "se_fc")}},
    -0.009, FIXED, layout=lm.ChannelLayout(4, 16),
    activations={"relu": (1e-9, 0.002), "hswish": (3e-9, 0.004)})


def test_the_sweep_split_clamps_as_the_model_does():
    from mncost.latency.predict import SweepPredictor
    from mncost.network.catalog import load_model

    dev = dp.DeviceProfile("x", "eager", 1, {}, ORT_NEGATIVE,
                           {"alpha": (0.1, 2), "resolution": (8, 512), "macs": (0, 10 ** 12)})
    models = ("v1", "v2", "v3-small", TINY_EVERY_KIND)
    predictor = SweepPredictor(dev, {m: load_model(m) for m in models})
    clamped = 0
    for model in models:
        for alpha in (0.3, 1.0):
            for res in ((224, 224), (8, 8), (97, 131)):
                pred = ORT_NEGATIVE.predict(resolve_model(model, alpha, res))
                clamped += pred.clamped > 0
                assert predictor.predict(model, alpha, res, None) == pytest.approx(
                    pred.total_ms, rel=1e-12)
    assert clamped and predictor.slow == 0


# ---------------------------------------------------------------------------------------------
# Item 12: every consumer shows predict's warnings


def other_machine_profile(tmp_path) -> str:
    """Calibrated on another CPU, fitted on unstable runs, without the SE kinds."""
    kinds = {k: v for k, v in TRUTH.items() if k not in ("se_fc", "scale")}
    doc = doc_of(lm.LatencyModel(kinds, BETWEEN, FIXED), device_name="Another CPU 9000")
    doc["measurement"] = {"fitted_unstable": True}
    return write(tmp_path, doc)


def test_check_shows_the_warnings_predict_gives(tmp_path):
    path = other_machine_profile(tmp_path)
    predicted = run("predict", "v3-small", "--alpha", "1.3", "--res", "160", "--device-profile",
                    path,
                    "-f", "json")
    assert predicted.exit_code == 0, predicted.output
    warnings = json.loads(predicted.stdout)["warnings"]
    assert len(warnings) == 4       # unstable, another CPU, alpha, kinds never calibrated
    result = run("check", "--budget", budgets(tmp_path, 1000, "v3-small", 1.3, 160),
                 "--device-profile", path)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "warning" in line]
    # The profile's warnings as predict gives them; the configuration's prefixed with it.
    assert lines == [f"mncost: warning: {w}" for w in warnings[:2]] + [
        f"mncost: warning: mobilenet-v3-small 1.3/160: {w}" for w in warnings[2:]]


def test_check_gives_each_warning_once(tmp_path):
    path = other_machine_profile(tmp_path)
    spec = tmp_path / "budgets.yaml"
    spec.write_text("budgets:\n" + "".join(
        f"  - {{model: v2, alpha: {a}, max_predicted_latency_ms: 100}}\n" for a in (0.5, 0.75)))
    result = run("check", "--budget", str(spec), "--device-profile", path)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(lines) == len(set(lines)) == 2          # the profile's two, once


def test_sweep_counts_every_kind_of_warning(tmp_path):
    path = other_machine_profile(tmp_path)
    result = run("sweep", "v1", "v3-small", "--alpha", "0.5,1.3", "--res", "128",
                 "--device-profile", path, "-f", "csv")
    assert result.exit_code == 0, result.output
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 4
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"mncost: warning: {path} was fitted on unstable measurements")
    assert lines[1].startswith(f"mncost: warning: {path} was calibrated on device_name "
                               "'Another CPU 9000'")
    assert lines[2:] == [
        "mncost: warning: 2 of 4 configurations lie outside the calibrated alpha 0.35-1 and "
        "resolution 96-224: their predictions extrapolate",
        "mncost: warning: 2 of 4 configurations have layer kinds never calibrated (predicted "
        "as 0 ms): scale, se_fc"]


def test_sweep_counts_macs_outside_and_clamped_layers(tmp_path):
    doc = doc_of(FREE)
    doc["coverage"]["macs"] = [1_000_000, 50_000_000]
    path = write(tmp_path, doc)
    result = run("sweep", "v1", "--alpha", "0.5,1.0", "--res", "128", "--device-profile", path,
                 "-f", "csv")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "mncost: warning: 1 of 2 configurations have MACs outside the calibrated "
        "1,000,000-50,000,000: their predictions extrapolate",
        "mncost: warning: 2 of 2 configurations have layers that would take less than 0 ms "
        "with the time between layers (-0.003 ms each): counted as 0 ms"]


# ---------------------------------------------------------------------------------------------
# Item 18: read within the bounds of specs


def good_doc() -> dict:
    return doc_of(lm.LatencyModel(TRUTH, BETWEEN, FIXED))


@pytest.mark.parametrize("edit, fragments", [
    (lambda d: d.update(measurement=[]), ["measurement: must be a mapping, got list"]),
    (lambda d: d.update(measurement={"fitted_unstable": "yes"}),
     ["measurement.fitted_unstable: must be true or false"]),
    (lambda d: d.update(macs_baseline=[1]), ["macs_baseline: must be a mapping"]),
    (lambda d: d.update(created=7), ["created: must be a date and time"]),
    (lambda d: d.update(training={}), ["training: must be a list"]),
], ids=["measurement list", "fitted_unstable text", "macs_baseline list", "created number",
        "training mapping"])
def test_sections_of_the_wrong_type_are_one_line(tmp_path, edit, fragments):
    doc = good_doc()
    edit(doc)
    path = write(tmp_path, doc)
    one_line_error(run("predict", "v2", "--device-profile", path), f"{path}: ", *fragments)


#: A number field of the profile, and where it is in the text of good_doc().
NUMBER_FIELDS = [('"fixed_ms": 0.35', '"fixed_ms": N'),
                 ('"ms_per_call": 0.01}', '"ms_per_call": N}'),
                 ('"threads": 1', '"threads": N'),
                 ('"macs": [1000000, 700000000]', '"macs": [1000000, N]')]


@pytest.mark.parametrize("digits", [309, 4300, 5000])
@pytest.mark.parametrize("field", NUMBER_FIELDS, ids=lambda f: f[0].split(":")[0])
@pytest.mark.parametrize("command", ["predict", "sweep", "check"])
def test_a_huge_integer_in_a_number_field_is_one_line(tmp_path, command, field, digits):
    text = json.dumps(good_doc())
    old, new = field
    assert old in text
    path = write(tmp_path, text.replace(old, new.replace("N", "9" * digits), 1))
    args = {"predict": ("predict", "v2", "--device-profile", path),
            "sweep": ("sweep", "v2", "--device-profile", path),
            "check": ("check", "--budget", budgets(tmp_path, 5), "--device-profile",
                      path)}[command]
    one_line_error(run(*args), f"{path}: not a device profile: an integer of {digits:,} "
                               "digits (at most 100)")


def test_a_huge_integer_built_in_code_is_named_by_its_field():
    doc = good_doc()
    doc["model"]["fixed_ms"] = 10 ** 400
    with pytest.raises(dp.InputError, match=r"^dev.json: model.fixed_ms: must be a finite "
                                            r"number >= 0, got an integer of 401 digits$"):
        dp.device_from_dict(doc, "dev.json")


def test_a_deeply_nested_profile_is_refused_before_parsing(tmp_path):
    doc = good_doc()
    doc["environment"]["deep"] = json.loads("[" * 80 + "]" * 80)
    path = write(tmp_path, doc)
    one_line_error(run("predict", "v2", "--device-profile", path),
                   "not a device profile: nested more than 64 levels deep")
