"""``mncost analyze``: the report of :func:`mncost.costs.analyze` as plain data (JSON, CSV)
and as titled tables (Markdown, rich).

The JSON and CSV fields are an interface, documented in docs/output-formats.md; their
shapes are built in :mod:`mncost.costs.schema`.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..costs.analytic import PARAM_CONVENTIONS
from ..costs.schema import (
    ANALYZE_KIND_COLUMNS,
    ANALYZE_LAYER_COLUMNS,
    ANALYZE_SCHEMA,
    cost_fields,
    layer_fields,
    report_dict,
    resolution_str,
    separable_dict,
)
from ..errors import InputError
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import human, pct, to_csv, to_json

__all__ = ["ANALYZE_KIND_COLUMNS", "ANALYZE_LAYER_COLUMNS", "ANALYZE_SCHEMA", "cost_fields",
           "layer_fields", "report_dict", "separable_dict", "analyze_csv", "analyze_markdown",
           "analyze_rich", "analyze_sections", "conventions_section", "render"]

# ---------------------------------------------------------------------------------------------
# CSV



_HEAD_COLUMNS = ("model", "alpha", "depth", "resolution", "classes")
#: CSV columns of ``analyze --stages -f csv`` (one row per stage, then a total row).
ANALYZE_STAGE_COLUMNS = (*_HEAD_COLUMNS, "stage", "macs", "macs_share", "params",
                         "params_share", "param_convention", "weights", "biases", "bn_params",
                         "bn_stats", "activations", "elementwise_ops")
#: CSV columns of ``analyze --separable -f csv`` (one row per depthwise + pointwise pair).
ANALYZE_SEPARABLE_COLUMNS = (*_HEAD_COLUMNS, "depthwise", "pointwise", "kernel", "m", "n",
                             "out_h", "out_w", "standard_macs", "separable_macs", "ratio",
                             "formula_ratio", "standard_weights", "separable_weights")
#: CSV columns of ``analyze --conventions -f csv`` (one row per term of every convention).
ANALYZE_CONVENTION_COLUMNS = (*_HEAD_COLUMNS, "group", "convention", "term", "per_element",
                              "elements", "layers", "count", "total", "rule")
#: The views a CSV can hold, one per file: the flag that asks for each.
CSV_VIEWS = ("--per-layer", "--stages", "--separable", "--conventions")


def csv_view(per_layer: bool, stages: bool, separable: bool, conventions: bool) -> str | None:
    """The one view ``analyze -f csv`` writes (None: by kind), from the flags.

    Raises:
        InputError: more than one view asked for (a CSV is one table; JSON holds them all).
    """
    asked = [flag for flag, on in zip(CSV_VIEWS, (per_layer, stages, separable, conventions))
             if on]
    if len(asked) > 1:
        raise InputError(f"-f csv writes one table, and {' and '.join(asked)} are "
                         f"{len(asked)}: give one of them per CSV (or -f json, which holds "
                         "them all)")
    return asked[0] if asked else None


def analyze_csv(data: dict[str, Any], per_layer: bool, stages: bool = False,
                separable: Sequence[dict[str, Any]] | None = None) -> str:
    """CSV for ``analyze``, one view (:func:`csv_view`): by-kind rows plus a ``total`` row;
    or one row per layer, per stage (plus ``total``), per separable pair, or per term of
    every counting convention (``data["conventions"]``)."""
    view = csv_view(per_layer, stages, separable is not None, "conventions" in data)
    head = {"model": data["model"], "alpha": data["alpha"], "depth": data["depth"],
            "resolution": resolution_str(data["resolution"]), "classes": data["classes"],
            "param_convention": data["param_convention"]}
    if view == "--per-layer":
        return to_csv(({**head, **row} for row in data["layers"]), ANALYZE_LAYER_COLUMNS)
    totals = {**data["totals"], "macs_share": 1.0, "params_share": 1.0}
    if view == "--stages":
        rows = [{**head, **row} for row in data["by_stage"]]
        return to_csv(rows + [{**head, "stage": "total", **totals}], ANALYZE_STAGE_COLUMNS)
    if view == "--separable":
        return to_csv(({**head, **p} for p in separable or ()), ANALYZE_SEPARABLE_COLUMNS)
    if view == "--conventions":
        conv = data["conventions"]
        rows = [{**head, "group": group, "convention": c["name"], "term": t["name"],
                 **{k: t[k] for k in ("per_element", "elements", "layers", "count", "rule")},
                 "total": c["total"]}
                for group in ("counts", "params") for c in conv[group] for t in c["terms"]]
        return to_csv(rows, ANALYZE_CONVENTION_COLUMNS)
    total = {**head, "kind": "total", "label": "total", "layers": data["totals"]["layers"],
             **totals}
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


def pair_names(pairs: Sequence[dict[str, Any]]) -> list[str]:
    """Each depthwise + pointwise pair by the block both layers are in (``layers.7.0`` for
    ``layers.7.0.dw`` + ``layers.7.0.pw``); ``dw + pw`` in full where the two are not in one
    block or two pairs would read the same."""
    def block(p: dict[str, Any]) -> str:
        dw, pw = p["depthwise"].rpartition("."), p["pointwise"].rpartition(".")
        return dw[0] if dw[0] and dw[0] == pw[0] else ""

    blocks = [block(p) for p in pairs]
    return [b if b and blocks.count(b) == 1 else f"{p['depthwise']} + {p['pointwise']}"
            for b, p in zip(blocks, pairs)]


def _separable_rows(pairs: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(name, str(p["kernel"]), str(p["m"]), str(p["n"]), f"{p['out_h']}x{p['out_w']}",
             human(p["standard_macs"]), human(p["separable_macs"]), f"{p['ratio']:.4f}",
             f"{p['formula_ratio']:.4f}", human(p["standard_weights"]),
             human(p["separable_weights"])) for name, p in zip(pair_names(pairs), pairs)]


def conventions_section(conventions: dict[str, Any]) -> Section:
    """Every counting and parameter convention, term by term, from
    :func:`mncost.costs.schema.conventions_dict` data: one row per term and a ``= total`` row, each
    naming its convention (so a part of a split table still says whose term it is)."""
    rows = []
    for c in (*conventions["counts"], *conventions["params"]):
        for t in c["terms"]:
            per = "" if t["per_element"] is None else str(t["per_element"])
            elements = "" if t["elements"] is None else f"{t['elements']:,}"
            rows.append((c["name"], t["name"], per, elements, f"{t['count']:,}"))
        rows.append((c["name"], "= total", "", "", f"{c['total']:,}"))
    return Section("Conventions (total = sum of the terms)",
                   ("convention", "term", "per element", "elements", "count"), rows, "llrrr",
                   key=2, together=(("per element", "elements", "count"),))


#: Counts and their shares: one part of a split table.
_SHARES = (("MACs", "MAC share", "params", "param share"),)


def analyze_sections(data: dict[str, Any], per_layer: bool, stages: bool,
                     separable: Sequence[dict[str, Any]] | None = None) -> list[Section]:
    """The tables of the human formats: totals, by kind, and on request by stage, the
    separable comparison, the counting conventions (``data["conventions"]``) and per layer."""
    sections = [
        Section("", ("total", "value", "exact"), _totals_rows(data)),
        Section("By layer kind", ("kind", "layers", "MACs", "MAC share", "params",
                                  "param share"), _kind_rows(data), together=_SHARES)]
    if stages:
        sections.append(Section("By stage (spec row)", ("stage", "MACs", "MAC share",
                                                        "params", "param share"),
                                _stage_rows(data), together=_SHARES))
    if separable:
        sections.append(Section(
            "Standard vs separable (v1 paper Table 3)",
            ("block (dw + pw)", "D_K", "M", "N", "D_F", "standard MACs",
             "separable MACs", "ratio", "1/N + 1/D_K^2", "standard weights",
             "separable weights"), _separable_rows(separable),
            together=(("D_K", "M", "N", "D_F"),
                      ("standard MACs", "separable MACs", "ratio", "1/N + 1/D_K^2"),
                      ("standard weights", "separable weights"))))
    if "conventions" in data:
        sections.append(conventions_section(data["conventions"]))
    if per_layer:
        sections.append(Section("Per layer", ("layer", "kind", "in CxHxW", "out CxHxW", "k/s",
                                              "act", "MACs", "params"), _layer_rows(data),
                                "llllllrr", together=(("in CxHxW", "out CxHxW", "k/s"),
                                                      ("MACs", "params"))))
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
    """``data`` (:func:`mncost.costs.schema.report_dict`) in ``fmt``: text, or for ``table`` a rich
    drawing."""
    return dispatch({
        "table": lambda: lambda console: analyze_rich(console, data, per_layer, stages,
                                                      separable),
        "json": lambda: to_json({**data, "separable": separable} if separable is not None
                                else data),
        "csv": lambda: analyze_csv(data, per_layer, stages, separable),
        "markdown": lambda: analyze_markdown(data, per_layer, stages, separable),
    }, fmt)
