"""Tables split to fit 80 columns can be read part by part (issue 22, item 2): every part
repeats the columns that name its row (a layer; a model, alpha and resolution; a convention
and term), and the columns a reader compares (baseline / now / delta / status, MAC share /
time share) are never put in different parts. Drawn with rich at 80 columns, as a terminal of
COLUMNS=80 draws them."""

from __future__ import annotations

import io
import json
import re

import pytest
from _helpers import assert_readable, profile_doc, record_sections
from click.testing import CliRunner
from rich.console import Console

import mncost.render.output as output
import mncost.render.tables as tables
from mncost.cli import cli
from mncost.render.tables import Section, print_sections

WIDTH = 80


def headers(text: str) -> list[list[str]]:
    """The header cells of every table drawn in ``text`` (one list per table, in order)."""
    return [[cell.strip() for cell in line.strip("┃").split("┃")]
            for line in text.splitlines() if line.startswith("┃")]


@pytest.fixture
def drawn(monkeypatch):
    """``run(*args)``: the command at 80 columns, and every section it drew."""
    sections: list[Section] = record_sections(monkeypatch)
    monkeypatch.setattr(output, "WIDE", WIDTH)

    def run(*args: str):
        sections.clear()
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code in (0, 1), result.output
        return result.stdout, list(sections)

    return run


def assert_parts_readable(sections: list[Section], width: int = WIDTH) -> None:
    """Each part of each section holds the key columns, and every ``together`` group is in
    one part."""
    for section in sections:
        parts = tables._column_groups(section, width)
        key = list(range(min(section.key, len(section.headers))))
        for part in parts:
            assert part[:len(key)] == key, (section.title, part)
        for group in section.together:
            present = [section.headers.index(h) for h in group if h in section.headers]
            holding = [p for p in parts if any(c in p for c in present)]
            assert len(holding) <= 1, (section.title, group, parts)
            assert all(c in holding[0] for c in present) if holding else True


def test_parts_repeat_the_key_and_keep_groups_whole():
    head = ("model", "alpha", "res") + tuple(f"metric {i}" for i in range(10))
    row = ("efficientnet-b0", "1.25", "224x160") + tuple(f"{10 ** 9 + i:,}" for i in range(10))
    section = Section("", head, [row], "lll", key=3,
                      together=(("metric 3", "metric 4", "metric 5"),))
    parts = tables._column_groups(section, WIDTH)
    assert len(parts) > 2
    assert all(part[:3] == [0, 1, 2] for part in parts)
    assert sorted(c for part in parts for c in part[3:]) == list(range(3, 13))
    assert sum(all(c in part for c in (6, 7, 8)) for part in parts) == 1
    buffer = io.StringIO()
    print_sections(Console(file=buffer, width=WIDTH, no_color=True), None, [section])
    for cells in headers(buffer.getvalue()):
        assert cells[:3] == ["model", "alpha", "res"]
    assert_readable(buffer.getvalue(), [section], WIDTH)


def test_a_part_too_wide_folds_its_text_and_keeps_its_numbers():
    section = Section("", ("layer", "a", "b", "c"),
                      [("a-very-long-layer-name-" * 3, "1,234,567,890", "2,345,678,901",
                        "3,456,789,012")], key=1, together=(("a", "b", "c"),))
    buffer = io.StringIO()
    print_sections(Console(file=buffer, width=60, no_color=True), None, [section])
    text = buffer.getvalue()
    assert len(headers(text)) == 1          # the group is never split
    for number in section.rows[0][1:]:
        assert number in text               # numbers stay whole on one line
    assert all(len(line) <= 60 for line in text.splitlines())


def test_sweep_memory_parts_name_their_configuration(drawn):
    text, sections = drawn("sweep", "v1", "v3-small", "--alpha", "0.5,1.0", "--res",
                           "224x160,128", "--memory")
    parts = headers(text)
    assert len(parts) >= 2 and any("moved" in cells for cells in parts)
    for cells in parts:
        assert cells[:3] == ["model", "alpha", "res"], cells
    assert_parts_readable(sections)
    assert_readable(text, sections, WIDTH)


def test_sweep_predicted_part_names_its_configuration(drawn, tmp_path):
    device = tmp_path / "device.json"
    device.write_text(json.dumps(profile_doc()))
    text, sections = drawn("sweep", "v2", "v3-large", "--alpha", "0.35,1.0", "--res",
                           "96,224x160", "--memory", "--device-profile", str(device))
    predicted = [cells for cells in headers(text) if "predicted ms" in cells]
    assert predicted and predicted[0][:3] == ["model", "alpha", "res"]
    assert_parts_readable(sections)
    assert_readable(text, sections, WIDTH)


def test_check_values_stand_beside_their_configuration(drawn, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["baseline", "write", "v1", "v3-small", "--alpha",
                                    "0.5,1.0", "-o", "base.json"]).exit_code == 0
    (tmp_path / "b.yaml").write_text("budgets:\n  - {model: v3-small, max_macs: 50M, "
                                     "max_peak_activation_bytes: 6MiB}\n")
    text, sections = drawn("check", "--baseline", "base.json", "--budget", "b.yaml")
    tables_drawn = headers(text)
    baseline = [cells for cells in tables_drawn if "baseline" in cells]
    assert baseline == [["model", "config", "metric", "baseline", "now", "delta", "status"]]
    assert ["model", "config", "metric", "now", "budget", "status"] in tables_drawn
    assert re.search(r"│ v3-small │ 0\.5/224 │ peak act\. │ +1,229,312 │ +1,229,312 │ "
                     r"\+0\.00% │ ok", text)
    assert "<= 6MiB" in text and "6.29M" not in text       # item 10: the budget as written
    assert_parts_readable(sections)
    assert_readable(text, sections, WIDTH)


def test_conventions_fit_and_every_row_names_its_convention(drawn):
    text, sections = drawn("analyze", "v3-large", "--conventions")
    (section,) = [s for s in sections if s.title.startswith("Conventions")]
    assert "(continued)" not in text
    assert all(row[0] and row[1] for row in section.rows)
    totals = {row[0]: row[4] for row in section.rows if row[1] == "= total"}
    assert totals["macs"] == "216,589,760" and totals["flops"] == "433,179,520"
    assert totals["trainable"] == "5,483,032"               # torchvision's num_params
    assert_parts_readable(sections)
    assert_readable(text, sections, WIDTH)


def test_separable_pairs_are_named_by_their_block(drawn):
    text, sections = drawn("analyze", "v1", "--separable")
    (section,) = [s for s in sections if s.title.startswith("Standard vs separable")]
    assert [row[0] for row in section.rows][6:8] == ["layers.7.0", "layers.7.1"]
    assert "layers.7.0.dw + layers.7.0.pw" not in text
    compared = [cells for cells in headers(text) if "ratio" in cells]
    assert compared == [["block (dw + pw)", "standard MACs", "separable MACs", "ratio",
                         "1/N + 1/D_K^2"]]
    assert_parts_readable(sections)
    assert_readable(text, sections, WIDTH)


def test_separable_names_stay_whole_where_a_block_is_ambiguous():
    from mncost.render.analyze import pair_names

    pairs = [{"depthwise": "a.dw", "pointwise": "a.pw"},
             {"depthwise": "b.dw1", "pointwise": "b.pw1"},
             {"depthwise": "b.dw2", "pointwise": "b.pw2"},
             {"depthwise": "dw", "pointwise": "pw"}]
    assert pair_names(pairs) == ["a", "b.dw1 + b.pw1", "b.dw2 + b.pw2", "dw + pw"]


def profile_data() -> dict:
    """v3-small 0.35/64 with made-up layer times (no torch): the profile's plain data."""
    from mncost.costs.analytic import analyze
    from mncost.measure.profile_options import ProfileOptions
    from mncost.measure.profile_results import ProfileResult, layer_results
    from mncost.measure.timing import TimingStats
    from mncost.network.catalog import resolve_model

    network = resolve_model("v3-small", 0.35, "64")
    samples = {layer.name: [(1 + i % 3) * 100_000] * 3
               for i, layer in enumerate(network.layers)}
    layers, kinds = layer_results(network, samples, batch=1)
    env = {"device": "cpu", "device_name": "test cpu", "threads": 1, "dtype": "float32",
           "batch": 1, "channels_last": False, "fuse_bn": False, "compile": False}
    result = ProfileResult(network=network, options=ProfileOptions(), environment=env,
                           macs=analyze(network).total.macs,
                           end_to_end=TimingStats.from_ms([5.0] * 3), samples_ms=(5.0,) * 3,
                           layers=layers, by_kind=kinds,
                           instrumented=TimingStats.from_ms([6.0] * 3))
    return result.to_dict("v3-small")


def test_profile_shares_are_compared_in_one_part():
    from mncost.render.profile import profile_rich, profile_sections

    data = profile_data()
    buffer = io.StringIO()
    profile_rich(Console(file=buffer, width=WIDTH, no_color=True), data)
    text = buffer.getvalue()
    shares = [cells for cells in headers(text) if "MAC %" in cells or "time %" in cells]
    assert len(shares) == 2            # by kind and per layer, each one part with both
    for cells in shares:
        assert "MAC %" in cells and "time %" in cells and "share ratio" in cells
    assert not any("time/MAC" in cells for cells in headers(text))   # item 10: a share ratio
    assert "share ratio = time % / MAC %" in text
    sections = profile_sections(data)
    assert_parts_readable(sections)
    assert_readable(text, sections, WIDTH)
