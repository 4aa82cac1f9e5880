"""``mncost analyze``: the report of :func:`mncost.costs.analyze` as plain data (JSON, CSV)
and as titled tables (Markdown, rich).

The JSON and CSV fields are an interface, documented in README.md ("Output formats");
:data:`ANALYZE_SCHEMA` names the JSON version.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..costs import DEFAULT_PARAMS, PARAM_CONVENTIONS, REGISTRY, Cost, Report
from ..layers import ResolvedLayer
from ..separable import SeparablePair
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, pct, resolution_str, to_csv, to_json

ANALYZE_SCHEMA = "mncost.analyze/1"


# ---------------------------------------------------------------------------------------------
# Plain data (JSON-ready, exact integers)

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
        "elementwise_ops": cost.ops.total,
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
            "ops": total.total_ops,
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


def separable_dict(pair: SeparablePair) -> dict[str, Any]:
    return {
        "depthwise": pair.depthwise.name, "pointwise": pair.pointwise.name,
        "kernel": pair.kernel, "m": pair.m, "n": pair.n, "out_h": pair.out_h,
        "out_w": pair.out_w, "separable_macs": pair.separable_macs,
        "standard_macs": pair.standard_macs, "separable_weights": pair.separable_weights,
        "standard_weights": pair.standard_weights, "ratio": float(pair.ratio),
        "formula_ratio": float(pair.formula_ratio),
    }


# ---------------------------------------------------------------------------------------------
# CSV

#: CSV columns of ``mncost analyze --format csv`` (summary by kind, then a total row).
ANALYZE_KIND_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "kind", "label",
                        "layers", "macs", "macs_share", "params", "params_share",
                        "param_convention", "weights", "biases",
                        "bn_params", "bn_stats", "activations", "elementwise_ops")
#: CSV columns of ``mncost analyze --per-layer --format csv`` (one row per layer).
ANALYZE_LAYER_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "name", "kind",
                         "stage", "in_shape", "out_shape", "kernel", "stride", "groups", "act", "bn",
                         "bias", "macs", "params", "param_convention", "weights", "biases",
                         "bn_params",
                         "bn_stats", "activations", "elementwise_ops")


def analyze_csv(data: dict[str, Any], per_layer: bool) -> str:
    """CSV for ``analyze``: by-kind rows plus a ``total`` row, or one row per layer."""
    head = {"model": data["model"], "alpha": data["alpha"], "depth": data["depth"],
            "resolution": resolution_str(data["resolution"]), "classes": data["classes"],
            "param_convention": data["param_convention"]}
    if per_layer:
        return to_csv(({**head, **row} for row in data["layers"]), ANALYZE_LAYER_COLUMNS)
    total = {**head, "kind": "total", "label": "total", "layers": data["totals"]["layers"],
             **data["totals"], "macs_share": 1.0, "params_share": 1.0}
    rows = [{**head, **row} for row in data["by_kind"]] + [total]
    return to_csv(rows, ANALYZE_KIND_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Titled tables (Markdown, rich)

def _title(data: dict[str, Any]) -> str:
    depth = f"depth={data['depth']:g} " if data["depth"] != 1.0 else ""
    return (f"{data['model']} ({data['spec']['name']}) alpha={data['alpha']:g} {depth}"
            f"resolution={resolution_str(data['resolution'])} classes={data['classes']}")


#: The parameter conventions as the totals table names them.
PARAMS_ROWS = {"trainable": "trainable", "weights": "weights only",
               "checkpoint": "checkpoint"}


def _totals_rows(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    t = data["totals"]
    conv = data["param_convention"]
    # The chosen convention first, then the other two: each convention once.
    order = [conv] + [c for c in PARAMS_ROWS if c != conv]
    params = [(f"params ({PARAMS_ROWS[c]}{', chosen' if c == conv else ''})",
               human(t[f"params_{c}"]), f"{t[f'params_{c}']:,}") for c in order]
    return [
        ("MACs (mult-adds)", human(t["macs"]), f"{t['macs']:,}"),
        ("FLOPs = 2 x MACs", human(t["flops"]), f"{t['flops']:,}"),
        *params,
        ("activations (outputs)", human(t["activations"]), f"{t['activations']:,}"),
        ("layers", str(t["layers"]), str(t["layers"])),
    ]


def _kind_rows(data: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(row["label"], str(row["layers"]), human(row["macs"]), pct(row["macs_share"]),
             human(row["params"]), pct(row["params_share"])) for row in data["by_kind"]]


def _stage_rows(data: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(row["stage"], human(row["macs"]), pct(row["macs_share"]), human(row["params"]),
             pct(row["params_share"])) for row in data["by_stage"]]


def _layer_rows(data: dict[str, Any]) -> list[tuple[str, ...]]:
    # Shapes C x H x W, as in the CSV and JSON (one order everywhere).
    return [(row["name"], row["kind"], "x".join(map(str, row["in_shape"])),
             "x".join(map(str, row["out_shape"])),
             f"{row['kernel']}/{row['stride']}" if row["kernel"] else f"global/{row['stride']}",
             row["act"], human(row["macs"]), human(row["params"])) for row in data["layers"]]


def _separable_rows(pairs: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(f"{p['depthwise']} + {p['pointwise']}", str(p["kernel"]), str(p["m"]),
             str(p["n"]), f"{p['out_h']}x{p['out_w']}", human(p["standard_macs"]),
             human(p["separable_macs"]), f"{p['ratio']:.4f}", f"{p['formula_ratio']:.4f}",
             human(p["standard_weights"]), human(p["separable_weights"])) for p in pairs]


def conventions_section(conventions: dict[str, Any]) -> Section:
    """Every counting and parameter convention, term by term, from
    :func:`mncost.conventions.conventions_dict` data."""
    rows = []
    for c in (*conventions["counts"], *conventions["params"]):
        for i, t in enumerate(c["terms"]):
            per = "" if t["per_element"] is None else str(t["per_element"])
            elements = "" if t["elements"] is None else f"{t['elements']:,}"
            rows.append((c["name"] if i == 0 else "", t["name"], per, elements,
                         f"{t['count']:,}", f"{c['total']:,}" if i == len(c["terms"]) - 1
                         else ""))
    return Section("Conventions (total = sum of the terms)",
                   ("convention", "term", "per element", "elements", "count", "total"), rows,
                   "llrrrr")


def analyze_sections(data: dict[str, Any], per_layer: bool, stages: bool,
                     separable: Sequence[dict[str, Any]] | None = None) -> list[Section]:
    """The tables of the human formats: totals, by kind, and on request by stage, the
    separable comparison, the counting conventions (``data["conventions"]``) and per layer."""
    sections = [
        Section("", ("total", "value", "exact"), _totals_rows(data)),
        Section("By layer kind", ("kind", "layers", "MACs", "MAC share", "params",
                                  "param share"), _kind_rows(data))]
    if stages:
        sections.append(Section("By stage (spec row)", ("stage", "MACs", "MAC share",
                                                        "params", "param share"),
                                _stage_rows(data)))
    if separable:
        sections.append(Section(
            "Standard vs separable (v1 paper Table 3)",
            ("depthwise + pointwise", "D_K", "M", "N", "D_F", "standard MACs",
             "separable MACs", "ratio", "1/N + 1/D_K^2", "standard weights",
             "separable weights"), _separable_rows(separable)))
    if "conventions" in data:
        sections.append(conventions_section(data["conventions"]))
    if per_layer:
        sections.append(Section("Per layer", ("layer", "kind", "in CxHxW", "out CxHxW", "k/s",
                                              "act", "MACs", "params"), _layer_rows(data),
                                "lllllrrr"))
    return sections


def analyze_markdown(data: dict[str, Any], per_layer: bool, stages: bool,
                     separable: Sequence[dict[str, Any]] | None = None) -> str:
    return sections_markdown(_title(data), analyze_sections(data, per_layer, stages, separable))


def analyze_rich(console: Any, data: dict[str, Any], per_layer: bool, stages: bool,
                 separable: Sequence[dict[str, Any]] | None = None) -> None:
    """Print the human summary with rich."""
    note = (f"MACs = multiply-accumulates (the papers' mult-adds); FLOPs in the 2 x MACs sense "
            f"= {data['totals']['flops']:,}. Params: "
            f"{PARAM_CONVENTIONS[data['param_convention']]}.")
    print_sections(console, _title(data), analyze_sections(data, per_layer, stages, separable),
                   [note])


def render(fmt: str, data: dict[str, Any], per_layer: bool, stages: bool,
           separable: Sequence[dict[str, Any]] | None = None) -> str | Draw:
    """``data`` (:func:`report_dict`) in ``fmt``: text, or for ``table`` a rich drawing."""
    if fmt == "table":
        return lambda console: analyze_rich(console, data, per_layer, stages, separable)
    if fmt == "json":
        return to_json({**data, "separable": separable} if separable is not None else data)
    if fmt == "csv":
        return analyze_csv(data, per_layer)
    return analyze_markdown(data, per_layer, stages, separable)
