"""``mncost calibrate``: measure a calibration set on this machine and fit the latency model.

How it measures (docs/latency.md, "Predicted latency"):

* **The set.** The built-in v1, v2, v3-large and v3-small on a grid of alpha x resolution, plus
  small synthetic specs that isolate kinds the built-ins lack or rarely vary (grouped convs,
  k x k pooling, depthwise kernels 3/5/7, SE blocks, full 3x3 convs past the stem at channel
  counts a blocked layout runs plain), shipped in ``configs/calibration/``.
* **Steady state.** The allocator is kept steady (:func:`mncost.measure.timing.steady_malloc`)
unless
  switched off; the setting is recorded. Every network is built once and kept.
* **Interleaved rounds.** Each round visits every configuration in a fresh random order
  (seeded) and, for each, runs 2 untimed warm-ups, 3 timed plain runs and 2 timed per-layer
  runs. Rounds repeat until the time budget is spent (at least 3), so a change of load on the
  machine hits every configuration alike instead of a block of them.
* **Robust statistics.** A configuration's end-to-end time is the median of all its plain
  runs, each layer's time the median of its in-place timings. A configuration whose runs
  spread too much (:func:`mncost.measure.timing.instability`) or whose round medians spread more
  than 25% (p90 / p10) is *unstable*: it is reported and left out of the fit.
* **Evaluation** (``evaluate=True``): the held-out set of :mod:`mncost.latency.evaluation` joins
the
  same rounds (plain runs only, except the per-layer share configurations); the fit reads the
  calibration set alone, and the profile gains an ``evaluation`` section.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from ..errors import InputError
from ..latency.device_profile import DeviceProfile, coverage_of, evaluation_section
from ..latency.evaluation import evaluation_row, held_out, layer_shares
from ..latency.model import (
    ChannelLayout,
    ErrorSummary,
    LatencyModel,
    Measured,
    fit,
    fit_macs_baseline,
    network_macs,
)
from ..measure.environment import Environment, load_average
from ..measure.profile_options import ProfileOptions
from ..measure.timing import TimingStats, instability, percentile, steady_malloc
from ..network.catalog import configs_dir, resolve_model
from ..network.layers import Network
from .runners import runner_for

#: The built-in part of the calibration set: models x alphas x resolutions.
CALIBRATION_MODELS = ("v1", "v2", "v3-large", "v3-small")
CALIBRATION_ALPHAS = (0.35, 0.5, 0.75, 1.0)
CALIBRATION_RESOLUTIONS = (96, 160, 224)
#: Synthetic specs (``configs/calibration/``) at these alphas and resolutions.
SYNTHETIC_SPECS = ("grouped.yaml", "depthwise.yaml", "squeeze_excite.yaml", "ragged.yaml")
SYNTHETIC_CONFIGS = ((0.5, 112), (1.0, 160), (1.0, 224))
#: Runs per configuration per round.
WARMUP, PLAIN_RUNS, LAYER_RUNS = 2, 3, 2
MIN_ROUNDS, MAX_ROUNDS = 3, 40
#: Round medians spread wider than this (p90 / p10 - 1, interpolated as everywhere in mncost)
#: make a configuration unstable. Not max / min: the range of N medians widens with N alone,
#: so a longer calibration would call more configurations unstable from more rounds, not more
#: noise (at 40 rounds on this project's 2-core VM it flagged over half of them).
ROUND_SPREAD = 0.25

#: ``progress(message)``: one line of progress (the CLI prints it on stderr).
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Config:
    """One configuration: a label for reports (model name or spec path), its network."""

    model: str
    network: Network

    def key(self) -> dict[str, Any]:
        n = self.network
        return {"model": self.model, "alpha": n.alpha, "resolution": list(n.resolution),
                "classes": n.classes}


def calibration_set() -> list[Config]:
    """The default calibration configurations (module docstring)."""
    configs = [Config(m, resolve_model(m, a, r)) for m in CALIBRATION_MODELS
               for a in CALIBRATION_ALPHAS for r in CALIBRATION_RESOLUTIONS]
    for name in SYNTHETIC_SPECS:
        path = str(configs_dir() / "calibration" / name)
        configs += [Config(f"calibration/{name}", resolve_model(path, a, r))
                    for a, r in SYNTHETIC_CONFIGS]
    return configs


def evaluation_set() -> tuple[list[Config], list[Config]]:
    """The held-out configurations (:func:`mncost.latency.evaluation.held_out`), and those of them
    that also get per-layer runs."""
    points = held_out()
    configs = [Config(p.label, p.network()) for p in points]
    return configs, [c for c, p in zip(configs, points) if p.per_layer]


@dataclass
class Sampled:
    """Everything measured for one configuration, over all rounds."""

    config: Config
    plain_ns: list[int] = field(default_factory=list)
    round_medians_ms: list[float] = field(default_factory=list)
    layer_ns: dict[str, list[int]] = field(default_factory=dict)
    instrumented_ns: list[int] = field(default_factory=list)

    @property
    def stats(self) -> TimingStats:
        return TimingStats.from_ns(self.plain_ns)

    def layer_ms(self) -> dict[str, float] | None:
        if not self.layer_ns:
            return None
        return {k: statistics.median(v) / 1e6 for k, v in self.layer_ns.items()}

    def unstable(self) -> str | None:
        reason = instability(self.stats)
        rounds = sorted(self.round_medians_ms)
        low, high = (percentile(rounds, 0.1), percentile(rounds, 0.9)) if rounds else (0, 0)
        if len(rounds) >= 2 and low > 0 and high / low - 1 > ROUND_SPREAD:
            spread = f"round medians p10-p90 {low:.3f}-{high:.3f} ms"
            reason = f"{reason} and {spread}" if reason else spread
        return reason

    def measured(self) -> Measured:
        return Measured(self.config.network, self.stats.median_ms, self.layer_ms())


def measure_set(configs: Sequence[Config], runtime: str, threads: int, budget_s: float,
                progress: Progress, per_layer: Callable[[Config], bool] = lambda c: True,
                seed: int = 0) -> list[Sampled]:
    """Build every configuration, then time them in interleaved rounds within ``budget_s``
    (module docstring), through the runner of ``runtime`` (:data:`.runners.RUNNERS`).
    Ctrl-C propagates (nothing is written by this function)."""
    start = time.monotonic()
    make = runner_for(runtime)
    options = ProfileOptions(threads=threads, runtime=runtime)
    runners = []
    for i, config in enumerate(configs):
        runners.append(make(config.network, options))
        if (i + 1) % 10 == 0 or i + 1 == len(configs):
            progress(f"built {i + 1}/{len(configs)} networks ({time.monotonic() - start:.0f} s)")
    sampled = [Sampled(c) for c in configs]
    probe = []
    for runner in runners:                     # one short pass: how long is a round?
        probe.append(statistics.median(runner.timed(1, 3)) / 1e9)
    per_round = sum(t * (WARMUP + PLAIN_RUNS + (1.15 * LAYER_RUNS if per_layer(c) else 0))
                    for t, c in zip(probe, configs)) * 1.1 + 0.002 * len(configs)
    left = budget_s - (time.monotonic() - start)
    rounds = max(MIN_ROUNDS, min(MAX_ROUNDS, int(left / per_round)))
    progress(f"{len(configs)} configurations, about {per_round:.1f} s a round: {rounds} "
             f"rounds ({runtime}, {threads} thread{'s' if threads != 1 else ''})")
    rng = random.Random(seed)
    for r in range(rounds):
        order = list(range(len(configs)))
        rng.shuffle(order)
        for i in order:
            runner, s = runners[i], sampled[i]
            plain = runner.timed(WARMUP, PLAIN_RUNS)
            s.plain_ns += plain
            s.round_medians_ms.append(statistics.median(plain) / 1e6)
            if per_layer(s.config) and not runner.batch_layer_runs:
                layers, instrumented = runner.layer_runs(0, LAYER_RUNS)
                for name, values in layers.items():
                    s.layer_ns.setdefault(name, []).extend(values)
                s.instrumented_ns += instrumented
        elapsed = time.monotonic() - start
        progress(f"round {r + 1}/{rounds} done ({elapsed:.0f} s of {budget_s:.0f} s)")
        if r + 1 >= MIN_ROUNDS and elapsed + per_round > budget_s * 1.05:
            if r + 1 < rounds:
                progress(f"budget reached after {r + 1} rounds")
            break
    if any(runner.batch_layer_runs for runner in runners):
        progress("per-layer profiles (one profiling session per configuration)")
        for runner, s in zip(runners, sampled):
            if per_layer(s.config):
                layers, instrumented = runner.layer_runs(WARMUP, LAYER_RUNS * 4)
                s.layer_ns = {name: list(v) for name, v in layers.items()}
                s.instrumented_ns = instrumented
    return sampled


def environment(runtime: str, threads: int, malloc: str, versions: dict[str, str]
                ) -> Environment:
    """What a device profile records about where and how it was measured (float32, batch
    1), with the load average at the start."""
    return Environment(runtime, threads, versions=versions, malloc=malloc,
                       load={"load_average": load_average()})


def runtime_versions(runtime: str) -> dict[str, str]:
    """The library versions of ``runtime`` (its runner's)."""
    return runner_for(runtime).versions()


def calibrate(runtime: str = "eager", threads: int = 1, budget_s: float = 180.0,
              steady: bool = True, progress: Progress = lambda m: None,
              configs: Sequence[Config] | None = None, seed: int = 0,
              allow_unstable: bool = False, evaluate: bool = False) -> dict[str, Any]:
    """Measure the calibration set and return the device profile (``mncost.device/1``).

    With ``evaluate``, the held-out set (:func:`evaluation_set`) is measured in the same
    rounds, never fitted, and reported in the profile's ``evaluation`` section.

    Raises:
        InputError: a budget or thread count no calibration can use, or too few stable
            configurations to fit.
    """
    if threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    if budget_s <= 0:
        raise InputError(f"budget must be > 0 s, got {budget_s:g}")
    versions = runtime_versions(runtime)
    malloc = steady_malloc(steady)
    env_start = environment(runtime, threads, malloc, versions)
    layout = runtime_layout(runtime, threads, progress)
    configs = list(configs) if configs is not None else calibration_set()
    held, per_layer = evaluation_set() if evaluate else ([], [])
    if held:
        progress(f"evaluation: {len(held)} held-out configurations join the rounds (never "
                 "fitted)")
    plain = {id(c) for c in held} - {id(c) for c in per_layer}
    sampled = measure_set(configs + held, runtime, threads, budget_s, progress,
                          per_layer=lambda c: id(c) not in plain, seed=seed)
    profile = fit_device(sampled[:len(configs)], runtime, threads, env_start, progress,
                         allow_unstable, layout)
    if held:
        evaluation = evaluation_document(sampled[len(configs):], profile)
        profile = replace(profile, evaluation=evaluation)
        progress(f"evaluation: {evaluation['unstable']} of {len(held)} held-out "
                 "configurations unstable (kept in the figures, flagged)")
    return profile.to_dict()


def runtime_layout(runtime: str, threads: int, progress: Progress) -> ChannelLayout | None:
    """The runtime's blocked-layout rule, from its runner: probed for ONNX Runtime
    (:func:`mncost.torch_backend.onnx_runtime.probe_layout`), none for eager PyTorch."""
    return runner_for(runtime).layout(threads, progress)


def evaluation_document(sampled: Sequence[Sampled], profile: DeviceProfile) -> dict[str, Any]:
    """The ``evaluation`` section: the held-out ``sampled`` against the model and the MACs
    baseline of ``profile`` (fitted without them)."""
    model, ms_per_mac = profile.model, profile.ms_per_mac
    rows = [evaluation_row(s.config.key(), s.config.network, s.stats.median_ms, s.unstable(),
                           model, ms_per_mac) for s in sampled]
    shares = [layer_shares(s.config.key(), s.config.network, layer_ms, model, s.unstable())
              for s in sampled if (layer_ms := s.layer_ms()) is not None]
    return evaluation_section(rows, shares, profile.runtime, profile.threads,
                              max(len(s.round_medians_ms) for s in sampled))


def fit_device(sampled: Sequence[Sampled], runtime: str, threads: int, env: Environment,
               progress: Progress, allow_unstable: bool = False,
               layout: ChannelLayout | None = None) -> DeviceProfile:
    """Fit the stable configurations: the device profile (written by
    :meth:`DeviceProfile.to_dict`).

    With more than half of them unstable the machine is too busy: an error, unless
    ``allow_unstable``, which fits every configuration and marks the profile unstable.
    """
    stable = [s for s in sampled if s.unstable() is None]
    unstable = [s for s in sampled if s.unstable() is not None]
    for s in unstable[:10]:
        progress(f"unstable: {s.config.model} {s.config.network.alpha:g}/"
                 f"{s.config.network.resolution[0]}: {s.unstable()}")
    if len(unstable) > 10:
        progress(f"... and {len(unstable) - 10} more unstable configurations")
    busy = len(stable) < max(3, len(sampled) // 2)
    if busy and not allow_unstable:
        raise InputError(f"{len(unstable)} of {len(sampled)} configurations measured unstable; "
                         "the machine is too busy to calibrate (use fewer threads than idle "
                         "cores, or a quieter moment; --allow-unstable fits them anyway)")
    if busy:
        progress("fitting every configuration, unstable ones included (--allow-unstable); the "
                 "profile is marked unstable")
    fitted_on = sampled if busy else stable
    measured = [s.measured() for s in fitted_on]
    model = fit(measured, layout=layout)
    macs_k = fit_macs_baseline(measured)
    rows = [training_row(s, model, macs_k) for s in sampled]
    used = [r for r in rows if busy or r["unstable"] is None]
    fitted = ErrorSummary.of((r["predicted_ms"], r["measured_ms"]) for r in used)
    baseline = ErrorSummary.of((r["macs_baseline_ms"], r["measured_ms"]) for r in used)
    env = replace(env, load={**env.load, "load_average_end": load_average()})
    return DeviceProfile(
        "calibration", runtime, threads, env.to_dict(), model,
        coverage_of([s.config.network for s in sampled]),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), ms_per_mac=macs_k,
        measurement={"rounds": max(len(s.round_medians_ms) for s in sampled),
                     "warmup": WARMUP, "plain_runs_per_round": PLAIN_RUNS,
                     "layer_runs_per_round": LAYER_RUNS, "order": "interleaved, shuffled",
                     "statistic": "median", "unstable": len(unstable),
                     "fitted_unstable": busy},
        fit={"method": "two-stage non-negative least squares on relative errors "
                       "(per-layer by kind, then end to end)",
             "training_error": fitted.to_dict(), "macs_baseline_error": baseline.to_dict()},
        training=rows)


def training_row(s: Sampled, model: LatencyModel, macs_k: float) -> dict[str, Any]:
    """One configuration's measured data, prediction and residual."""
    stats, net = s.stats, s.config.network
    predicted = model.predict(net)
    layer_ms = s.layer_ms()
    return {**s.config.key(), "macs": network_macs(net), "measured_ms": stats.median_ms,
            "p10_ms": stats.p10_ms, "p90_ms": stats.p90_ms, "iqr_ms": stats.iqr_ms,
            "runs": stats.runs, "round_medians_ms": s.round_medians_ms,
            "unstable": s.unstable(), "predicted_ms": predicted.total_ms,
            "residual": predicted.total_ms / stats.median_ms - 1,
            "macs_baseline_ms": macs_k * network_macs(net),
            "layer_ms": [layer_ms[layer.name] for layer in net.layers] if layer_ms else None}
