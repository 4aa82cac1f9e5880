"""The latency model (``mncost.latency.model``): features by hand, the fit recovering known
coefficients from synthetic timings, device-profile validation. No torch."""

from __future__ import annotations

import builtins
import json
import math
import random

import pytest
from _helpers import BETWEEN, FIXED, TRUTH, assert_coefficients, profile_doc

from mncost import resolve_model
from mncost.costs.analytic import network_macs
from mncost.costs.kinds import KINDS
from mncost.costs.memory import layer_elements
from mncost.errors import InputError
from mncost.latency import device_profile as dp
from mncost.latency import model as lm

CONFIGS = [(m, a, r) for m in ("v1", "v2", "v3-large", "v3-small")
           for a in (0.35, 0.5, 0.75, 1.0) for r in (96, 128, 160, 224)]


def synthetic(model, scale_layers=1.0, noise=None):
    truth = lm.LatencyModel(TRUTH, BETWEEN, FIXED)
    out = []
    for name, alpha, res in CONFIGS:
        net = resolve_model(name, alpha, res)
        pred = truth.predict(net)
        layer_ms = {p.name: p.ms / scale_layers * (1 + (noise() if noise else 0))
                    for p in pred.layers}
        out.append(lm.Measured(net, pred.total_ms * (1 + (noise() if noise else 0)), layer_ms))
    return out


def test_features_of_a_depthwise_layer_by_hand():
    net = resolve_model("v1")
    layer = net.layer("layers.1.dw")           # 3x3 depthwise, 112x112x32, stride 1
    assert (layer.kind, layer.in_shape.numel, layer.out_shape.numel) == (
        "depthwise", 112 * 112 * 32, 112 * 112 * 32)
    macs = 112 * 112 * 32 * 9
    nbytes = (112 * 112 * 32 * 2 + 32 * 9 + 32) * 4   # in + out + weights + BN folded to a bias
    assert lm.layer_features(layer) == (macs, nbytes, 1)
    assert lm.layer_features(layer, dtype_bytes=2) == (macs, nbytes // 2, 1)


def test_features_of_add_scale_and_fc_by_hand():
    net = resolve_model("v3-large")
    add = next(l for l in net.layers if l.kind == "add")
    assert add.in_shape == add.out_shape
    assert layer_elements(add) == (2 * add.out_shape.numel, add.out_shape.numel, 0)
    scale = next(l for l in net.layers if l.kind == "scale")
    o = scale.out_shape
    assert layer_elements(scale) == (o.numel + o.c, o.numel, 0)
    fc = net.layers[-1]                          # 1280 -> 1000 with bias
    assert lm.layer_features(fc) == (1280 * 1000, (1280 + 1000 + 1280 * 1000 + 1000) * 4, 1)


def test_fit_recovers_known_coefficients():
    model = lm.fit(synthetic(None))
    for kind, expected in TRUTH.items():
        # v1-v3 have no grouped conv, no conv past the stem, none of MobileNetV4's hybrid kinds
        if kind in ("grouped", "conv", "norm", "attention", "layer_scale"):
            assert kind not in model.kinds
            continue
        assert_coefficients(model.kinds[kind], expected, kind)
    assert model.between_ms == pytest.approx(BETWEEN, rel=1e-6)
    assert model.fixed_ms == pytest.approx(FIXED, rel=1e-6)


#: Known activation terms: ms per byte of the output map, ms per call.
TRUTH_ACTS = {"relu": (1.0e-9, 0.002), "relu6": (1.5e-9, 0.003), "hswish": (4.0e-9, 0.006),
              "hsigmoid": (3.0e-9, 0.005)}


def test_fit_tells_activations_from_kernels():
    # Each kind is measured after several activations (a pointwise conv with none, ReLU,
    # ReLU6 and hard swish across v1, v2 and v3), so the activation terms are identified.
    truth = lm.LatencyModel(TRUTH, BETWEEN, FIXED, activations=TRUTH_ACTS)
    measured = []
    for name, alpha, res in CONFIGS:
        net = resolve_model(name, alpha, res)
        pred = truth.predict(net)
        measured.append(lm.Measured(net, pred.total_ms, {p.name: p.ms for p in pred.layers}))
    model = lm.fit(measured)
    for act, expected in TRUTH_ACTS.items():
        assert model.activations[act] == pytest.approx(expected, rel=1e-6), act
    for kind in ("pointwise", "depthwise", "se_fc"):
        assert_coefficients(model.kinds[kind], TRUTH[kind], kind)
    layer = resolve_model("v3-large").layer("layers.1.dw")      # 3x3 dw 16 ch, ReLU
    out_bytes = 16 * 112 * 112 * 4
    macs, nbytes, _ = lm.layer_features(layer)
    a, b, c = TRUTH["depthwise"]
    p, q = TRUTH_ACTS["relu"]
    assert model.layer_ms(layer) == pytest.approx(a * macs + b * nbytes + c + p * out_bytes + q)


def test_fit_rescales_inflated_per_layer_times_to_end_to_end():
    # Per-layer timings read 25% high; the end-to-end totals decide the scale.
    model = lm.fit(synthetic(None, scale_layers=0.8))
    assert_coefficients(model.kinds["depthwise"], TRUTH["depthwise"], "depthwise")
    assert model.fixed_ms == pytest.approx(FIXED, rel=1e-6)


def test_fit_takes_a_per_layer_timing_cost_out_of_the_total():
    # Timing each layer costs 4 us that a plain run does not pay (ONNX Runtime's profiler):
    # every per-layer time reads 0.004 ms high. Stage 1 puts it in the per-call terms; stage 2
    # must take it back out with a negative time between layers, not keep it in the totals.
    overhead = 0.004
    measured = [lm.Measured(m.network, m.end_to_end_ms,
                            {k: v + overhead for k, v in m.layer_ms.items()})
                for m in synthetic(None)]
    model = lm.fit(measured)
    assert model.between_ms == pytest.approx(BETWEEN - overhead, rel=1e-6)
    assert model.between_ms < 0
    assert model.kinds["pointwise"][2] == pytest.approx(TRUTH["pointwise"][2] + overhead)
    truth = lm.LatencyModel(TRUTH, BETWEEN, FIXED)
    for name, alpha, res in [("v3-small", 0.35, 96), ("v1", 1.0, 224)]:
        net = resolve_model(name, alpha, res)
        assert model.predict(net).total_ms == pytest.approx(truth.predict(net).total_ms,
                                                            rel=1e-6)


def test_fit_without_scipy_gives_the_same_answer(monkeypatch):
    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    model = lm.fit(synthetic(None))
    assert_coefficients(model.kinds["pointwise"], TRUTH["pointwise"], "pointwise")
    assert model.between_ms == pytest.approx(BETWEEN, rel=1e-6)


def test_nnls_keeps_coefficients_non_negative():
    import numpy as np

    a = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    b = np.array([3.0, 2.0, 1.0])            # unconstrained: slope -1, intercept 4
    x = lm.nnls(a, b)
    assert x[1] == 0.0 and x[0] == pytest.approx(2.0)
    assert (lm._clipped_lstsq(a, b) == x).all()


def test_noisy_fit_predicts_within_the_noise():
    rng = random.Random(1)
    model = lm.fit(synthetic(None, noise=lambda: rng.uniform(-0.02, 0.02)))
    truth = lm.LatencyModel(TRUTH, BETWEEN, FIXED)
    for name, alpha, res in [("v2", 0.6, 176), ("v3-large", 0.9, 200), ("v1", 0.4, 112)]:
        net = resolve_model(name, alpha, res)
        assert model.predict(net).total_ms == pytest.approx(truth.predict(net).total_ms,
                                                            rel=0.03)


def test_prediction_sums_and_breakdowns():
    model = lm.LatencyModel(TRUTH, BETWEEN, FIXED)
    net = resolve_model("v2", 0.5, 160)
    pred = model.predict(net)
    assert len(pred.layers) == len(net.layers)
    assert pred.between_ms == pytest.approx(BETWEEN * len(net.layers))
    assert pred.total_ms == pytest.approx(math.fsum(p.ms for p in pred.layers)
                                          + BETWEEN * len(net.layers) + FIXED)
    assert sum(pred.by("kind").values()) == pytest.approx(pred.layers_ms)
    assert list(pred.by("stage")) == list(dict.fromkeys(l.stage for l in net.layers))
    assert sum(pred.shares().values()) == pytest.approx(1.0)


def test_macs_baseline_recovers_a_proportional_device():
    data = [lm.Measured(m.network, 3e-8 * network_macs(m.network)) for m in synthetic(None)]
    assert lm.fit_macs_baseline(data) == pytest.approx(3e-8, rel=1e-9)


def test_error_summary_by_hand():
    s = lm.ErrorSummary.of([(104, 100), (108, 100), (89, 100), (100, 100)])
    assert (s.count, s.within_5, s.within_10) == (4, 0.5, 0.75)
    assert s.median_abs == pytest.approx(0.06) and s.max_abs == pytest.approx(0.11)


def test_fit_needs_data():
    data = synthetic(None)
    with pytest.raises(InputError, match="at least 3"):
        lm.fit(data[:2])
    with pytest.raises(InputError, match="per-layer"):
        lm.fit([lm.Measured(m.network, m.end_to_end_ms) for m in data])


# ---------------------------------------------------------------------------------------------
# Device profiles


def write(tmp_path, doc):
    path = tmp_path / "dev.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_device_profile_round_trip(tmp_path):
    dev = dp.load_device(write(tmp_path, profile_doc()))
    assert dev.model.kinds["pointwise"] == TRUTH["pointwise"]
    assert (dev.runtime, dev.threads, dev.model.fixed_ms) == ("eager", 1, FIXED)
    assert dev.outside(resolve_model("v2", 0.5, 160)) == []
    notes = dev.outside(resolve_model("v2", 1.4, 256))
    assert notes[0] == "alpha 1.4 is outside the calibrated 0.35-1"
    assert notes[1] == "resolution 256x256 is outside the calibrated 96-224"
    assert notes[2].endswith("MACs is outside the calibrated 5,000,000-600,000,000")


def _set(doc, dotted, value):
    *path, last = dotted.split(".")
    for key in path:
        doc = doc[key]
    if value is KeyError:
        del doc[last]
    else:
        doc[last] = value


@pytest.mark.parametrize("field, value, message", [
    ("schema", "mncost.device/2", "schema: must be 'mncost.device/1'"),
    ("runtime", "tvm", "runtime: must be one of eager, onnxruntime, tflite"),
    ("threads", 0, "threads: must be an integer >= 1"),
    ("threads", True, "threads: must be an integer >= 1"),
    ("environment", [], "environment: must be a mapping"),
    ("model.dtype_bytes", 3, "model.dtype_bytes: must be 1, 2, 4 or 8"),
    ("model.kinds.pointwise.ms_per_mac", -1e-9, "model.kinds.pointwise.ms_per_mac: must be a "
                                                "finite number >= 0"),
    ("model.kinds.pointwise.ms_per_mac", "1e-9", "model.kinds.pointwise.ms_per_mac: must be"),
    ("model.kinds.pointwise.ms_per_call", KeyError, "model.kinds.pointwise.ms_per_call: must"),
    ("model.kinds.pointwise.speed", 1, "model.kinds.pointwise.speed: unknown coefficient"),
    ("model.kinds.winograd", {}, "model.kinds.winograd: unknown layer kind"),
    ("model.kinds", {}, "model.kinds: no layer kind is calibrated"),
    ("model.fixed_ms", None, "model.fixed_ms: must be a finite number"),
    ("coverage.alpha", [1.0], "coverage.alpha: must be a [min, max] pair"),
    ("coverage.resolution", [224, 96], "coverage.resolution: min 224 is above max 96"),
])
def test_bad_device_profile_is_one_line_naming_the_field(tmp_path, field, value, message):
    doc = profile_doc()
    _set(doc, field, value)
    path = write(tmp_path, doc)
    with pytest.raises(InputError) as err:
        dp.load_device(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("{", ":1: not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "not a device profile"),
    ('{"schema": NaN}', "not a device profile: NaN is not a number"),
    ("[]", "top level: must be a mapping"),
    ('{"schema": "mncost.device/1", "runtime": "eager", "threads": 1, "environment": {}, '
     '"model": {"dtype_bytes": 4, "kinds": {"add": {"ms_per_mac": 1e999}}}}',
     "model.kinds.add.ms_per_mac: must be a finite number"),
])
def test_broken_device_files(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message.replace("[", r"\[")):
        dp.load_device(path)


def test_missing_and_binary_device_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        dp.load_device(str(tmp_path / "nope.json"))
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputError, match="not UTF-8"):
        dp.load_device(str(tmp_path / "bin.json"))
    with pytest.raises(InputError, match="not a regular file"):
        dp.load_device(str(tmp_path))


def test_every_kind_has_coefficient_names():
    assert set(TRUTH) == set(KINDS) | {"conv@stem"}


def test_the_stem_is_its_own_kernel():
    model = lm.LatencyModel(TRUTH, 0.0, 0.0)
    net = resolve_model("v1-conv")
    assert [model.kernel(l) for l in net.layers[:3]] == ["conv@stem", "conv", "conv"]
    # A profile without a stem kernel (written before it had one) uses conv's.
    old = lm.LatencyModel({k: v for k, v in TRUTH.items() if k != "conv@stem"}, 0.0, 0.0)
    assert old.coefficients(net.layers[0]) == lm.full_coefficients(TRUTH["conv"])


def test_weights_have_a_rate_of_their_own():
    """``w`` prices a layer's weight bytes apart from its maps' ``b``: recovered from timings
    where they differ, and a profile written with three coefficients prices weights at ``b``."""
    truth = lm.LatencyModel({k: (*v, v[1] / 4 if k not in ("pool", "add", "scale") else 0.0)
                             for k, v in TRUTH.items()}, BETWEEN, FIXED)
    measured = [lm.Measured(m.network, truth.predict(m.network).total_ms,
                            {p.name: p.ms for p in truth.predict(m.network).layers})
                for m in synthetic(None)]
    model = lm.fit(measured)
    for kind in ("pointwise", "depthwise", "fc", "se_fc", "conv@stem"):
        assert_coefficients(model.kinds[kind], truth.kinds[kind], kind)
        assert model.kinds[kind][3] == pytest.approx(TRUTH[kind][1] / 4, rel=1e-6)
    fc = resolve_model("v2").layers[-1]                           # 1280 -> 1000, with bias
    a, b, c, w = truth.kinds["fc"]
    maps, weights = (1280 + 1000) * 4, (1280 * 1000 + 1000) * 4
    assert truth.layer_ms(fc) == pytest.approx(a * 1280 * 1000 + b * maps + w * weights + c)
    doc = profile_doc()                    # TRUTH: three coefficients a kind, written as three
    assert set(doc["model"]["kinds"]["fc"]) == {"ms_per_mac", "ms_per_byte", "ms_per_call"}
    assert set(truth.to_dict()["kinds"]["fc"]) == set(lm.COEFFICIENTS)
    three = dp.device_from_dict(doc, "old.json").model
    assert three.kinds["fc"] == TRUTH["fc"] and three.coefficients(fc) == (*TRUTH["fc"],
                                                                           TRUTH["fc"][1])


def test_a_runtime_that_relays_its_weights_prices_them_with_the_maps():
    """Eager PyTorch re-lays its weights out on every call: its fit has no weight rate of its
    own (three coefficients a kind, ``w = b``); ONNX Runtime's has (:data:`WEIGHTS_APART`)."""
    assert lm.WEIGHTS_APART == ("onnxruntime",)
    model = lm.fit(synthetic(None), weights_apart=False)
    assert all(len(v) == 3 for v in model.kinds.values())
    assert model.kinds["pointwise"] == pytest.approx(TRUTH["pointwise"], rel=1e-6)
    assert all(len(v) == 4 for v in lm.fit(synthetic(None)).kinds.values())
