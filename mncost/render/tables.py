"""Titled tables, one layer for every command: a report is a title, :class:`Section` s and
notes, shown as Markdown text or printed with rich (imported only when a table is printed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .text import markdown_table


@dataclass(frozen=True)
class Section:
    """One titled table.

    Attributes:
        title: shown above the table; "" for none.
        headers: the column headers.
        rows: the cells, already formatted.
        align: ``l`` or ``r`` per column; None: the first column left, the rest right.
        notes: lines shown after the table.
    """

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    align: str | None = None
    notes: Sequence[str] = ()

    @property
    def justify(self) -> str:
        """``align`` for every column; columns it does not reach are right-aligned, as
        Markdown's default is."""
        align = self.align or "l"
        return align + "r" * (len(self.headers) - len(align))


def sections_markdown(title: str | None, sections: Sequence[Section],
                      notes: Sequence[str] = (), spaced: bool = False) -> str:
    """``## title``, then each section as ``### title`` and its table, then the notes.

    Args:
        spaced: a blank line between each heading and its table (both render the same on
            GitHub; the reports keep the layout they have always had).
    """
    gap = "\n" if spaced else ""
    parts = [f"## {title}\n"] if title else []
    for section in sections:
        parts.append(f"\n### {section.title}\n{gap}" if section.title else gap)
        parts.append(markdown_table(section.headers, section.rows, section.justify))
        parts += [f"\n{note}\n" for note in section.notes]
    parts += [f"\n{note}\n" for note in notes]
    return "".join(parts)


def print_sections(console: Any, title: str | None, sections: Sequence[Section],
                   notes: Sequence[str] = ()) -> None:
    """Print the title (bold), each section as a rich table and the notes (dim)."""
    from rich.table import Table
    from rich.text import Text

    if title:
        console.print(Text(title, style="bold"))
    for section in sections:
        table = Table(title=section.title or None, title_justify="left", header_style="bold")
        for i, (header, a) in enumerate(zip(section.headers, section.justify)):
            # Numbers and the row's name never wrap: a number split over two lines misreads.
            table.add_column(header, justify="right" if a == "r" else "left",
                             no_wrap=a == "r" or i == 0)
        for row in section.rows:
            table.add_row(*row)
        console.print(table)
        for note in section.notes:
            console.print(Text(note, style="dim"))
    for note in notes:
        console.print(Text(note, style="dim"))
