"""Options shared by several commands, each declared once (where output goes:
:mod:`mncost.render.output`).

* :func:`network_options`: one configuration (``--alpha A``, ``--res R|HxW``, ``--classes``);
* :func:`grid_options`: a grid (``--alpha LIST``, ``--res LIST``, ``--classes``) for ``sweep``
  and ``baseline write``, parsed by :mod:`mncost.sweep`;
* :func:`params_option`, :func:`format_option` (choices from :mod:`mncost.render.formats`),
  :func:`output_option`;
* :func:`latency_options` and :func:`profiler_options`: the torch profiler's options for
  ``sweep``, ``baseline write`` and ``check``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import click

from ..costs import DEFAULT_PARAMS, PARAM_CONVENTIONS
from ..render.formats import FORMATS, REGISTRY as FORMAT_REGISTRY

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


def network_options(f: Callable) -> Callable:
    """``--alpha``, ``--res``, ``--classes`` for commands that resolve one configuration."""
    return _apply(f, (
        click.option("--alpha", "-a", type=float, default=1.0, show_default=True,
                     metavar="A", help="Width multiplier alpha (> 0)."),
        click.option("--res", "-r", "resolution", default=None, metavar="R|HxW",
                     help="Input resolution: R for R x R, or H x W such as 224x160 "
                          "(default: the spec's, 224)."),
        click.option("--classes", "-k", type=int, default=None, metavar="K",
                     help="Classifier outputs (default: the spec's, 1000 for the built-ins)."),
    ))


def grid_options(alpha_help: str, res_help: str) -> Callable[[Callable], Callable]:
    """``--alpha LIST`` (``alphas``), ``--res LIST`` (``resolutions``) and ``--classes`` for
    commands over a grid; the lists are parsed by :func:`mncost.grid.parse_alphas` and
    :func:`mncost.grid.parse_resolutions`."""
    def decorate(f: Callable) -> Callable:
        return _apply(f, (
            click.option("--alpha", "-a", "alphas", default="1.0", show_default=True,
                         metavar="LIST", help=alpha_help),
            click.option("--res", "-r", "resolutions", default=None, metavar="LIST",
                         help=res_help),
            click.option("--classes", "-k", type=int, default=None, metavar="K",
                         help="Classifier outputs (default: the spec's)."),
        ))
    return decorate


def params_option(f: Optional[Callable] = None, *, default: Optional[str] = DEFAULT_PARAMS,
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


def output_option(f: Callable) -> Callable:
    return click.option("--output", "-o", type=click.Path(dir_okay=False, writable=False),
                        default=None, metavar="FILE",
                        help="Write to FILE (atomically) instead of stdout.")(f)


def latency_options(f: Callable) -> Callable:
    """``--latency`` and the profiler's options (``mncost.torch_backend.profile``)."""
    return _apply(f, (
        click.option("--latency", is_flag=True,
                     help="Also measure latency with the torch profiler (needs the torch "
                          "extra; noisy, slow)."),
        click.option("--device", default="cpu", show_default=True, help="Latency: device."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
                     help="Latency: torch intra-op threads (default: torch's)."),
        click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Latency: batch size (latency is per batch)."),
        click.option("--repeats", type=click.IntRange(min=1), default=None,
                     help="Latency: timed runs (default: the profiler's)."),
        click.option("--warmup", type=click.IntRange(min=0), default=None,
                     help="Latency: untimed runs first (default: the profiler's)."),
        click.option("--min-time", "min_time", type=click.FloatRange(min=0), default=None,
                     metavar="S", help="Latency: at least S seconds of timed runs per "
                                       "configuration (default: the profiler's, 1 s)."),
    ))


def profiler_options(device: str, threads: Optional[int], batch: int, repeats: Optional[int],
                     warmup: Optional[int], min_time: Optional[float]) -> Any:
    """The profiler's ``ProfileOptions`` from :func:`latency_options`' values (None = the
    profiler's default; torch-free)."""
    from ..profile_options import ProfileOptions

    given = dict(device=device, threads=threads, batch=batch, repeats=repeats, warmup=warmup,
                 min_time_s=min_time)
    return ProfileOptions(**{k: v for k, v in given.items() if v is not None})
