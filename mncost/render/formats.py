"""The output formats: one registry, and the dispatch every renderer uses.

Each format is one :class:`Format` here. A renderer maps the format names it supports to a
function (its *formatters*); :func:`dispatch` picks one, so no renderer keeps an ``if``-chain
and a command's ``--format`` choices come from the same names (``mncost.cli.common``).
``tests/test_formats.py`` checks that every format a command offers has a formatter.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Format:
    """One output format.

    Attributes:
        name: the ``--format`` value.
        machine: for programs (exact integers, stable fields); else for people (human units).
        description: what it is, in a few words.
    """

    name: str
    machine: bool
    description: str


#: Every output format, in the order ``--format`` lists them.
REGISTRY: Mapping[str, Format] = OrderedDict((f.name, f) for f in (
    Format("table", False, "rich tables on the terminal"),
    Format("json", True, "one JSON document"),
    Format("csv", True, "CSV with a header row"),
    Format("jsonl", True, "one JSON object per line"),
    Format("markdown", False, "Markdown tables"),
))
#: The ``--format`` choices of the commands that render one report.
FORMATS = ("table", "json", "csv", "markdown")


def dispatch(formatters: Mapping[str, Callable[[], Any]], fmt: str) -> Any:
    """Call the formatter of ``fmt`` (each takes no arguments: the renderer binds them).

    Raises:
        ValueError: ``fmt`` is not in the registry or the renderer has no formatter for it
            (a programming error: click has checked the choice already).
    """
    if fmt not in REGISTRY or fmt not in formatters:
        raise ValueError(f"no {fmt!r} formatter here (have: {', '.join(formatters)})")
    return formatters[fmt]()
