"""``mncost crosscheck``: a :class:`~mncost.measure.crosscheck_results.CrossCheck` (or the
results of ``--all``) as JSON, CSV, Markdown or rich tables. Every format carries exact
integers.

Importing this module does not import torch: the records and their JSON shapes
(:mod:`mncost.measure.crosscheck_results`, :class:`mncost.costs.reference.ReferenceCheck`) are
torch-free.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..costs.schema import conventions_dict, resolution_str
from ..measure.crosscheck_results import CROSSCHECK_SCHEMA
from .analyze import conventions_section
from .formats import dispatch
from .output import Draw
from .tables import Section, print_sections, sections_markdown
from .text import plural, to_csv, to_json

_LABELS = {"macs": "MACs", "flops": "FLOPs (2 x MACs)", "fvcore": "fvcore default",
           "weights": "params (weights)", "trainable": "params (trainable)",
           "checkpoint": "params (checkpoint)"}
_COUNTERS = {("macs", "fvcore"): "fvcore conv + linear ops",
             ("flops", "torch"): "torch FlopCounterMode",
             ("fvcore", "fvcore"): "fvcore FlopCountAnalysis.total()",
             ("weights", "torch"): "Conv2d / Linear .weight",
             ("trainable", "torch"): "sum(p.numel() for p in parameters())",
             ("checkpoint", "torch"): "parameters + running mean / var buffers"}


def _n(value: int) -> str:
    return f"{value:,}"


def _delta(value: int) -> str:
    return "0" if value == 0 else f"{value:+,}"


# ---------------------------------------------------------------------------------------------
# One configuration

def _title(result) -> str:
    net = result.network
    verdict = "all agree" if result.ok else f"{len(result.mismatches)} MISMATCHES"
    depth = f"depth={net.depth:g} " if net.depth != 1.0 else ""
    return (f"crosscheck {result.model} ({net.spec_name}) alpha={net.alpha:g} {depth}"
            f"resolution={resolution_str(net.resolution)} classes={net.classes}: "
            f"{result.checks:,} checks, {verdict} ({result.seconds:.1f} s)")


def crosscheck_sections(result, per_layer: bool, show_conventions: bool) -> list[Section]:
    """Totals and fvcore's terms; with the flags, the conventions and the per-layer table."""
    totals = [(_LABELS[c.metric], _COUNTERS[(c.metric, c.counter)], _n(c.analytic),
               _n(c.measured), _delta(c.delta)) for c in result.totals]
    terms = [(c.metric, _term_rule(result, c.metric), _n(c.analytic), _n(c.measured),
              _delta(c.delta)) for c in result.fvcore_terms]
    sections = [
        Section("Totals", ("count", "counter", "analytic", "measured", "delta"), totals,
                "llrrr", together=(("analytic", "measured", "delta"),)),
        Section("fvcore's default total rebuilt from the analytic side",
                ("fvcore term", "rule", "analytic", "fvcore by_operator", "delta"), terms,
                "llrrr", together=(("analytic", "fvcore by_operator", "delta"),))]
    if show_conventions:
        sections.append(conventions_section(conventions_dict(result.conventions)))
    if per_layer:
        sections.append(_layer_section(result))
    return sections


def _term_rule(result, name: str) -> str:
    if name == "total":
        return "sum of the terms"
    try:
        term = result.conventions.count("fvcore").term(name)
    except KeyError:
        return "not in the analytic convention"
    if term.per_element is None:
        return term.rule
    return f"{term.per_element} x {term.elements:,} elements ({term.layers} layers)"


def _layer_section(result) -> Section:
    rows = []
    for layer in result.layers:
        macs, fv = layer.get("macs", "fvcore"), layer.get("flops", "torch")
        params = layer.get("trainable")
        bad = [f"{c.metric}/{c.counter} {c.delta:+,}" for c in layer.checks if not c.ok]
        rows.append((layer.name, layer.kind, _n(macs.analytic), _n(macs.measured),
                     _n(fv.measured // 2) if fv.measured % 2 == 0 else f"{fv.measured / 2:,}",
                     _n(params.analytic), _n(params.measured), "; ".join(bad) or "0"))
    return Section("Per layer (MACs; torch = FlopCounterMode / 2; params trainable; delta "
                   "covers every check)", ("layer", "kind", "analytic", "fvcore", "torch",
                                           "params", "torch params", "delta"), rows,
                   "llrrrrrl", together=(("analytic", "fvcore", "torch"),
                                         ("params", "torch params")))


def _notes(result) -> list[str]:
    notes = []
    if result.fvcore_skipped:
        skipped = ", ".join(f"{op.replace('aten::', '')} x{n}"
                            for op, n in sorted(result.fvcore_skipped.items()))
        notes.append(f"fvcore skips (counts as 0; calls): {skipped}. The ops convention "
                     f"counts them: see --conventions.")
    return notes


_CSV_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "scope", "kind", "metric",
                "counter", "analytic", "measured", "delta")


def _csv_rows(result, per_layer: bool) -> list[dict[str, Any]]:
    net = result.network
    head = {"model": result.model, "alpha": net.alpha, "depth": net.depth,
            "resolution": resolution_str(net.resolution), "classes": net.classes}
    rows = []
    if per_layer:
        rows += [{**head, "scope": layer.name, "kind": layer.kind, **c.to_dict()}
                 for layer in result.layers for c in layer.checks]
    rows += [{**head, "scope": "total", **c.to_dict()} for c in result.totals]
    rows += [{**head, "scope": "fvcore_term", **c.to_dict()} for c in result.fvcore_terms]
    return rows


def render_one(fmt: str, result, per_layer: bool, show_conventions: bool) -> str | Draw:
    """One configuration in ``fmt``: text, or for ``table`` a rich drawing."""
    def sections() -> list[Section]:
        return crosscheck_sections(result, per_layer, show_conventions)

    return dispatch({
        "table": lambda: lambda console: print_sections(console, _title(result), sections(),
                                                        _notes(result)),
        "json": lambda: to_json(result.to_dict()),
        "csv": lambda: to_csv(_csv_rows(result, per_layer), _CSV_COLUMNS),
        "markdown": lambda: sections_markdown(_title(result), sections(), _notes(result),
                                              spaced=True),
    }, fmt)


# ---------------------------------------------------------------------------------------------
# --reference torchvision|timm

def _shape(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def _reference_sections(result, per_layer: bool) -> tuple[str, list[Section]]:
    net, ours, theirs = result.network, result.ours, result.theirs
    depth = f"depth={net.depth:g} " if net.depth != 1.0 else ""
    verdict = "all agree" if result.ok else f"{len(result.mismatches)} MISMATCHES"
    title = (f"crosscheck {result.model} ({net.spec_name}) alpha={net.alpha:g} {depth}"
             f"resolution={resolution_str(net.resolution)} classes={net.classes} against "
             f"{result.library}: {result.checks:,} checks, {verdict} ({result.seconds:.1f} s)")
    totals = [("conv/linear layers", _n(len(ours.layers)), _n(len(theirs.layers)),
               _delta(len(theirs.layers) - len(ours.layers))),
              ("MACs", _n(ours.macs), _n(theirs.macs), _delta(theirs.macs - ours.macs)),
              ("params (trainable)", _n(ours.params), _n(theirs.params),
               _delta(theirs.params - ours.params)),
              ("output", _shape(ours.output), _shape(theirs.output),
               "0" if ours.output == theirs.output else "differs")]
    sections = [Section("Totals", ("count", "mncost", result.library, "delta"), totals,
                        together=(("mncost", result.library, "delta"),))]
    if per_layer:
        rows = [(a.name, _n(a.macs), _n(a.params), _shape(a.shape),
                 "ok" if (a.macs, a.params, a.shape) == (b.macs, b.params, b.shape)
                 else f"{_n(b.macs)} {_n(b.params)} {_shape(b.shape)}")
                for a, b in zip(ours.layers, theirs.layers)]
        sections.append(Section("Conv / linear layers in execution order",
                                ("layer", "MACs", "params", "out CxHxW", result.library),
                                rows, "lrrrl"))
    return title, sections


_REFERENCE_CSV = ("model", "reference", "alpha", "depth", "resolution", "classes", "scope",
                  "index", "reference_name", "macs", "reference_macs", "params",
                  "reference_params", "shape", "reference_shape")


def render_reference(fmt: str, result, per_layer: bool) -> str | Draw:
    """``crosscheck --reference`` in ``fmt`` (JSON and CSV always hold every layer)."""
    def sections() -> tuple[str, list[Section]]:
        return _reference_sections(result, per_layer)

    return dispatch({
        "json": lambda: to_json(result.to_dict()),
        "csv": lambda: to_csv(_reference_rows(result), _REFERENCE_CSV),
        "table": lambda: lambda console: print_sections(console, *sections()),
        "markdown": lambda: sections_markdown(*sections(), spaced=True),
    }, fmt)


def _reference_rows(result) -> list[dict[str, Any]]:
    net = result.network
    head = {"model": result.model, "reference": result.library, "alpha": net.alpha,
            "depth": net.depth, "resolution": resolution_str(net.resolution),
            "classes": net.classes}
    rows = [{**head, "scope": "total", "macs": result.ours.macs,
             "reference_macs": result.theirs.macs, "params": result.ours.params,
             "reference_params": result.theirs.params,
             "shape": _shape(result.ours.output),
             "reference_shape": _shape(result.theirs.output)}]
    rows += [{**head, "scope": a.name, "index": i, "reference_name": b.name,
              "macs": a.macs, "reference_macs": b.macs, "params": a.params,
              "reference_params": b.params, "shape": _shape(a.shape),
              "reference_shape": _shape(b.shape)}
             for i, (a, b) in enumerate(zip(result.ours.layers, result.theirs.layers))]
    return rows


# ---------------------------------------------------------------------------------------------
# --all

_GRID_COLUMNS = ("model", "alpha", "depth", "resolution", "classes", "layers", "macs", "params",
                 "fvcore", "checks", "mismatches", "ok", "seconds")


def _grid_table(results: Sequence) -> tuple[str, list[Section]]:
    summaries = [r.summary_dict() for r in results]
    depth = any(r["depth"] != 1.0 for r in summaries)     # a depth column only when it varies
    rows = [(r["model"], f"{r['alpha']:g}", *((f"{r['depth']:g}",) if depth else ()),
             resolution_str(r["resolution"]), str(r["layers"]),
             _n(r["macs"]), _n(r["params"]), _n(r["fvcore"]), _n(r["checks"]),
             "ok" if r["ok"] else f"{r['mismatches']} MISMATCHES")
            for r in summaries]
    total = sum(r.seconds for r in results)
    title = (f"crosscheck --all: {plural(len(results), 'configuration')}, "
             f"{sum(1 for r in results if not r.ok)} failing ({total:.1f} s)")
    head = ("model", "alpha", *(("depth",) if depth else ()), "res", "layers", "MACs", "params",
            "fvcore", "checks", "result")
    return title, [Section("", head, rows, "l" + "r" * (len(head) - 2) + "l",
                           key=head.index("res") + 1)]


def render_grid(fmt: str, results: Sequence) -> str | Draw:
    """``--all`` in ``fmt``: one summary per configuration (JSON: everything of the failing
    ones); text, or for ``table`` a rich drawing."""
    return dispatch({
        "table": lambda: lambda console: print_sections(console, *_grid_table(results)),
        "json": lambda: to_json(_grid_dict(results)),
        "csv": lambda: to_csv(_grid_csv_rows(results), _GRID_COLUMNS),
        "markdown": lambda: sections_markdown(*_grid_table(results), spaced=True),
    }, fmt)


def _grid_dict(results: Sequence) -> dict[str, Any]:
    return {"schema": CROSSCHECK_SCHEMA, "ok": all(r.ok for r in results),
            "configurations": len(results),
            "results": [{**r.summary_dict(), "mismatch_lines": list(r.mismatches)}
                        if r.ok else r.to_dict() for r in results]}


def _grid_csv_rows(results: Sequence) -> list[dict[str, Any]]:
    rows = [r.summary_dict() for r in results]
    for row in rows:
        row["resolution"] = resolution_str(row["resolution"])
    return rows


# ---------------------------------------------------------------------------------------------
# The verdict (stderr)

#: Mismatch lines shown on stderr at most (all of them: ``--format json``).
MAX_LINES = 40


def verdict(results: Sequence) -> tuple[list[str], str | None]:
    """The stderr lines closing a cross-check, and the failure message (None if all agree)."""
    bad = [r for r in results if not r.ok]
    checks = sum(r.checks for r in results)
    if not bad:
        return [f"crosscheck: all {checks:,} counts agree in "
                f"{plural(len(results), 'configuration')}"], None
    found = [(r, m) for r in bad for m in r.mismatches]
    lines = [f"{r.model} alpha={r.network.alpha:g} depth={r.network.depth:g} "
             f"res={resolution_str(r.network.resolution)}: {line}"
             for r, line in found[:MAX_LINES]]
    if len(found) > MAX_LINES:
        lines.append(f"... and {len(found) - MAX_LINES:,} more (all of them: --format json)")
    return lines, (f"crosscheck: {plural(len(found), 'mismatch')} in {len(bad)} of "
                   f"{plural(len(results), 'configuration')} (first: {found[0][1]})")
