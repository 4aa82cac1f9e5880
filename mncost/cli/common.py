"""Options shared by several commands, each declared once (where output goes:
:mod:`mncost.render.output`).

* :func:`network_options`: one configuration (``--alpha A``, ``--res R|HxW``, ``--classes``);
* :func:`grid_options`: a grid (``--alpha LIST``, ``--res LIST``, ``--classes``) for ``sweep``
  and ``baseline write``, parsed by :mod:`mncost.grid`;
* :func:`params_option`, :func:`format_option` (choices from :mod:`mncost.render.formats`),
  :func:`output_option`;
* :func:`latency_options` and :func:`profiler_options`: the torch profiler's options for
  ``sweep``, ``baseline write`` and ``check``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import click

from ..costs.analytic import DEFAULT_PARAMS, PARAM_CONVENTIONS
from ..files.outputfile import OutputPath, check_output
from ..limits import MAX_CALIBRATE_S, MAX_SPEC_INT, MAX_THREADS
from ..render.formats import FORMATS
from ..render.formats import REGISTRY as FORMAT_REGISTRY
from ..spec.values import parse_resolution

#: ``--params`` help: every convention and what it counts.
PARAMS_HELP = "Parameter convention: " + "; ".join(
    f"{name}: {text}" for name, text in PARAM_CONVENTIONS.items())
FORMAT_HELP = ("Output format. Machine formats (json, csv) carry exact integers; table and "
               "markdown use human units.")


def _apply(f: Callable, options: Sequence[Callable]) -> Callable:
    """Apply click option decorators so that ``--help`` lists them in the given order."""
    for option in reversed(options):
        f = option(f)
    return f


class Count(click.IntRange):
    """An integer option within ``[min, max]``; a number too long to be one is refused before
    Python's own 4,300-digit limit turns it into a screenful."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str) and len(value.strip()) > 20:
            self.fail(f"{value.strip()[:20]}... is too long (at most {self.max:,})", param, ctx)
        return super().convert(value, param, ctx)


class Seconds(click.ParamType):
    """A finite number of seconds in ``[0, max]`` (click's FloatRange lets ``nan`` through)."""

    name = "seconds"

    def __init__(self, max: float) -> None:
        self.max = max

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{str(value)[:40]!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(seconds) and 0 <= seconds <= self.max):
            self.fail(f"{str(value)[:40]} is not in the range 0 to {self.max:g} s", param, ctx)
        return seconds


class FiniteRange(click.FloatRange):
    """click's FloatRange (its bounds shown in ``--help``), refusing ``nan`` too, which
    compares false with every bound and so gets through FloatRange."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{str(value)[:40]} is not a finite number", param, ctx)
        return number


class Resolution(click.ParamType):
    """One resolution, ``R`` or ``HxW`` (lowercase x), checked when the options are parsed.

    A single-value ``--res`` never takes a list: ``224,192`` is refused, where ``sweep`` and
    ``baseline write`` read it as two resolutions.
    """

    name = "resolution"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            parse_resolution(value)
        except ValueError as exc:
            self.fail(str(exc).replace("must be", "must be one resolution,", 1), param, ctx)
        return value.strip()


#: ``--classes``: classifier outputs.
CLASSES = Count(min=1, max=MAX_SPEC_INT)
#: Latency options: threads, batch, runs; and seconds of timed runs.
THREADS = Count(min=1, max=MAX_THREADS)
#: Worker processes (``crosscheck --jobs``).
JOBS = Count(min=1, max=MAX_THREADS)
#: Seconds of measuring of ``calibrate --budget-s``.
BUDGET_SECONDS = FiniteRange(min=0, min_open=True, max=MAX_CALIBRATE_S)
BATCH = Count(min=1, max=1_000_000)
RUNS = Count(min=1, max=1_000_000)
WARMUP = Count(min=0, max=1_000_000)
MIN_TIME = Seconds(max=3600)


def network_options(f: Callable) -> Callable:
    """``--alpha``, ``--depth``, ``--res``, ``--classes`` for commands that resolve one
    configuration."""
    f = click.option("--classes", "-k", type=CLASSES, default=None, metavar="K",
                     help="Classifier outputs (default: the spec's, 1000 for the built-ins).")(f)
    f = click.option("--res", "-r", "resolution", type=Resolution(), default=None,
                     metavar="R|HxW",
                     help="Input resolution: R for R x R, or H x W such as 224x160 "
                          "(default: the spec's, 224).")(f)
    f = click.option("--depth", type=float, default=None, metavar="D",
                     help="Depth multiplier (> 0): each row repeats ceil(D x n) times, by the "
                          "spec's depth_rounding (default: the spec's, 1.0 except "
                          "EfficientNet-B1...B7).")(f)
    f = click.option("--alpha", "-a", type=float, default=None, metavar="A",
                     help="Width multiplier alpha (> 0) (default: the spec's, 1.0 except "
                          "EfficientNet-B1...B7).")(f)
    return f


def grid_options(alpha_help: str, depth_help: str, res_help: str
                 ) -> Callable[[Callable], Callable]:
    """``--alpha LIST`` (``alphas``), ``--depth LIST`` (``depths``), ``--res LIST``
    (``resolutions``) and ``--classes`` for commands over a grid; the lists are parsed by
    :mod:`mncost.grid` (None: each spec's own)."""
    def decorate(f: Callable) -> Callable:
        return _apply(f, (
            click.option("--alpha", "-a", "alphas", default=None, metavar="LIST",
                         help=alpha_help),
            click.option("--depth", "depths", default=None, metavar="LIST", help=depth_help),
            click.option("--res", "-r", "resolutions", default=None, metavar="LIST",
                         help=res_help),
            click.option("--classes", "-k", type=CLASSES, default=None, metavar="K",
                         help="Classifier outputs (default: the spec's)."),
        ))
    return decorate


def params_option(f: Callable | None = None, *, default: str | None = DEFAULT_PARAMS,
                  help: str = PARAMS_HELP) -> Callable:
    """``--params``: a parameter convention (``@params_option`` or
    ``@params_option(default=None, help=...)``)."""
    option = click.option("--params", "params", type=click.Choice(list(PARAM_CONVENTIONS)),
                          default=default, show_default=default is not None, help=help)
    return option(f) if f is not None else option


def format_option(choices: Sequence[str] = FORMATS, default: str = "table",
                  help: str = FORMAT_HELP) -> Callable:
    """``--format`` / ``-f``: ``choices`` from the format registry, in the order given."""
    unknown = [c for c in choices if c not in FORMAT_REGISTRY]
    if unknown:
        raise ValueError(f"formats {unknown} are not in mncost.render.formats.REGISTRY")
    return click.option("--format", "-f", "fmt", type=click.Choice(list(choices)),
                        default=default, show_default=True, help=help)


def checked_path(ctx: click.Context, param: click.Parameter, value: str | None
                 ) -> OutputPath | None:
    """Click callback: an output path checked while the options are parsed, so every output
    of a command is known writable before any work starts (:func:`mncost.fileio.check_output`)."""
    if value is None:
        return None
    return check_output(value, param.opts[0] if param.opts else param.name or "")


def output_path_option(*names: str, default: str | None = None, metavar: str = "FILE",
                       help: str) -> Callable:
    """An option naming an output file, checked before the command runs."""
    return click.option(*names, default=default, metavar=metavar, callback=checked_path,
                        show_default=default is not None, help=help)


def output_option(f: Callable) -> Callable:
    return output_path_option("--output", "-o",
                              help="Write to FILE (whole or not at all) instead of stdout; "
                                   "- is stdout.")(f)


def latency_options(f: Callable) -> Callable:
    """``--latency`` and the profiler's options (``mncost.torch_backend.profile``)."""
    return _apply(f, (
        click.option("--latency", is_flag=True,
                     help="Also measure latency with the torch profiler (needs the torch "
                          "extra; noisy, slow)."),
        click.option("--device", default="cpu", show_default=True, help="Latency: device."),
        click.option("--threads", type=THREADS, default=None,
                     help="Latency: torch intra-op threads (default: torch's)."),
        click.option("--batch", type=BATCH, default=1, show_default=True,
                     help="Latency: batch size (latency is per batch)."),
        click.option("--repeats", type=RUNS, default=None,
                     help="Latency: timed runs (default: the profiler's)."),
        click.option("--warmup", type=WARMUP, default=None,
                     help="Latency: untimed runs first (default: the profiler's)."),
        click.option("--min-time", "min_time", type=MIN_TIME, default=None,
                     metavar="S", help="Latency: at least S seconds of timed runs per "
                                       "configuration (default: the profiler's, 1 s)."),
    ))


def profiler_options(device: str, threads: int | None, batch: int, repeats: int | None,
                     warmup: int | None, min_time: float | None) -> Any:
    """The profiler's ``ProfileOptions`` from :func:`latency_options`' values (None = the
    profiler's default; torch-free)."""
    from ..measure.profile_options import ProfileOptions

    given = dict(device=device, threads=threads, batch=batch, repeats=repeats, warmup=warmup,
                 min_time_s=min_time)
    return ProfileOptions(**{k: v for k, v in given.items() if v is not None})
