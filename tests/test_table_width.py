"""Tables at 80 and 120 columns never cut a number or drop a column (issue 10, item 14): a table
that does not fit is split into tables of consecutive columns, each repeating the row's name.

Every cell of every table a command draws is recorded (from :mod:`mncost.render.tables`) and
must appear whole in the output, which must hold no ellipsis and no line wider than the
terminal."""

from __future__ import annotations

import types

import pytest
from _helpers import assert_readable, record_sections
from click.testing import CliRunner

import mncost.render.output as output
import mncost.render.tables as tables
from mncost.cli import cli
from mncost.render.tables import Section, print_sections

WIDTHS = (80, 120)


@pytest.fixture
def drawn(monkeypatch):
    """Records the sections drawn; returns ``run(width, *args)``."""
    sections: list[Section] = record_sections(monkeypatch)

    def run(width: int, *args: str):
        sections.clear()
        monkeypatch.setattr(output, "WIDE", width)
        result = CliRunner().invoke(cli, list(args))
        return result, list(sections)

    return run


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("args", [
    ("analyze", "v1", "--per-layer"),
    ("analyze", "v3-large", "--per-layer", "--stages"),
    ("analyze", "v1", "--separable"),
    ("analyze", "v3-large", "--conventions"),
    ("sweep", "v1", "v3-small", "--alpha", "0.5,1.0", "--res", "224x160", "--per-layer"),
], ids=lambda a: " ".join(a) if isinstance(a, tuple) else str(a))
def test_analytic_tables(drawn, width, args):
    result, sections = drawn(width, *args)
    assert result.exit_code == 0, result.output
    assert_readable(result.stdout, sections, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_exact_integers_at_80_and_120(drawn, width):
    result, sections = drawn(width, "analyze", "v1", "--per-layer", "--separable")
    # v1 1.0/224: 568,740,352 MACs (TF-slim's table; the paper's 569M) and 4,231,976 params
    # (torchvision's sum(p.numel())); the first pair of Table 3 (v1 paper): 231.21M standard
    # MACs, the last layer 1024x7x7.
    for text in ("568,740,352", "1,137,480,704", "4,231,976", "231.21M", "1024x7x7",
                 "layers.9.pw", "3x224x224"):
        assert text in result.stdout
    assert_readable(result.stdout, sections, width)


def test_split_repeats_the_name_column():
    section = Section("wide", ("name",) + tuple(f"column {i}" for i in range(12)),
                      [("row-a",) + tuple(f"{10 ** 9 + i:,}" for i in range(12))])
    groups = tables._column_groups(section, 80)
    assert len(groups) > 1 and all(g[0] == 0 for g in groups)
    assert sorted(c for g in groups for c in g[1:]) == list(range(1, 13))
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    print_sections(Console(file=buffer, width=80, no_color=True), None, [section])
    text = buffer.getvalue()
    assert text.count("row-a") == len(groups)
    assert_readable(text, [section], 80)


def test_too_narrow_folds_never_cuts():
    from io import StringIO

    from rich.console import Console

    section = Section("", ("a-rather-long-row-name", "value"),
                      [("a-rather-long-row-name", "1,234,567,890,123")])
    buffer = StringIO()
    print_sections(Console(file=buffer, width=30, no_color=True), None, [section])
    text = buffer.getvalue()
    assert "…" not in text
    body = [line.split("│") for line in text.splitlines() if line.startswith("│")]
    assert "".join(cells[2].strip() for cells in body) == "1,234,567,890,123"
    assert "".join(cells[1].strip() for cells in body) == "a-rather-long-row-name"


@pytest.fixture
def fake_profiler(monkeypatch):
    """A fake profiler (latency = MACs / 1e7 ms) for ``sweep --latency``."""
    import sys
    from dataclasses import dataclass
    from typing import Optional

    @dataclass(frozen=True)
    class Options:
        device: str = "cpu"
        threads: Optional[int] = None
        batch: int = 1
        warmup: int = 10
        repeats: int = 30
        min_time_s: float = 1.0

    def profile_network(network, options, progress=None):
        from mncost.costs.analytic import analyze

        ms = analyze(network).total.macs / 1e7
        stats = types.SimpleNamespace(median_ms=ms, p10_ms=ms * 0.9, p90_ms=ms * 1.1,
                                      quiet_ms=ms * 0.85, mean_ms=ms, std_ms=0.5, runs=7)
        return types.SimpleNamespace(end_to_end=stats)

    module = types.ModuleType("mncost.torch_backend.profile")
    module.ProfileOptions = Options
    module.profile_network = profile_network
    monkeypatch.setitem(sys.modules, "mncost.torch_backend.profile", module)


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_latency_table(drawn, fake_profiler, width):
    result, sections = drawn(width, "sweep", "v3-large", "--alpha", "0.75,1.0", "--res",
                             "224x160,224", "--latency")
    assert result.exit_code == 0, result.output
    assert_readable(result.stdout, sections, width)


@pytest.mark.torch
@pytest.mark.parametrize("width", WIDTHS)
def test_profile_per_layer_table(drawn, width):
    result, sections = drawn(width, "profile", "v3-small", "--alpha", "0.35", "--res", "64",
                             "--warmup", "1", "--repeats", "3", "--min-time", "0",
                             "--threads", "1", "--per-layer")
    assert result.exit_code == 0, result.output
    assert_readable(result.stdout, sections, width)


@pytest.mark.torch
@pytest.mark.fvcore
@pytest.mark.parametrize("width", WIDTHS)
def test_crosscheck_tables(drawn, width):
    result, sections = drawn(width, "crosscheck", "v3-small", "--res", "96", "--per-layer",
                             "--conventions")
    assert result.exit_code == 0, result.output
    assert_readable(result.stdout, sections, width)
