"""Calibrating on a busy machine (issue 23): the quiet estimate, its stability, stopping early,
the refusal and its advice, the measurements a profile keeps and ``calibrate --refit``.

The statistics are checked on synthetic samples with a known true latency and one-sided noise;
the fit and refit on fake measurements (no torch: :mod:`mncost.latency.calibration` is pure)."""

from __future__ import annotations

import json
import random

import pytest
from _helpers import run
from conftest import TINY_EVERY_KIND

from mncost import resolve_model
from mncost.errors import InputError
from mncost.latency import calibration as cb
from mncost.latency import device_profile as dp
from mncost.latency.model import network_macs
from mncost.measure import timing

TRUE_MS = 5.0


def contended(n: int, busy: float, seed: int = 0) -> list[float]:
    """``n`` runs of a ``TRUE_MS`` network: a quiet run reads it within +-0.3% (the core's own
    jitter); a share ``busy`` of the runs meet a neighbour and read 5% to 60% more (contention
    only adds time)."""
    rng = random.Random(seed)
    return [TRUE_MS * (1 + rng.uniform(-0.003, 0.003))
            + (TRUE_MS * rng.uniform(0.05, 0.6) if rng.random() < busy else 0.0)
            for _ in range(n)]


@pytest.mark.parametrize("busy", [0.0, 0.3, 0.6, 0.85])
def test_quiet_estimate_recovers_the_true_latency_under_one_sided_noise(busy):
    samples = contended(300, busy)
    assert timing.quiet(samples) == pytest.approx(TRUE_MS, rel=0.004)
    stats = timing.TimingStats.from_ms(samples)
    assert stats.quiet_ms == timing.quiet(samples)
    if busy >= 0.6:          # the median reads the contention, the quiet estimate does not
        assert stats.median_ms > TRUE_MS * 1.04


def test_quiet_estimate_is_the_fifth_percentile():
    samples = [float(v) for v in range(1, 22)]         # 21 values: rank (21 - 1) * 0.05 = 1
    assert timing.quiet(samples) == 2.0
    assert timing.QUIET_STATISTIC == "p5" and timing.STATISTICS["quiet"] == 0.05


def test_split_half_compares_even_and_odd_rounds():
    rounds = [[10.0, 11.0], [12.0, 13.0], [10.0, 11.0], [12.0, 13.0]]
    assert timing.split_half(rounds, 0.0) == 12.0 / 10.0 - 1           # minima 10 and 12
    assert timing.split_half(rounds[1:], 0.0) == 12.0 / 10.0 - 1       # either way round
    assert timing.split_half([[1.0, 2.0]], 0.05) is None


def networks():
    return [resolve_model(m, a, r) for m, a, r in (
        ("v3-small", 0.35, 64), ("v3-small", 0.5, 64), ("v2", 0.35, 64),
        (TINY_EVERY_KIND, 1.0, 32), ("v1", 0.25, 64), ("v2", 0.5, 64))]


def fake(network, rounds: int, spread: float = 0.0, seed: int = 0) -> cb.Sampled:
    """A configuration whose time is its MACs at 1 GMAC/s, runs as :func:`contended`, and odd
    rounds ``spread`` slower (a quiet estimate that moves between alternate rounds)."""
    ms = network_macs(network) / 1e6
    rng = random.Random(seed)
    rows = [[int(ms * (1 + spread * (r % 2)) * 1e6 * (1 + rng.uniform(0, 0.002))
                 * (1.15 if rng.random() < 0.2 else 1.0)) for _ in range(3)]
            for r in range(rounds)]
    per_layer = {layer.name: [max(1, int(1e6 * ms / len(network.layers)))] * 4
                 for layer in network.layers}
    return cb.Sampled(cb.Config(network.spec_name, network, network.spec_file), rows,
                      per_layer)


def test_a_moving_quiet_estimate_is_unstable_and_says_by_how_much():
    net = networks()[0]
    assert fake(net, 10).unstable() is None
    reason = fake(net, 10, spread=0.4).unstable()
    assert reason == ("its quiet estimate differs by 40% between alternate rounds "
                      "(limit 15%)")


def test_refusal_gives_numbers_and_advice_that_fits_the_thread_count():
    sampled = [fake(n, 8, spread=0.5) for n in networks()]
    with pytest.raises(InputError) as one:
        cb.fit_device(sampled, "eager", 1, {}, lambda m: None, cpus=2)
    text = str(one.value)
    assert text.startswith("6 of 6 configurations measured unstable (median spread 50% "
                           "between alternate rounds, limit 15%)")
    assert "fewer threads" not in text and "try a quieter moment" in text
    with pytest.raises(InputError, match="use fewer threads than idle cores"):
        cb.fit_device(sampled, "eager", 2, {}, lambda m: None, cpus=2)


def test_hopeless_stops_only_when_the_budget_cannot_help():
    nets = networks()
    noisy = [fake(n, 6, spread=0.5) for n in nets]
    reason = cb.hopeless(noisy, 6, 30)
    assert reason.startswith("after 6 of 30 rounds, 6 of 6 configurations would still")
    assert cb.hopeless(noisy, 5, 30) is None                 # too early to tell
    assert cb.hopeless(noisy, 30, 30) is None                # the budget is spent anyway
    # 20% now shrinks to 20% x sqrt(6 / 30) = 9% by the end: measuring on helps.
    assert cb.hopeless([fake(n, 6, spread=0.2) for n in nets], 6, 30) is None


def test_profile_records_statistic_noise_and_measurements_and_refits_without_measuring():
    sampled = [fake(n, 12, seed=i) for i, n in enumerate(networks())]
    profile = cb.fit_device(sampled, "eager", 1, {"device_name": "Test"}, lambda m: None)
    profile = profile.__class__(**{**profile.__dict__,
                                   "measurements": cb.measurements_document(sampled, [])})
    doc = json.loads(json.dumps(profile.to_dict()))
    m = doc["measurement"]
    assert m["statistic"] == "quiet (p5)" and "5th percentile" in m["statistic_definition"]
    ratios = sorted(s.noise() for s in sampled)
    assert m["noise"]["median_over_quiet"]["median"] == pytest.approx(ratios[len(ratios) // 2],
                                                                      rel=0.2)
    row = doc["training"][0]
    assert row["measured_ms"] == row["quiet_ms"] < row["median_ms"]
    assert row["noise"] == pytest.approx(row["median_ms"] / row["quiet_ms"])
    # Read back: the same samples, the same fit.
    back, held = cb.sampled_from_document(doc, "dev.json")
    assert held == [] and len(back) == len(sampled)
    assert [s.value_ms() for s in back] == pytest.approx([s.value_ms() for s in sampled])
    assert back[0].layer_ms() == pytest.approx(sampled[0].layer_ms())
    again = cb.refit(doc, "dev.json", lambda m: None)
    assert again.model.to_dict() == profile.model.to_dict()
    median = cb.refit(doc, "dev.json", lambda m: None, statistic="median")
    assert median.measurement["statistic"] == "median"
    assert median.training[0]["measured_ms"] == pytest.approx(row["median_ms"])


def test_a_refused_calibration_keeps_its_measurements_for_a_refit():
    sampled = [fake(n, 8, spread=0.5) for n in networks()]
    doc = json.loads(json.dumps(cb.refused_document(sampled, [], "eager", 1, {}, None,
                                                    "too busy")))
    with pytest.raises(InputError, match=r"refused to fit \(too busy\), no model; fit them "
                                          r"with `mncost calibrate --refit x.json"):
        dp.device_from_dict(doc, "x.json")
    with pytest.raises(InputError, match="6 of 6 configurations measured unstable"):
        cb.refit(doc, "x.json", lambda m: None)
    profile = cb.refit(doc, "x.json", lambda m: None, allow_unstable=True)
    assert profile.fitted_unstable and len(profile.training) == 6


def test_refit_errors_are_one_line_naming_the_field():
    with pytest.raises(InputError, match="measurements: missing"):
        cb.refit({"schema": dp.DEVICE_SCHEMA, "runtime": "eager", "threads": 1}, "a.json",
                 lambda m: None)
    sampled = [fake(n, 4) for n in networks()]
    doc = json.loads(json.dumps(cb.refused_document(sampled, [], "eager", 1, {}, None, "x")))
    doc["measurements"]["configurations"][1]["plain_ns"] = [[0, 1]]
    with pytest.raises(InputError, match=r"configurations\[1\]\.plain_ns: must be rounds of "
                                         "positive run times"):
        cb.refit(doc, "a.json", lambda m: None)
    doc["measurements"]["configurations"][1]["plain_ns"] = [[5]]
    doc["measurements"]["configurations"][2]["layer_ms"] = {"quiet": [1.0]}
    with pytest.raises(InputError, match=r"configurations\[2\]\.layer_ms\.quiet: must be one "
                                         "time per layer"):
        cb.refit(doc, "a.json", lambda m: None)


def test_calibrate_refit_on_the_command_line(tmp_path):
    sampled = [fake(n, 8, spread=0.5) for n in networks()]
    kept = tmp_path / "dev.measurements.json"
    kept.write_text(json.dumps(cb.refused_document(sampled, [], "eager", 1, {}, None, "x")))
    out = tmp_path / "dev.json"
    refused = run("calibrate", "--refit", str(kept), "-o", str(out))
    assert refused.exit_code == 2 and not out.exists()
    assert refused.stderr.splitlines()[-1].startswith("mncost: error: 6 of 6 configurations")
    done = run("calibrate", "--refit", str(kept), "--allow-unstable", "-o", str(out))
    assert done.exit_code == 0, done.output
    assert f"wrote {out}: 6 configurations" in done.stderr
    predicted = run("predict", "v2", "--alpha", "0.4", "--res", "64", "--device-profile",
                    str(out), "-f", "json")
    data = json.loads(predicted.stdout)
    assert data["statistic"] == "quiet (p5)"
    noise = data["under_noise"]
    assert noise["median_ms"] == pytest.approx(data["predicted_ms"] * noise["median_over_quiet"])
    measuring = run("calibrate", "--refit", str(kept), "--threads", "2", "-o", str(out))
    assert measuring.exit_code == 2
    assert "--refit measures nothing: --threads does not apply" in measuring.stderr


def test_refresh_scales_the_model_by_the_machines_speed_now_and_never_compounds():
    sampled = [fake(n, 8, seed=i) for i, n in enumerate(networks())]
    profile = cb.fit_device(sampled, "eager", 1, {}, lambda m: None)
    before = cb.refresh_set(sampled, 3)
    macs = [network_macs(s.config.network) for s in sampled]
    assert [s.config.network for s in before][0] is sampled[macs.index(min(macs))].config.network
    assert before[-1].config.network is sampled[macs.index(max(macs))].config.network
    # Now the machine runs 10%, 20% and 30% slower on the three: the median, 1.2, scales all.
    after = [cb.Sampled(s.config, [[int(ns * f) for ns in r] for r in s.rounds_ns])
             for s, f in zip(before, (1.1, 1.2, 1.3))]
    once = cb.refreshed(profile, before, after, 15.0)
    r = once.measurement["refresh"]
    assert r["factor"] == pytest.approx(1.2, rel=1e-5)                # whole ns: not exact
    assert r["ratios"]["min"] == pytest.approx(1.1, rel=1e-5)
    net = networks()[2]
    assert once.model.predict(net).total_ms == pytest.approx(
        1.2 * profile.model.predict(net).total_ms, rel=1e-5)
    assert once.ms_per_mac == pytest.approx(1.2 * profile.ms_per_mac, rel=1e-5)
    # A second refresh is against the calibration's measurements: 0.85 now, not 1.2 x 0.85.
    slower = [cb.Sampled(s.config, [[int(ns * 0.85) for ns in r] for r in s.rounds_ns])
              for s in before]
    twice = cb.refreshed(once, before, slower, 15.0)
    assert twice.model.predict(net).total_ms == pytest.approx(
        0.85 * profile.model.predict(net).total_ms, rel=1e-5)
    # Within the host's drift (8%, or configurations disagreeing): back to the calibration's
    # model, whatever an earlier refresh applied.
    for factors in ((1.08, 1.08, 1.08), (0.92, 0.92, 0.92), (0.9, 1.1, 1.2)):
        noisy = [cb.Sampled(s.config, [[int(ns * f) for ns in r] for r in s.rounds_ns])
                 for s, f in zip(before, factors)]
        same = cb.refreshed(twice, before, noisy, 15.0)
        assert not same.measurement["refresh"]["applied"]
        assert same.model.predict(net).total_ms == pytest.approx(
            profile.model.predict(net).total_ms, rel=1e-9)


def test_refresh_and_refit_options_on_the_command_line(tmp_path):
    out = str(tmp_path / "new.json")
    both = run("calibrate", "--refit", "a.json", "--refresh", "a.json", "-o", out)
    assert both.exit_code == 2 and "give --refit or --refresh, not both" in both.stderr
    threads = run("calibrate", "--refresh", "a.json", "--threads", "2", "-o", out)
    assert threads.exit_code == 2
    assert ("--refresh re-measures with the profile's own runtime, dtype and threads: "
            "--threads does not apply") in threads.stderr


def test_the_runtime_decides_whether_weights_have_a_rate_of_their_own():
    """An eager calibration fits three coefficients a kind (weights at the maps' rate), an ONNX
    Runtime one four (:data:`mncost.latency.model.WEIGHTS_APART`)."""
    sampled = [fake(n, 6, seed=i) for i, n in enumerate(networks())]
    eager = cb.fit_device(sampled, "eager", 1, {}, lambda m: None)
    ort = cb.fit_device(sampled, "onnxruntime", 1, {}, lambda m: None)
    assert {len(v) for v in eager.model.kinds.values()} == {3}
    assert {len(v) for v in ort.model.kinds.values()} == {4}
