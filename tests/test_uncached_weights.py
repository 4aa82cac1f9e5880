"""The latency model's uncached-weights term (``mncost.latency.model``, module docstring): a
run's footprint and the share of weight bytes it re-reads from memory by hand, the fit
recovering a known cache capacity and rate from synthetic timings and keeping no term where
the timings have none, and the term's place in a device profile. No torch."""

from __future__ import annotations

import json

import pytest
from _helpers import BETWEEN, FIXED, TRUTH, assert_coefficients, profile_doc

from mncost import resolve_model
from mncost.cli.predict import uncached_note
from mncost.costs.memory import traffic
from mncost.errors import InputError
from mncost.latency import device_profile as dp
from mncost.latency import model as lm

TINY = ("name: tiny\nresolution: 32\nlayers:\n  - {op: conv, c: 8, k: 3, s: 2}\n"
        "  - {op: pool}\n  - {op: fc, c: 10}\n")

#: A synthetic device whose weights fall out of an 8 MiB cache (one of the capacities a
#: calibration tries) at 40 ns per KB re-read: about 25 GB/s.
CAPACITY, RATE = lm.CACHE_CAPACITIES[6], 4.0e-8

CONFIGS = [(m, a, r) for m in ("v1", "v2", "v3-large", "v3-small")
           for a in (0.35, 0.5, 0.75, 1.0) for r in (96, 128, 160, 224)]


def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return resolve_model(str(path))


def synthetic(truth):
    out = []
    for name, alpha, res in CONFIGS:
        net = resolve_model(name, alpha, res)
        pred = truth.predict(net)
        out.append(lm.Measured(net, pred.total_ms, {p.name: p.ms for p in pred.layers}))
    return out


def test_run_footprint_by_hand(tmp_path):
    net = tiny(tmp_path)
    conv = 8 * 3 * 3 * 3 + 8 + 16 * 16 * 8        # weights, BN folded to a bias, output map
    pool = 8                                       # no weights, an 8x1x1 output
    fc = 8 * 10 + 10 + 10                          # weights, bias, output
    assert lm.run_footprint(net) == 4 * (conv + pool + fc) == 9520
    assert lm.run_footprint(net, 1) == 2380


@pytest.mark.parametrize("footprint, capacity, share", [
    (8, 4, 0.5), (40, 10, 0.75), (4, 8, 0.0), (8, 8, 0.0), (10, 0, 0.0)])
def test_uncached_share_by_hand(footprint, capacity, share):
    assert lm.uncached_share(footprint, capacity) == share


def test_a_layer_pays_for_its_uncached_weight_bytes(tmp_path):
    net = tiny(tmp_path)
    model = lm.LatencyModel({}, 0.0, 0.0, cache_bytes=4760, ms_per_uncached_byte=1e-6)
    assert model.uncached(net) == 0.5                # 9520-byte footprint, 4760-byte cache
    fc = net.layers[-1]
    assert model.layer_ms(fc, None, 0.5) == pytest.approx(1e-6 * 0.5 * 4 * (80 + 10))
    assert model.layer_ms(fc) == 0.0                 # a share of 0: nothing re-read
    weights = sum(traffic(layer, 4).weight_bytes for layer in net.layers)
    assert model.predict(net).total_ms == pytest.approx(1e-6 * 0.5 * weights)
    assert lm.LatencyModel({}, 0.0, 0.0).uncached(net) == 0.0


def test_scaling_a_model_scales_the_rate_not_the_capacity():
    model = lm.LatencyModel(TRUTH, BETWEEN, FIXED, cache_bytes=CAPACITY,
                            ms_per_uncached_byte=RATE).scaled(2.0)
    assert (model.cache_bytes, model.ms_per_uncached_byte) == (CAPACITY, 2 * RATE)


def test_fit_recovers_a_known_cache_capacity_and_rate():
    truth = lm.LatencyModel(TRUTH, BETWEEN, FIXED, cache_bytes=CAPACITY,
                            ms_per_uncached_byte=RATE)
    model, choice = lm.fit_selected(synthetic(truth))
    assert model.cache_bytes == choice.cache_bytes == CAPACITY
    assert model.ms_per_uncached_byte == pytest.approx(RATE, rel=1e-6)
    assert_coefficients(model.kinds["pointwise"], TRUTH["pointwise"], "pointwise")
    assert model.between_ms == pytest.approx(BETWEEN, rel=1e-6)
    # the term matters on this device: without it the fit is several percent off
    assert choice.training_rms < 1e-6 < 0.01 < choice.training_rms_without


def test_fit_keeps_no_term_where_the_timings_have_none():
    model, choice = lm.fit_selected(synthetic(lm.LatencyModel(TRUTH, BETWEEN, FIXED)))
    assert (model.cache_bytes, model.ms_per_uncached_byte, choice.cache_bytes) == (0, 0.0, 0)
    assert "uncached_weights" not in model.to_dict()


def test_a_capacity_below_every_footprint_is_no_capacity_found():
    """Every network's weights re-read at the smallest capacity tried: the best fit lies at
    the bottom of the range, and the term is dropped (it would only re-weight weight bytes)."""
    truth = lm.LatencyModel(TRUTH, BETWEEN, FIXED, cache_bytes=lm.CACHE_CAPACITIES[0],
                            ms_per_uncached_byte=RATE)
    model, choice = lm.fit_selected(synthetic(truth))
    assert model.cache_bytes == choice.cache_bytes == 0


def write(tmp_path, doc):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_device_profile_keeps_the_term(tmp_path):
    doc = profile_doc()
    doc["model"] = lm.LatencyModel(TRUTH, BETWEEN, FIXED, cache_bytes=CAPACITY,
                                   ms_per_uncached_byte=RATE).to_dict()
    assert doc["model"]["uncached_weights"] == {"cache_bytes": CAPACITY, "ms_per_byte": RATE}
    model = dp.load_device(write(tmp_path, doc)).model
    assert (model.cache_bytes, model.ms_per_uncached_byte) == (CAPACITY, RATE)
    plain = dp.load_device(write(tmp_path, profile_doc())).model   # written without it
    assert (plain.cache_bytes, plain.ms_per_uncached_byte) == (0, 0.0)


@pytest.mark.parametrize("value, message", [
    ({"cache_bytes": 0, "ms_per_byte": RATE}, "cache_bytes: must be an integer from 1 to"),
    ({"cache_bytes": True, "ms_per_byte": RATE}, "cache_bytes: must be an integer from 1 to"),
    ({"cache_bytes": 8.5e6, "ms_per_byte": RATE}, "cache_bytes: must be an integer from 1 to"),
    ({"cache_bytes": 1 << 41, "ms_per_byte": RATE}, "cache_bytes: must be an integer from 1"),
    ({"cache_bytes": CAPACITY, "ms_per_byte": -1.0}, "ms_per_byte: must be a finite number"),
    ({"cache_bytes": CAPACITY}, "ms_per_byte: must be a finite number"),
    ({"cache_bytes": CAPACITY, "ms_per_byte": RATE, "l3": 1}, "l3: unknown field"),
    ([CAPACITY, RATE], "model.uncached_weights: must be a mapping"),
])
def test_a_bad_term_is_one_line_naming_the_field(tmp_path, value, message):
    doc = profile_doc()
    doc["model"]["uncached_weights"] = value
    path = write(tmp_path, doc)
    with pytest.raises(InputError) as err:
        dp.load_device(path)
    assert str(err.value).startswith(f"{path}: model.uncached_weights")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_calibration_summary_names_the_term():
    choice = lm.CacheChoice(CAPACITY, 0.052, 0.072).to_dict()
    assert uncached_note(choice) == ("; weights re-read from memory beyond a 8.0 MiB run "
                                     "footprint (training error RMS 7.2% -> 5.2%)")
    assert uncached_note(lm.CacheChoice(0, 0.1, 0.1).to_dict()) == ""
    assert uncached_note(None) == ""


def test_predict_shows_the_term(tmp_path):
    """``predict`` reports the ms its layers include for weights re-read from memory, the
    share, the run's footprint and the cache: the difference from the same model without
    the term."""
    from _helpers import run

    with_term = lm.LatencyModel(TRUTH, BETWEEN, FIXED, cache_bytes=CAPACITY,
                                ms_per_uncached_byte=RATE)
    without = lm.LatencyModel(TRUTH, BETWEEN, FIXED)
    net = resolve_model("v3-large")
    footprint = lm.run_footprint(net)
    weights = sum(traffic(layer, 4).weight_bytes for layer in net.layers)
    share = 1 - CAPACITY / footprint
    prediction = with_term.predict(net)
    assert prediction.uncached_share == pytest.approx(share, rel=1e-12)
    assert prediction.uncached_ms == pytest.approx(RATE * share * weights, rel=1e-12)
    assert prediction.layers_ms - without.predict(net).layers_ms == pytest.approx(
        prediction.uncached_ms, rel=1e-9)
    doc = profile_doc()
    doc["model"] = with_term.to_dict()
    path = write(tmp_path, doc)
    data = json.loads(run("predict", "v3-large", "--device-profile", path, "-f", "json").stdout)
    assert data["uncached_weights"] == pytest.approx(
        {"cache_bytes": CAPACITY, "footprint_bytes": footprint, "share": share,
         "ms": prediction.uncached_ms})
    text = run("predict", "v3-large", "--device-profile", path).stdout
    assert "of which weights from memory" in text
    assert f"{footprint / 2 ** 20:.1f} / 8.0 MiB" in text
    plain = json.loads(run("predict", "v3-large", "--device-profile",
                           write(tmp_path, profile_doc()), "-f", "json").stdout)
    assert "uncached_weights" not in plain
