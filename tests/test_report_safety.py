"""Names in reports are shown as typed and never act (issue 22, items 5, 13, 14, 15).

A model path, a budget or baseline path, a spec's or layer's name, a device profile's device
name: any of them can hold rich markup (``[/]``, ``[link=...]``), terminal escapes (screen
clear, window title, clipboard write), Markdown (backticks, HTML, links, newlines, pipes) or a
spreadsheet formula (``=``, ``+``, ``-``, ``@`` first). Every text format mncost writes shows
them literally: the rule is in :mod:`mncost.render.text`.

Also: the Markdown summary lists only broken budgets as broken (a skipped one is not), the
JUnit file parses whatever the paths hold, and the suggested ``mncost baseline write`` command
pastes back as exactly the files it names.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from _helpers import parse_junit, profile_doc, run

import mncost.render.output as output
from mncost.render.text import csv_value, markdown_text, visible

TINY = Path(__file__).parent / "data" / "tiny_every_kind.yaml"
#: Terminal escapes: clear the screen, set the window title, write the clipboard (OSC 52).
ESCAPES = ("\x1b[2J", "\x1b]0;pwned\x07", "\x1b]52;c;cHduZWQ=\x07")
MARKUP = "[/][link=https://evil.example]click[/link][bold]"


@pytest.fixture
def hostile_spec(tmp_path, monkeypatch):
    """A copy of the tiny spec whose file name holds terminal escapes and whose spec name
    holds rich markup and Markdown (a layer name is an identifier); the working directory is
    its directory."""
    monkeypatch.chdir(tmp_path)
    name = "net" + "".join(ESCAPES) + ".yaml"
    text = TINY.read_text().replace("name: tiny",
                                    f"name: '{MARKUP} `x` <b>|</b> [a](http://e.x)'")
    (tmp_path / name).write_text(text)
    return name


def rendered(md: str) -> str:
    """Markdown text as a reader sees it: each backslash escape resolved."""
    return re.sub(r"\\(.)", r"\1", md)


def assert_no_raw_escape(text: str, fmt: str = "table") -> None:
    assert "\x1b" not in text and "\x07" not in text
    shown = rendered(text) if fmt == "markdown" else text
    assert "\\x1b]0;pwned\\x07" in shown      # shown, escaped, where the name was


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_terminal_escapes_and_markup_are_shown_not_run(hostile_spec, fmt, monkeypatch):
    monkeypatch.setattr(output, "WIDE", 200)
    result = run("analyze", hostile_spec, "--per-layer", "-f", fmt)
    assert result.exit_code == 0, result.output
    assert_no_raw_escape(result.stdout, fmt)
    if fmt == "table":
        assert MARKUP in result.stdout           # rich markup shown as typed, not parsed


def test_markup_in_a_device_name_does_not_crash_predict(tmp_path):
    doc = profile_doc()
    doc["environment"]["device_name"] = "[/]" + ESCAPES[1] + "[link=x]y"
    path = tmp_path / "device.json"
    path.write_text(json.dumps(doc))
    result = run("predict", "v2", "--device-profile", str(path))
    assert result.exit_code == 0, result.output
    assert "[/]\\x1b]0;pwned\\x07[link=x]y" in result.stdout


def markdown_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_markdown_structure_survives_every_name(hostile_spec):
    result = run("analyze", hostile_spec, "--per-layer", "-f", "markdown")
    md = result.stdout
    # Each table keeps its column count (no pipe in a name opens a cell), no line is broken,
    # and nothing becomes code, HTML or a link.
    for block in md.split("\n\n"):
        rows = markdown_rows(block)
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
        assert len(counts) <= 1, rows[:3]
    assert not re.search(r"(?<!\\)(<b>|\]\(http|://|`)", md)
    assert "\\`x\\` \\<b>\\|\\</b> \\[a\\](http\\://e.x)" in md
    assert rendered(md.splitlines()[0]).startswith("## net\\x1b[2J")
    assert f"({MARKUP} `x` <b>|</b> [a](http://e.x))" in rendered(md)


def test_markdown_text_escapes_what_would_change_a_document():
    assert markdown_text("a|b") == "a\\|b"
    assert markdown_text("x`y`") == "x\\`y\\`"
    assert markdown_text("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert(1)>"
    assert markdown_text("[a](https://e.x)") == "\\[a\\](https\\://e.x)"
    assert markdown_text("line\nbreak") == "line\\\\nbreak"     # shows as line\nbreak
    assert markdown_text("www.e.x me@e.x") == "www\\.e.x me\\@e.x"
    assert markdown_text("_a_ *b* ~c~ $d$ #") == "\\_a\\_ \\*b\\* \\~c\\~ \\$d\\$ \\#"
    # What means nothing to Markdown is left as it is: numbers, words, "<=" in a budget.
    for plain in ("568.74M", "+0.00%", "<= 6MiB", "conv_dw", "peak_activation_bytes",
                  "224x160", "1/224"):
        assert markdown_text(plain) == plain


def test_visible_writes_every_non_printable_character_as_an_escape():
    assert visible("a\x1b[2Jb\x07\n\t\x0b\x01\ufffe\u202e") == \
        "a\\x1b[2Jb\\x07\\n\\t\\x0b\\x01\\ufffe\\u202e"
    assert visible("αβ 日本 café") == "αβ 日本 café"


@pytest.mark.parametrize("lead", ["=", "+", "-", "@"])
def test_csv_formula_cells_from_file_names_are_text(tmp_path, monkeypatch, lead):
    monkeypatch.chdir(tmp_path)
    name = f"{lead}HYPERLINK(\"https:e.x\",\"x\")+1.yaml"
    shutil.copy(TINY, tmp_path / name)
    result = run("analyze", "-f", "csv", "--", name)
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {row["model"] for row in table} == {"'" + name}
    assert table[-1]["macs"] == "28576"


def test_csv_numbers_stay_numbers():
    assert csv_value(-1.5) == "-1.5" and csv_value(-3) == -3
    assert csv_value("-1.5") == "-1.5" and csv_value("+2e-5") == "+2e-5"
    assert csv_value("-x") == "'-x" and csv_value("=1+1") == "'=1+1"
    assert csv_value("a\nb\x1b") == "a\\nb\\x1b"


# ---------------------------------------------------------------------------------------------
# check: the Markdown summary, JUnit XML and the accept command

def write_baseline(tmp_path: Path, spec_name: str) -> tuple[Path, Path]:
    """A baseline of the tiny spec saved as ``spec_name``, then the spec widened (its stem
    conv 16 -> 24 channels), so ``check`` finds it moved."""
    spec = tmp_path / spec_name
    shutil.copy(TINY, spec)
    base = tmp_path / "base.json"
    assert run("baseline", "write", str(spec), "-o", str(base)).exit_code == 0
    spec.write_text(TINY.read_text().replace("k: 3, c: 16, s: 2", "k: 3, c: 24, s: 2"))
    return spec, base


def accept_line(md: str) -> str:
    """The command the Markdown report suggests, out of its code span."""
    match = re.search(r"accept it by committing a new baseline with the change: "
                      r"(`+) ?(.*?) ?\1\.\n", md)
    assert match, md
    return match.group(2)


@pytest.mark.parametrize("spec_name", [
    "x; touch PWNED; .yaml",
    "$(touch PWNED) `touch PWNED` 'q' \\.yaml",
    "new\nline; touch PWNED\x1b.yaml",
])
def test_the_accept_command_pastes_back_as_the_same_files(tmp_path, monkeypatch, spec_name):
    monkeypatch.chdir(tmp_path)
    spec, base = write_baseline(tmp_path, spec_name)
    result = run("check", "--baseline", str(base), "--report-md", "r.md")
    assert result.exit_code == 1, result.output
    command = accept_line((tmp_path / "r.md").read_text())
    assert "\n" not in command
    # Pasted into bash with a stand-in mncost that records its arguments: nothing runs but
    # the command, and it names exactly the files of the baseline.
    script = "mncost() { printf '%s\\0' \"$@\" > args; }\n" + command + "\n"
    subprocess.run(["bash", "-c", script], cwd=tmp_path, check=True, timeout=30)
    assert not (tmp_path / "PWNED").exists()
    args = (tmp_path / "args").read_bytes().decode().split("\0")[:-1]
    assert args[:2] == ["baseline", "write"] and str(spec) in args
    assert args[args.index("-o") + 1] == str(base)
    # The command run for real writes the same baseline again.
    again = run(*args[:args.index("-o")], "-o", "again.json", *args[args.index("-o") + 2:])
    assert again.exit_code == 0, again.output
    entries = json.loads((tmp_path / "again.json").read_text())["entries"]
    assert [e["model"] for e in entries] == [str(spec)]


@pytest.mark.parametrize("char", ["\x01", "\x0b", "\x1b", "\ufffe"])
def test_junit_parses_whatever_the_paths_hold(tmp_path, monkeypatch, char):
    monkeypatch.chdir(tmp_path)
    spec, base = write_baseline(tmp_path, f"net{char}x.yaml")
    budgets = tmp_path / f"budgets{char}.yaml"
    budgets.write_text(f"budgets:\n  - {{model: \"{_yaml(str(spec))}\", max_macs: 1k}}\n")
    result = run("check", "--baseline", str(base), "--budget", str(budgets), "--junit",
                 "j.xml", "--report-md", "r.md")
    assert result.exit_code == 1, result.output
    root = parse_junit("j.xml")
    assert root.get("failures") == "2"
    text = Path("j.xml").read_text(encoding="utf-8")
    assert char not in text and repr(char)[1:-1] in text
    md = Path("r.md").read_text()
    assert char not in md


def _yaml(text: str) -> str:
    """``text`` inside a double-quoted YAML scalar (control characters as escapes)."""
    return "".join(ch if ch.isprintable() and ch not in '"\\' else
                   f"\\u{ord(ch):04x}" for ch in text)


def test_a_skipped_budget_is_not_listed_as_broken(tmp_path):
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n  - {model: v1, max_macs: 600M, max_latency_ms: 5}\n")
    result = run("check", "--budget", str(budgets), "--report-md", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("## ✅ mncost check: OK")
    assert "Budgets broken" not in md and "| skipped |" in md


def test_a_byte_budget_is_shown_as_written(tmp_path):
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n  - {model: v1, max_peak_activation_bytes: 6MiB, "
                       "max_bytes_moved: 50MB, max_macs: 568740352}\n")
    result = run("check", "--budget", str(budgets), "--report-md", str(tmp_path / "r.md"),
                 "--junit", str(tmp_path / "j.xml"))
    assert result.exit_code == 1, result.output
    md = (tmp_path / "r.md").read_text()
    assert "| peak_activation_bytes | 5,419,008 | <= 6MiB | ok |" in md
    assert "| bytes_moved | 57,839,936 | <= 50MB | BROKEN |" in md
    assert "| macs | 568,740,352 | <= 568,740,352 | ok |" in md
    failure = parse_junit(tmp_path / "j.xml").find(".//failure")
    assert "> budget 50MB" in failure.get("message")


def test_markup_in_a_model_path_does_not_crash_check(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(output, "WIDE", 200)
    name = "specs[/]net[link=https:evil.example]x.yaml"     # a folder "specs[" and a file
    (tmp_path / "specs[").mkdir()
    shutil.copy(TINY, tmp_path / name)
    assert run("baseline", "write", name, "-o", "base.json").exit_code == 0
    result = run("check", "--baseline", "base.json")
    assert result.exit_code == 0, result.output
    assert f"│ {name} │" in result.stdout


def test_a_model_named_like_an_option_is_accepted_as_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(TINY, tmp_path / "-o x.yaml")
    assert run("baseline", "write", "--alpha", "1,0.5", "-o", "base.json", "--",
               "-o x.yaml").exit_code == 0
    (tmp_path / "-o x.yaml").write_text(TINY.read_text().replace("c: 16, s: 2", "c: 24, s: 2"))
    assert run("check", "--baseline", "base.json", "--report-md", "r.md").exit_code == 1
    command = accept_line((tmp_path / "r.md").read_text())
    assert command == ("mncost baseline write --alpha 1,0.5 --res 8 --classes 10 -o base.json "
                       "-- '-o x.yaml'")
    script = "mncost() { printf '%s\\0' \"$@\" > args; }\n" + command + "\n"
    subprocess.run(["bash", "-c", script], cwd=tmp_path, check=True, timeout=30)
    args = (tmp_path / "args").read_bytes().decode().split("\0")[:-1]
    again = run(*args)
    assert again.exit_code == 0, again.output
    assert [e["model"] for e in json.loads(Path("base.json").read_text())["entries"]] == [
        "-o x.yaml", "-o x.yaml"]


def test_the_accept_command_keeps_the_depth(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(TINY, tmp_path / "net.yaml")
    assert run("baseline", "write", "net.yaml", "--depth", "1,2", "-o", "base.json",
               ).exit_code == 0
    (tmp_path / "net.yaml").write_text(TINY.read_text().replace("c: 16, s: 2", "c: 24, s: 2"))
    assert run("check", "--baseline", "base.json", "--report-md", "r.md").exit_code == 1
    assert accept_line((tmp_path / "r.md").read_text()) == (
        "mncost baseline write net.yaml --alpha 1 --res 8 --depth 1,2 --classes 10 "
        "-o base.json")


def test_warnings_on_stderr_show_names_escaped(tmp_path):
    doc = profile_doc()
    doc["environment"]["device_name"] = "another machine"    # warned: not this machine
    path = tmp_path / ("device" + ESCAPES[1] + ".json")
    path.write_text(json.dumps(doc))
    for args in (("predict", "v2"), ("sweep", "v2", "--alpha", "0.5,1")):
        result = run(*args, "--device-profile", str(path))
        assert result.exit_code == 0, result.output
        assert "was calibrated on device_name" in result.stderr
        assert "\x1b" not in result.stderr and "\\x1b]0;pwned\\x07" in result.stderr
