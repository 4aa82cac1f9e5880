"""Rendering results: the only place that turns engine data into text.

Machine formats (JSON, CSV) carry exact integers; human formats (rich tables, Markdown) use
human units (k, M, G). The JSON and CSV fields are an interface, documented in docs/
("Output formats").

* :mod:`.text`: numbers in human units, JSON, CSV and Markdown tables;
* :mod:`.tables`: titled tables (:class:`Section`) as Markdown or rich, for every command;
* :mod:`.output`: where it goes (stdout, or ``-o FILE`` atomically);
* one module per command: :mod:`.analyze`, :mod:`.crosscheck`, :mod:`.profile`,
  :mod:`.sweep`, :mod:`.check`, :mod:`.memory` (and :mod:`.roofline_plot`).

rich is imported only when a table is printed, and nothing here imports torch.
"""

from __future__ import annotations

from ..costs.schema import resolution_str
from .analyze import (
                      ANALYZE_KIND_COLUMNS,
                      ANALYZE_LAYER_COLUMNS,
                      ANALYZE_SCHEMA,
                      analyze_csv,
                      analyze_markdown,
                      analyze_rich,
                      cost_fields,
                      layer_fields,
                      report_dict,
                      separable_dict,
)
from .formats import FORMATS
from .output import WIDE, emit, emit_rich
from .tables import Section, print_sections, sections_markdown
from .text import human, markdown_table, pct, plural, to_csv, to_json

__all__ = ["ANALYZE_KIND_COLUMNS", "ANALYZE_LAYER_COLUMNS", "ANALYZE_SCHEMA", "FORMATS",
           "Section", "WIDE", "analyze_csv", "analyze_markdown", "analyze_rich", "cost_fields",
           "emit", "emit_rich", "human", "layer_fields", "markdown_table", "pct", "plural",
           "print_sections", "report_dict", "resolution_str", "sections_markdown",
           "separable_dict", "to_csv", "to_json"]
