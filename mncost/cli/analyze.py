"""``mncost analyze``, ``mncost list`` and ``mncost validate``: the analytic path (no torch)."""

from __future__ import annotations

import click

from .. import render
from ..costs.analytic import analyze as analyze_network
from ..costs.conventions import conventions
from ..costs.memory import DEFAULT_DTYPE, DTYPE_BYTES, memory_report
from ..costs.schema import conventions_dict
from ..costs.separable import separable_pairs
from ..network.catalog import BUILTINS, find_spec, load_model, resolve_model
from ..render import analyze as view
from ..render.formats import dispatch
from ..render.output import emit
from ..render.text import visible
from ..spec.load import load_spec
from .common import (
    format_from_output,
    format_option,
    network_options,
    output_option,
    params_option,
)


@click.command()
@click.argument("model")
@network_options
@params_option
@click.option("--per-layer", is_flag=True, help="Add the per-layer table (one row per layer "
                                                "in csv).")
@click.option("--stages", is_flag=True, help="Add the breakdown by stage (spec row).")
@click.option("--separable", is_flag=True,
              help="Add the standard-vs-separable comparison of each depthwise + pointwise "
                   "pair (v1 paper Table 3: ratio 1/N + 1/D_K^2).")
@click.option("--conventions", "show_conventions", is_flag=True,
              help="Add every counting convention term by term: MACs, FLOPs (2 x MACs), "
                   "fvcore's default count, and ops (MACs + batch norm, activations, SE "
                   "scale, residual adds, pooling), and the three parameter conventions.")
@click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default=DEFAULT_DTYPE,
              show_default=True, help="Element type of the memory fields in JSON (bytes "
                                      "per layer, bytes moved, peak activation memory).")
@format_option(render.FORMATS)
@output_option
@format_from_output
def analyze(model: str, alpha: float | None, depth: float | None, resolution: str | None,
            classes: int | None, params: str, per_layer: bool, stages: bool, separable: bool,
            show_conventions: bool, dtype: str, fmt: str, output: str | None) -> None:
    """Count MACs, parameters and activations of MODEL, per layer and by layer kind.

    \b
    Examples:
      mncost analyze v1 --alpha 0.5 --res 160
      mncost analyze efficientnet-b0 --alpha 1.2 --depth 1.4 --res 300
      mncost analyze v2 --per-layer --format csv > v2.csv
      mncost analyze my_net.yaml --format json -o my_net.json

    JSON always holds every layer and every view asked for; CSV holds one table: the by-kind
    summary and a total row, or the one view asked for (--per-layer, --stages, --separable or
    --conventions). The fields are documented in docs/output-formats.md.
    """
    if fmt == "csv":   # one table per CSV: refused before any work, never dropped
        view.csv_view(per_layer, stages, separable, show_conventions)
    dtype_given = click.get_current_context().get_parameter_source("dtype")
    if fmt != "json" and dtype_given is click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError(f"--dtype sets the memory fields of -f json, which -f {fmt} "
                               "does not hold; give -f json (or `mncost memory MODEL "
                               "--dtype ...`)")
    network = resolve_model(model, alpha, resolution, classes, depth)
    report = analyze_network(network)
    data = render.report_dict(report, model, params)
    if fmt == "json":
        from ..costs.memory_document import analyze_memory_fields  # only JSON carries them

        data = analyze_memory_fields(data, memory_report(network, dtype))
    if show_conventions:
        data["conventions"] = conventions_dict(conventions(report))
    pairs = [render.separable_dict(p) for p in separable_pairs(network)] if separable else None
    emit(view.render(fmt, data, per_layer, stages, pairs), output)


@click.command("list")
@format_option(("table", "json", "csv"), default="table")
def list_models(fmt: str) -> None:
    """List the built-in models (short name, title, source table, spec file)."""
    rows = []
    for name in BUILTINS:
        spec = load_model(name)
        rows.append({"model": name, "name": spec.name, "title": spec.title or "",
                     "source": spec.source or "", "file": spec.file})
    emit(dispatch({
        "json": lambda: render.to_json(rows),
        "csv": lambda: render.to_csv(rows, ("model", "name", "title", "source", "file")),
        "table": lambda: _list_table(rows),
    }, fmt), None)


def _list_table(rows: list[dict[str, str]]) -> str:
    """One entry per model: its title, its one source and its spec file, each on its own line
    so the list reads at 80 columns."""
    width = max(len(r["model"]) for r in rows)
    pad = " " * (width + 2)
    return "".join(f"{r['model']:<{width}}  {r['title']}\n{pad}source: {r['source']}\n"
                   f"{pad}file:   {_shown_path(r['file'])}\n" for r in rows)


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it is below it, else as it is."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--alpha", "-a", type=float, default=None,
              help="Also resolve the spec at this width multiplier (default: the spec's).")
@click.option("--depth", type=float, default=None,
              help="Also resolve the spec at this depth multiplier (default: the spec's).")
def validate(files: tuple[str, ...], alpha: float | None, depth: float | None) -> None:
    """Check that spec FILES are valid: YAML, keys, types, and that they resolve.

    Prints one line per valid file; the first problem is reported as FILE:LINE: FIELD: reason,
    with exit code 2.
    """
    for file in files:
        spec = load_spec(find_spec(file), find_spec)
        network = resolve_model(file, alpha, depth=depth)
        report = analyze_network(network)
        at = f"alpha={network.alpha:g}" + (f" depth={network.depth:g}"
                                           if network.depth != 1.0 else "")
        click.echo(visible(f"{file}: ok ({spec.name}: {len(network.layers)} layers, "
                           f"{render.human(report.total.macs)} MACs, "
                           f"{render.human(report.total.params())} params at {at})"))
