"""Bad specs and bad options: one line naming file, line and field; exit 2; no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from mncost.cli import cli

V2_LIKE = """\
name: tiny
width: {rounding: make_divisible, divisor: 8}
defaults: {act: relu6}
layers:
  - {op: conv, k: 3, c: 16, s: 2}
  - {op: bottleneck, t: 6, c: 24, n: 2, s: 2}
  - {op: pool}
  - {op: fc, c: classes}
"""


def run(*args):
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def assert_one_line_error(code, output, *fragments):
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("mncost: error: ")
    assert "Traceback" not in output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_valid_spec_analyzes(tmp_path):
    code, out = run("analyze", str(write(tmp_path, V2_LIKE)), "--format", "json")
    assert code == 0, out


CASES = [
    # (description, replace this, with this, expected fragments)
    ("yaml syntax", "  - {op: pool}\n", "  - {op: pool\n", ["YAML syntax error", ":7"]),
    ("unknown op", "op: pool", "op: poll", [":7:", "layers[2].op", "'poll'",
                                           "did you mean 'pool'"]),
    ("unknown key", "t: 6, c: 24", "t: 6, cc: 24", [":6:", "layers[1].cc",
                                                     "unknown key 'cc'", "did you mean 'c'"]),
    ("missing c", "t: 6, c: 24, ", "t: 6, ", [":6:", "layers[1]", "missing required key 'c'"]),
    ("wrong type", "c: 24", "c: twenty", [":6:", "layers[1].c", "must be an integer"]),
    ("negative channels", "c: 16", "c: -16", [":5:", "layers[0].c", "positive"]),
    ("zero stride", "c: 16, s: 2", "c: 16, s: 0", [":5:", "layers[0].s", "must be positive"]),
    ("even kernel", "k: 3", "k: 4", [":5:", "layers[0].k", "odd"]),
    ("bad activation", "act: relu6", "act: relu7", [":3:", "defaults.act", "relu7"]),
    ("bad width rule", "rounding: make_divisible", "rounding: ceil", [":2:", "width.rounding"]),
    ("unknown top key", "defaults:", "defualts:", [":3:", "defualts", "did you mean 'defaults'"]),
    ("both t and exp", "t: 6, c: 24", "t: 6, exp: 96, c: 24", [":6:", "only one of"]),
    ("duplicate key", "c: 16, s: 2}", "c: 16, s: 2, c: 8}", [":5:", "duplicate key 'c'"]),
    ("fc without pool", "  - {op: pool}\n", "", [":7:", "layers[2]", "1x1 input"]),
    ("mismatched residual", "n: 2, s: 2}", "n: 2, s: 2, residual: true}",
     [":6:", "layers[1].residual", "mismatched shapes"]),
    ("bad name", "{op: pool}", "{op: pool, name: 2pool}", [":7:", "layers[2].name"]),
    ("reserved name", "{op: pool}", "{op: pool, name: layers}", [":7:", "reserved"]),
    ("empty layers", None, "name: x\nlayers: []\n", [":2:", "layers", "non-empty"]),
    ("not a mapping", None, "- just\n- a list\n", [":1:", "must be a YAML mapping"]),
    ("missing name", "name: tiny\n", "", ["missing required key 'name'"]),
]


@pytest.mark.parametrize("what,old,new,fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_is_one_line_error(tmp_path, what, old, new, fragments):
    text = new if old is None else V2_LIKE.replace(old, new, 1)
    assert old is None or text != V2_LIKE, "the case did not change the spec"
    path = write(tmp_path, text)
    code, out = run("analyze", str(path))
    assert_one_line_error(code, out, str(path), *fragments)
    code, out = run("validate", str(path))
    assert_one_line_error(code, out, str(path))


def test_unknown_model_lists_builtins():
    code, out = run("analyze", "v4")
    assert_one_line_error(code, out, "unknown model 'v4'", "v1", "v2", "v3-large", "v3-small")


def test_missing_file():
    code, out = run("analyze", "no/such/spec.yaml")
    assert_one_line_error(code, out, "no/such/spec.yaml", "no such file")


@pytest.mark.parametrize("args,fragment", [
    (["--alpha", "0"], "alpha must be a number in (0, 10000]"),
    (["--alpha", "-0.5"], "alpha must be a number in (0, 10000]"),
    (["--alpha", "inf"], "alpha must be a number in (0, 10000]"),
    (["--res", "0"], "resolution"),
    (["--res", "224x0"], "resolution"),
    (["--res", "abc"], "resolution"),
    (["--classes", "0"], "--classes"),
])
def test_impossible_settings(args, fragment):
    code, out = run("analyze", "v1", *args)
    assert_one_line_error(code, out, fragment)


def test_non_number_alpha_is_usage_error():
    code, out = run("analyze", "v1", "--alpha", "half")
    assert code == 2 and "Traceback" not in out


def test_extends_unknown_parent(tmp_path):
    path = write(tmp_path, "name: child\nextends: v9\n")
    code, out = run("analyze", str(path))
    assert_one_line_error(code, out, f"{path}:2", "extends", "unknown model 'v9'")


def test_patch_matching_nothing(tmp_path):
    path = write(tmp_path, "name: child\nextends: v1\npatch:\n  - where: {c: 7}\n"
                           "    set: {n: 0}\n")
    code, out = run("analyze", str(path))
    assert_one_line_error(code, out, f"{path}:4", "patch[0].where", "matches no row")


def test_patched_value_error_points_at_the_patch(tmp_path):
    path = write(tmp_path, "name: child\nextends: v1\npatch:\n  - where: {index: 1}\n"
                           "    set: {c: -1}\n")
    code, out = run("analyze", str(path))
    assert_one_line_error(code, out, f"{path}:5", "layers[1].c")


def test_extends_cycle(tmp_path):
    write(tmp_path, "name: a\nextends: b.yaml\n", "a.yaml")
    write(tmp_path, "name: b\nextends: a.yaml\n", "b.yaml")
    code, out = run("analyze", str(tmp_path / "a.yaml"))
    assert_one_line_error(code, out, "cycle")


def test_debug_shows_traceback():
    """Without --debug one line; with it Python's traceback ending in the engine's error."""
    argv = [sys.executable, "-m", "mncost", "analyze", "v1", "--alpha", "0"]
    plain = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    debug = subprocess.run(argv[:3] + ["--debug"] + argv[3:], capture_output=True, text=True,
                           timeout=120)
    assert plain.returncode == 2
    assert plain.stderr == "mncost: error: alpha must be a number in (0, 10000], got 0\n"
    assert debug.returncode != 0 and debug.stdout == ""
    lines = debug.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert any('mncost/network/resolve.py", line' in line for line in lines)
    assert lines[-1] == "mncost.errors.InputError: alpha must be a number in (0, 10000], got 0"


def test_width_rounding_to_zero_is_an_error(tmp_path):
    path = write(tmp_path, "name: x\nlayers:\n  - {op: conv, c: 1, s: 2}\n"
                           "  - {op: conv, k: 1, t: 0.5}\n")
    code, out = run("analyze", str(path))
    assert_one_line_error(code, out, f"{path}:4", "layers[1].t", "0 channels")


def test_extends_is_relative_to_the_file_only(tmp_path, monkeypatch):
    """Issue 10, item 21: a parent in the working directory but not beside the spec is not
    found (README: "a path relative to the file")."""
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    child = write(spec_dir, "name: child\nextends: parent.yaml\n", "child.yaml")
    write(tmp_path, "name: parent\nlayers:\n  - {op: conv, c: 8, s: 2}\n", "parent.yaml")
    monkeypatch.chdir(tmp_path)                     # parent.yaml is here, not beside child
    code, out = run("validate", str(child))
    assert_one_line_error(code, out, f"{child}:2", "extends", "relative to the spec's directory")
    write(spec_dir, "name: parent\nlayers:\n  - {op: conv, c: 8, s: 2}\n", "parent.yaml")
    code, out = run("validate", str(child))
    assert code == 0, out


@pytest.mark.parametrize("reference, message", [
    ("{timm: 3}", "reference.timm: must be a timm model name"),
    ("{timm: 'a b'}", "reference.timm: must be a timm model name"),
    ("{tim: x}", "unknown key 'tim' for reference (did you mean 'timm'?)"),
    ("{timm: {0: x}}", "reference.timm"),
    ("[timm]", "reference: must be a mapping"),
])
def test_reference_key_is_validated(tmp_path, reference, message):
    """A spec's ``reference:`` (which library model it transcribes) is checked like any key."""
    from mncost.errors import SpecError
    from mncost.network.catalog import find_spec
    from mncost.spec.load import load_spec

    path = tmp_path / "r.yaml"
    path.write_text(f"name: r\nreference: {reference}\nlayers:\n  - {{op: conv, c: 8}}\n")
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(path, find_spec)


def test_reference_key_reads_names_by_alpha(tmp_path):
    from mncost.network.catalog import find_spec
    from mncost.spec.load import load_spec

    path = tmp_path / "r.yaml"
    path.write_text("name: r\nreference: {timm: {1.0: a_100, 0.5: a_050}, torchvision: b}\n"
                    "layers:\n  - {op: conv, c: 8}\n")
    spec = load_spec(path, find_spec)
    assert spec.reference == {"timm": {1.0: "a_100", 0.5: "a_050"}, "torchvision": {None: "b"}}
