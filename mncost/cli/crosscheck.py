"""``mncost crosscheck``: the analytic counts against fvcore and torch on the built model.

torch (and fvcore) are imported inside the command, through ``mncost.torch_backend``, so
``mncost --help`` and ``mncost analyze`` never load them.
"""

from __future__ import annotations

import click

from ..errors import CheckFailed, InputError
from ..network.catalog import TABLES
from ..render import crosscheck as view
from ..render import plural
from ..render.output import emit
from ..render.text import visible
from ..spec.load import MODEL_NAME
from ..spec.load import REFERENCE_LIBRARIES as LIBRARIES
from .common import JOBS, format_from_output, format_option, network_options, output_option

#: ``--all`` grids: width multipliers x resolutions (the papers' grid, plus the odd 0.35 and 97
#: and a non-square input), over the built-ins with a table of their own (10). quick: 120
#: configurations, about 22 s on one core; --jobs spreads them over spawned processes.
GRIDS: dict[str, tuple[tuple[float, ...], tuple[str, ...]]] = {
    "quick": ((0.25, 0.35, 1.0, 1.4), ("96", "97", "224")),
    "full": ((0.25, 0.35, 0.5, 0.75, 1.0, 1.4),
             ("96", "97", "128", "160", "192", "224", "256", "224x160")),
}


def _grid_help() -> str:
    return "--all grid. " + "; ".join(
        f"{name}: alpha {' '.join(f'{a:g}' for a in alphas)} x resolution {' '.join(res)}"
        for name, (alphas, res) in GRIDS.items()) + "."


@click.command()
@click.argument("model", required=False)
@network_options
@click.option("--all", "all_", is_flag=True,
              help="Check every built-in spec (or MODEL only) over a grid of alpha and "
                   "resolution; --alpha / --res, when given, fix that axis (--depth applies "
                   "to every point).")
@click.option("--jobs", "-j", type=JOBS, default=None, metavar="N",
              help="--all: worker processes (default: one per CPU; 1: in this process).")
@click.option("--grid", "grid_name", type=click.Choice(list(GRIDS)), default="quick",
              show_default=True, help=_grid_help())
@click.option("--reference", default=None, metavar="LIBRARY[:NAME]",
              callback=lambda ctx, param, value: _reference(value),
              help="Compare with the model the library (torchvision or timm) ships instead "
                   "(needs the reference extra): conv/linear layers in execution order, MACs, "
                   "params, shapes. The model is the built-in's counterpart, the one the "
                   "spec's reference: key names, or NAME (timm:mobilenetv1_100).")
@click.option("--per-layer", is_flag=True, help="Add the per-layer table (layer, analytic, "
                                                "fvcore, torch, delta).")
@click.option("--conventions", "show_conventions", is_flag=True,
              help="Add every counting and parameter convention, term by term.")
@format_option(help="Output format; every format carries exact integers.")
@output_option
@click.pass_context
@format_from_output
def crosscheck(ctx: click.Context, model: str | None, alpha: float | None,
               depth: float | None, resolution: str | None, classes: int | None,
               reference: tuple[str, str | None] | None, all_: bool, jobs: int | None,
               grid_name: str, per_layer: bool, show_conventions: bool, fmt: str,
               output: str | None) -> None:
    """Build MODEL in torch and check, layer by layer and in total, that the analytic MACs and
    parameters equal what fvcore's FlopCountAnalysis, torch's FlopCounterMode (2 x MACs) and
    the module's parameters and buffers say. Also rebuilds fvcore's default total from the
    analytic side, term by term.

    \b
    Examples:
      mncost crosscheck v3-small --per-layer
      mncost crosscheck v2 --alpha 0.35 --res 97 --format json
      mncost crosscheck --all --grid full
      mncost crosscheck efficientnet-b3 --reference torchvision
      mncost crosscheck v3-small-tf --alpha 0.75 --reference timm --per-layer
      mncost crosscheck my_fbnet.yaml --reference timm:fbnetc_100

    With --reference, the model torchvision or timm ships for the same configuration is built
    and counted instead, with the same counters (docs/crosscheck.md, "Reference implementations").

    Exit codes: 0 every count agrees, 1 a mismatch (listed on stderr), 2 usage error or
    torch / fvcore missing (pip install 'mncost[torch]'; --reference: 'mncost[reference]').
    """
    _check_views(fmt, reference, all_, per_layer, show_conventions)
    from ..torch_backend import crosscheck as xc

    if reference is not None:
        if all_ or model is None:
            raise InputError("--reference checks one MODEL (give MODEL, not --all)")
        from ..network.catalog import resolve_model
        from ..torch_backend.reference import crosscheck_reference

        network = resolve_model(model, alpha, resolution, classes, depth)
        library, name = reference
        results = (crosscheck_reference(network, library, model, name),)
        emit(view.render_reference(fmt, results[0], per_layer), output)
    elif all_:
        models, alphas, resolutions = _grid(ctx, model, alpha, resolution, grid_name)
        points = [(m, a, r, depth) for m in models for a in alphas for r in resolutions]
        per_model = len(alphas) * len(resolutions)
        results = xc.crosscheck_grid(points, classes, progress=_progress(per_model), jobs=jobs)
        emit(view.render_grid(fmt, results), output)
    else:
        if model is None:
            raise InputError("give a MODEL (built-in name or .yaml spec), or --all")
        results = (xc.crosscheck(model, alpha, resolution, classes, depth),)
        emit(view.render_one(fmt, results[0], per_layer, show_conventions), output)
    lines, failure = view.verdict(results)
    for line in lines:
        click.echo(visible(line), err=True)
    if failure:
        raise CheckFailed(failure)


def _reference(value: str | None) -> tuple[str, str | None] | None:
    """``--reference LIBRARY[:NAME]`` as (library, name or None)."""
    if value is None:
        return None
    library, _, name = value.partition(":")
    if library not in LIBRARIES:
        raise click.BadParameter(f"{value[:80]!r}: the library is one of "
                                 f"{', '.join(LIBRARIES)} (optionally :MODEL_NAME)")
    if ":" in value and not MODEL_NAME.match(name):
        raise click.BadParameter(f"{value[:80]!r}: after {library}: give a model name "
                                 "(letters, digits, '_', '.', '-')")
    return library, name or None
def _check_views(fmt: str, reference: str | None, all_: bool, per_layer: bool,
                 show_conventions: bool) -> None:
    """A view flag the output would leave out is refused, never dropped without a word."""
    if show_conventions and (reference is not None or all_):
        raise InputError(f"--conventions shows one configuration's own counts; drop it with "
                         f"{'--reference' if reference is not None else '--all'}")
    if per_layer and all_:
        raise InputError("--all writes one summary row per configuration; drop --per-layer "
                         "(or check one MODEL with --per-layer)")
    if show_conventions and fmt == "csv":
        raise InputError("-f csv holds the checks, not the conventions: use -f json, "
                         "markdown or table with --conventions (or `mncost analyze MODEL "
                         "--conventions -f csv`)")


def _grid(ctx, model, alpha, resolution, grid_name) -> tuple:
    """Models, alphas, resolutions: an axis is fixed where --alpha / --res was given. Without
    MODEL: every built-in with a table of its own (EfficientNet-B1...B7 are B0 at other
    multipliers, which the alpha grid and --depth cover)."""
    alphas, resolutions = GRIDS[grid_name]
    if alpha is not None:
        alphas = (alpha,)
    if resolution is not None:
        resolutions = (resolution,)
    return ([model] if model else list(TABLES)), alphas, resolutions


def _progress(per_model: int):
    """Progress on stderr: one line per model once its configurations are done."""
    done: dict[str, list] = {}

    def report(result) -> None:
        rows = done.setdefault(result.model, [])
        rows.append(result)
        if len(rows) == per_model:
            bad = sum(1 for r in rows if not r.ok)
            click.echo(visible(f"{result.model}: {plural(len(rows), 'configuration')}, "
                               f"{'all agree' if not bad else f'{bad} failing'} "
                               f"({sum(r.seconds for r in rows):.1f} s)"), err=True)

    return report
