"""Titled tables, one layer for every command: a report is a title, :class:`Section` s and
notes, shown as Markdown text or printed with rich (imported only when a table is printed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .text import markdown_table, markdown_text, visible


@dataclass(frozen=True)
class Section:
    """One titled table.

    Attributes:
        title: shown above the table; "" for none.
        headers: the column headers.
        rows: the cells, already formatted.
        align: ``l`` or ``r`` per column; None: the first column left, the rest right.
        notes: lines shown after the table.
        key: how many leading columns name a row (a layer; a model, alpha and resolution):
            a table too wide for the terminal is split into parts that each repeat them.
        together: groups of headers a reader compares (baseline, now, delta): a split never
            puts them in different parts. A header not in the table is ignored.
    """

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    align: str | None = None
    notes: Sequence[str] = ()
    key: int = 1
    together: Sequence[Sequence[str]] = ()

    @property
    def justify(self) -> str:
        """``align`` for every column; columns it does not reach are right-aligned, as
        Markdown's default is."""
        align = self.align or "l"
        return align + "r" * (len(self.headers) - len(align))


def sections_markdown(title: str | None, sections: Sequence[Section],
                      notes: Sequence[str] = (), spaced: bool = False) -> str:
    """``## title``, then each section as ``### title`` and its table, then the notes. Every
    title, header, cell and note is literal text (:func:`mncost.render.text.markdown_text`).

    Args:
        spaced: a blank line between each heading and its table (both render the same on
            GitHub; the reports keep the layout they have always had).
    """
    gap = "\n" if spaced else ""
    parts = [f"## {markdown_text(title)}\n"] if title else []
    for section in sections:
        parts.append(f"\n### {markdown_text(section.title)}\n{gap}" if section.title else gap)
        parts.append(markdown_table(section.headers, section.rows, section.justify))
        parts += [f"\n{markdown_text(note)}\n" for note in section.notes]
    parts += [f"\n{markdown_text(note)}\n" for note in notes]
    return "".join(parts)


def plain(text: Any, style: str = "") -> Any:
    """``text`` as a rich ``Text``: shown as typed (no markup: ``[/]`` or ``[link=...]`` in a
    name is not interpreted), every non-printable character :func:`visible`."""
    from rich.text import Text

    return Text(visible(str(text)), style=style)


def print_sections(console: Any, title: str | None, sections: Sequence[Section],
                   notes: Sequence[str] = ()) -> None:
    """Print the title (bold), each section as a rich table and the notes (dim).

    No cell is ever cut: every column is as wide as its widest cell. A table wider than the
    console is split into parts, each repeating the section's :attr:`~Section.key` columns
    (what names the row) and never separating a :attr:`~Section.together` group, so every
    part can be read on its own; only where a part still does not fit are its text columns
    folded onto more lines (never truncated).
    """
    if title:
        console.print(plain(title, "bold"))
    for section in sections:
        for i, columns in enumerate(_column_groups(section, console.width)):
            caption = section.title or None
            if caption and i:
                caption += " (continued)"
            console.print(_table(section, columns, caption, console.width))
        for note in section.notes:
            console.print(plain(note, "dim"))
    for note in notes:
        console.print(plain(note, "dim"))


def _widths(section: Section) -> list[int]:
    """Each column's widest cell or header, in terminal cells (as shown: :func:`visible`)."""
    from rich.cells import cell_len

    widths = [cell_len(visible(str(h))) for h in section.headers]
    for row in section.rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], cell_len(visible(str(cell))))
    return widths


def _table_width(widths: Sequence[int]) -> int:
    """A rich table's width with these columns: padding 1 each side, one rule between and
    around."""
    return sum(w + 2 for w in widths) + len(widths) + 1


def _units(section: Section) -> list[list[int]]:
    """The columns after the key, as units a split keeps whole: each ``together`` group (in
    the place of its first column), every other column alone."""
    index = {h: i for i, h in enumerate(section.headers)}
    key = min(section.key, len(section.headers))
    group_of: dict[int, int] = {}
    for g, names in enumerate(section.together):
        for name in names:
            if name in index and index[name] >= key:
                group_of.setdefault(index[name], g)
    units: list[list[int]] = []
    placed: dict[int, list[int]] = {}
    for c in range(key, len(section.headers)):
        g = group_of.get(c)
        if g is None:
            units.append([c])
        elif g in placed:
            placed[g].append(c)
        else:
            placed[g] = [c]
            units.append(placed[g])
    return units


def _column_groups(section: Section, width: int) -> list[list[int]]:
    """The parts a table is split into to fit ``width``: each part is the key columns and as
    many whole units (:func:`_units`) as fit, in order; a unit too wide for any part gets a
    part of its own (folded when drawn)."""
    widths = _widths(section)
    if _table_width(widths) <= width:
        return [list(range(len(widths)))]
    key = list(range(min(section.key, len(widths))))
    units = _units(section)
    if not units:
        return [key]
    parts: list[list[int]] = []
    current: list[int] = []
    for unit in units:
        trial = current + unit
        if not current or _table_width([widths[i] for i in key + trial]) <= width:
            current = trial
        else:
            parts.append(current)
            current = list(unit)
    parts.append(current)
    return [key + sorted(part) for part in parts]


#: Narrowest a folded text column is left (terminal cells) when the numbers keep their width.
_FOLDED = 4


def _table(section: Section, columns: Sequence[int], caption: str | None, width: int) -> Any:
    from rich.table import Table

    widths = _widths(section)
    numbers = [i for i in columns if section.justify[i] == "r"]
    texts = [i for i in columns if section.justify[i] != "r"]
    if _table_width([widths[i] for i in columns]) <= width:
        whole = set(columns)              # it fits: every cell on one line
    elif texts and _table_width([widths[i] for i in numbers] + [_FOLDED] * len(texts)) <= width:
        whole = set(numbers)              # the text columns fold, the numbers stay whole
    else:
        whole = set()                     # even that does not fit: every column folds
    table = Table(title=plain(caption) if caption else None, title_justify="left",
                  header_style="bold")
    for i in columns:
        # A cell is never cut: it is kept on one line where there is room, else folded.
        table.add_column(plain(section.headers[i]),
                         justify="right" if section.justify[i] == "r" else "left",
                         no_wrap=i in whole, overflow="fold",
                         min_width=widths[i] if i in whole else None)
    for row in section.rows:
        table.add_row(*(plain(row[i]) for i in columns))
    return table
