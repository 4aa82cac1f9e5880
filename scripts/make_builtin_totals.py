"""Write tests/data/builtin_totals.csv: every built-in's totals at alpha 1.0 / 224 and 0.75 / 192.

One line per (built-in, configuration), the numbers ``mncost analyze -f json`` prints in its
``totals``; tests/test_builtin_totals.py holds the engine to the table and the table to
tests/data/reference_counts.json (torchvision's and timm's own counts) wherever that file has
the same configuration. The ``anchor`` column names the library that counted the row, or ``-``
where none ships the model at that configuration.

    python scripts/make_builtin_totals.py            # -> tests/data/builtin_totals.csv

A change to this table is a change to what mncost reports for a built-in: review it line by
line. A row with an anchor cannot change without the reference count changing too (the test
fails), so a regeneration that moves one of those is a bug, not an update.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "builtin_totals.csv"
REFERENCE = ROOT / "tests" / "data" / "reference_counts.json"

#: (alpha, resolution) every built-in is listed at.
CONFIGS = (("1.0", "224"), ("0.75", "192"))
#: The ``totals`` fields of ``analyze -f json`` kept per row.
FIELDS = ("layers", "macs", "params", "weights", "bn_params", "activations", "elementwise_ops",
          "peak_activation_bytes")
COLUMNS = ("model", "alpha", "depth", "resolution", "classes", *FIELDS, "anchor")
HEADER = """\
# Every built-in's totals at alpha 1.0 / 224 and 0.75 / 192, as `mncost analyze -f json` prints
# them (params: trainable). Written by scripts/make_builtin_totals.py; held by
# tests/test_builtin_totals.py to the engine and, where `anchor` names a library, to that
# library's own count in tests/data/reference_counts.json (macs and params). `-`: no reference
# ships the model at that configuration (see the test module for what else holds those rows).
"""


def analyze_json(model: str, alpha: str, res: str) -> dict:
    """``mncost analyze MODEL --alpha A --res R -f json``, run in-process."""
    from click.testing import CliRunner

    from mncost.cli import cli

    result = CliRunner().invoke(cli, ["analyze", model, "--alpha", alpha, "--res", res,
                                      "-f", "json"])
    if result.exit_code != 0:
        raise SystemExit(f"mncost analyze {model} --alpha {alpha} --res {res}: "
                         f"exit {result.exit_code}\n{result.output}")
    return json.loads(result.stdout)


def anchor(doc: dict, references: list[dict]) -> str:
    """The library whose count in reference_counts.json has this configuration, or ``-``."""
    key = (doc["model"], doc["alpha"], doc["depth"], doc["resolution"], doc["classes"])
    found = {r["library"] for r in references
             if (r["model"], r["alpha"], r["depth"], r["resolution"], r["classes"]) == key}
    return "+".join(sorted(found)) or "-"


def rows() -> list[dict[str, str]]:
    from mncost import BUILTINS

    references = json.loads(REFERENCE.read_text())["configurations"]
    out = []
    for model in BUILTINS:
        for alpha, res in CONFIGS:
            doc = analyze_json(model, alpha, res)
            h, w = doc["resolution"]
            out.append({"model": model, "alpha": alpha, "depth": str(doc["depth"]),
                        "resolution": str(h) if h == w else f"{h}x{w}",
                        "classes": str(doc["classes"]),
                        **{f: str(doc["totals"][f]) for f in FIELDS},
                        "anchor": anchor(doc, references)})
    return out


def render(table: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return HEADER + buffer.getvalue()


def main() -> int:
    table = rows()
    OUT.write_text(render(table))
    print(f"wrote {OUT} ({len(table)} rows, "
          f"{sum(r['anchor'] != '-' for r in table)} anchored)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
