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
    """Print the title (bold), each section as a rich table and the notes (dim).

    No cell is ever cut: every column is as wide as its widest cell. A table wider than the
    console is split into several tables of consecutive columns, each repeating the first
    (the row's name), so every number and every column is shown; only where even the name
    and one column do not fit are cells folded onto more lines (never truncated).
    """
    from rich.text import Text

    if title:
        console.print(Text(title, style="bold"))
    for section in sections:
        for i, columns in enumerate(_column_groups(section, console.width)):
            caption = section.title or None
            if caption and i:
                caption += " (continued)"
            console.print(_table(section, columns, caption, console.width))
        for note in section.notes:
            console.print(Text(note, style="dim"))
    for note in notes:
        console.print(Text(note, style="dim"))


def _widths(section: Section) -> list[int]:
    """Each column's widest cell or header, in terminal cells."""
    from rich.cells import cell_len

    widths = [cell_len(str(h)) for h in section.headers]
    for row in section.rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], cell_len(str(cell)))
    return widths


def _table_width(widths: Sequence[int]) -> int:
    """A rich table's width with these columns: padding 1 each side, one rule between and
    around."""
    return sum(w + 2 for w in widths) + len(widths) + 1


def _column_groups(section: Section, width: int) -> list[list[int]]:
    """Consecutive columns that fit ``width`` with the first column repeated in each."""
    widths = _widths(section)
    if len(widths) <= 1 or _table_width(widths) <= width:
        return [list(range(len(widths)))]
    groups: list[list[int]] = []
    current: list[int] = []
    for c in range(1, len(widths)):
        trial = current + [c]
        if not current or _table_width([widths[0]] + [widths[i] for i in trial]) <= width:
            current = trial
        else:
            groups.append(current)
            current = [c]
    groups.append(current)
    return [[0] + group for group in groups]


def _table(section: Section, columns: Sequence[int], caption: str | None, width: int) -> Any:
    from rich.table import Table

    widths = _widths(section)
    fits = _table_width([widths[i] for i in columns]) <= width
    table = Table(title=caption, title_justify="left", header_style="bold")
    for i in columns:
        a = section.justify[i]
        # A cell is never cut: it is kept on one line where the table fits, else folded.
        table.add_column(section.headers[i], justify="right" if a == "r" else "left",
                         no_wrap=fits, overflow="fold", min_width=widths[i] if fits else None)
    for row in section.rows:
        table.add_row(*(row[i] for i in columns))
    return table
