"""Options shared by several commands (where output goes: :mod:`mncost.render.output`)."""

from __future__ import annotations

from typing import Callable

import click

from ..costs import DEFAULT_PARAMS, PARAM_CONVENTIONS
from ..fileio import OutputPath, check_output


def network_options(f: Callable) -> Callable:
    """``--alpha``, ``--depth``, ``--res``, ``--classes`` for commands that resolve one
    configuration."""
    f = click.option("--classes", "-k", type=int, default=None, metavar="K",
                     help="Classifier outputs (default: the spec's, 1000 for the built-ins).")(f)
    f = click.option("--res", "-r", "resolution", default=None, metavar="R|HxW",
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


def params_option(f: Callable) -> Callable:
    help_text = "Parameter convention: " + "; ".join(
        f"{name}: {text}" for name, text in PARAM_CONVENTIONS.items())
    return click.option("--params", "params", type=click.Choice(list(PARAM_CONVENTIONS)),
                        default=DEFAULT_PARAMS, show_default=True, help=help_text)(f)


def format_option(choices: tuple[str, ...], default: str = "table") -> Callable:
    return click.option("--format", "-f", "fmt", type=click.Choice(list(choices)),
                        default=default, show_default=True,
                        help="Output format. Machine formats (json, csv) carry exact "
                             "integers; table and markdown use human units.")


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
