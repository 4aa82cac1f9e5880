"""Golden files: the user-visible analytic outputs of mncost, byte for byte.

``python tests/golden/make_golden.py`` writes them into this directory; ``tests/test_golden.py``
regenerates them in-process and compares byte for byte, so a refactoring that changes any number,
field, column or line of these outputs fails. A change to an output that is *meant* (a new field,
a new built-in) is made by running this script again and committing the new files with it.

Golden files are kept only where the bytes are the interface: every output format once, and
every ``--help``. Covered, for one model (v3-small at alpha 1.0 / 224: squeeze-excite, hard-swish,
residual adds: every layer kind the built-ins use):

* ``analyze -f json --per-layer``, and the same with ``--conventions --separable``;
* ``analyze -f csv`` (by kind) and ``-f csv --per-layer``; on the small spec, each other CSV
  view (``--stages``, ``--separable``, ``--conventions``: one table per CSV);
* ``analyze -f markdown --per-layer --stages --separable --conventions``;

and for a small grid: ``sweep -f csv``, ``sweep -f csv --per-layer``, ``sweep -f json``,
``sweep -f markdown``, ``sweep --memory`` (csv, json); ``memory`` of v1, v2, v3-small (JSON,
with a roofline) and in Markdown and CSV; ``list`` (table, json, csv); ``--help`` of every
command; ``baseline write`` (the file); ``check`` against that baseline and a budgets file
with one broken budget (the Markdown and JUnit reports, the exit status); and ``analyze`` on
the small spec of tests/data/tiny_every_kind.yaml.

The numbers of every other built-in are not here: tests/data/builtin_totals.csv lists each
built-in's totals at alpha 1.0 / 224 and 0.75 / 192, one line each, held by
tests/test_builtin_totals.py to the engine and to torchvision's and timm's own counts
(tests/data/reference_counts.json), which tests/test_reference_counts.py also compares layer by
layer.

Paths that depend on the checkout (the spec files' absolute paths, the temporary directory) are
replaced by ``<root>`` and ``<tmp>`` before writing and comparing.

Runs on the analytic path only (no torch).
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout without an install
    sys.path.insert(0, str(ROOT))

#: The one model, alpha and resolution whose ``analyze`` output is kept in every format.
ANALYZE = ("v3-small", "1.0", "224")
#: The sweep grid (small: a few configurations of three models, one of them with SE).
SWEEP_GRID = ("v1", "v2", "v3-small", "--alpha", "0.5,1.0", "--res", "128,224x160")
EVERY_KIND = "tests/data/tiny_every_kind.yaml"
#: Commands whose ``--help`` is kept (every option, its choices, default and text), at a fixed
#: terminal width.
HELP = (("analyze",), ("list",), ("validate",), ("crosscheck",), ("profile",), ("sweep",),
        ("baseline",), ("baseline", "write"), ("check",), ("memory",), ("roofline-measure",),
        ("calibrate",), ("predict",), ("zoo",))
HELP_WIDTH = 100
BUDGETS = """\
budgets:
  - {model: v1, alpha: 1.0, resolution: 224, max_macs: 600M, max_params: 4.3M}
  - {model: v3-small, alpha: 1.0, resolution: 224, max_macs: 50M}
"""


@dataclass(frozen=True)
class Case:
    """One golden file: the command, and which of its outputs the file holds.

    ``output`` names a file the command writes (``-o``, ``--report-md``...) relative to the
    temporary directory; None means stdout. ``exit_code`` is the status it must end with.
    """

    name: str
    argv: tuple[str, ...]
    output: str | None = None
    exit_code: int = 0


def _config_tag(alpha: str, res: str) -> str:
    return f"{alpha.replace('.', '')}_{res}"


def cases() -> list[Case]:
    """Every golden case, in a fixed order."""
    model, alpha, res = ANALYZE
    tag = f"analyze_{model}_{_config_tag(alpha, res)}"
    base = ("analyze", model, "--alpha", alpha, "--res", res)
    out: list[Case] = [
        Case(f"{tag}.json", (*base, "-f", "json", "--per-layer")),
        Case(f"{tag}_conventions.json",
             (*base, "-f", "json", "--per-layer", "--conventions", "--separable")),
        Case(f"{tag}.csv", (*base, "-f", "csv")),
        Case(f"{tag}_per_layer.csv", (*base, "-f", "csv", "--per-layer")),
        Case(f"{tag}.md", (*base, "-f", "markdown", "--per-layer", "--stages",
                           "--separable", "--conventions")),
    ]
    every = ("analyze", EVERY_KIND, "--per-layer", "--conventions", "--separable")
    out += [
        Case("analyze_every_kind.json", (*every, "-f", "json")),
        Case("analyze_every_kind.csv", ("analyze", EVERY_KIND, "--per-layer", "-f", "csv")),
        # -f csv holds one table: each view of --stages, --separable, --conventions is a CSV.
        *(Case(f"analyze_every_kind_{view}.csv", ("analyze", EVERY_KIND, f"--{view}", "-f",
                                                   "csv"))
          for view in ("stages", "separable", "conventions")),
        Case("analyze_every_kind.md", (*every, "--stages", "-f", "markdown")),
        Case("sweep.csv", ("sweep", *SWEEP_GRID, "-f", "csv")),
        Case("sweep_per_layer.csv", ("sweep", *SWEEP_GRID, "-f", "csv", "--per-layer")),
        Case("sweep.json", ("sweep", *SWEEP_GRID, "-f", "json")),
        Case("sweep.md", ("sweep", *SWEEP_GRID, "-f", "markdown")),
        Case("sweep_every_kind.csv", ("sweep", EVERY_KIND, "--alpha", "0.5,1.0", "--res",
                                      "8,16", "-f", "csv")),
        Case("sweep_memory.csv", ("sweep", *SWEEP_GRID, "--memory", "-f", "csv")),
        Case("sweep_memory.json", ("sweep", *SWEEP_GRID, "--memory", "-f", "json")),
        *(Case(f"memory_{model}.json", ("memory", model, "--per-layer", "--per-resolution",
                                         "block-io", "--peak-gmacs", "50", "--bandwidth-gbs",
                                         "10", "-f", "json"))
          for model in ("v1", "v2", "v3-small")),
        Case("memory_v2_float16.md", ("memory", "v2", "--dtype", "float16", "--per-layer",
                                      "--per-resolution", "row-input", "-f", "markdown")),
        Case("memory_every_kind.csv", ("memory", EVERY_KIND, "--per-layer", "-f", "csv")),
        *(Case(f"help_{'_'.join(command)}.txt", (*command, "--help")) for command in HELP),
        Case("list.json", ("list", "-f", "json")),
        Case("list.csv", ("list", "-f", "csv")),
        Case("list.txt", ("list",)),
        Case("baseline.json", ("baseline", "write", "v1", "v3-small", "--alpha", "0.5,1.0",
                               "-o", "<tmp>/baseline.json"),
             output="baseline.json"),
        Case("check_report.md", ("check", "--baseline", "<tmp>/baseline.json", "--budget",
                                 "<tmp>/budgets.yaml", "--report-md", "<tmp>/report.md",
                                 "--junit", "<tmp>/junit.xml"),
             output="report.md", exit_code=1),
        Case("check_junit.xml", ("check", "--baseline", "<tmp>/baseline.json", "--budget",
                                 "<tmp>/budgets.yaml", "--report-md", "<tmp>/report.md",
                                 "--junit", "<tmp>/junit.xml"),
             output="junit.xml", exit_code=1),
    ]
    return out


def _normalize(text: str, tmp: Path) -> str:
    from mncost.network.catalog import configs_dir

    for path, token in ((tmp, "<tmp>"), (configs_dir().parent, "<root>"), (ROOT, "<root>")):
        text = text.replace(str(path.resolve()), token).replace(str(path), token)
    return text


def generate(only: Callable[[Case], bool] = lambda case: True) -> dict[str, str]:
    """Run every case in-process (click's runner, from the repository root) and return
    ``{file name: normalized text}``.

    Raises:
        AssertionError: when a command ends with another exit status than its case says.
    """
    import os

    from click.testing import CliRunner

    from mncost.cli import cli

    results: dict[str, str] = {}
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "budgets.yaml").write_text(BUDGETS)
        os.chdir(ROOT)
        try:
            for case in cases():
                if not only(case):
                    continue
                argv = [a.replace("<tmp>", str(tmp)) for a in case.argv]
                result = CliRunner().invoke(cli, argv, terminal_width=HELP_WIDTH)
                if result.exit_code != case.exit_code:
                    raise AssertionError(
                        f"{case.name}: mncost {' '.join(case.argv)} exited {result.exit_code}, "
                        f"expected {case.exit_code}: {result.output}{result.exception!r}")
                text = (tmp / case.output).read_text() if case.output else result.stdout
                results[case.name] = _normalize(text, tmp)
        finally:
            os.chdir(cwd)
    return results


def main() -> None:
    files = generate()
    for stale in HERE.iterdir():
        if (stale.is_file() and stale.suffix != ".py" and not stale.name.startswith(".")
                and stale.name not in files):
            stale.unlink()
    for name, text in files.items():
        (HERE / name).write_bytes(text.encode("utf-8"))
    print(f"wrote {len(files)} golden files to {HERE}")


if __name__ == "__main__":
    main()
