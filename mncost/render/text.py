"""Numbers in human units and the plain text formats (JSON, CSV, Markdown tables)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Sequence

from ..schema import resolution_str  # noqa: F401  (re-exported: the edge's resolution text)

from .formats import FORMATS  # noqa: F401  (re-exported: the --format choices)


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
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
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
