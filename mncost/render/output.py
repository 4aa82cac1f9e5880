"""Where rendered output goes: stdout, or ``-o FILE`` through :mod:`mncost.files.outputfile` (whole
or not at all; ``-`` is stdout; devices and FIFOs are written to, never replaced).

Tables go to stdout and diagnostics to stderr, so ``mncost ... -f csv > out.csv`` is clean.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Iterable

import click

from ..files.outputfile import Output, check_output
from .text import visible

#: Columns of a rich table that is not shown on a terminal (piped, or ``-o FILE``): wide
#: enough that rows are not wrapped, since there is no window to fit.
WIDE = 160


#: A rich drawing: ``draw(console)`` prints tables to the console it is given.
Draw = Callable[[Any], None]

def _to_stdout(output: Any) -> bool:
    return output is None or check_output(output).stream == 1


def emit(text: str | bytes | Draw | Iterable[str], output: Any) -> None:
    """Write ``text`` to ``output`` (whole or not at all, and say so on stderr) or to
    stdout; a :data:`Draw` goes through :func:`emit_rich`; an iterable of chunks (a streamed
    sweep) is written chunk by chunk, never held whole."""
    if callable(text):
        emit_rich(text, output)
        return
    target = check_output(output if output is not None else "-")
    binary = isinstance(text, bytes)
    with Output(target, binary=binary) as out:
        if isinstance(text, (str, bytes)):
            out.write(text)
        else:
            for chunk in text:
                out.write(chunk)
    if target.is_file:
        click.echo(visible(f"wrote {target}"), err=True)


def emit_rich(draw: Draw, output: Any) -> None:
    """Call ``draw(console)`` with a rich console on stdout or into ``output``.

    A terminal gets rich's own console (its width, colour); a pipe or a file gets
    :data:`WIDE` columns and no colour. rich is imported here, so the machine formats
    never load it.
    """
    Console = _console_class()
    if not _to_stdout(output):
        buffer = io.StringIO()
        draw(Console(file=buffer, width=WIDE, no_color=True))
        emit(buffer.getvalue(), output)
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=WIDE, no_color=True)
    draw(console)


def _console_class() -> Any:
    """rich's Console, except that a closed stdout raises (the CLI reports it as one line,
    exit 2) instead of rich's own silent exit 1."""
    import errno

    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    return _Console
