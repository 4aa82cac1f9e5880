"""What a file holds is what its name says, and no view asked for is dropped (issue 22, items
3 and 4).

* ``-o out.json`` without ``-f`` writes JSON (``.csv``, ``.md``, ``.jsonl`` likewise), never the
  box-drawing table; an extension that contradicts ``-f``, or names a format the command does
  not write, is refused (one line, exit 2).
* ``-f csv`` holds one table: ``analyze --stages``, ``--separable``, ``--conventions`` are each
  a CSV view; two views at once, and views other commands' CSV cannot hold, are refused
  rather than dropped without a word.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from _helpers import one_line_error, profile_doc, run


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "device.json"
    path.write_text(json.dumps(profile_doc()))
    return str(path)


@pytest.mark.parametrize("args", [
    ("analyze", "v1"), ("memory", "v2"), ("sweep", "v1", "--alpha", "0.5,1"),
    ("predict", "v2", "--device-profile", "{device}"),
], ids=lambda a: a[0])
def test_json_extension_writes_json(tmp_path, device, args):
    out = tmp_path / "out.json"
    result = run(*(a.format(device=device) for a in args), "-o", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["schema"].startswith("mncost.")
    assert "┃" not in out.read_text()


def test_each_extension_names_its_format(tmp_path):
    for name, check in (("a.csv", lambda t: next(csv.reader(io.StringIO(t)))[0] == "model"),
                        ("a.md", lambda t: t.startswith("## v1 (mobilenet-v1)")),
                        ("A.JSON", lambda t: json.loads(t)["model"] == "v1"),
                        (".json", lambda t: json.loads(t)["model"] == "v1"),
                        ("a.txt", lambda t: "┏" in t)):      # no format named: the table
        result = run("analyze", "v1", "-o", str(tmp_path / name))
        assert result.exit_code == 0, result.output
        assert check((tmp_path / name).read_text()), name
    result = run("sweep", "v1", "--alpha", "0.5,1", "-o", str(tmp_path / "s.jsonl"))
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert result.exit_code == 0 and [json.loads(line)["alpha"] for line in lines] == [0.5, 1.0]


def test_an_extension_agreeing_with_f_is_fine(tmp_path):
    result = run("analyze", "v1", "-f", "csv", "-o", str(tmp_path / "a.csv"))
    assert result.exit_code == 0, result.output


def test_a_contradiction_is_refused_before_writing(tmp_path):
    out = tmp_path / "out.json"
    error = one_line_error(run("analyze", "v1", "-f", "csv", "-o", str(out)))
    assert "json by its extension but -f is csv" in error
    assert not out.exists()


def test_a_format_the_command_does_not_write_is_refused(tmp_path):
    error = one_line_error(run("analyze", "v1", "-o", str(tmp_path / "a.jsonl")))
    assert "jsonl" in error and "does not write" in error


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_stages_csv_is_one_row_per_stage_and_a_total():
    result = run("analyze", "v1", "--stages", "-f", "csv")
    assert result.exit_code == 0, result.output
    table = rows(result.stdout)
    assert [r["stage"] for r in table][:2] == ["layers.0", "layers.1"]
    assert table[-1]["stage"] == "total" and table[-1]["macs"] == "568740352"
    assert sum(int(r["macs"]) for r in table[:-1]) == 568_740_352
    assert int(table[0]["macs"]) == 112 * 112 * 32 * 27          # the stem conv, 3x3x3


def test_separable_csv_is_one_row_per_pair():
    table = rows(run("analyze", "v1", "--separable", "-f", "csv").stdout)
    assert len(table) == 13
    first = table[0]
    assert (first["depthwise"], first["pointwise"]) == ("layers.1.dw", "layers.1.pw")
    # v1 paper Table 3's first pair at 112x112: D_K^2 M D_F^2 + M N D_F^2 vs D_K^2 M N D_F^2
    assert int(first["standard_macs"]) == 9 * 32 * 64 * 112 * 112
    assert int(first["separable_macs"]) == 9 * 32 * 112 * 112 + 32 * 64 * 112 * 112


def test_conventions_csv_is_one_row_per_term():
    table = rows(run("analyze", "v3-large", "--conventions", "-f", "csv").stdout)
    by = {(r["convention"], r["term"]): r for r in table}
    assert by[("flops", "mac_adds")]["count"] == "216589760"
    assert by[("flops", "macs")]["total"] == "433179520"
    assert {r["group"] for r in table} == {"counts", "params"}
    for name in ("macs", "flops", "fvcore", "ops", "weights", "trainable", "checkpoint"):
        terms = [r for r in table if r["convention"] == name]
        assert sum(int(r["count"]) for r in terms) == int(terms[0]["total"]), name


@pytest.mark.parametrize("args, fragment", [
    (("analyze", "v1", "--stages", "--separable", "-f", "csv"), "--stages and --separable"),
    (("analyze", "v1", "--per-layer", "--conventions", "-f", "csv"),
     "--per-layer and --conventions"),
    (("crosscheck", "v1", "--conventions", "-f", "csv"), "not the conventions"),
    (("crosscheck", "--all", "--per-layer"), "drop --per-layer"),
    (("crosscheck", "--all", "--conventions"), "drop it with --all"),
    (("memory", "v1", "--per-resolution", "block-io", "-f", "csv"), "--per-resolution"),
    (("memory", "v1", "--measure", "-f", "csv"), "--measure"),
    (("profile", "v1", "--per-layer", "--peak-gmacs", "50", "--bandwidth-gbs", "10", "-f",
      "csv"), "not the roofline"),
], ids=lambda a: " ".join(a) if isinstance(a, tuple) else None)
def test_a_view_the_output_cannot_hold_is_refused(args, fragment):
    assert fragment in one_line_error(run(*args))


@pytest.mark.parametrize("args, option", [
    (("baseline", "write", "v1", "-o", "base.csv"), "--output"),
    (("check", "--budget", "b.yaml", "--junit", "report.md"), "--junit"),
    (("check", "--budget", "b.yaml", "--report-md", "report.json"), "--report-md"),
    (("sweep", "v1", "--plot", "plot.json"), "--plot"),
    (("roofline-measure", "-o", "roofline.csv"), "--output"),
    (("calibrate", "-o", "profile.md"), "-o"),
], ids=lambda a: " ".join(a) if isinstance(a, tuple) else None)
def test_a_file_always_in_one_format_refuses_a_name_saying_another(args, option, tmp_path,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    error = one_line_error(run(*args))
    assert "by its extension" in error and option in error
    assert list(tmp_path.iterdir()) == []


def test_dtype_is_refused_where_the_format_has_no_memory_fields():
    assert "-f json" in one_line_error(run("analyze", "v1", "--dtype", "float16"))
    result = run("analyze", "v1", "--dtype", "float16", "-f", "json")
    assert json.loads(result.stdout)["totals"]["memory_dtype"] == "float16"
