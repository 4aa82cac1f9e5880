"""``mncost zoo``: the published configurations of the built-ins, counted, with latency and
their Pareto front (analytic; no torch)."""

from __future__ import annotations

import math

import click

from ..check.units import parse_count
from ..errors import InputError
from ..files.outputfile import OutputPath, check_outputs
from ..render import FORMATS
from ..render import zoo as view
from ..render.output import emit
from ..zoo.data import PRECISIONS
from .common import (
    device_profile_option,
    format_from_output,
    format_option,
    output_option,
    output_path_option,
)


def _count(option: str, value: str | None):
    if value is None:
        return None
    try:
        return parse_count(value)
    except ValueError as exc:
        raise InputError(f"{option}: {exc}") from None


def _bounded(option: str, value: float | None, top: float | None = None) -> float | None:
    """A finite number from 0 (to ``top``), or None."""
    if value is not None and not (math.isfinite(value) and 0 <= value
                                  and (top is None or value <= top)):
        bound = f"a number from 0 to {top:g}" if top is not None else "a finite number >= 0"
        raise InputError(f"{option} must be {bound}, got {value}")
    return value


@click.command()
@click.argument("models", nargs=-1)
@device_profile_option("Predict each row's latency on this device profile (`mncost "
                       "calibrate`) and draw the front against it.")
@click.option("--published-device", "published_device", default=None, metavar="NAME",
              help="Each row's latency as its source printed it on this device (pixel1, "
                   "pixel2, pixel3); where it prints none, '~' and a prediction fitted on "
                   "the device's printed figures, or '-' where they are too few.")
@click.option("--min-top1", "min_top1", type=float, default=None, metavar="X",
              help="Keep rows with a top-1 of at least X (%).")
@click.option("--max-ms", "max_ms", type=float, default=None, metavar="MS",
              help="Keep rows whose latency (predicted or published) is at most MS.")
@click.option("--max-macs", "max_macs", default=None, metavar="M",
              help="Keep rows of at most M MACs (300M, 1.2G, 300000000).")
@click.option("--max-params", "max_params", default=None, metavar="P",
              help="Keep rows of at most P parameters (trainable; 3.5M).")
@click.option("--dtype", type=click.Choice(PRECISIONS), default=None,
              help="Keep rows of published float32 or int8 checkpoints (default: both).")
@format_option(FORMATS)
@output_option
@output_path_option("--plot", metavar="FILE.png",
                    help="Also draw top-1 against latency (or MACs), the front and every "
                         "row labelled, to a PNG (needs the plot extra).")
@format_from_output
def zoo(models: tuple[str, ...], device_profile: str | None, published_device: str | None,
        min_top1: float | None, max_ms: float | None, max_macs: str | None,
        max_params: str | None, dtype: str | None, fmt: str, output: OutputPath | None,
        plot: OutputPath | None) -> None:
    """The published configurations of MODELS (default: every built-in with some): the
    top-1 their papers and model zoos print, mncost's MACs, parameters and peak activation
    memory, a latency with a device, and the Pareto front (top-1 against latency, or
    against MACs without a device) first.

    \b
    Examples:
      mncost zoo
      mncost zoo v2 v3-large --published-device pixel1 --max-ms 40
      mncost zoo --device-profile laptop.json --min-top1 70 --plot front.png
      mncost zoo v1 --max-macs 300M -f csv -o v1.csv
    """
    from ..zoo import Filters, LatencySource, load_zoo, zoo_rows

    if device_profile and published_device:
        raise click.UsageError("give --device-profile or --published-device, not both")
    check_outputs(("--output", output), ("--plot", plot))
    if plot:
        view.require_matplotlib()
    filters = Filters(models=models, min_top1=_bounded("--min-top1", min_top1, 100),
                      max_ms=_bounded("--max-ms", max_ms),
                      max_macs=_count("--max-macs", max_macs),
                      max_params=_count("--max-params", max_params), dtype=dtype)
    profile = None
    if device_profile:
        from ..latency.device_profile import load_device

        profile = load_device(device_profile)
    result = zoo_rows(load_zoo(), filters, LatencySource(profile, published_device))
    for line in result.warnings:
        click.echo(f"mncost: warning: {line}", err=True)
    emit(view.render(fmt, result), output)
    if plot:
        emit(view.plot_png(result), plot)
