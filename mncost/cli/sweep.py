"""``mncost sweep``: costs over a grid of models x alpha x resolution (analytic; no torch unless
``--latency``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import click

from ..costs.int8 import INT8_HELP
from ..costs.memory import DEFAULT_DTYPE, DTYPE_BYTES, check_per_channel
from ..errors import InputError
from ..files.outputfile import Output, OutputPath, check_output, check_outputs
from ..limits import MAX_PLOT_POINTS
from ..network.catalog import BUILTINS, load_model
from ..render import sweep as view
from ..render.output import emit
from ..render.text import visible
from ..sweep import run as core
from ..sweep.grid import parse_alphas, parse_depths, parse_resolutions
from .common import (
    check_latency_options,
    device_profile_option,
    format_from_output,
    format_option,
    grid_options,
    latency_options,
    merge_deprecated,
    output_option,
    output_path_option,
    params_option,
    profiler_options,
)
from .progress import count_bar
from .signals import SignalGuard, describe, exit_status, signal_of


def _profile_network(network: Any, options: Any) -> Any:
    """The torch profiler (imported here, when a measurement is asked for)."""
    from ..torch_backend.profile import profile_network

    return profile_network(network, options)


def partial_path(output: str) -> Path:
    """``sweep.csv`` -> ``sweep.partial.csv``: where an interrupted sweep's rows go."""
    path = Path(output)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


#: Most rows a table or Markdown output holds; larger sweeps are written as csv or jsonl.
TABLE_MAX_ROWS = 10_000


@click.command()
@click.argument("models", nargs=-1, required=True)
@grid_options(alpha_help="Width multipliers: 0.25,0.5,1.0 or a range start:stop:step such "
                         "as 0.25:1.5:0.05 (stop included), or a mix (default: each spec's "
                         "own, 1.0 except EfficientNet-B1...B7).",
              depth_help="Depth multipliers, as --alpha: each row repeats ceil(D x n) times "
                         "(default: each spec's own).",
              res_help="Resolutions: 128,160,224, 224x160 (H x W), or a range such as "
                       "96:480:16 (default: each spec's own, 224).")
@params_option
@click.option("--per-layer", is_flag=True, help="One row per layer per configuration (long "
                                                "format, for pandas).")
@format_option(("table", "csv", "jsonl", "json", "markdown"),
               help="Output format (csv, jsonl and json: exact integers, written row by row as "
                    f"computed; table and markdown: at most {TABLE_MAX_ROWS:,} rows).")
@output_option
@output_path_option("--plot", metavar="FILE.png", fmt="png",
                    help="Also draw MACs and params vs alpha and resolution (and latency) to a "
                         "PNG (needs the plot extra).")
@click.option("--memory", is_flag=True,
              help="Add peak_activation_bytes (naive schedule) and bytes_moved, at --dtype "
                   "(resolves every configuration: ~1 ms each).")
@click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default=DEFAULT_DTYPE,
              show_default=True, help=f"Element type of --memory's columns; {INT8_HELP}.")
@click.option("--per-channel", is_flag=True,
              help="With --dtype int8: weights quantized per output channel.")
@latency_options
@device_profile_option("Add predicted latency columns from a device profile (`mncost "
                       "calibrate`): no torch, no measuring.", old="--predict")
@format_from_output
def sweep(models: tuple[str, ...], alphas: str | None, depths: str | None,
          resolutions: str | None, classes: int | None,
          params: str, per_layer: bool, fmt: str, output: OutputPath | None,
          plot: OutputPath | None, memory: bool, dtype: str, per_channel: bool,
          latency: bool, device: str,
          threads: int | None, batch: int, repeats: int | None, warmup: int | None,
          min_time: float | None, device_profile: str | None,
          old_device_profile: str | None) -> None:
    """Costs of every MODEL x alpha x depth x resolution: one row each (or one per layer).

    \b
    Examples:
      mncost sweep v1 v2 --alpha 0.25,0.5,0.75,1.0 --res 128,160,192,224 -f csv -o grid.csv
      mncost sweep v2 --alpha 0.25:1.5:0.05 --res 96:480:8 -f csv > v2.csv
      mncost sweep v3-large --alpha 0.75,1.0 --latency --threads 1 --plot v3.png
      mncost sweep efficientnet-b0 --alpha 1.0:2.0:0.1 --depth 1.0:3.1:0.1 --res 224:600:4

    Columns are documented in docs/sweeps.md (stable; units in their names). csv, jsonl and json
    are written as the rows are computed, in constant memory (up to 2,000,000
    configurations). Ctrl-C during --latency writes the rows measured so far to
    FILE.partial.EXT (with -o), else nothing.
    """
    predict_file = merge_deprecated(device_profile, old_device_profile,
                                    "--device-profile FILE", "--predict FILE")
    models = tuple(dict.fromkeys(models))   # a model named twice is swept once
    check_latency_options(latency)
    if latency and per_layer:
        raise click.UsageError("--latency measures whole configurations; drop --per-layer")
    if plot and per_layer:
        raise click.UsageError("--plot draws whole configurations; drop --per-layer")
    if memory and per_layer:
        raise click.UsageError("--memory adds whole-configuration columns; drop --per-layer "
                               "(mncost memory MODEL --per-layer has them per layer)")
    dtype_given = click.get_current_context().get_parameter_source("dtype")
    if not memory and (per_channel or dtype_given is click.core.ParameterSource.COMMANDLINE):
        raise click.UsageError(f"{'--per-channel' if per_channel else '--dtype'} sizes "
                               "--memory's columns: add --memory")
    check_per_channel(dtype, per_channel)
    partial_out = None
    if latency and output is not None and output.is_file:
        partial_out = check_output(str(partial_path(output.given)), "--output")
    check_outputs(("--output", output), ("--plot", plot), ("--output (partial)", partial_out),
                  inputs=[("MODELS", m) for m in models if m not in BUILTINS]
                  + [("--predict", predict_file)])
    if plot:
        view.require_matplotlib()
    if predict_file is not None and per_layer:
        raise click.UsageError("--device-profile adds whole-configuration columns; drop "
                               "--per-layer "
                               "(use `mncost predict` for per-layer predictions)")
    predictor = _predictor(predict_file, models) if predict_file is not None else None
    grid = core.Grid(models=models, specs=tuple(load_model(m) for m in models),
                     alphas=parse_alphas(alphas) if alphas is not None else (None,),
                     depths=parse_depths(depths) if depths is not None else (None,),
                     resolutions=(parse_resolutions(resolutions) if resolutions is not None
                                  else ()),
                     classes=classes, params=params)
    core.check_work(grid, per_layer, memory)
    if plot and grid.size > MAX_PLOT_POINTS:
        raise InputError(f"--plot draws at most {MAX_PLOT_POINTS:,} configurations, not "
                         f"{grid.size:,}: plot a coarser grid (the data file may be larger)")
    if fmt in ("table", "markdown"):
        count = core.row_count(grid, per_layer)
        if count > TABLE_MAX_ROWS:
            raise InputError(f"{count:,} rows are too many for -f {fmt} (at most "
                             f"{TABLE_MAX_ROWS:,}); use -f csv or -f jsonl, which stream")
    state = {"partial": False, "rows": 0}
    rows: Iterable[dict[str, Any]] = core.iter_rows(grid, per_layer)
    if memory:
        rows = core.add_memory(rows, dict(zip(models, grid.specs)), dtype, per_channel)
    if predictor is not None:
        from ..latency.predict import machine_notes

        rows = predictor.rows(rows)
        for note in machine_notes(predictor.device):
            click.echo(f"mncost: warning: {visible(note.text)}", err=True)
    if latency:
        options = profiler_options(device, threads, batch, repeats, warmup, min_time)
        rows = _measure_rows(rows, grid, options, state)
    kept: list[dict[str, Any]] = []
    if plot:
        rows = _keep(rows, kept)
    to_stdout = output is None or not output.is_file
    if fmt not in view.STREAMED or (latency and to_stdout):
        # Tables need every row to size their columns; an interrupted latency sweep to stdout
        # writes nothing, so its rows are gathered first (they come slowly, and are few).
        rows = list(rows)
        _stop_if_nothing(state, grid, output)
        target = partial_out if state["partial"] else output
        emit(view.render(fmt, rows, per_layer, latency, params, state["partial"], grid.size),
             target)
    else:
        with Output(output if output is not None else "-") as out:
            for chunk in view.stream(fmt, rows, per_layer, latency,
                                     lambda: (state["partial"], grid.size), memory,
                                     predictor is not None):
                out.write(chunk)
            if state["partial"]:
                _stop_if_nothing(state, grid, output)
                out.target = partial_out
        if out.target.is_file:
            click.echo(visible(f"wrote {out.target}"), err=True)
    if predictor is not None:
        for line in predictor.warnings():
            click.echo(f"mncost: warning: {visible(line)}", err=True)
    if plot and not state["partial"]:
        emit(view.plot_png(kept, latency), plot)
    if state["partial"]:
        click.echo(visible(f"interrupted: {state['rows']} of {grid.size} configurations "
                           f"measured; partial results in {partial_out}"), err=True)
        raise SystemExit(exit_status(state["signal"]))
    late = state["guard"].signum if state.get("guard") else None
    if late is not None:   # a signal after the last measurement: the write was finished first
        click.echo(f"{describe(late)} after all {grid.size} configurations were measured; "
                   "the results are written in full", err=True)
        raise SystemExit(exit_status(late))


def _stop_if_nothing(state: dict[str, Any], grid: core.Grid, output: OutputPath | None) -> None:
    """An interrupted latency sweep with nothing to keep (no row, or stdout) stops here,
    writing nothing."""
    if state["partial"] and not (output is not None and output.is_file and state["rows"]):
        click.echo(f"interrupted: {state['rows']} of {grid.size} configurations measured; "
                   "nothing written" + ("" if output is not None and output.is_file
                                        else " (use -o FILE to keep partial results)"),
                   err=True)
        raise SystemExit(exit_status(state["signal"]))


def _predictor(device_file: str, models: Sequence[str]) -> Any:
    """A :class:`mncost.latency.predict.SweepPredictor` for the device profile (validated
    first)."""
    from ..latency.device_profile import load_device
    from ..latency.predict import SweepPredictor

    return SweepPredictor(load_device(device_file), {m: load_model(m) for m in models})


def _keep(rows: Iterable[dict[str, Any]], kept: list[dict[str, Any]]
          ) -> Iterator[dict[str, Any]]:
    """Pass rows on, keeping the columns the plot reads."""
    for row in rows:
        kept.append({k: row.get(k) for k in view.PLOT_FIELDS})
        yield row


def _measure_rows(rows: Iterable[dict[str, Any]], grid: core.Grid, options: Any,
             state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Measure each row as it comes, with a progress bar (and remaining-time estimate) on
    stderr; Ctrl-C, SIGTERM or SIGHUP ends the rows there and marks the sweep partial (the rows
    measured are kept).

    A signal interrupts a measurement; one that comes while a measured row is being written,
    or once the sweep is partial (a second Ctrl-C during the partial write), is only noted
    (:class:`SignalGuard`), so the rows measured are always written whole; the guard stays
    until the command ends.
    """
    guard = state["guard"] = SignalGuard().__enter__()
    click.get_current_context().call_on_close(lambda: guard.__exit__(None, None, None))
    specs = dict(zip(grid.models, grid.specs))
    with count_bar("latency", grid.size) as advance:
        try:
            for row in core.measure_latency(rows, specs, options, _profile_network,
                                            lambda i: advance()):
                guard.raising = False
                state["rows"] += 1
                yield row
                if guard.signum is not None and state["rows"] < grid.size:
                    # the signal came while the row was written: stop here
                    state["partial"], state["signal"] = True, guard.signum
                    return
                guard.raising = True
        except KeyboardInterrupt as exc:
            state["partial"], state["signal"] = True, signal_of(exc)
        finally:
            guard.raising = False
