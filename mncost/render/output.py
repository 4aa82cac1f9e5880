"""Where rendered output goes: stdout, or ``-o FILE`` written whole or not at all.

Tables go to stdout and diagnostics to stderr, so ``mncost ... -f csv > out.csv`` is clean.
"""

from __future__ import annotations

import io
from typing import Any, Callable

import click

from ..fileio import write_atomic

#: Columns of a rich table that is not shown on a terminal (piped, or ``-o FILE``): wide
#: enough that rows are not wrapped, since there is no window to fit.
WIDE = 160


#: A rich drawing: ``draw(console)`` prints tables to the console it is given.
Draw = Callable[[Any], None]


def emit(text: str | bytes | Draw, output: str | None) -> None:
    """Write ``text`` to ``output`` (whole or not at all, and say so on stderr) or to
    stdout; a :data:`Draw` goes through :func:`emit_rich`."""
    if callable(text):
        emit_rich(text, output)
    elif output:
        write_atomic(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def emit_rich(draw: Draw, output: str | None) -> None:
    """Call ``draw(console)`` with a rich console on stdout or into ``output``.

    A terminal gets rich's own console (its width, colour); a pipe or a file gets
    :data:`WIDE` columns and no colour. rich is imported here, so the machine formats
    never load it.
    """
    from rich.console import Console

    if output:
        buffer = io.StringIO()
        draw(Console(file=buffer, width=WIDE, no_color=True))
        emit(buffer.getvalue(), output)
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=WIDE, no_color=True)
    draw(console)
