"""Numbers in human units and the plain text formats (JSON, CSV, Markdown tables)."""

from __future__ import annotations

import csv
import json
import re
from typing import Any, Callable, Iterable, Sequence

# ---------------------------------------------------------------------------------------------
# The one sanitising layer. Every text format passes what it writes through one of these:
#
# * every format: a character that is not printable (a control character such as ESC, a
#   newline, a bidirectional override, U+FFFE) is written as its Python escape (``\x1b``,
#   ``\n``, ``\u202e``), so a name can never clear the screen, set a window title, write the
#   clipboard, break a line or smuggle a character XML forbids (:func:`visible`);
# * rich tables: every cell, header, title and note is a ``rich.text.Text``, never markup, so
#   ``[/]`` or ``[link=...]`` in a name is shown as typed (:mod:`mncost.render.tables`);
# * Markdown: every cell, header, title and note is escaped (:func:`markdown_text`), so no
#   backtick, HTML tag, link, autolink, emphasis or table pipe in a name changes the document;
# * CSV: a text cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first)
#   gets a leading ``'`` (:func:`csv_value`); numbers, and text that is a plain number such as
#   ``-1.5``, are left as they are;
# * JSON escapes control characters itself; JUnit XML is :func:`visible` text too.


def visible(text: str) -> str:
    r"""``text`` with every non-printable character written as its Python escape (ESC ->
    ``\x1b``, newline -> ``\n``, U+FFFE -> ``\ufffe``), and a byte of a file name that is not
    UTF-8 (held by Python as a lone surrogate, U+DC80..U+DCFF) as ``\xNN``, the byte it was;
    printable text, any script, is unchanged."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else repr(ch)[1:-1]


#: What GitHub-flavoured Markdown would read as syntax inside a line: code (backtick),
#: links (brackets), emphasis and strikethrough (``*``, ``~``; ``_`` but not inside a word,
#: where it is literal), math (``$``), table cells (``|``), heading ends (``#``), escapes
#: (backslash), an HTML tag, comment or autolink (``<`` before a letter, ``/``, ``!``, ``?``),
#: an entity (``&``), and the autolinks of a URL (``://``), ``mailto:``, ``xmpp:``, ``www.`` or
#: an e-mail address (``@``). Each gets a backslash; nothing else changes (``<= 6MiB``).
_MARKDOWN = re.compile(r"[\\`*\[\]|&~$#@]|<(?=[A-Za-z/!?])"
                       r"|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])"
                       r"|:(?=/)|(?i:(?<=mailto)|(?<=xmpp)):"
                       r"|(?i:(?<=www))\.")


def human(n: float, digits: int = 2) -> str:
    """``568740352`` -> ``568.74M``; plain below 1000."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f}{unit}"
    return f"{n:g}" if isinstance(n, float) else str(n)


def pct(share: float) -> str:
    return f"{100 * share:.2f}%"


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    lines: list[str] = [csv_header(columns)]
    write = csv_writer(lines, columns)
    for row in rows:
        write(row)
    return "".join(lines)


class _Lines:
    """A file-like ``write`` that appends to a list (csv writes into it, nothing is copied)."""

    def __init__(self, lines: list[str]) -> None:
        self.write = lines.append


def csv_header(columns: Sequence[str]) -> str:
    lines: list[str] = []
    csv.writer(_Lines(lines), lineterminator="\n").writerow(columns)
    return "".join(lines)


def csv_writer(lines: list[str], columns: Sequence[str]) -> Callable[[dict[str, Any]], None]:
    """``write(row)``: one CSV line of ``row``'s ``columns`` appended to ``lines`` (no
    header). Cells are :func:`csv_value`."""
    writer = csv.writer(_Lines(lines), lineterminator="\n")
    names = tuple(columns)

    def write(row: dict[str, Any]) -> None:
        writer.writerow([csv_value(row.get(name, "")) for name in names])

    return write


#: A text cell that is a plain number (``-1.5``, ``+3``, ``2e-5``): a spreadsheet reads it as
#: that number, never as a formula.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_value(value: Any) -> Any:
    """A CSV cell: booleans as ``true``/``false``, shapes as ``CxHxW``, floats without
    binary noise (``0.9414600000000011`` -> ``0.94146``: 12 significant digits, as short as
    Python writes that value), integers exact; text :func:`visible`, and ``'`` before text
    that a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@`` first, as a file
    or model name may have; the numbers are never text, so they are never changed)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(f"{value:.12g}")) if value == value and abs(value) != float("inf") \
            else str(value)
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    if isinstance(value, str):
        text = visible(value)
        if text[:1] in ("=", "+", "-", "@") and not _NUMBER.fullmatch(text):
            return "'" + text
        return text
    return value


def markdown_text(text: Any) -> str:
    """``text`` as literal Markdown (a table cell, a heading, a line): non-printable characters
    made :func:`visible`, and a backslash before every character that would otherwise start
    code, HTML, a link or autolink, emphasis, strikethrough, math or a table cell."""
    return _MARKDOWN.sub(lambda m: "\\" + m.group(0), visible(str(text)))


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one of ``l``/``r`` per column. Every
    header and cell is :func:`markdown_text`."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(map(markdown_text, headers)) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(map(markdown_text, row)) + " |")
    return "\n".join(lines) + "\n"


def plural(n: int, word: str) -> str:
    """``plural(3, "mismatch")`` -> ``3 mismatches``; counts get thousands separators."""
    return f"{n:,} {word}" + ("" if n == 1 else "es" if word.endswith("ch") else "s")
