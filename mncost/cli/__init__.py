"""The ``mncost`` command line: a thin layer over the engine.

Commands are imported lazily, so ``mncost analyze`` never loads the modules (and the torch
import) of ``crosscheck`` or ``profile``. Every core error (:class:`mncost.errors.MncostError`)
is reported here, once, as one line on stderr with its exit code: 0 ok, 1 a check failed,
2 usage or input error, 128 + the signal's number when interrupted (130 Ctrl-C, 143 SIGTERM,
129 SIGHUP: :mod:`mncost.cli.signals`). ``--debug`` shows the traceback instead.

Before a command runs (:func:`_guarded`), its parameters are checked as a whole: an option
given an empty value is refused (``--predict ''`` is not "no --predict"), and no output may be
one of the command's inputs or another output (the same inode counts, hard links included).
"""

from __future__ import annotations

import os
import signal
import sys


def _interrupted_at_start(signum: int, frame: object) -> None:
    """Ctrl-C while the CLI is still importing: one line and exit 130, not a traceback."""
    sys.stderr.write("mncost: error: interrupted\n")
    os._exit(130)


try:  # only the main thread may set handlers; an import from another thread skips this
    _SIGINT_BEFORE = signal.signal(signal.SIGINT, _interrupted_at_start)
except ValueError:  # pragma: no cover
    _SIGINT_BEFORE = None

import errno  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402

import click  # noqa: E402

from .. import __version__  # noqa: E402
from ..errors import MncostError  # noqa: E402
from ..files.inputfile import forget_reads  # noqa: E402
from ..files.outputfile import ESCAPE, OutputPath, check_outputs  # noqa: E402
from .signals import ENDING, describe, exit_status, raise_interrupted, signal_of  # noqa: E402

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
    "calibrate": "mncost.cli.predict:calibrate",
    "predict": "mncost.cli.predict:predict",
    "zoo": "mncost.cli.zoo:zoo",
}


class ReportedError(click.ClickException):
    """A core error shown as ``mncost: error: <message>`` with the error's exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"mncost: error: {one_line(self.format_message())}", err=True)


#: Longest error line written; a value quoted from a hostile input can be a megabyte.
MAX_MESSAGE = 2000


def one_line(message: str) -> str:
    """``message`` as one printable line: a newline or control character that came in with
    the input (a file name, a YAML key) is shown escaped, never written raw; a line longer
    than :data:`MAX_MESSAGE` characters loses its middle."""
    from ..render.text import visible  # the one rule for every text mncost writes

    if len(message) > MAX_MESSAGE:   # keep the start (where) and the end (the reason)
        message = message[:MAX_MESSAGE // 2] + " ... " + message[-MAX_MESSAGE // 2:]
    return visible(message)


#: click's "no arguments: show the help" (click >= 8.2): the help is wanted there, whole.
_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class OneLineUsageError(click.UsageError):
    """A click usage error (unknown option, bad choice, ``--alpha abc``) shown as one line,
    ``mncost: error: <click's message> (see 'mncost CMD -h')``, exit 2. click's message keeps
    its "Did you mean --format?"; its usage block and blank lines are what is dropped."""

    def __init__(self, error: click.UsageError, command_path: str = "mncost") -> None:
        super().__init__(error.format_message(), error.ctx)
        self.exit_code = error.exit_code
        self.command_path = error.ctx.command_path if error.ctx is not None else command_path

    def show(self, file=None) -> None:
        message = one_line(" ".join(self.format_message().split()))
        click.echo(f"mncost: error: {message} (see '{self.command_path} -h')", err=True)


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
        return _guarded(getattr(importlib.import_module(module), attr))

    def make_context(self, *args, **kwargs) -> click.Context:
        # The group's own usage errors are one line; Ctrl-C while the command line is parsed
        # would make click say "Aborted!" and exit 1; help and --version are printed here, so
        # a closed or full stdout is reported too.
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            if isinstance(exc, _HELP):
                raise
            raise OneLineUsageError(exc) from None
        except KeyboardInterrupt as exc:
            raise _interrupted(exc) from None
        except OSError as exc:
            raise _stdout_error(exc) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MncostError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise ReportedError(str(exc), exc.exit_code) from None
        except click.UsageError as exc:   # a subcommand's options, or its own UsageError
            if isinstance(exc, (OneLineUsageError, _HELP)):
                raise
            path = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            raise OneLineUsageError(exc, path) from None
        except KeyboardInterrupt as exc:
            # 130 = 128 + SIGINT, as shells report it; click's own "Aborted!" would exit 1,
            # which means "a check failed" here.
            raise _interrupted(exc) from None
        except OSError as exc:
            raise _stdout_error(exc) from None


def _interrupted(exc: BaseException) -> ReportedError:
    signum = signal_of(exc)
    return ReportedError(describe(signum), exit_status(signum))


def _guarded(command: click.Command) -> click.Command:
    """``command`` (and a group's subcommands) with :func:`_check_parameters` run before its
    body; wrapped once."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _guarded(sub)
    callback = command.callback
    if callback is None or getattr(callback, "_mncost_guarded", False):
        return command

    @functools.wraps(callback)
    def run(*args, **kwargs):
        _check_parameters(click.get_current_context())
        return callback(*args, **kwargs)

    run._mncost_guarded = True  # type: ignore[attr-defined]
    command.callback = run
    return command


def _label(param: click.Parameter) -> str:
    return param.opts[0] if isinstance(param, click.Option) else (param.name or "").upper()


def _check_parameters(ctx: click.Context) -> None:
    """Refuse an empty value given for any parameter, and outputs that are inputs or each
    other (:func:`mncost.files.outputfile.check_outputs`), before any work."""
    from ..network.catalog import BUILTINS  # a built-in name is read from the package

    outputs, inputs = [], []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        values = value if isinstance(value, tuple) else (value,)
        given = ctx.get_parameter_source(param.name) in (
            click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT)
        if given and any(isinstance(v, str) and not v.strip() for v in values):
            raise click.BadParameter("an empty value (leave the option out for its default)",
                                     ctx=ctx, param=param)
        for v in values:
            if isinstance(v, OutputPath):
                outputs.append((_label(param), v))
            elif isinstance(v, str) and not isinstance(param.type, click.Choice) and (
                    v not in BUILTINS):
                inputs.append((_label(param), v))
    check_outputs(*outputs, inputs=inputs)


def _stdout_error(exc: OSError) -> BaseException:
    """Files are reported by mncost.files.outputfile; an OSError that gets to the group is stdout
    closed (a pipe whose reader left) or full: one line and exit 2 (click would exit 1, which means
    "a check failed" here). Any other OSError is returned as it is, to be raised."""
    if exc.errno not in _STDOUT_ERRORS:
        return exc
    _quiet_stdout()
    return ReportedError(f"cannot write to stdout: {exc.strerror or exc}", 2)


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
    forget_reads()
    _tolerant_stdout()


def _tolerant_stdout() -> None:
    """Text that stdout cannot encode (a file name that is not UTF-8, a symbol on an ASCII
    terminal) is escaped, not a crash (:data:`mncost.files.outputfile.ESCAPE`)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors=ESCAPE)
        except (ValueError, OSError):   # a stream that cannot change its errors handler
            pass


#: Errors of writing stdout that end the command with exit 2 and one line.
_STDOUT_ERRORS = (errno.EPIPE, errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush of what is still buffered
    cannot fail again ("Exception ignored ... BrokenPipeError")."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, AttributeError, ValueError):
        pass


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: the exit codes of a closed or full stdout (2), Ctrl-C
    (130), SIGTERM (143) and SIGHUP (129), temporary files removed, hold outside the commands
    too; SIGTERM and SIGHUP unwind like Ctrl-C (:mod:`mncost.cli.signals`)."""
    from ..files.outputfile import remove_temporaries

    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in ENDING:
        if signum != signal.SIGINT:
            signal.signal(signum, raise_interrupted)
    _tolerant_stdout()
    code: int | str | None = 0
    try:
        try:
            cli.main(args=argv, prog_name="mncost")
        except SystemExit as exc:
            code = exc.code
        sys.stdout.flush()
    except KeyboardInterrupt as exc:
        remove_temporaries()
        signum = signal_of(exc)
        try:
            sys.stderr.write(f"mncost: error: {describe(signum)}\n")
        except OSError:   # a hung-up terminal
            pass
        code = exit_status(signum)
    except OSError as exc:
        if exc.errno not in _STDOUT_ERRORS:
            raise
        _quiet_stdout()
        sys.stderr.write(f"mncost: error: cannot write to stdout: {exc.strerror or exc}\n")
        code = 2
    finally:
        remove_temporaries()
    sys.exit(code)


__all__ = ["cli", "main", "COMMANDS"]

# Imports are done: Ctrl-C is a KeyboardInterrupt again (reported by the group or main).
if _SIGINT_BEFORE is not None:
    signal.signal(signal.SIGINT, _SIGINT_BEFORE)

if __name__ == "__main__":  # pragma: no cover
    main()
