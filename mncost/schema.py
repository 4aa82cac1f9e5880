"""The JSON shapes: the plain, JSON-ready data of every result, in one place.

Both the core (``baseline write``, ``sweep``) and the renderers (:mod:`mncost.render`) build
their documents here, so a field has one definition. The fields are an interface, documented in
README.md ("Output formats"); the ``*_SCHEMA`` names version each document. Machine formats
carry exact integers.

Inside the engine a resolution is an ``(H, W)`` tuple; it becomes text
(:func:`resolution_str`) only here and in the renderers, at the edge.

Torch-free: the cross-check and profile results are read, never imported.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, Sequence

from . import __version__
from .costs import DEFAULT_PARAMS, Cost, Report
from .kinds import MAC_KINDS, REGISTRY
from .layers import ResolvedLayer

if TYPE_CHECKING:
    from .conventions import Convention, Conventions
    from .separable import SeparablePair
    from .torch_backend.crosscheck import Check, CrossCheck
    from .torch_backend.reference import ReferenceCheck
    from .profile_results import LayerTiming, ProfileResult

ANALYZE_SCHEMA = "mncost.analyze/1"
SWEEP_SCHEMA = "mncost.sweep/1"
BASELINE_SCHEMA = "mncost.baseline/1"
CROSSCHECK_SCHEMA = "mncost.crosscheck/1"
PROFILE_SCHEMA = "mncost.profile/1"


def resolution_str(resolution: Sequence[int]) -> str:
    """``(224, 224)`` -> ``224``; ``(224, 160)`` -> ``224x160`` (H x W), as every CSV writes it."""
    h, w = resolution
    return str(h) if h == w else f"{h}x{w}"


# ---------------------------------------------------------------------------------------------
# analyze

def cost_fields(cost: Cost, params: str = DEFAULT_PARAMS) -> dict[str, int]:
    """The exact-integer fields of a :class:`~mncost.costs.Cost` (README: "JSON fields")."""
    return {
        "macs": cost.macs,
        "params": cost.params(params),
        "weights": cost.weights,
        "biases": cost.biases,
        "bn_params": cost.bn_affine,
        "bn_stats": cost.bn_stats,
        "activations": cost.activations,
        "elementwise_ops": cost.elementwise.total,
    }


def layer_fields(layer: ResolvedLayer) -> dict[str, Any]:
    return {
        "name": layer.name, "kind": layer.kind, "stage": layer.stage,
        "inputs": list(layer.inputs),
        "in_shape": [layer.in_shape.c, layer.in_shape.h, layer.in_shape.w],
        "out_shape": [layer.out_shape.c, layer.out_shape.h, layer.out_shape.w],
        "kernel": layer.kernel, "stride": layer.stride, "groups": layer.groups,
        "act": layer.act, "bn": layer.bn, "bias": layer.bias,
    }


def report_dict(report: Report, model: str, params: str = DEFAULT_PARAMS) -> dict[str, Any]:
    """Everything :func:`mncost.costs.analyze` computed, as plain JSON-ready data."""
    net = report.network
    total = report.total
    return {
        "schema": ANALYZE_SCHEMA,
        "model": model,
        "spec": {"name": net.spec_name, "file": net.spec_file},
        "alpha": net.alpha,
        "depth": net.depth,
        "resolution": list(net.resolution),
        "classes": net.classes,
        "param_convention": params,
        "totals": {
            **cost_fields(total, params),
            "flops": total.flops,
            "params_weights": total.params("weights"),
            "params_trainable": total.params("trainable"),
            "params_checkpoint": total.params("checkpoint"),
            "ops": total.ops,
            "fvcore": total.fvcore,
            "layers": len(report.layers),
        },
        "by_kind": [
            {"kind": kind, "label": REGISTRY[kind].label,
             "layers": sum(1 for r in report.layers if r.layer.kind == kind),
             **cost_fields(cost, params),
             "macs_share": report.share(cost, "macs"),
             "params_share": report.share(cost, "params", params)}
            for kind, cost in report.by_kind.items()
        ],
        "by_stage": [
            {"stage": stage, **cost_fields(cost, params),
             "macs_share": report.share(cost, "macs"),
             "params_share": report.share(cost, "params", params)}
            for stage, cost in report.by_stage.items()
        ],
        "layers": [
            {**layer_fields(r.layer), **cost_fields(r.cost, params)} for r in report.layers
        ],
    }


def separable_dict(pair: "SeparablePair") -> dict[str, Any]:
    return {
        "depthwise": pair.depthwise.name, "pointwise": pair.pointwise.name,
        "kernel": pair.kernel, "m": pair.m, "n": pair.n, "out_h": pair.out_h,
        "out_w": pair.out_w, "separable_macs": pair.separable_macs,
        "standard_macs": pair.standard_macs, "separable_weights": pair.separable_weights,
        "standard_weights": pair.standard_weights, "ratio": float(pair.ratio),
        "formula_ratio": float(pair.formula_ratio),
    }


#: CSV columns of ``mncost analyze --format csv`` (summary by kind, then a total row).
ANALYZE_KIND_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "kind", "label",
                        "layers", "macs", "macs_share", "params", "params_share",
                        "param_convention", "weights", "biases",
                        "bn_params", "bn_stats", "activations", "elementwise_ops")
#: CSV columns of ``mncost analyze --per-layer --format csv`` (one row per layer).
ANALYZE_LAYER_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "name", "kind",
                         "stage", "in_shape", "out_shape", "kernel", "stride", "groups", "act",
                         "bn", "bias", "macs", "params", "param_convention", "weights",
                         "biases", "bn_params", "bn_stats", "activations", "elementwise_ops")


# ---------------------------------------------------------------------------------------------
# Counting conventions (analyze --conventions, crosscheck)

def conventions_dict(conv: "Conventions") -> dict:
    """Plain JSON-ready data (exact integers)."""
    def one(c: Convention) -> dict:
        return {"name": c.name, "description": c.description, "total": c.total,
                "terms": [{"name": t.name, "count": t.count, "rule": t.rule, "layers": t.layers,
                           "elements": t.elements, "per_element": t.per_element}
                          for t in c.terms]}

    return {"counts": [one(c) for c in conv.counts], "params": [one(c) for c in conv.params]}


# ---------------------------------------------------------------------------------------------
# sweep

#: CSV columns of ``mncost sweep`` (one row per configuration), in order: ``macs_<kind>`` for
#: each kind with MACs (:data:`mncost.kinds.MAC_KINDS`).
COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "macs", "params",
           "param_convention",
           *(f"macs_{k}" for k in MAC_KINDS), "macs_ratio", "params_ratio")
#: CSV columns of ``mncost sweep --per-layer`` (one row per layer per configuration).
LAYER_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "layer", "kind", "stage",
                 "in_shape", "out_shape", "macs", "params", "param_convention")
#: Columns that ``--latency`` adds (milliseconds per batch, from the profiler's end-to-end runs).
LATENCY_COLUMNS = ("latency_ms_median", "latency_ms_p10", "latency_ms_p90", "latency_ms_mean",
                   "latency_ms_std", "latency_runs", "latency_device", "latency_threads",
                   "latency_batch")
#: Columns that ``--memory`` adds (float32, the naive schedule; README "Memory and the
#: roofline"): the peak live activation bytes and the compulsory bytes moved of one pass.
MEMORY_COLUMNS = ("peak_activation_bytes", "bytes_moved")
#: Columns that ``--predict DEVICE.json`` adds (:mod:`mncost.predict`).
PREDICTED_COLUMNS = ("predicted_ms", "predicted_runtime", "predicted_threads")


def has_memory(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether sweep rows carry ``--memory``'s columns."""
    return bool(rows) and MEMORY_COLUMNS[0] in rows[0]


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A sweep row at the edge: its ``(H, W)`` resolution as text (``224``, ``224x160``)."""
    return {**row, "resolution": resolution_str(row["resolution"])}


def columns(per_layer: bool, latency: bool, memory: bool = False, predicted: bool = False
            ) -> tuple[str, ...]:
    """The CSV columns of a sweep (README: stable, units in the names)."""
    if per_layer:
        return LAYER_COLUMNS
    return (COLUMNS + (MEMORY_COLUMNS if memory else ()) + (LATENCY_COLUMNS if latency else ())
            + (PREDICTED_COLUMNS if predicted else ()))


def has_memory(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether sweep rows carry ``--memory``'s columns."""
    return bool(rows) and MEMORY_COLUMNS[0] in rows[0]


def has_predicted(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether sweep rows carry ``--predict``'s columns."""
    return bool(rows) and PREDICTED_COLUMNS[0] in rows[0]


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A sweep row at the edge: its ``(H, W)`` resolution as text (``224``, ``224x160``)."""
    return {**row, "resolution": resolution_str(row["resolution"])}


def sweep_dict(rows: Sequence[dict[str, Any]], per_layer: bool, latency: bool,
               partial: bool = False, total: int | None = None) -> dict[str, Any]:
    """The JSON document of a sweep (schema :data:`SWEEP_SCHEMA`)."""
    doc: dict[str, Any] = {
        "schema": SWEEP_SCHEMA, "rows_are": "layers" if per_layer else "configurations",
        "partial": partial,
        "columns": list(columns(per_layer, latency, has_memory(rows), has_predicted(rows))),
        "rows": [plain_row(row) for row in rows]}
    if partial:
        doc["configurations_total"] = total
    return doc


# ---------------------------------------------------------------------------------------------
# The baseline file (baseline write; read back by mncost.baseline.load_baseline)

def entry_of(model: str, report: Report, params: str, latency_ms: float | None = None
             ) -> dict[str, Any]:
    """One baseline entry: a configuration, its totals and its per-layer counts."""
    from .memory import memory_totals

    net = report.network
    entry: dict[str, Any] = {
        "model": model, "spec": net.spec_name, "alpha": net.alpha, "depth": net.depth,
        "resolution": list(net.resolution), "classes": net.classes,
        "totals": {"macs": report.total.macs, "params": report.total.params(params),
                   "layers": len(report.layers), **memory_totals(net)},
        "layers": [{"name": r.layer.name, "kind": r.layer.kind,
                    "out_shape": [r.layer.out_shape.c, r.layer.out_shape.h,
                                  r.layer.out_shape.w],
                    "macs": r.cost.macs, "params": r.cost.params(params)}
                   for r in report.layers],
    }
    if latency_ms is not None:
        entry["latency_ms_median"] = latency_ms
    return entry


def baseline_dict(entries: Sequence[dict[str, Any]], params: str,
                  latency: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole baseline document. No timestamp, so rewriting an unchanged baseline gives an
    identical file (a clean diff in review)."""
    doc: dict[str, Any] = {"schema": BASELINE_SCHEMA, "mncost_version": __version__,
                           "param_convention": params, "counts": "MACs = multiply-accumulates",
                           "entries": list(entries)}
    if latency is not None:
        doc["latency"] = latency
    return doc


# ---------------------------------------------------------------------------------------------
# crosscheck

def check_dict(c: "Check") -> dict:
    return {"metric": c.metric, "counter": c.counter, "analytic": c.analytic,
            "measured": c.measured, "delta": c.delta}


def summary_dict(result: "CrossCheck") -> dict:
    """One line of ``--all``: the configuration, its totals and its verdict."""
    net = result.network
    return {"model": result.model, "spec": net.spec_name, "alpha": net.alpha,
            "depth": net.depth, "resolution": list(net.resolution), "classes": net.classes,
            "layers": len(net.layers), "macs": result.total("macs").analytic,
            "params": result.total("trainable").analytic,
            "fvcore": result.total("fvcore").measured, "checks": result.checks,
            "mismatches": len(result.mismatches), "ok": result.ok,
            "seconds": round(result.seconds, 3)}


def result_dict(result: "CrossCheck") -> dict:
    """Everything one cross-check found (README: "mncost crosscheck")."""
    return {
        "schema": CROSSCHECK_SCHEMA, **summary_dict(result),
        "mismatch_lines": list(result.mismatches),
        "totals": [check_dict(c) for c in result.totals],
        "fvcore_terms": [check_dict(c) for c in result.fvcore_terms],
        "fvcore_skipped": dict(result.fvcore_skipped),
        "conventions": conventions_dict(result.conventions),
        "layers": [{"name": layer.name, "kind": layer.kind, "ok": layer.ok,
                    "checks": [check_dict(c) for c in layer.checks]}
                   for layer in result.layers],
    }


# ---------------------------------------------------------------------------------------------
# profile

def profile_dict(result: "ProfileResult", model: str | None = None) -> dict[str, Any]:
    """Every figure of a profile and its environment as JSON-ready data (README: "Profile
    fields")."""
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
        "end_to_end": {**result.end_to_end.to_dict(), "images_per_s": result.images_per_s,
                       "gmacs_per_s": result.gmacs_per_s,
                       "page_faults_per_run": result.page_faults_per_run,
                       "unstable": result.unstable,
                       "samples_ms": list(result.samples_ms)},
        "per_layer": None,
    }
    if result.layers is not None and result.instrumented is not None:
        data["per_layer"] = {
            "runs": result.instrumented.runs,
            "instrumented_end_to_end": result.instrumented.to_dict(),
            "layers_sum_ms": result.layers_sum_ms, "coverage": result.coverage,
            "instrumented_coverage": result.instrumented_coverage,
            "instrumentation_overhead": result.instrumentation_overhead,
            "by_kind": [asdict(k) for k in result.by_kind or ()],
            "layers": [_layer_dict(t) for t in result.layers],
        }
    return data


def _layer_dict(timing: "LayerTiming") -> dict[str, Any]:
    """A layer's fields with its timing statistics flattened in (``median_ms``...)."""
    data = {f.name: getattr(timing, f.name) for f in fields(timing) if f.name != "stats"}
    return {**data, **timing.stats.to_dict()}


# ---------------------------------------------------------------------------------------------
# crosscheck --reference

def reference_dict(result: "ReferenceCheck") -> dict[str, Any]:
    """JSON-ready: the configuration, totals of both sides, and every per-layer triple."""
    net = result.network
    return {
        "schema": "mncost.crosscheck-reference/1", "model": result.model,
        "reference": result.library, "spec": net.spec_name, "alpha": net.alpha,
        "depth": net.depth, "resolution": list(net.resolution), "classes": net.classes,
        "ok": result.ok, "mismatch_lines": list(result.mismatches),
        "totals": {"macs": [result.ours.macs, result.theirs.macs],
                   "params": [result.ours.params, result.theirs.params]},
        "layers": [{"name": a.name, "reference_name": b.name, "macs": [a.macs, b.macs],
                    "params": [a.params, b.params], "shape": [list(a.shape), list(b.shape)]}
                   for a, b in zip(result.ours.layers, result.theirs.layers)],
        "seconds": round(result.seconds, 3),
    }
