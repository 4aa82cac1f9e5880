"""Options shared by several commands, each declared once (where output goes:
:mod:`mncost.render.output`).

* :func:`network_options`: one configuration (``--alpha A``, ``--res R|HxW``, ``--classes``);
* :func:`grid_options`: a grid (``--alpha LIST``, ``--res LIST``, ``--classes``) for ``sweep``
  and ``baseline write``, parsed by :mod:`mncost.sweep.grid`;
* :func:`params_option`, :func:`format_option` (choices from :mod:`mncost.render.formats`),
  :func:`output_option`, and :func:`format_from_output` (``-o out.json`` means ``-f json``);
* ``--device`` (:data:`DEVICE`: cpu, cuda, cuda:N, everywhere), :func:`device_profile_option`
  (``--device-profile FILE``) and the old spellings that still work
  (:func:`deprecated_option`, :func:`merge_deprecated`);
* :func:`latency_options` and :func:`profiler_options`: the torch profiler's options for
  ``sweep``, ``baseline write`` and ``check``.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import PurePath
from typing import Any, Callable, Collection, Mapping, Sequence

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


#: What ``--device`` names, in every command that has it: where torch runs.
_DEVICE_NAME = re.compile(r"cpu|cuda(:[0-9]{1,4})?")


def is_device_name(value: str) -> bool:
    """``cpu``, ``cuda`` or ``cuda:N``."""
    return bool(_DEVICE_NAME.fullmatch(value.strip()))


class DeviceName(click.ParamType):
    """``--device``: ``cpu``, ``cuda`` or ``cuda:N`` (whether it exists is torch's to say)."""

    name = "device"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not is_device_name(value):
            hint = (" (a calibrated device profile is --device-profile FILE)"
                    if value.lower().endswith(".json") else "")
            self.fail(f"{value[:60]!r} is not cpu, cuda or cuda:N{hint}", param, ctx)
        return value.strip()


DEVICE = DeviceName()
DEVICE_METAVAR = "cpu|cuda|cuda:N"


def deprecated_option(old: str, dest: str, check: Callable[[str], None] | None = None,
                      type: Any = None) -> Callable:
    """A hidden option spelled the old way (``old``) that still works: its value goes to
    ``dest``, for :func:`merge_deprecated` to merge with the new option's (and say, in one
    line, that the spelling is deprecated). ``check(value)`` may refuse a value as it is
    parsed; ``type``: the value's click type (default: a file path)."""
    def checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None and check is not None:
            check(value)
        return value

    return click.option(old, dest, default=None, hidden=True,
                        type=type or click.Path(dir_okay=False), callback=checked)


def merge_deprecated(new_value: Any, old_value: Any, new: str, old: str) -> Any:
    """The option's value from its new spelling ``new`` or its old one ``old`` (as the
    messages show them: ``--device-profile FILE``); the old one alone writes one deprecation
    line on stderr, both at once are refused."""
    if old_value is None:
        return new_value
    if new_value is not None:
        raise click.UsageError(f"give {new.split()[0]} only ({old.split()[0]} is its old "
                               "spelling)")
    click.echo(f"mncost: warning: {old} is deprecated: use {new}", err=True)
    return old_value


def device_profile_option(help: str, old: str | None = None,
                          check: Callable[[str], None] | None = None) -> Callable:
    """``--device-profile FILE``: a device profile written by ``mncost calibrate`` (read by
    ``predict``, ``sweep`` and ``check``), and the hidden old spelling ``old`` (value in
    ``old_device_profile``)."""
    option = click.option("--device-profile", "device_profile", default=None,
                          metavar="PROFILE.json", type=click.Path(dir_okay=False), help=help)
    if old is None:
        return option
    alias = deprecated_option(old, "old_device_profile", check)
    return lambda f: option(alias(f))


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
    :mod:`mncost.sweep.grid` (None: each spec's own)."""
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


#: File extensions that name an output format (``-o out.json`` means ``-f json``).
EXTENSION_FORMATS = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown",
                     ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(path: Any) -> str | None:
    """The format ``path``'s extension names (case-insensitive), or None."""
    if path is None or getattr(path, "stream", 0):
        return None
    name = PurePath(str(path)).name.lower()        # ".json" alone is an extension too
    return EXTENSION_FORMATS.get(name[name.rfind("."):]) if "." in name else None


def format_from_output(f: Callable) -> Callable:
    """Decorator (placed right above the function, below the click options) for a command
    with ``--format`` and ``--output``: where ``-f`` is not given, the format is the one
    ``-o``'s extension names (``-o out.json`` writes JSON, not the terminal table); an
    extension that contradicts ``-f``, or names a format the command does not write, is
    refused before any work."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["fmt"] = output_format(kwargs["fmt"], kwargs.get("output"))
        return f(*args, **kwargs)

    return wrapper


def output_format(fmt: str, output: Any) -> str:
    """``fmt``, or where ``-f`` was left at its default the format of ``output``'s extension
    (:func:`format_of`). Raises click.UsageError on a contradiction."""
    wanted = format_of(output)
    if wanted is None:
        return fmt
    ctx = click.get_current_context()
    given = ctx.get_parameter_source("fmt") is click.core.ParameterSource.COMMANDLINE
    if given:
        if wanted != fmt:
            raise click.UsageError(f"-o {output} is {wanted} by its extension but -f is {fmt}; "
                                   f"give -f {wanted}, or another file name")
        return fmt
    choices = next((p.type.choices for p in ctx.command.params if p.name == "fmt"), ())
    if wanted not in choices:
        raise click.UsageError(f"-o {output} is {wanted} by its extension, which "
                               f"'{ctx.command_path}' does not write (-f "
                               f"{'|'.join(choices)}); give -f, or another file name")
    return wanted


def checked_path(ctx: click.Context, param: click.Parameter, value: str | None
                 ) -> OutputPath | None:
    """Click callback: an output path checked while the options are parsed, so every output
    of a command is known writable before any work starts
    (:func:`mncost.files.outputfile.check_output`)."""
    if value is None:
        return None
    return check_output(value, param.opts[0] if param.opts else param.name or "")


def output_path_option(*names: str, default: str | None = None, metavar: str = "FILE",
                       help: str, fmt: str | None = None) -> Callable:
    """An option naming an output file, checked before the command runs; ``fmt``: the one
    format it is always written in (an extension naming another is refused:
    :func:`check_fixed_format`)."""
    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is not None and fmt is not None:
            check_fixed_format(value, fmt, param.opts[0] if param.opts else str(param.name))
        return checked_path(ctx, param, value)

    return click.option(*names, default=default, metavar=metavar, callback=callback,
                        show_default=default is not None, help=help)


def check_fixed_format(path: Any, fmt: str, option: str) -> None:
    """Refuse an output that is always ``fmt`` (a baseline's JSON, a JUnit file's XML, a PNG)
    under a name whose extension says another format (``-o baseline.csv``)."""
    named = format_of(path)
    if named is not None and named != fmt:
        raise click.BadParameter(f"{path} is {named} by its extension, but {option} is "
                                 f"always written as {fmt}; give a file name that says so")


def output_option(f: Callable) -> Callable:
    """``--output`` / ``-o`` of a command with ``--format`` (see :func:`format_from_output`)."""
    return output_path_option("--output", "-o",
                              help="Write to FILE (whole or not at all) instead of stdout; "
                                   "- is stdout. Without -f, FILE's extension (.json, .csv, "
                                   ".md, .jsonl) sets the format.")(f)


def latency_options(f: Callable) -> Callable:
    """``--latency`` and the profiler's options (``mncost.torch_backend.profile``)."""
    return _apply(f, (
        click.option("--latency", is_flag=True,
                     help="Also measure latency with the torch profiler (needs the torch "
                          "extra; noisy, slow)."),
        click.option("--device", type=DEVICE, default="cpu", show_default=True,
                     metavar=DEVICE_METAVAR, help="Latency: where torch runs."),
        click.option("--threads", type=THREADS, default=None,
                     help="Latency: torch intra-op threads (default 1, as profile and "
                          "calibrate: more is bimodal once anything else runs)."),
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


#: The options of :func:`latency_options` that only ``--latency`` reads.
LATENCY_ONLY = {"device": "--device", "threads": "--threads", "batch": "--batch",
                "repeats": "--repeats", "warmup": "--warmup", "min_time": "--min-time"}


def given_flags(flags: Mapping[str, str], skip: Collection[str] = ()) -> list[str]:
    """The flags of ``flags`` (parameter name -> flag) that the command line gave, in order,
    leaving out the parameters in ``skip``."""
    ctx = click.get_current_context()
    return [flag for name, flag in flags.items() if name not in skip
            and ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]


def check_latency_options(latency: bool) -> None:
    """Refuse the measuring options of :func:`latency_options` given without ``--latency``
    (they would be silently ignored)."""
    if latency:
        return
    given = given_flags(LATENCY_ONLY)
    if given:
        raise click.UsageError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} "
                               "only with --latency")


def profiler_options(device: str, threads: int | None, batch: int, repeats: int | None,
                     warmup: int | None, min_time: float | None) -> Any:
    """The profiler's ``ProfileOptions`` from :func:`latency_options`' values (None = the
    profiler's default; torch-free)."""
    from ..measure.profile_options import ProfileOptions

    given = dict(device=device, threads=1 if threads is None else threads, batch=batch,
                 repeats=repeats, warmup=warmup, min_time_s=min_time)
    return ProfileOptions(**{k: v for k, v in given.items() if v is not None})
