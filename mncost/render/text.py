"""Numbers in human units and the plain text formats (JSON, CSV, Markdown tables)."""

from __future__ import annotations

import csv
import json
from typing import Any, Callable, Iterable, Sequence


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


def csv_value(value: Any) -> Any:
    """A CSV cell: booleans as ``true``/``false``, shapes as ``CxHxW``, floats without
    binary noise (``0.9414600000000011`` -> ``0.94146``: 12 significant digits, as short as
    Python writes that value), integers exact."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(float(f"{value:.12g}")) if value == value and abs(value) != float("inf") \
            else str(value)
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return value


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
                   align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one of ``l``/``r`` per column."""
    align = align or "l" + "r" * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines) + "\n"


def plural(n: int, word: str) -> str:
    """``plural(3, "mismatch")`` -> ``3 mismatches``; counts get thousands separators."""
    return f"{n:,} {word}" + ("" if n == 1 else "es" if word.endswith("ch") else "s")
