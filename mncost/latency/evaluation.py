"""The held-out evaluation of a calibration (``mncost calibrate --evaluate``): which
configurations it measures, and the figures it reports. Pure: no torch, no numpy.

**The held-out set** (:func:`held_out`): configurations the calibration never sees, measured
in the *same* interleaved rounds as the calibration set (:mod:`mncost.torch_backend.calibrate`)
so that a machine that runs a few percent faster or slower between two phases cannot bias
the error; the fit never reads them.

* v1, v2, v3-large and v3-small at alpha / resolution pairs off the calibration grid
  (:data:`OFF_GRID`);
* the built-ins the calibration never uses (:data:`UNSEEN_BUILTINS`) at 1.0/224 and 0.6/144;
* user specs written in the spec format (docs/spec-format.md), shipped in ``configs/evaluation/``
  (MnasNet-A1 and EfficientNet-B0; not built-ins, ``mncost list`` does not show them), at three
  configurations each;
* per-layer time shares on v1, v2 and v3-large at :data:`SHARE_CONFIG` (1.0/192: off the
  resolution grid): these three held-out configurations also get per-layer runs.

**The figures** (laid out as the device profile's ``evaluation`` section by
:func:`mncost.latency.device_profile.evaluation_section`): per configuration the measured and
predicted milliseconds and the prediction of the naive baseline *latency = k x MACs* fitted on
the same calibration data; the share within +-5% and +-10%, median and largest absolute error
of both (:class:`mncost.latency.model.ErrorSummary`), over all configurations and over the
stable ones only (an unstable one stays in the headline figure and is flagged); per-layer
shares (:func:`layer_shares`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..network.catalog import configs_dir, resolve_model
from ..network.layers import Network
from .model import ErrorSummary, LatencyModel, network_macs

#: Built-ins measured off the calibration grid, at these (alpha, resolution) pairs: every
#: pair has its alpha or its resolution (or both) off the grid of
#: :mod:`mncost.torch_backend.calibrate` (alphas 0.35/0.5/0.75/1.0 x resolutions 96/160/224).
OFF_GRID_MODELS = ("v1", "v2", "v3-large", "v3-small")
OFF_GRID = ((0.45, 112), (0.6, 144), (0.85, 192), (0.9, 208), (1.0, 192))
#: Built-ins the calibration never uses, and their configurations (MobileNetV4-L and
#: Hybrid-L, 2.5-2.6G MACs at 224, are left out for time). (``efficientnet-b0`` is the
#: user spec ``configs/evaluation/efficientnet_b0.yaml`` layer for layer, measured there;
#: EfficientNet-B1...B7 are B0 scaled, at 0.7-38G MACs far above what the calibration covers.)
UNSEEN_BUILTINS = ("v1-conv", "v1-shallow", "v3-large-tf", "v3-small-tf", "mnasnet",
                   "v4-conv-small", "v4-conv-medium", "v4-hybrid-medium")
UNSEEN_CONFIGS = ((1.0, 224), (0.6, 144))
#: User specs in ``configs/evaluation/``, and their configurations.
USER_SPECS = ("mnasnet_a1.yaml", "efficientnet_b0.yaml")
USER_SPEC_CONFIGS = ((1.0, 224), (0.5, 160), (0.75, 192))
#: Per-layer shares are compared on these models at this (alpha, resolution).
SHARE_MODELS = ("v1", "v2", "v3-large")
SHARE_CONFIG = (1.0, 192)
#: A layer's predicted share within this many points of its measured share counts as close.
SHARE_POINTS = 5.0


@dataclass(frozen=True)
class HeldOut:
    """One held-out configuration.

    Attributes:
        label: the model as reports name it (a built-in's name, a user spec's file name).
        model: what :func:`mncost.network.catalog.resolve_model` reads (a name or a spec path).
        alpha, resolution: the configuration.
        per_layer: whether it also gets per-layer runs (the share comparison).
    """

    label: str
    model: str
    alpha: float
    resolution: int
    per_layer: bool = False

    def network(self) -> Network:
        return resolve_model(self.model, self.alpha, self.resolution)


def user_spec_path(name: str) -> str:
    """The path of a user spec of the held-out set (``configs/evaluation/NAME``)."""
    return str(configs_dir() / "evaluation" / name)


def held_out() -> list[HeldOut]:
    """The held-out set (module docstring), in a fixed order."""
    out = [HeldOut(m, m, a, r, per_layer=m in SHARE_MODELS and (a, r) == SHARE_CONFIG)
           for m in OFF_GRID_MODELS for a, r in OFF_GRID]
    out += [HeldOut(m, m, a, r) for m in UNSEEN_BUILTINS for a, r in UNSEEN_CONFIGS]
    out += [HeldOut(name, user_spec_path(name), a, r)
            for name in USER_SPECS for a, r in USER_SPEC_CONFIGS]
    return out


# ---------------------------------------------------------------------------------------------
# The figures


def evaluation_row(key: Mapping[str, Any], network: Network, measured_ms: float,
                   unstable: str | None, model: LatencyModel, ms_per_mac: float
                   ) -> dict[str, Any]:
    """One held-out configuration: ``key`` (model, alpha, resolution, classes), its MACs, the
    measured median, the model's and the MACs baseline's predictions and their errors
    (``predicted / measured - 1``), and why it was unstable (None: stable)."""
    macs = network_macs(network)
    predicted = model.predict(network).total_ms
    baseline = ms_per_mac * macs
    return {**key, "macs": macs, "measured_ms": measured_ms, "predicted_ms": predicted,
            "macs_baseline_ms": baseline, "error": _error(predicted, measured_ms),
            "macs_baseline_error": _error(baseline, measured_ms), "unstable": unstable}


def _error(predicted: float, measured: float) -> float | None:
    return predicted / measured - 1 if measured > 0 else None


def error_summaries(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """:class:`ErrorSummary` of the model and of the MACs baseline, over all ``rows`` and
    over the stable ones: ``{"model": {"all": ..., "stable": ...}, "macs_baseline": ...}``."""
    stable = [r for r in rows if r["unstable"] is None]
    return {name: {subset: summary_of(part, key).to_dict()
                   for subset, part in (("all", rows), ("stable", stable))}
            for name, key in (("model", "predicted_ms"), ("macs_baseline", "macs_baseline_ms"))}


def summary_of(rows: Iterable[Mapping[str, Any]], key: str = "predicted_ms",
               measured: str = "measured_ms") -> ErrorSummary:
    """The :class:`ErrorSummary` of ``row[key]`` against ``row[measured]``."""
    return ErrorSummary.of((r[key], r[measured]) for r in rows)


def layer_shares(key: Mapping[str, Any], network: Network, measured_ms: Mapping[str, float],
                 model: LatencyModel, unstable: str | None = None) -> dict[str, Any]:
    """Measured against predicted time shares (each layer's share of the sum of layer times).

    Per layer: the largest absolute difference in percentage points and at which layer, the
    mean, and the share of layers within :data:`SHARE_POINTS`; per kind: the measured and the
    predicted share.
    """
    total = sum(measured_ms.values())
    measured = {layer.name: (measured_ms.get(layer.name, 0.0) / total if total else 0.0)
                for layer in network.layers}
    predicted = model.predict(network).shares()
    diffs = {layer.name: 100 * (predicted[layer.name] - measured[layer.name])
             for layer in network.layers}
    worst = max(diffs, key=lambda k: abs(diffs[k]))
    kinds: dict[str, dict[str, float]] = {}
    for layer in network.layers:
        k = kinds.setdefault(layer.kind, {"measured": 0.0, "predicted": 0.0})
        k["measured"] += measured[layer.name]
        k["predicted"] += predicted[layer.name]
    return {**key, "layers": len(diffs), "max_abs_points": abs(diffs[worst]),
            "worst_layer": worst,
            "mean_abs_points": statistics.fmean(abs(d) for d in diffs.values()),
            "within_5_points": sum(abs(d) <= SHARE_POINTS for d in diffs.values()) / len(diffs),
            "by_kind": kinds, "unstable": unstable}


# ---------------------------------------------------------------------------------------------
# Two calibrations (benchmarks/evaluate_prediction.py)


def agreement(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]]
              ) -> dict[str, Any]:
    """How far two calibrations predict apart on the same held-out rows: the share of rows
    whose predictions are within 5% of each other (``|a / b - 1| <= 0.05``) and the largest
    difference."""
    _same_rows(rows_a, rows_b)
    diffs = [abs(a["predicted_ms"] / b["predicted_ms"] - 1) for a, b in zip(rows_a, rows_b)
             if b["predicted_ms"] > 0]
    return {"count": len(diffs), "within_5pct": sum(d <= 0.05 for d in diffs) / len(diffs)
            if diffs else 0.0, "max_abs_difference": max(diffs, default=0.0)}


def cross_run(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]]
              ) -> dict[str, Any]:
    """Calibration A's predictions against calibration B's measurements of the same rows:
    what a user who calibrates once and measures later sees, the drift between included."""
    _same_rows(rows_a, rows_b)
    pairs = list(zip(rows_a, rows_b))
    return {name: ErrorSummary.of((a[key], b["measured_ms"]) for a, b in pairs).to_dict()
            for name, key in (("model", "predicted_ms"), ("macs_baseline", "macs_baseline_ms"))}


def _same_rows(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]]) -> None:
    keys = ("model", "alpha", "resolution", "classes")
    if [[r[k] for k in keys] for r in rows_a] != [[r[k] for k in keys] for r in rows_b]:
        raise ValueError("the two evaluations measured different configurations")
