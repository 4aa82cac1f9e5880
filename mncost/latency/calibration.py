"""What a calibration measured, and the fit made from it: pure Python and numpy, no torch.

``mncost calibrate`` (:mod:`mncost.torch_backend.calibrate`) measures; this module turns its
samples into a device profile, and does so again from the samples a profile keeps
(``calibrate --refit``), so a refit needs no new measuring (docs/latency.md, "Calibrating on a
busy machine").

* **The statistic.** A configuration's time is its *quiet estimate* by default: the 5th
  percentile of all its plain runs (:data:`mncost.measure.timing.QUIET_QUANTILE`). Contention
  only adds time, so the fast end of the distribution moves least when neighbours load the
  machine. ``--statistic median`` fits the median instead (the figure under the conditions of
  the run). Each layer's time is the same statistic of its in-place timings.
* **Stability.** The quiet estimate is *unstable* when it moves by more than
  :data:`QUIET_SPLIT_LIMIT` between the even and the odd rounds
  (:func:`mncost.measure.timing.split_half`): alternate rounds see the same drift, so the
  split measures only how well the samples pin the figure down. The median keeps its older
  rule (:func:`mncost.measure.timing.instability`, and round medians spread by more than
  :data:`ROUND_SPREAD`). Unstable configurations are left out of the fit; with more than half
  of them unstable the calibration refuses, saying how unstable in numbers.
* **Noise.** Every configuration records ``median / quiet``; the profile keeps their median
  and p90 (``measurement.noise``), from which ``predict`` gives the median a run will read
  under the same conditions.
* **Raw data.** The profile's ``measurements`` section keeps every plain run (ns, by round)
  and each layer's quiet and median time.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError
from ..measure.environment import Environment, load_average
from ..measure.profile_options import RUNTIMES
from ..measure.threads import available_cpus
from ..measure.timing import (
    QUIET_DESCRIPTION,
    QUIET_STATISTIC,
    STATISTICS,
    TimingStats,
    instability,
    percentile,
    split_half,
)
from ..network.catalog import configs_dir, resolve_model
from ..network.layers import Network
from .device_profile import (
    DEVICE_SCHEMA,
    DeviceProfile,
    coverage_of,
    evaluation_section,
    layout_from_dict,
)
from .evaluation import evaluation_row, layer_shares
from .model import (
    WEIGHTS_APART,
    ErrorSummary,
    KernelRule,
    LatencyModel,
    Measured,
    fit_macs_baseline,
    fit_selected,
    network_macs,
)

#: Runs per configuration per round (the measuring loop reads them from here).
WARMUP, PLAIN_RUNS, LAYER_RUNS = 2, 3, 2
#: A quiet estimate that differs by more than this between even and odd rounds is unstable.
QUIET_SPLIT_LIMIT = 0.15
#: Round medians spread wider than this (p90 / p10 - 1) make a configuration unstable under
#: ``--statistic median``. Not max / min: the range of N medians widens with N alone.
ROUND_SPREAD = 0.25
#: The measuring stops early after this many rounds when the budget cannot give a usable fit.
EARLY_CHECK_ROUNDS = 6
#: A source under the package's ``configs/`` is stored relative to it, after this prefix.
PACKAGE_CONFIGS = "<configs>/"

#: ``progress(message)``: one line of progress (the CLI prints it on stderr).
Progress = Callable[[str], None]


def statistic_name(statistic: str) -> str:
    """How outputs name ``statistic``: ``"quiet (p5)"`` or ``"median"``."""
    return f"quiet ({QUIET_STATISTIC})" if statistic == "quiet" else statistic


@dataclass(frozen=True)
class Config:
    """One configuration: a label for reports (model name or spec path), what
    :func:`mncost.network.catalog.resolve_model` reads to build it again (``source``), and
    its network."""

    model: str
    network: Network
    source: str | None = None

    def key(self) -> dict[str, Any]:
        n = self.network
        return {"model": self.model, "alpha": n.alpha, "resolution": list(n.resolution),
                "classes": n.classes}

    def stored_source(self) -> str:
        """``source`` as a profile keeps it: relative to the package's configs, if there."""
        source = self.source or self.model
        try:
            rel = Path(source).resolve().relative_to(configs_dir().resolve())
        except (ValueError, OSError):
            return source
        return PACKAGE_CONFIGS + rel.as_posix() if Path(source).suffix else source


def source_path(stored: str) -> str:
    """The inverse of :meth:`Config.stored_source`."""
    if stored.startswith(PACKAGE_CONFIGS):
        return str(configs_dir() / stored[len(PACKAGE_CONFIGS):])
    return stored


@dataclass
class Sampled:
    """Everything measured for one configuration, over all rounds.

    Attributes:
        rounds_ns: the plain end-to-end runs, one list per round (ns).
        layer_ns: layer name -> its in-place timings (ns), when it had per-layer runs.
        layer_summary: statistic -> layer name -> ms, for samples read back from a profile
            (which keeps each layer's statistics, not its runs).
        layer_nodes: layer name -> the nodes its runtime's profiler times for it (ONNX
            Runtime; None for a runtime whose per-layer timing is one per layer).
    """

    config: Config
    rounds_ns: list[list[int]] = field(default_factory=list)
    layer_ns: dict[str, list[int]] = field(default_factory=dict)
    instrumented_ns: list[int] = field(default_factory=list)
    layer_summary: dict[str, dict[str, float]] = field(default_factory=dict)
    layer_nodes: dict[str, int] | None = None

    @property
    def plain_ns(self) -> list[int]:
        return [ns for r in self.rounds_ns for ns in r]

    @property
    def round_medians_ms(self) -> list[float]:
        return [statistics.median(r) / 1e6 for r in self.rounds_ns if r]

    @property
    def stats(self) -> TimingStats:
        return TimingStats.from_ns(self.plain_ns)

    def value_ms(self, statistic: str = "quiet") -> float:
        """The end-to-end time under ``statistic`` (``quiet`` or ``median``)."""
        return percentile([ns / 1e6 for ns in self.plain_ns], STATISTICS[statistic])

    def noise(self) -> float:
        """``median / quiet``: how much the conditions of the run added to the quiet time."""
        quiet = self.value_ms("quiet")
        return self.value_ms("median") / quiet if quiet > 0 else 1.0

    def layer_ms(self, statistic: str = "quiet") -> dict[str, float] | None:
        if self.layer_ns:
            q = STATISTICS[statistic]
            return {k: percentile(v, q) / 1e6 for k, v in self.layer_ns.items()}
        return dict(self.layer_summary[statistic]) if self.layer_summary else None

    def quiet_spread(self) -> float | None:
        """How far the quiet estimate moves between even and odd rounds (None: one round)."""
        return split_half(self.rounds_ns, STATISTICS["quiet"])

    def unstable(self, statistic: str = "quiet") -> str | None:
        """Why this configuration's ``statistic`` is not to be trusted, or ``None``."""
        if statistic == "quiet":
            spread = self.quiet_spread()
            if spread is not None and spread > QUIET_SPLIT_LIMIT:
                return (f"its quiet estimate differs by {spread:.0%} between alternate rounds "
                        f"(limit {QUIET_SPLIT_LIMIT:.0%})")
            return None
        reason = instability(self.stats)
        rounds = sorted(self.round_medians_ms)
        low, high = (percentile(rounds, 0.1), percentile(rounds, 0.9)) if rounds else (0, 0)
        if len(rounds) >= 2 and low > 0 and high / low - 1 > ROUND_SPREAD:
            spread = f"round medians p10-p90 {low:.3f}-{high:.3f} ms"
            reason = f"{reason} and {spread}" if reason else spread
        return reason

    def measured(self, statistic: str = "quiet") -> Measured:
        return Measured(self.config.network, self.value_ms(statistic), self.layer_ms(statistic),
                        self.layer_nodes)


# ---------------------------------------------------------------------------------------------
# Stopping early, refusing


class CalibrationRefused(InputError):
    """The measurements cannot give a usable fit. ``measurements`` is the document that keeps
    them (:func:`measurements_document`), for ``calibrate --refit`` without new measuring."""

    def __init__(self, message: str, measurements: dict[str, Any]) -> None:
        super().__init__(message)
        self.measurements = measurements


def projected_unstable(sampled: Sequence[Sampled], rounds_done: int, rounds_planned: int
                       ) -> int:
    """How many configurations would still be unstable after ``rounds_planned`` rounds, if
    each quiet estimate's spread shrinks as ``1 / sqrt(rounds)`` from what ``rounds_done``
    show (the standard error of a quantile)."""
    shrink = math.sqrt(rounds_done / max(rounds_planned, rounds_done))
    return sum((spread := s.quiet_spread()) is not None and spread * shrink > QUIET_SPLIT_LIMIT
               for s in sampled)


def hopeless(sampled: Sequence[Sampled], rounds_done: int, rounds_planned: int
             ) -> str | None:
    """Why measuring on cannot reach a usable fit (more than half of the configurations
    projected unstable at the end of the budget), or ``None``. Asked after each round from
    :data:`EARLY_CHECK_ROUNDS` on."""
    if rounds_done < EARLY_CHECK_ROUNDS or rounds_done >= rounds_planned:
        return None
    projected = projected_unstable(sampled, rounds_done, rounds_planned)
    if projected <= len(sampled) // 2:
        return None
    spreads = sorted(s.quiet_spread() or 0.0 for s in sampled)
    return (f"after {rounds_done} of {rounds_planned} rounds, {projected} of {len(sampled)} "
            f"configurations would still have a quiet estimate that moves by more than "
            f"{QUIET_SPLIT_LIMIT:.0%} between alternate rounds (median spread "
            f"{statistics.median(spreads):.0%}, worst {spreads[-1]:.0%})")


def busy_message(unstable: int, total: int, sampled: Sequence[Sampled], statistic: str,
                 threads: int, cpus: int | None) -> str:
    """The refusal: how unstable, in numbers, and advice that fits the run."""
    spreads = sorted(s.quiet_spread() or 0.0 for s in sampled)
    numbers = (f"median spread {statistics.median(spreads):.0%} between alternate rounds, "
               f"limit {QUIET_SPLIT_LIMIT:.0%}") if spreads else ""
    if threads > 1 and (cpus is None or threads >= cpus):
        advice = f"use fewer threads than idle cores (--threads 1; this run used {threads})"
    elif statistic == "median":
        advice = "fit the quiet estimate instead (--statistic quiet), which contention moves less"
    else:
        advice = "try a quieter moment"
    return (f"{unstable} of {total} configurations measured unstable ({numbers}): the machine "
            f"is too busy to calibrate even on the quiet estimate; {advice}, or fit them anyway "
            "with --allow-unstable")


# ---------------------------------------------------------------------------------------------
# The fit


def fit_device(sampled: Sequence[Sampled], runtime: str, threads: int,
               env: Environment | Mapping[str, Any],
               progress: Progress, allow_unstable: bool = False,
               layout: KernelRule | None = None, statistic: str = "quiet",
               measurement: Mapping[str, Any] | None = None, cpus: int | None = None
               ) -> DeviceProfile:
    """Fit the stable configurations: the device profile (written by
    :meth:`DeviceProfile.to_dict`).

    With more than half of them unstable the machine is too busy: an error naming how
    unstable, unless ``allow_unstable``, which fits every configuration and marks the
    profile unstable.
    """
    stable = [s for s in sampled if s.unstable(statistic) is None]
    unstable = [s for s in sampled if s.unstable(statistic) is not None]
    for s in unstable[:10]:
        progress(f"unstable: {s.config.model} {s.config.network.alpha:g}/"
                 f"{s.config.network.resolution[0]}: {s.unstable(statistic)}")
    if len(unstable) > 10:
        progress(f"... and {len(unstable) - 10} more unstable configurations")
    busy = len(stable) < max(3, len(sampled) // 2)
    if busy and not allow_unstable:
        raise InputError(busy_message(len(unstable), len(sampled), sampled, statistic,
                                      threads, cpus))
    if busy:
        progress("fitting every configuration, unstable ones included (--allow-unstable); the "
                 "profile is marked unstable")
    fitted_on = sampled if busy else stable
    measured = [s.measured(statistic) for s in fitted_on]
    precision = precision_of(env)
    model, cache = fit_selected(measured, DTYPE_BYTES[precision], layout, precision,
                                runtime in WEIGHTS_APART)
    macs_k = fit_macs_baseline(measured)
    rows = [training_row(s, model, macs_k, statistic) for s in sampled]
    used = [r for r in rows if busy or r["unstable"] is None]
    fitted = ErrorSummary.of((r["predicted_ms"], r["measured_ms"]) for r in used)
    baseline = ErrorSummary.of((r["macs_baseline_ms"], r["measured_ms"]) for r in used)
    ratios = sorted(s.noise() for s in sampled)
    return DeviceProfile(
        "calibration", runtime, threads, environment_record(env), model,
        coverage_of([s.config.network for s in sampled]),
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), ms_per_mac=macs_k,
        measurement={**(measurement or {}),
                     "rounds": max(len(s.rounds_ns) for s in sampled),
                     "warmup": WARMUP, "plain_runs_per_round": PLAIN_RUNS,
                     "layer_runs_per_round": LAYER_RUNS, "order": "interleaved, shuffled",
                     "statistic": statistic_name(statistic),
                     "statistic_definition": QUIET_DESCRIPTION if statistic == "quiet"
                     else "the median of the timed runs",
                     "noise": {"median_over_quiet": {"median": statistics.median(ratios),
                                                     "p90": percentile(ratios, 0.9)}},
                     "unstable": len(unstable), "fitted_unstable": busy},
        fit={"method": "two-stage non-negative least squares on relative errors "
                       "(per-layer by kind, then end to end)",
             "training_error": fitted.to_dict(), "macs_baseline_error": baseline.to_dict(),
             "uncached_weights": cache.to_dict()},
        training=rows)


#: Bytes per element of the maps and weights a model's features count, per precision.
DTYPE_BYTES = {"float32": 4, "int8": 1}


def precision_of(env: Environment | Mapping[str, Any]) -> str:
    """The precision a calibration measured: its environment's ``dtype`` (float32 for a
    profile written before int8 calibration)."""
    dtype = env.dtype if isinstance(env, Environment) else env.get("dtype", "float32")
    if dtype not in DTYPE_BYTES:
        raise InputError(f"environment.dtype: a calibration measures "
                         f"{' or '.join(DTYPE_BYTES)}, got {dtype!r:.40}")
    return dtype


def environment_record(env: Environment | Mapping[str, Any]) -> dict[str, Any]:
    """The profile's environment: a measuring run's gains the load average at its end; one
    read back from a profile (a refit) is kept as it was measured."""
    if isinstance(env, Environment):
        return replace(env, load={**env.load, "load_average_end": load_average()}).to_dict()
    return dict(env)


def training_row(s: Sampled, model: LatencyModel, macs_k: float, statistic: str = "quiet"
                 ) -> dict[str, Any]:
    """One configuration's measured data, prediction and residual (``measured_ms`` is the
    fitted statistic; the median and the quiet estimate are both kept)."""
    stats, net = s.stats, s.config.network
    predicted = model.predict(net)
    measured = s.value_ms(statistic)
    layer_ms = s.layer_ms(statistic)
    return {**s.config.key(), "macs": network_macs(net), "measured_ms": measured,
            "quiet_ms": s.value_ms("quiet"), "median_ms": s.value_ms("median"),
            "noise": s.noise(), "quiet_spread": s.quiet_spread(),
            "p10_ms": stats.p10_ms, "p90_ms": stats.p90_ms, "iqr_ms": stats.iqr_ms,
            "runs": stats.runs, "round_medians_ms": s.round_medians_ms,
            "unstable": s.unstable(statistic), "predicted_ms": predicted.total_ms,
            "residual": predicted.total_ms / measured - 1,
            "macs_baseline_ms": macs_k * network_macs(net),
            "layer_ms": [layer_ms[layer.name] for layer in net.layers] if layer_ms else None}


def evaluation_document(sampled: Sequence[Sampled], profile: DeviceProfile,
                        statistic: str = "quiet") -> dict[str, Any]:
    """The ``evaluation`` section: the held-out ``sampled`` against the model and the MACs
    baseline of ``profile`` (fitted without them), both read with ``statistic``."""
    model, ms_per_mac = profile.model, profile.ms_per_mac
    rows = []
    for s in sampled:
        row = evaluation_row(s.config.key(), s.config.network, s.value_ms(statistic),
                             s.unstable(statistic), model, ms_per_mac)
        rows.append({**row, "median_ms": s.value_ms("median"), "noise": s.noise()})
    shares = [layer_shares(s.config.key(), s.config.network, layer_ms, model,
                           s.unstable(statistic))
              for s in sampled if (layer_ms := s.layer_ms(statistic)) is not None]
    section = evaluation_section(rows, shares, profile.runtime, profile.threads,
                                 max(len(s.rounds_ns) for s in sampled))
    return {**section, "statistic": statistic_name(statistic)}


# ---------------------------------------------------------------------------------------------
# The raw measurements, kept in the profile


def measurements_document(calibration: Sequence[Sampled], held: Sequence[Sampled]
                          ) -> dict[str, Any]:
    """The ``measurements`` section: every configuration's plain runs (ns, by round), and each
    layer's time under every statistic (ms, in the network's layer order)."""
    def one(s: Sampled, role: str) -> dict[str, Any]:
        layers = {name: [ms[layer.name] for layer in s.config.network.layers]
                  for name in STATISTICS if (ms := s.layer_ms(name)) is not None}
        nodes = ({"layer_nodes": [s.layer_nodes.get(la.name, 0)
                                  for la in s.config.network.layers]}
                 if s.layer_nodes is not None else {})
        return {**s.config.key(), "source": s.config.stored_source(), "set": role,
                "plain_ns": [list(r) for r in s.rounds_ns], "layer_ms": layers or None, **nodes}
    return {"unit": "ns", "statistics": {k: statistic_name(k) for k in STATISTICS},
            "configurations": [one(s, "calibration") for s in calibration]
            + [one(s, "held-out") for s in held]}


def sampled_from_document(doc: Any, path: str) -> tuple[list[Sampled], list[Sampled]]:
    """The calibration and held-out samples kept in a profile's ``measurements`` section.

    Raises:
        InputError: a profile without one, or one whose entries cannot be read back (one
            line naming the field).
    """
    section = doc.get("measurements") if isinstance(doc, dict) else None
    if not isinstance(section, dict) or not isinstance(section.get("configurations"), list):
        raise InputError(f"{path}: measurements: missing; only a profile written by "
                         "`mncost calibrate` from this version on keeps its measurements")
    calibration: list[Sampled] = []
    held: list[Sampled] = []
    for i, entry in enumerate(section["configurations"]):
        where = f"{path}: measurements.configurations[{i}]"
        s = _sampled(entry, where)
        (held if entry.get("set") == "held-out" else calibration).append(s)
    if not calibration:
        raise InputError(f"{path}: measurements: no calibration configurations")
    return calibration, held


def _sampled(entry: Any, where: str) -> Sampled:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: must be an object")
    try:
        source = source_path(str(entry["source"]))
        res = entry["resolution"]
        network = resolve_model(source, float(entry["alpha"]), tuple(res),
                                int(entry["classes"]))
        rounds = [[int(ns) for ns in r] for r in entry["plain_ns"]]
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: cannot be read back ({type(exc).__name__}: {exc})") from None
    if not rounds or not all(rounds) or any(ns <= 0 for r in rounds for ns in r):
        raise InputError(f"{where}.plain_ns: must be rounds of positive run times")
    summary: dict[str, dict[str, float]] = {}
    layers = entry.get("layer_ms") or {}
    for name, values in layers.items():
        if name not in STATISTICS or not isinstance(values, list) \
                or len(values) != len(network.layers):
            raise InputError(f"{where}.layer_ms.{name}: must be one time per layer "
                             f"({len(network.layers)})")
        summary[name] = {layer.name: float(v) for layer, v in zip(network.layers, values)}
    nodes = entry.get("layer_nodes")
    if nodes is not None and (not isinstance(nodes, list) or len(nodes) != len(network.layers)
                              or not all(isinstance(n, int) and n >= 0 for n in nodes)):
        raise InputError(f"{where}.layer_nodes: must be one node count >= 0 per layer "
                         f"({len(network.layers)})")
    return Sampled(Config(str(entry.get("model", source)), network, source), rounds,
                   layer_summary=summary,
                   layer_nodes=None if nodes is None else
                   {layer.name: n for layer, n in zip(network.layers, nodes)})


def refused_document(calibration: Sequence[Sampled], held: Sequence[Sampled], runtime: str,
                     threads: int, env: Environment | Mapping[str, Any],
                     layout: KernelRule | None, reason: str) -> dict[str, Any]:
    """What a refused calibration keeps: its measurements and how they were made, no model
    (``predict`` refuses the file and names the refit; ``calibrate --refit`` fits it)."""
    return {"schema": DEVICE_SCHEMA, "status": "refused", "refused": reason,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runtime": runtime, "threads": threads, "environment": environment_record(env),
            "layout": layout.to_dict() if layout is not None else None,
            "measurement": {"rounds": max((len(s.rounds_ns) for s in calibration), default=0),
                            "warmup": WARMUP, "plain_runs_per_round": PLAIN_RUNS,
                            "layer_runs_per_round": LAYER_RUNS},
            "measurements": measurements_document(calibration, held)}


def refit(doc: Any, path: str, progress: Progress, allow_unstable: bool = False,
          statistic: str = "quiet") -> DeviceProfile:
    """``calibrate --refit``: the profile fitted again from the measurements a profile (or a
    refused calibration) keeps, with another statistic or ``allow_unstable``; nothing is
    measured. The environment is the one measured.

    Raises:
        InputError: a file without measurements, or a fit that is refused again.
    """
    if not isinstance(doc, dict) or doc.get("schema") != DEVICE_SCHEMA:
        raise InputError(f"{path}: not a device profile written by `mncost calibrate`")
    calibration, held = sampled_from_document(doc, path)
    runtime, threads = doc.get("runtime"), doc.get("threads")
    if runtime not in RUNTIMES or isinstance(threads, bool) or not isinstance(threads, int) \
            or threads < 1:
        raise InputError(f"{path}: runtime and threads: a measured profile names its runtime "
                         f"({', '.join(RUNTIMES)}) and thread count")
    env = doc.get("environment") if isinstance(doc.get("environment"), dict) else {}
    model = doc.get("model") if isinstance(doc.get("model"), dict) else {}
    layout = layout_from_dict(path, model.get("layout", doc.get("layout")))
    kept = {k: v for k, v in (doc.get("measurement") or {}).items()
            if k in ("warmup", "plain_runs_per_round", "layer_runs_per_round")}
    profile = fit_device(calibration, runtime, threads, env, progress, allow_unstable, layout,
                         statistic, {**kept, "refit_of": doc.get("created")},
                         available_cpus())
    if held:
        profile = replace(profile, evaluation=evaluation_document(held, profile, statistic))
    return replace(profile, measurements=measurements_document(calibration, held))


# ---------------------------------------------------------------------------------------------
# A cheap re-check: ``calibrate --refresh``

#: Configurations re-measured by a refresh, spread over the calibration's MACs.
REFRESH_CONFIGS = 8
#: A refresh rescales only for a change of at least this much on which every re-measured
#: configuration agrees (all faster or all slower): more than the host's own drift. Measured
#: on this project's VM (docs/evaluation-record.md), refreshes of one profile, each in a fresh
#: process, read 0.936-1.077 over half an hour with nothing of ours changing, and rescaling by
#: such a reading made the held-out figures worse (69% -> 53% within ±10%); a CI runner on
#: another machine is the change worth correcting, and it is larger.
REFRESH_MIN_CHANGE = 0.10


def statistic_key(profile: DeviceProfile) -> str:
    """The :data:`STATISTICS` key of what ``profile`` was fitted on."""
    return "median" if profile.statistic == "median" else "quiet"


def refresh_set(calibration: Sequence[Sampled], count: int = REFRESH_CONFIGS) -> list[Sampled]:
    """``count`` calibration configurations evenly spread over their MACs (smallest and
    largest included), the ones a refresh re-measures."""
    ordered = sorted(calibration, key=lambda s: network_macs(s.config.network))
    if len(ordered) <= count:
        return ordered
    step = (len(ordered) - 1) / (count - 1)
    return [ordered[round(i * step)] for i in range(count)]


def refreshed(profile: DeviceProfile, before: Sequence[Sampled], after: Sequence[Sampled],
              budget_s: float) -> DeviceProfile:
    """``profile`` with its model scaled by how much faster or slower the machine runs now:
    the median, over the re-measured configurations, of their time now over their time at
    the calibration (the profile's own statistic), applied only when it is a change
    (:data:`REFRESH_MIN_CHANGE`, every configuration agreeing). The training rows and the
    evaluation stay those of the calibration; ``measurement.refresh`` records the factor, its
    spread, whether it was applied and the factor the model now carries."""
    key = statistic_key(profile)
    ratios = sorted(a.value_ms(key) / b.value_ms(key) for a, b in zip(after, before))
    factor = statistics.median(ratios)
    record = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "factor": factor, "ratios": {"min": ratios[0], "max": ratios[-1]},
              "configurations": [{**a.config.key(), "ratio": a.value_ms(key) / b.value_ms(key)}
                                 for a, b in zip(after, before)],
              "rounds": max(len(a.rounds_ns) for a in after), "budget_s": budget_s,
              "load_average": load_average(),
              "of": profile.measurement.get("refresh", {}).get("of", profile.created)}
    # A change within the re-check's own noise is no change: the machine runs as it did at
    # the calibration, and the model goes back to the calibration's (factor 1).
    applied = abs(factor - 1) >= REFRESH_MIN_CHANGE and (ratios[0] > 1 or ratios[-1] < 1)
    record.update(applied=applied, factor_applied=factor if applied else 1.0)
    # Factors are against the calibration's own measurements: a profile refreshed before is
    # rescaled from its previous factor to this one, never compounded.
    previous = float(profile.measurement.get("refresh", {}).get("factor_applied", 1.0))
    step = record["factor_applied"] / previous
    return replace(profile, model=profile.model.scaled(step),
                   ms_per_mac=profile.ms_per_mac * step if profile.ms_per_mac else None,
                   measurement={**profile.measurement, "refresh": record})
