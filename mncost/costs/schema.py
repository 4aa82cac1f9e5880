"""The JSON shapes: the plain, JSON-ready data of every result, in one place.

Both the core (``baseline write``, ``sweep``) and the renderers (:mod:`mncost.render`) build
their documents here, so a field has one definition. The fields are an interface, documented in
docs/output-formats.md; the ``*_SCHEMA`` names version each document. Machine formats
carry exact integers.

Inside the engine a resolution is an ``(H, W)`` tuple; it becomes text
(:func:`resolution_str`) only here and in the renderers, at the edge.

Torch-free: the cross-check and profile results are read, never imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..network.layers import RECORD_FIELDS, ResolvedLayer
from .analytic import DEFAULT_PARAMS, Cost, Report
from .kinds import REGISTRY

if TYPE_CHECKING:
    from .conventions import Convention, Conventions
    from .separable import SeparablePair

ANALYZE_SCHEMA = "mncost.analyze/1"


def resolution_str(resolution: Sequence[int]) -> str:
    """``(224, 224)`` -> ``224``; ``(224, 160)`` -> ``224x160`` (H x W), as every CSV writes it."""
    h, w = resolution
    return str(h) if h == w else f"{h}x{w}"


# ---------------------------------------------------------------------------------------------
# analyze

def cost_fields(cost: Cost, params: str = DEFAULT_PARAMS) -> dict[str, int]:
    """The exact-integer fields of a :class:`~mncost.costs.Cost` (docs/output-formats.md)."""
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
    """A layer's JSON record: identity, shapes, :data:`~mncost.network.layers.RECORD_FIELDS`,
    and its kind-specific ``attrs`` when it has any."""
    fields = {
        "name": layer.name, "kind": layer.kind, "stage": layer.stage,
        "inputs": list(layer.inputs),
        "in_shape": [layer.in_shape.c, layer.in_shape.h, layer.in_shape.w],
        "out_shape": [layer.out_shape.c, layer.out_shape.h, layer.out_shape.w],
        **{name: getattr(layer, name) for name in RECORD_FIELDS},
    }
    if layer.attrs:
        fields["attrs"] = dict(layer.attrs)
    return fields


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
                         "stage", "in_shape", "out_shape", *RECORD_FIELDS, "macs", "params",
                         "param_convention", "weights", "biases", "bn_params", "bn_stats",
                         "activations", "elementwise_ops")


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
