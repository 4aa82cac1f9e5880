"""The ``mncost`` command line: a thin layer over the engine.

Commands are imported lazily, so ``mncost analyze`` never loads the modules (and the torch
import) of ``crosscheck`` or ``profile``. Every core error (:class:`mncost.errors.MncostError`)
is reported here, once, as one line on stderr with its exit code: 0 ok, 1 a check failed,
2 usage or input error, 130 interrupted. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from .. import __version__
from ..errors import MncostError

#: Command name -> "module:attribute". Only commands whose module exists are listed.
COMMANDS = {
    "analyze": "mncost.cli.analyze:analyze",
    "list": "mncost.cli.analyze:list_models",
    "validate": "mncost.cli.analyze:validate",
    "crosscheck": "mncost.cli.crosscheck:crosscheck",
    "profile": "mncost.cli.profile:profile",
    "sweep": "mncost.cli.sweep:sweep",
    "baseline": "mncost.cli.check:baseline",
    "check": "mncost.cli.check:check",
    "memory": "mncost.cli.memory:memory",
    "roofline-measure": "mncost.cli.memory:roofline_measure",
}


class ReportedError(click.ClickException):
    """A core error shown as ``mncost: error: <message>`` with the error's exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"mncost: error: {self.format_message()}", err=True)


class MncostGroup(click.Group):
    """A click group with lazily imported commands and one error path."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, target in COMMANDS.items()
                if importlib.util.find_spec(target.split(":")[0]) is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        if importlib.util.find_spec(module) is None:
            return None
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MncostError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise ReportedError(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            # 130 = 128 + SIGINT, as shells report it; click's own "Aborted!" would exit 1,
            # which means "a check failed" here.
            raise ReportedError("interrupted", 130) from None


@click.group(cls=MncostGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                  "max_content_width": 100})
@click.version_option(__version__, prog_name="mncost")
@click.option("--debug", is_flag=True, help="Show a traceback instead of a one-line error.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """FLOPs / parameters / latency analyzer for MobileNet v1, v2, v3 and any network written
    in mncost's YAML spec format.

    MODEL is a built-in name (see `mncost list`) or a path to a .yaml spec. Counts are MACs
    (multiply-accumulates, the papers' "mult-adds"); FLOPs in the 2 x MACs sense are printed
    beside them. Exit codes: 0 ok, 1 a check failed, 2 usage or input error.
    """
    ctx.ensure_object(dict)["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="mncost")


__all__ = ["cli", "main", "COMMANDS"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
