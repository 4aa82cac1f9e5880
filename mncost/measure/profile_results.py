"""What the profiler measured, as typed results: end to end, per layer and per kind, beside the
analytic MACs (:class:`ProfileResult`), and the join of per-layer samples to the engine's
layers (:func:`layer_results`).

Torch-free: :mod:`mncost.torch_backend.profile` measures and fills these in; the JSON shape is
:func:`profile_dict` (schema :data:`PROFILE_SCHEMA`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping, Sequence

from ..costs.analytic import analyze
from ..costs.kinds import REGISTRY
from ..network.layers import Network
from .profile_options import ProfileOptions
from .timing import QUIET_STATISTIC, TimingStats, instability

PROFILE_SCHEMA = "mncost.profile/1"

#: The quiet estimate: the statistic of the timed runs that names "the latency the machine
#: gives when nothing competes with it" (:data:`mncost.measure.timing.QUIET_QUANTILE`, the one
#: ``calibrate`` fits). Contention only ever adds time, so a low percentile estimates the
#: quiet machine where the median keeps the conditions of the run; every output names it with
#: these two constants.
QUIET_MEANING = (f"{QUIET_STATISTIC} of the timed runs (the quiet estimate: contention only "
                 "adds time)")

#: What a plain process (glibc's default allocator) cost in one measurement: the example the
#: allocator note gives (docs/profiling.md, "A steady allocator").
PLAIN_MALLOC_EXAMPLE = "v2 1.0/224: about 35% on a 2-core CPU"
_STEADY_TUNABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def quiet_ms(stats: TimingStats) -> float:
    """The quiet estimate of ``stats`` (:data:`QUIET_STATISTIC`), in ms."""
    return stats.quiet_ms


def with_quiet(stats: TimingStats) -> dict[str, Any]:
    """``stats.to_dict()`` with the quiet estimate named beside it (``quiet_ms``,
    ``quiet_statistic``)."""
    return {**stats.to_dict(), "quiet_ms": quiet_ms(stats), "quiet_statistic": QUIET_STATISTIC}


def allocator_note(malloc: str | None, tunables: Mapping[str, str] | None = None) -> str:
    """One line on the allocator a profile ran with, for the reader of its figures.

    Args:
        malloc: what :func:`mncost.measure.timing.steady_malloc` returned (the environment's
            ``malloc``).
        tunables: glibc variables given through the environment (``malloc_env``): with
            ``--no-steady-malloc`` they may keep the allocator steady all the same.
    """
    if malloc is not None and malloc.startswith("glibc mallopt"):
        return (f"allocator kept steady (glibc mallopt thresholds, mncost's default): a plain "
                f"process can be much slower ({PLAIN_MALLOC_EXAMPLE}); --no-steady-malloc "
                f"measures that")
    given = sorted(k for k in (tunables or {}) if k in _STEADY_TUNABLES)
    if malloc == "default (off)" and given:
        return (f"allocator not set by mncost (--no-steady-malloc), but {', '.join(given)} "
                f"from the environment apply")
    if malloc == "default (off)":
        return (f"allocator at the C library's defaults (--no-steady-malloc): on glibc runs "
                f"can be much slower than with mncost's steady default "
                f"({PLAIN_MALLOC_EXAMPLE})")
    return f"allocator {malloc or 'unknown'}: nothing kept steady, runs may pay page faults"


@dataclass(frozen=True)
class LayerTiming:
    """One layer's measured time beside its analytic MACs.

    Attributes:
        name, kind, stage: the engine's layer (``mncost.network.layers.ResolvedLayer``).
        macs: analytic MACs per image.
        stats: the layer's time over the instrumented runs.
        mac_share: its share (0..1) of the network's MACs.
        time_share: its median's share of the sum of all layers' medians.
        gmacs_per_s: achieved GMAC/s (``macs * batch / median``); 0 for MAC-free layers.
        share_ratio: ``time_share / mac_share`` (> 1: slower than its MACs suggest); ``None``
            for MAC-free layers.
    """

    name: str
    kind: str
    stage: str
    macs: int
    stats: TimingStats
    mac_share: float
    time_share: float
    gmacs_per_s: float | None
    share_ratio: float | None


@dataclass(frozen=True)
class KindTiming:
    """Per-layer times summed over one layer kind (``time_ms`` = sum of the layers' medians)."""

    kind: str
    label: str
    layers: int
    macs: int
    time_ms: float
    mac_share: float
    time_share: float
    gmacs_per_s: float | None
    share_ratio: float | None


@dataclass(frozen=True)
class ProfileResult:
    """What :func:`profile_network` measured.

    Attributes:
        network: the resolved network that was built and timed.
        options: the options used.
        environment: torch version, device and its name, threads, dtype, batch, memory format,
            fuse_bn, compile, the clock, ... (everything needed to compare results later).
        macs: analytic MACs per image.
        end_to_end: the plain (unwrapped) forward passes.
        samples_ms: their per-run times, in run order.
        layers, by_kind: per-layer results (``None`` without ``per_layer``).
        instrumented: end-to-end time of the per-layer (instrumented) runs, for the overhead
            statement.
        page_faults_per_run: minor page faults per timed end-to-end run (``None`` where the
            OS does not count them).
        baseline: the same network in the comparison dtype (``--compare``), measured
            interleaved with this one (:func:`compare_dict`); ``None`` without a comparison.
    """

    network: Network
    options: ProfileOptions
    environment: Mapping[str, Any]
    macs: int
    end_to_end: TimingStats
    samples_ms: tuple[float, ...]
    layers: tuple[LayerTiming, ...] | None = None
    by_kind: tuple[KindTiming, ...] | None = None
    instrumented: TimingStats | None = None
    page_faults_per_run: float | None = None
    baseline: "ProfileResult | None" = None

    @classmethod
    def measured(cls, network: Network, options: ProfileOptions,
                 environment: Mapping[str, Any], plain_ns: Sequence[int], faults: Sequence[int],
                 per_layer: tuple[Mapping[str, Sequence[int]], Sequence[int]] | None = None
                 ) -> "ProfileResult":
        """The result of one measurement, whatever ran it (eager torch or ONNX Runtime).

        Args:
            plain_ns: the end-to-end runs, in nanoseconds, in run order.
            faults: minor page faults over those runs (first item; empty or negative where
                the OS does not count them).
            per_layer: ``(samples_ns by layer name, instrumented end-to-end runs in ns)``.
        """
        layers = kinds = instrumented = None
        if per_layer is not None:
            samples, instrumented_ns = per_layer
            layers, kinds = layer_results(network, samples, options.batch)
            instrumented = TimingStats.from_ns(instrumented_ns)
        return cls(network=network, options=options, environment=environment,
                   macs=analyze(network).total.macs, end_to_end=TimingStats.from_ns(plain_ns),
                   samples_ms=tuple(ns / 1e6 for ns in plain_ns), layers=layers,
                   by_kind=kinds, instrumented=instrumented,
                   page_faults_per_run=faults[0] / len(plain_ns) if faults and faults[0] >= 0
                   else None)

    def with_baseline(self, baseline: "ProfileResult") -> "ProfileResult":
        """This result with ``baseline`` (the comparison dtype's result) beside it."""
        return replace(self, baseline=baseline)

    @property
    def unstable(self) -> str | None:
        """Why the end-to-end figures should not be trusted
        (:func:`mncost.measure.timing.instability`), or ``None``."""
        return instability(self.end_to_end)

    @property
    def quiet_ms(self) -> float:
        """The end-to-end quiet estimate (:data:`QUIET_MEANING`)."""
        return quiet_ms(self.end_to_end)

    @property
    def images_per_s(self) -> float:
        """Throughput at the median: ``batch / median``."""
        return self.options.batch / (self.end_to_end.median_ms / 1e3)

    @property
    def gmacs_per_s(self) -> float:
        """Achieved GMAC/s: analytic MACs of the batch / median time."""
        return gmacs_per_s(self.macs * self.options.batch, self.end_to_end.median_ms) or 0.0

    @property
    def layers_sum_ms(self) -> float | None:
        """Sum of the per-layer medians."""
        return sum(t.stats.median_ms for t in self.layers) if self.layers is not None else None

    @property
    def coverage(self) -> float | None:
        """Sum of per-layer medians / end-to-end median. Below 1 by the time spent outside
        the leaf modules (the network's own bookkeeping between layers)."""
        total = self.layers_sum_ms
        return total / self.end_to_end.median_ms if total is not None else None

    @property
    def instrumented_coverage(self) -> float | None:
        """Sum of per-layer medians / median of the same (instrumented) runs: the share of a
        forward pass spent inside the layers, free of drift between the two phases."""
        total = self.layers_sum_ms
        if total is None or self.instrumented is None:
            return None
        return total / self.instrumented.median_ms

    @property
    def instrumentation_overhead(self) -> float | None:
        """Instrumented end-to-end median / plain end-to-end median - 1: what the per-layer
        timing wrappers cost."""
        if self.instrumented is None:
            return None
        return self.instrumented.median_ms / self.end_to_end.median_ms - 1

    def to_dict(self, model: str | None = None) -> dict[str, Any]:
        """Every figure and the environment as JSON-ready data
        (:func:`profile_dict`)."""
        return profile_dict(self, model)


def gmacs_per_s(macs: int, median_ms: float) -> float | None:
    """``macs`` per ``median_ms`` in GMAC/s (``None`` for a zero time)."""
    return macs / (median_ms * 1e6) if median_ms > 0 else None


def layer_results(network: Network, samples_ns: Mapping[str, Sequence[int]], batch: int
                  ) -> tuple[tuple[LayerTiming, ...], tuple[KindTiming, ...]]:
    """Join per-layer samples to the engine's layers and costs; shares of MACs and of time.

    Time shares are of the sum of per-layer medians, so they add up to 100%.
    """
    report = analyze(network)
    stats = {name: TimingStats.from_ns(samples_ns[name]) for name in samples_ns}
    total_ms = sum(s.median_ms for s in stats.values())
    total_macs = report.total.macs
    layers = []
    for row in report.layers:
        layer, s = row.layer, stats[row.layer.name]
        layers.append(_timing(LayerTiming, dict(name=layer.name, kind=layer.kind,
                                                stage=layer.stage, stats=s),
                              row.cost.macs, s.median_ms, total_macs, total_ms, batch))
    kinds = []
    for kind, cost in report.by_kind.items():
        members = [t for t in layers if t.kind == kind]
        time_ms = sum(t.stats.median_ms for t in members)
        kinds.append(_timing(KindTiming, dict(kind=kind, label=REGISTRY[kind].label,
                                              layers=len(members), time_ms=time_ms),
                             cost.macs, time_ms, total_macs, total_ms, batch))
    return tuple(layers), tuple(kinds)


def _timing(cls: type, named: dict[str, Any], macs: int, time_ms: float, total_macs: int,
            total_ms: float, batch: int) -> Any:
    mac_share = macs / total_macs if total_macs else 0.0
    time_share = time_ms / total_ms if total_ms else 0.0
    return cls(**named, macs=macs, mac_share=mac_share, time_share=time_share,
               gmacs_per_s=gmacs_per_s(macs * batch, time_ms),
               share_ratio=time_share / mac_share if mac_share else None)


def profile_dict(result: ProfileResult, model: str | None = None) -> dict[str, Any]:
    """Every figure of a profile and its environment as JSON-ready data (docs/profiling.md)."""
    net = result.network
    data: dict[str, Any] = {
        "schema": PROFILE_SCHEMA,
        "model": model or net.spec_name,
        "spec": {"name": net.spec_name, "file": net.spec_file},
        "alpha": net.alpha, "depth": net.depth, "resolution": list(net.resolution),
        "classes": net.classes,
        "environment": dict(result.environment),
        "options": asdict(result.options),
        "macs": result.macs,
        "end_to_end": {**with_quiet(result.end_to_end), "images_per_s": result.images_per_s,
                       "gmacs_per_s": result.gmacs_per_s,
                       "page_faults_per_run": result.page_faults_per_run,
                       "unstable": result.unstable,
                       "samples_ms": list(result.samples_ms)},
        "per_layer": None,
    }
    if result.baseline is not None:
        data["compare"] = compare_dict(result, result.baseline)
    if result.layers is not None and result.instrumented is not None:
        data["per_layer"] = {
            "runs": result.instrumented.runs,
            "instrumented_end_to_end": with_quiet(result.instrumented),
            "layers_sum_ms": result.layers_sum_ms, "coverage": result.coverage,
            "instrumented_coverage": result.instrumented_coverage,
            "instrumentation_overhead": result.instrumentation_overhead,
            "by_kind": [asdict(k) for k in result.by_kind or ()],
            "layers": [_layer_dict(t) for t in result.layers],
        }
    return data


def _layer_dict(timing: LayerTiming) -> dict[str, Any]:
    """A layer's fields with its timing statistics flattened in (``median_ms``...,
    ``quiet_ms``)."""
    data = {f.name: getattr(timing, f.name) for f in fields(timing) if f.name != "stats"}
    return {**data, **with_quiet(timing.stats)}


def speedup(baseline_ms: float | None, ms: float | None) -> float | None:
    """``baseline_ms / ms``: above 1 the measured dtype is faster (``None`` for no time)."""
    return baseline_ms / ms if baseline_ms and ms else None


def compare_dict(result: ProfileResult, baseline: ProfileResult) -> dict[str, Any]:
    """A quantized profile beside its comparison dtype's (``--compare``), as JSON-ready
    data: end to end (quiet estimate and median), by layer kind (sum of the layers' medians)
    and per layer, each with ``speedup`` = comparison time / this time. ``precision`` says
    per layer what ORT ran (``layer_precision`` of the environment: int8, float32, mixed or
    ``-`` for no node of its own)."""
    this, base = result.end_to_end, baseline.end_to_end
    data: dict[str, Any] = {
        "dtype": result.options.dtype, "baseline_dtype": baseline.options.dtype,
        "interleaved": True,
        "end_to_end": {"quiet_ms": quiet_ms(this), "median_ms": this.median_ms,
                       "baseline_quiet_ms": quiet_ms(base), "baseline_median_ms": base.median_ms,
                       "speedup_quiet": speedup(quiet_ms(base), quiet_ms(this)),
                       "speedup_median": speedup(base.median_ms, this.median_ms),
                       "baseline": with_quiet(base),
                       "baseline_samples_ms": list(baseline.samples_ms)},
        "by_kind": None, "layers": None,
    }
    if result.layers is None or baseline.layers is None or result.by_kind is None \
            or baseline.by_kind is None:
        return data
    precision = result.environment.get("layer_precision") or {}
    base_layers = {t.name: t for t in baseline.layers}
    data["layers"] = [
        {"name": t.name, "kind": t.kind, "precision": precision.get(t.name),
         "median_ms": t.stats.median_ms, "baseline_median_ms": b.stats.median_ms,
         "quiet_ms": quiet_ms(t.stats), "baseline_quiet_ms": quiet_ms(b.stats),
         "speedup": speedup(b.stats.median_ms, t.stats.median_ms)}
        for t in result.layers for b in (base_layers[t.name],)]
    base_kinds = {k.kind: k for k in baseline.by_kind}
    data["by_kind"] = [
        {"kind": k.kind, "label": k.label, "layers": k.layers,
         "quantized_layers": sum(1 for t in result.layers
                            if t.kind == k.kind and precision.get(t.name) == "int8"),
         "time_ms": k.time_ms, "baseline_time_ms": base_kinds[k.kind].time_ms,
         "speedup": speedup(base_kinds[k.kind].time_ms, k.time_ms)}
        for k in result.by_kind]
    data["layers_sum"] = {"time_ms": result.layers_sum_ms,
                          "baseline_time_ms": baseline.layers_sum_ms,
                          "speedup": speedup(baseline.layers_sum_ms, result.layers_sum_ms)}
    return data
