"""``mncost calibrate``: measure a calibration set on this machine and fit the latency model.

How it measures (docs/latency.md, "Predicted latency"):

* **The set.** The built-in v1, v2, v3-large and v3-small on a grid of alpha x resolution, plus
  small synthetic specs that isolate kinds the built-ins lack or rarely vary (grouped convs,
  k x k pooling, depthwise kernels 3/5/7, SE blocks, full 3x3 convs past the stem at channel
  counts a blocked layout runs plain), shipped in ``configs/calibration/``.
* **Steady state.** The allocator is kept steady (:func:`mncost.measure.timing.steady_malloc`)
  unless switched off; the setting is recorded. Every network is built once and kept.
* **Interleaved rounds.** Each round visits every configuration in a fresh random order
  (seeded) and, for each, runs 2 untimed warm-ups, 3 timed plain runs and 2 timed per-layer
  runs. Rounds repeat until the time budget is spent (at least 3, at most 100), so a change of
  load on the machine hits every configuration alike instead of a block of them. A runtime
  whose per-layer runs need a profiling session (ONNX Runtime) gets them in 4 passes spread
  over the rounds instead, 4 runs per configuration each.
* **The statistic** (:mod:`mncost.latency.calibration`): the quiet estimate (p5 of a
  configuration's plain runs, and of each layer's in-place timings) by default, the median
  with ``statistic="median"``; what is unstable, the noise recorded, the refusal.
* **Stopping early.** From round 6 on, when more than half of the configurations would still
  be unstable at the end of the budget, the measuring stops: :class:`CalibrationRefused`
  carries the measurements so far, which the CLI keeps for ``calibrate --refit``.
* **Evaluation** (``evaluate=True``): the held-out set of :mod:`mncost.latency.evaluation` joins
  the same rounds (plain runs only, except the per-layer share configurations); the fit reads
  the calibration set alone, and the profile gains an ``evaluation`` section.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError
from ..latency.calibration import (
    LAYER_RUNS,
    PLAIN_RUNS,
    WARMUP,
    CalibrationRefused,
    Config,
    Progress,
    Sampled,
    busy_message,
    evaluation_document,
    fit_device,
    hopeless,
    measurements_document,
    refresh_set,
    refreshed,
    refused_document,
    sampled_from_document,
)
from ..latency.device_profile import DeviceProfile
from ..latency.evaluation import held_out
from ..latency.model import KernelRule
from ..measure.environment import Environment, load_average
from ..measure.profile_options import ProfileOptions
from ..measure.threads import available_cpus
from ..measure.timing import STATISTICS, steady_malloc
from ..network.catalog import configs_dir, resolve_model
from .runners import runner_for

#: The built-in part of the calibration set: models x alphas x resolutions.
CALIBRATION_MODELS = ("v1", "v2", "v3-large", "v3-small")
CALIBRATION_ALPHAS = (0.35, 0.5, 0.75, 1.0)
CALIBRATION_RESOLUTIONS = (96, 160, 224)
#: Synthetic specs (``configs/calibration/``) at these alphas and resolutions.
SYNTHETIC_SPECS = ("grouped.yaml", "depthwise.yaml", "squeeze_excite.yaml", "ragged.yaml",
                   "attention.yaml")
SYNTHETIC_CONFIGS = ((0.5, 112), (1.0, 160), (1.0, 224))
MIN_ROUNDS, MAX_ROUNDS = 3, 100
#: A runtime whose per-layer runs need a profiling session of their own (ONNX Runtime) gets
#: them in this many passes spread over the rounds, ``2 x LAYER_RUNS`` runs each, so that a
#: burst of load meets one pass, not all of a configuration's layer timings.
LAYER_PASSES = 4

def calibration_set() -> list[Config]:
    """The default calibration configurations (module docstring)."""
    configs = [Config(m, resolve_model(m, a, r), m) for m in CALIBRATION_MODELS
               for a in CALIBRATION_ALPHAS for r in CALIBRATION_RESOLUTIONS]
    for name in SYNTHETIC_SPECS:
        path = str(configs_dir() / "calibration" / name)
        configs += [Config(f"calibration/{name}", resolve_model(path, a, r), path)
                    for a, r in SYNTHETIC_CONFIGS]
    return configs


def evaluation_set() -> tuple[list[Config], list[Config]]:
    """The held-out configurations (:func:`mncost.latency.evaluation.held_out`), and those of them
    that also get per-layer runs."""
    points = held_out()
    configs = [Config(p.label, p.network(), p.model) for p in points]
    return configs, [c for c, p in zip(configs, points) if p.per_layer]


#: ``stop(sampled, rounds_done, rounds_planned)``: why to stop measuring now, or None.
StopRule = Callable[[Sequence[Sampled], int, int], "str | None"]


class StoppedEarly(Exception):
    """The measuring stopped before its budget (``reason``); ``sampled`` holds what it
    measured so far."""

    def __init__(self, reason: str, sampled: list[Sampled]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sampled = sampled


def measure_set(configs: Sequence[Config], runtime: str, threads: int, budget_s: float,
                progress: Progress, per_layer: Callable[[Config], bool] = lambda c: True,
                seed: int = 0, stop: StopRule | None = None, dtype: str = "float32",
                per_channel: bool = False) -> list[Sampled]:
    """Build every configuration, then time them in interleaved rounds within ``budget_s``
    (module docstring), through the runner of ``runtime`` at ``dtype``
    (:func:`.runners.runner_for`; int8: quantized by ORT's tools, ``per_channel`` weights).
    The budget counts from the end of the building (exporting and quantizing included).

    After every round ``stop`` (when given) may end the measuring: :class:`StoppedEarly`
    carries its reason and the samples so far. Ctrl-C propagates (nothing is written by
    this function)."""
    built = time.monotonic()
    make = runner_for(runtime, dtype)
    options = ProfileOptions(threads=threads, runtime=runtime, dtype=dtype,
                             per_channel=per_channel)
    runners = []
    for i, config in enumerate(configs):
        runners.append(make(config.network, options))
        if (i + 1) % 10 == 0 or i + 1 == len(configs):
            progress(f"built {i + 1}/{len(configs)} networks ({time.monotonic() - built:.0f} s)")
    sampled = [Sampled(c) for c in configs]
    for runner, s in zip(runners, sampled):     # ONNX Runtime: its profile's nodes per layer
        if per_layer(s.config):
            s.layer_nodes = runner.profiled_nodes()
    start = time.monotonic()
    probe = []
    for runner in runners:                     # one short pass: how long is a round?
        probe.append(statistics.median(runner.timed(1, 3)) / 1e9)
    per_round = sum(t * (WARMUP + PLAIN_RUNS + (1.15 * LAYER_RUNS if per_layer(c) else 0))
                    for t, c in zip(probe, configs)) * 1.1 + 0.002 * len(configs)
    batched = [r.batch_layer_runs and per_layer(c) for r, c in zip(runners, configs)]
    passes = LAYER_PASSES if any(batched) else 0
    per_pass = sum(1.5 * t * (WARMUP + 2 * LAYER_RUNS) + 0.1
                   for t, b in zip(probe, batched) if b)
    left = budget_s - (time.monotonic() - start) - passes * per_pass
    rounds = max(MIN_ROUNDS, min(MAX_ROUNDS, int(left / per_round)))
    progress(f"{len(configs)} configurations, about {per_round:.1f} s a round: {rounds} "
             f"rounds ({runtime}, {threads} thread{'s' if threads != 1 else ''})"
             + (f", per-layer profiles in {passes} passes" if passes else ""))
    rng = random.Random(seed)
    step, done_passes = max(1, rounds // max(passes, 1)), 0

    def layer_pass() -> None:
        order = [i for i, b in enumerate(batched) if b]
        rng.shuffle(order)
        for i in order:
            layers, instrumented = runners[i].layer_runs(WARMUP, 2 * LAYER_RUNS)
            for name, values in layers.items():
                sampled[i].layer_ns.setdefault(name, []).extend(values)
            sampled[i].instrumented_ns += instrumented

    for r in range(rounds):
        order = list(range(len(configs)))
        rng.shuffle(order)
        for i in order:
            runner, s = runners[i], sampled[i]
            s.rounds_ns.append(list(runner.timed(WARMUP, PLAIN_RUNS)))
            if per_layer(s.config) and not runner.batch_layer_runs:
                layers, instrumented = runner.layer_runs(0, LAYER_RUNS)
                for name, values in layers.items():
                    s.layer_ns.setdefault(name, []).extend(values)
                s.instrumented_ns += instrumented
        if passes and (r + 1) % step == 0 and done_passes < passes:
            layer_pass()
            done_passes += 1
        elapsed = time.monotonic() - start
        progress(f"round {r + 1}/{rounds} done ({elapsed:.0f} s of {budget_s:.0f} s)")
        if stop is not None and (reason := stop(sampled, r + 1, rounds)) is not None:
            raise StoppedEarly(reason, sampled)
        if r + 1 >= MIN_ROUNDS and elapsed + per_round > budget_s * 1.05:
            if r + 1 < rounds:
                progress(f"budget reached after {r + 1} rounds")
            break
    if passes and done_passes == 0:          # the budget ended the rounds before any pass
        layer_pass()
    return sampled


def environment(runtime: str, threads: int, malloc: str, versions: dict[str, str],
                dtype: str = "float32", per_channel: bool = False) -> Environment:
    """What a device profile records about where and how it was measured (``dtype``, with
    int8's quantization settings; batch 1), with the load average at the start."""
    settings = {}
    if dtype == "int8":
        from .ort_int8 import settings as quantization

        settings = {"quantization": quantization(per_channel)}
    return Environment(runtime, threads, dtype, versions=versions, settings=settings,
                       malloc=malloc, load={"load_average": load_average()})


def runtime_versions(runtime: str, dtype: str = "float32") -> dict[str, str]:
    """The library versions of ``runtime`` (its runner's at ``dtype``)."""
    return runner_for(runtime, dtype).versions()


def calibrate(runtime: str = "eager", threads: int = 1, budget_s: float = 180.0,
              steady: bool = True, progress: Progress = lambda m: None,
              configs: Sequence[Config] | None = None, seed: int = 0,
              allow_unstable: bool = False, evaluate: bool = False,
              statistic: str = "quiet", dtype: str = "float32", per_channel: bool = False
              ) -> dict[str, Any]:
    """Measure the calibration set and return the device profile (``mncost.device/1``), with
    its raw measurements (``measurements``) for a later ``--refit``. At ``dtype="int8"`` every
    network is quantized by the runtime's own tools (``per_channel`` weight scales) and the
    model fits int8 and float32 kernels apart (:func:`mncost.latency.model.fit`).

    With ``evaluate``, the held-out set (:func:`evaluation_set`) is measured in the same
    rounds, never fitted, and reported in the profile's ``evaluation`` section.

    Raises:
        InputError: a budget or thread count no calibration can use; a dtype the runtime
            has no runner for; ``per_channel`` without int8.
        CalibrationRefused: the measurements cannot give a usable fit (stopped early, or
            too few stable configurations): it carries them, for ``--refit``.
    """
    if threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    if budget_s <= 0:
        raise InputError(f"budget must be > 0 s, got {budget_s:g}")
    if statistic not in STATISTICS:
        raise InputError(f"unknown statistic {statistic!r}; use one of {', '.join(STATISTICS)}")
    if per_channel and dtype != "int8":
        raise InputError("--per-channel sets int8 weight scales: give it with --dtype int8")
    versions = runtime_versions(runtime, dtype)
    malloc = steady_malloc(steady)
    env_start = environment(runtime, threads, malloc, versions, dtype, per_channel)
    layout = runtime_layout(runtime, threads, progress, dtype)
    configs = list(configs) if configs is not None else calibration_set()
    held, per_layer = evaluation_set() if evaluate else ([], [])
    if held:
        progress(f"evaluation: {len(held)} held-out configurations join the rounds (never "
                 "fitted)")
    plain = {id(c) for c in held} - {id(c) for c in per_layer}
    n = len(configs)
    stop = None if allow_unstable or statistic != "quiet" else \
        (lambda sampled, done, planned: hopeless(sampled[:n], done, planned))
    try:
        sampled = measure_set(configs + held, runtime, threads, budget_s, progress,
                              per_layer=lambda c: id(c) not in plain, seed=seed, stop=stop,
                              dtype=dtype, per_channel=per_channel)
    except StoppedEarly as early:
        raise CalibrationRefused(
            f"stopped early: {early.reason}; the budget cannot reach a usable fit: "
            + busy_advice(threads),
            refused_document(early.sampled[:n], early.sampled[n:], runtime, threads,
                             env_start, layout, early.reason)) from None
    return fit_document(sampled[:n], sampled[n:], runtime, threads, env_start, progress,
                        allow_unstable, layout, statistic).to_dict()


def busy_advice(threads: int) -> str:
    """What to do when the machine is too busy (the same advice as a refused fit's)."""
    return busy_message(0, 0, [], "quiet", threads, available_cpus()).split("; ", 1)[1]


def fit_document(calibration: Sequence[Sampled], held: Sequence[Sampled], runtime: str,
                 threads: int, env: Environment, progress: Progress, allow_unstable: bool,
                 layout: KernelRule | None, statistic: str = "quiet",
                 measurement: Mapping[str, Any] | None = None) -> DeviceProfile:
    """The device profile of ``calibration`` (with the ``held`` evaluation when any) and the
    raw measurements of both.

    Raises:
        CalibrationRefused: too few stable configurations (it keeps the measurements).
    """
    try:
        profile = fit_device(calibration, runtime, threads, env, progress, allow_unstable,
                             layout, statistic, measurement, available_cpus())
    except CalibrationRefused:
        raise
    except InputError as exc:
        raise CalibrationRefused(str(exc), refused_document(
            calibration, held, runtime, threads, env, layout, str(exc))) from None
    if held:
        evaluation = evaluation_document(held, profile, statistic)
        profile = replace(profile, evaluation=evaluation)
        progress(f"evaluation: {evaluation['unstable']} of {len(held)} held-out "
                 "configurations unstable (kept in the figures, flagged)")
    return replace(profile, measurements=measurements_document(calibration, held))


def runtime_layout(runtime: str, threads: int, progress: Progress, dtype: str = "float32"
                   ) -> KernelRule | None:
    """The runtime's rule of conv kernels by channel count, from its runner: probed for ONNX
    Runtime (:func:`mncost.torch_backend.onnx_runtime.probe_layout`) and eager PyTorch
    (:func:`mncost.torch_backend.onednn_probe.probe_onednn`); ORT's int8 graph has MLAS's
    int8 conv paths."""
    return runner_for(runtime, dtype).layout(threads, progress)


def refresh(profile: DeviceProfile, budget_s: float, progress: Progress, steady: bool = True,
            seed: int = 0) -> dict[str, Any]:
    """``calibrate --refresh``: re-measure a few of the profile's own calibration
    configurations (:func:`mncost.latency.calibration.refresh_set`) for ``budget_s`` and scale
    its model by how the machine's speed changed (:func:`.calibration.refreshed`).

    Raises:
        InputError: a profile that was not measured here (published figures) or keeps no
            measurements.
    """
    path = profile.path
    if profile.published is not None:
        raise InputError(f"{path}: fitted on the figures published for {profile.published}: "
                         "nothing to re-measure on this machine")
    calibration, _ = sampled_from_document(profile.data, path)
    before = refresh_set(calibration)
    steady_malloc(steady)
    progress(f"refresh: re-measuring {len(before)} of the calibration's {len(calibration)} "
             f"configurations ({profile.runtime}, {profile.threads} thread"
             f"{'s' if profile.threads != 1 else ''})")
    quantization = profile.environment.get("quantization")
    per_channel = isinstance(quantization, dict) and quantization.get("per_channel") is True
    after = measure_set([s.config for s in before], profile.runtime, profile.threads, budget_s,
                        progress, per_layer=lambda c: False, seed=seed,
                        dtype=profile.model.precision, per_channel=per_channel)
    return refreshed(profile, before, after, budget_s).to_dict()
