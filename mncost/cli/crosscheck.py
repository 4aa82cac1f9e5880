"""``mncost crosscheck``: the analytic counts against fvcore and torch on the built model.

torch (and fvcore) are imported inside the command, through ``mncost.torch_backend``, so
``mncost --help`` and ``mncost analyze`` never load them.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import click

from .. import render
from ..errors import CheckFailed, InputError
from ..models import BUILTINS
from .common import emit, network_options, output_option

#: A titled table: (title, headers, rows, alignment "l"/"r" per column).
Section = tuple[str, Sequence[str], Sequence[Sequence[str]], str]

#: ``--all`` grids: width multipliers x resolutions (the papers' grid, plus the odd 0.35 and 97
#: and a non-square input). quick takes ~25 s for the 8 built-ins on 2 cores, full ~90 s.
GRIDS: dict[str, tuple[tuple[float, ...], tuple[str, ...]]] = {
    "quick": ((0.25, 0.35, 1.0, 1.4), ("96", "97", "224")),
    "full": ((0.25, 0.35, 0.5, 0.75, 1.0, 1.4),
             ("96", "97", "128", "160", "192", "224", "256", "224x160")),
}


def _grid_help() -> str:
    return "--all grid. " + "; ".join(
        f"{name}: alpha {' '.join(f'{a:g}' for a in alphas)} x resolution {' '.join(res)}"
        for name, (alphas, res) in GRIDS.items()) + "."


_LABELS = {"macs": "MACs", "flops": "FLOPs (2 x MACs)", "fvcore": "fvcore default",
           "weights": "params (weights)", "trainable": "params (trainable)",
           "checkpoint": "params (checkpoint)"}
_COUNTERS = {("macs", "fvcore"): "fvcore conv + linear ops",
             ("flops", "torch"): "torch FlopCounterMode",
             ("fvcore", "fvcore"): "fvcore FlopCountAnalysis.total()",
             ("weights", "torch"): "Conv2d / Linear .weight",
             ("trainable", "torch"): "sum(p.numel() for p in parameters())",
             ("checkpoint", "torch"): "parameters + running mean / var buffers"}


@click.command()
@click.argument("model", required=False)
@network_options
@click.option("--all", "all_", is_flag=True,
              help="Check every built-in spec (or MODEL only) over a grid of alpha and "
                   "resolution; --alpha / --res, when given, fix that axis.")
@click.option("--grid", "grid_name", type=click.Choice(list(GRIDS)), default="quick",
              show_default=True, help=_grid_help())
@click.option("--per-layer", is_flag=True, help="Add the per-layer table (layer, analytic, "
                                                "fvcore, torch, delta).")
@click.option("--conventions", "show_conventions", is_flag=True,
              help="Add every counting and parameter convention, term by term.")
@click.option("--format", "-f", "fmt", type=click.Choice(list(render.FORMATS)),
              default="table", show_default=True,
              help="Output format; every format carries exact integers.")
@output_option
@click.pass_context
def crosscheck(ctx: click.Context, model: str | None, alpha: float, resolution: str | None,
               classes: int | None, all_: bool, grid_name: str, per_layer: bool,
               show_conventions: bool, fmt: str, output: str | None) -> None:
    """Build MODEL in torch and check, layer by layer and in total, that the analytic MACs and
    parameters equal what fvcore's FlopCountAnalysis, torch's FlopCounterMode (2 x MACs) and
    the module's parameters and buffers say. Also rebuilds fvcore's default total from the
    analytic side, term by term.

    \b
    Examples:
      mncost crosscheck v3-small --per-layer
      mncost crosscheck v2 --alpha 0.35 --res 97 --format json
      mncost crosscheck --all --grid full

    Exit codes: 0 every count agrees, 1 a mismatch (listed on stderr), 2 usage error or
    torch / fvcore missing (pip install 'mncost[torch]').
    """
    from ..torch_backend import crosscheck as xc

    if all_:
        models, alphas, resolutions = _grid(ctx, model, alpha, resolution, grid_name)
        points = [(m, a, r) for m in models for a in alphas for r in resolutions]
        per_model = len(alphas) * len(resolutions)
        results = xc.crosscheck_grid(points, classes, progress=_progress(per_model))
        _output_grid(results, fmt, output)
    else:
        if model is None:
            raise InputError("give a MODEL (built-in name or .yaml spec), or --all")
        results = (xc.crosscheck(model, alpha, resolution, classes),)
        _output_one(xc, results[0], fmt, output, per_layer, show_conventions)
    _verdict(results)


def _grid(ctx, model, alpha, resolution, grid_name) -> tuple:
    """Models, alphas, resolutions: an axis is fixed where --alpha / --res was given."""
    alphas, resolutions = GRIDS[grid_name]
    if ctx.get_parameter_source("alpha") != click.core.ParameterSource.DEFAULT:
        alphas = (alpha,)
    if resolution is not None:
        resolutions = (resolution,)
    return ([model] if model else list(BUILTINS)), alphas, resolutions


def _progress(per_model: int):
    """Progress on stderr: one line per model once its configurations are done."""
    done: dict[str, list] = {}

    def report(result) -> None:
        rows = done.setdefault(result.model, [])
        rows.append(result)
        if len(rows) == per_model:
            bad = sum(1 for r in rows if not r.ok)
            click.echo(f"{result.model}: {_plural(len(rows), 'configuration')}, "
                       f"{'all agree' if not bad else f'{bad} failing'} "
                       f"({sum(r.seconds for r in rows):.1f} s)", err=True)

    return report


_MAX_LINES = 40


def _verdict(results) -> None:
    """The closing line on stderr, or the mismatches and a CheckFailed (exit 1)."""
    bad = [r for r in results if not r.ok]
    checks = sum(r.checks for r in results)
    if not bad:
        click.echo(f"crosscheck: all {checks:,} counts agree in "
                   f"{_plural(len(results), 'configuration')}", err=True)
        return
    lines = [(r, m) for r in bad for m in r.mismatches]
    for r, line in lines[:_MAX_LINES]:
        click.echo(f"{r.model} alpha={r.network.alpha:g} "
                   f"res={render.resolution_str(r.network.resolution)}: {line}", err=True)
    if len(lines) > _MAX_LINES:
        click.echo(f"... and {len(lines) - _MAX_LINES:,} more (all of them: --format json)",
                   err=True)
    raise CheckFailed(f"crosscheck: {_plural(len(lines), 'mismatch')} in {len(bad)} of "
                      f"{_plural(len(results), 'configuration')} (first: {lines[0][1]})")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "es" if word.endswith("ch") else "s")


# ---------------------------------------------------------------------------------------------
# One configuration

def _output_one(xc, result, fmt: str, output: str | None, per_layer: bool,
                show_conventions: bool) -> None:
    if fmt == "json":
        emit(render.to_json(xc.result_dict(result)), output)
    elif fmt == "csv":
        emit(render.to_csv(_csv_rows(xc, result, per_layer), _CSV_COLUMNS), output)
    else:
        sections = _sections(result, per_layer, show_conventions)
        _emit_sections(_title(result), sections, _notes(result), fmt, output)


def _title(result) -> str:
    net = result.network
    verdict = "all agree" if result.ok else f"{len(result.mismatches)} MISMATCHES"
    return (f"crosscheck {result.model} ({net.spec_name}) alpha={net.alpha:g} "
            f"resolution={render.resolution_str(net.resolution)} classes={net.classes}: "
            f"{result.checks:,} checks, {verdict} ({result.seconds:.1f} s)")


def _n(value: int) -> str:
    return f"{value:,}"


def _delta(value: int) -> str:
    return "0" if value == 0 else f"{value:+,}"


def _sections(result, per_layer: bool, show_conventions: bool) -> list[Section]:
    totals = [(_LABELS[c.metric], _COUNTERS[(c.metric, c.counter)], _n(c.analytic),
               _n(c.measured), _delta(c.delta)) for c in result.totals]
    terms = [(c.metric, _term_rule(result, c.metric), _n(c.analytic), _n(c.measured),
              _delta(c.delta)) for c in result.fvcore_terms]
    sections: list[Section] = [
        ("Totals", ("count", "counter", "analytic", "measured", "delta"), totals, "llrrr"),
        ("fvcore's default total rebuilt from the analytic side",
         ("fvcore term", "rule", "analytic", "fvcore by_operator", "delta"), terms, "llrrr")]
    if show_conventions:
        sections.append(_conventions_section(result.conventions))
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


def _conventions_section(conv) -> Section:
    rows = []
    for c in (*conv.counts, *conv.params):
        for i, t in enumerate(c.terms):
            per = "" if t.per_element is None else str(t.per_element)
            elements = "" if t.elements is None else _n(t.elements)
            rows.append((c.name if i == 0 else "", t.name, per, elements, _n(t.count),
                         _n(c.total) if i == len(c.terms) - 1 else ""))
    return ("Conventions (total = sum of the terms)",
            ("convention", "term", "per element", "elements", "count", "total"), rows,
            "llrrrr")


def _layer_section(result) -> Section:
    rows = []
    for layer in result.layers:
        macs, fv = layer.get("macs", "fvcore"), layer.get("flops", "torch")
        params = layer.get("trainable")
        bad = [f"{c.metric}/{c.counter} {c.delta:+,}" for c in layer.checks if not c.ok]
        rows.append((layer.name, layer.kind, _n(macs.analytic), _n(macs.measured),
                     _n(fv.measured // 2) if fv.measured % 2 == 0 else f"{fv.measured / 2:,}",
                     _n(params.analytic), _n(params.measured), "; ".join(bad) or "0"))
    return ("Per layer (MACs; torch = FlopCounterMode / 2; params trainable; delta covers "
            "every check)", ("layer", "kind", "analytic", "fvcore", "torch", "params",
                             "torch params", "delta"), rows, "llrrrrrl")


def _notes(result) -> list[str]:
    notes = []
    if result.fvcore_skipped:
        skipped = ", ".join(f"{op.replace('aten::', '')} x{n}"
                            for op, n in sorted(result.fvcore_skipped.items()))
        notes.append(f"fvcore skips (counts as 0; calls): {skipped}. The ops convention "
                     f"counts them: see --conventions.")
    return notes


_CSV_COLUMNS = ("model", "alpha", "resolution", "classes", "scope", "kind", "metric",
                "counter", "analytic", "measured", "delta")


def _csv_rows(xc, result, per_layer: bool) -> list[dict[str, Any]]:
    net = result.network
    head = {"model": result.model, "alpha": net.alpha,
            "resolution": render.resolution_str(net.resolution), "classes": net.classes}
    rows = []
    if per_layer:
        rows += [{**head, "scope": layer.name, "kind": layer.kind, **xc.check_dict(c)}
                 for layer in result.layers for c in layer.checks]
    rows += [{**head, "scope": "total", **xc.check_dict(c)} for c in result.totals]
    rows += [{**head, "scope": "fvcore_term", **xc.check_dict(c)} for c in result.fvcore_terms]
    return rows


# ---------------------------------------------------------------------------------------------
# --all

_GRID_COLUMNS = ("model", "alpha", "resolution", "classes", "layers", "macs", "params",
                 "fvcore", "checks", "mismatches", "ok", "seconds")


def _output_grid(results, fmt: str, output: str | None) -> None:
    from ..torch_backend.crosscheck import CROSSCHECK_SCHEMA, result_dict, summary_dict

    if fmt == "json":
        data = {"schema": CROSSCHECK_SCHEMA, "ok": all(r.ok for r in results),
                "configurations": len(results),
                "results": [{**summary_dict(r), "mismatch_lines": list(r.mismatches)}
                            if r.ok else result_dict(r) for r in results]}
        emit(render.to_json(data), output)
        return
    rows = [summary_dict(r) for r in results]
    if fmt == "csv":
        for row in rows:
            row["resolution"] = render.resolution_str(row["resolution"])
        emit(render.to_csv(rows, _GRID_COLUMNS), output)
        return
    table = [(r["model"], f"{r['alpha']:g}", render.resolution_str(r["resolution"]),
              str(r["layers"]), _n(r["macs"]), _n(r["params"]), _n(r["fvcore"]),
              _n(r["checks"]), "ok" if r["ok"] else f"{r['mismatches']} MISMATCHES")
             for r in rows]
    total = sum(r.seconds for r in results)
    title = (f"crosscheck --all: {_plural(len(results), 'configuration')}, "
             f"{sum(1 for r in results if not r.ok)} failing ({total:.1f} s)")
    section = ("", ("model", "alpha", "res", "layers", "MACs", "params", "fvcore", "checks",
                    "result"), table, "lrrrrrrrl")
    _emit_sections(title, [section], [], fmt, output)


# ---------------------------------------------------------------------------------------------
# Human formats

def _emit_sections(title: str, sections: list[Section], notes: list[str], fmt: str,
                   output: str | None) -> None:
    if fmt == "markdown":
        parts = [f"## {title}\n"]
        for name, headers, rows, align in sections:
            parts += [f"\n### {name}\n\n" if name else "\n",
                      render.markdown_table(headers, rows, align)]
        parts += [f"\n{note}\n" for note in notes]
        emit("".join(parts), output)
        return
    from rich.console import Console

    buffer = io.StringIO() if output else None
    console = Console(file=buffer, width=160, no_color=True) if buffer else Console()
    if buffer is None and not console.is_terminal:
        console = Console(width=160)  # piped: no terminal width to fit, keep rows whole
    _print_rich(console, title, sections, notes)
    if buffer is not None:
        emit(buffer.getvalue(), output)


def _print_rich(console, title: str, sections: list[Section], notes: list[str]) -> None:
    from rich.table import Table

    console.print(title, highlight=False)
    for name, headers, rows, align in sections:
        table = Table(title=name or None, title_justify="left", header_style="bold")
        for i, (header, a) in enumerate(zip(headers, align)):
            table.add_column(header, justify="right" if a == "r" else "left",
                             no_wrap=a == "r" or i == 0)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for note in notes:
        console.print(f"[dim]{note}[/dim]", highlight=False)
