"""No silent garbage (issue 22, item 19): what two readers could read two ways, or a reader
would quietly drop, is refused with a one-line error naming the file and the line:

* a key or a baseline layer given twice (JSON objects, baseline layers; YAML already refused);
* a baseline's memory totals of the wrong type (they were skipped, not compared);
* YAML 1.1 numbers and booleans that YAML 1.2 reads otherwise (``032``, ``1:00``, ``1_000``,
  ``0b101``, ``yes``/``no``/``on``/``off``), while YAML merge keys (``<<: *stem``) work;
* ``patch: where:`` comparing a boolean with a number (``index: true`` is not row 1).
"""

from __future__ import annotations

import json

import pytest
from _helpers import one_error_line, run

from mncost.check.baseline import load_baseline
from mncost.errors import InputError, SpecError
from mncost.files.inputfile import Refused, load_json
from mncost.files.yamlfile import load_yaml_text


@pytest.fixture
def baseline(tmp_path):
    """A real baseline of v1 (file, parsed document)."""
    path = tmp_path / "b.json"
    assert run("baseline", "write", "v1", "-o", str(path)).exit_code == 0
    return path, json.loads(path.read_text())


# ---------------------------------------------------------------------------------------------
# Keys and layers given twice

@pytest.mark.parametrize("text, key", [('{"a": 1, "a": 2}', "a"),
                                       ('[{"x": {"macs": 1, "b": 0, "macs": 2}}]', "macs")])
def test_json_duplicate_keys_are_refused(text, key):
    with pytest.raises(Refused, match=f"duplicate key {key!r}"):
        load_json(text)


def test_baseline_with_a_duplicate_key_is_refused(baseline):
    path, doc = baseline
    text = path.read_text().replace('"macs":', '"macs": 1, "macs":', 1)
    path.write_text(text)
    line = one_error_line(run("check", "--baseline", str(path)))
    assert str(path) in line and "duplicate key 'macs'" in line


def test_roofline_device_file_with_a_duplicate_key_is_refused(tmp_path):
    device = tmp_path / "roof.json"
    device.write_text('{"peak_gmacs": 50, "bandwidth_gbs": 10, "peak_gmacs": 5000}')
    line = one_error_line(run("memory", "v1", "--roofline", str(device)))
    assert "duplicate key 'peak_gmacs'" in line


def test_device_profile_with_a_duplicate_key_is_refused(tmp_path):
    from _helpers import profile_doc

    text = json.dumps(profile_doc())
    text = text.replace('"threads": 1', '"threads": 1, "threads": 8', 1)
    device = tmp_path / "dev.json"
    device.write_text(text)
    line = one_error_line(run("predict", "v1", "--device-profile", str(device)))
    assert "duplicate key 'threads'" in line


def test_baseline_layer_listed_twice_is_refused(baseline):
    path, doc = baseline
    layers = doc["entries"][0]["layers"]
    layers.insert(3, dict(layers[1], macs=layers[1]["macs"] + 1))
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"entries\[0\].layers\[3\]: layer "
                                         rf"'{layers[1]['name']}' is listed twice"):
        load_baseline(str(path))


# ---------------------------------------------------------------------------------------------
# Memory totals are compared, so they must be integers

@pytest.mark.parametrize("value", ["12", 1.5, None, True, [1]])
@pytest.mark.parametrize("metric", ["peak_activation_bytes", "bytes_moved"])
def test_baseline_memory_totals_of_the_wrong_type_are_refused(baseline, metric, value):
    path, doc = baseline
    doc["entries"][0]["totals"][metric] = value
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=rf"entries\[0\].totals.{metric} must be an integer"):
        load_baseline(str(path))


def test_baseline_memory_totals_are_compared(baseline):
    path, doc = baseline
    doc["entries"][0]["totals"]["bytes_moved"] += 1
    path.write_text(json.dumps(doc))
    result = run("check", "--baseline", str(path))
    assert result.exit_code == 1 and "bytes_moved" in result.stdout


# ---------------------------------------------------------------------------------------------
# YAML 1.1 numbers and booleans that YAML 1.2 reads otherwise

@pytest.mark.parametrize("value, says", [
    ("032", "leading zero"), ("-032", "leading zero"), ("00", "leading zero"),
    ("1:00", "base-60"), ("1:30", "base-60"), ("1:30.5", "base-60"),
    ("1_000", "'_'"), ("1_0.5", "'_'"), ("0b101", "binary"), ("0x1_A", "'_'"),
    ("yes", "boolean"), ("No", "boolean"), ("on", "boolean"), ("OFF", "boolean"),
])
def test_yaml_1_1_only_scalars_are_refused(value, says):
    with pytest.raises(SpecError, match=says) as caught:
        load_yaml_text(f"a: 1\nb: {value}\n", "f.yaml")
    assert caught.value.line == 2 and "YAML 1.1" in str(caught.value)


@pytest.mark.parametrize("value, expected", [
    ("32", 32), ("-0", 0), ("+12", 12), ("0", 0), ("0x1A", 26), ("1.5", 1.5), ("012.5", 12.5),
    (".5", 0.5), ("true", True), ("False", False), ("'032'", "032"), ('"yes"', "yes"),
    ("'1:00'", "1:00"), ("0o17", "0o17"), ("null", None),
])
def test_unambiguous_scalars_still_read(value, expected):
    assert load_yaml_text(f"b: {value}\n", "f.yaml")["b"] == expected


def test_octal_channels_are_refused_in_a_spec(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("name: net\nresolution: 32\nlayers:\n  - {op: conv, c: 032, k: 3, s: 2}\n"
                    "  - {op: pool}\n  - {op: fc, c: 10}\n")
    line = one_error_line(run("analyze", str(spec)))
    assert f"{spec}:4" in line and "'032'" in line


def test_sexagesimal_budget_is_refused(tmp_path):
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n  - model: v1\n    max_macs: 600M\n    max_latency_ms: 1:30\n")
    line = one_error_line(run("check", "--budget", str(budgets)))
    assert f"{budgets}:4" in line and "base-60" in line


# ---------------------------------------------------------------------------------------------
# YAML merge keys

def test_merge_keys_are_read_and_explicit_keys_win():
    doc = load_yaml_text("stem: &stem {op: conv, c: 16, k: 3, s: 2}\n"
                         "row: {<<: *stem, s: 1}\n", "f.yaml")
    assert dict(doc["row"]) == {"op": "conv", "c": 16, "k": 3, "s": 1}
    assert doc["row"].line_of("s") == 2


def test_merge_of_several_mappings_the_first_wins():
    doc = load_yaml_text("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: {<<: [*a, *b], w: 0}\n",
                         "f.yaml")
    assert dict(doc["c"]) == {"x": 1, "y": 1, "z": 2, "w": 0}


def test_explicit_duplicates_beside_a_merge_are_still_refused():
    with pytest.raises(SpecError, match="duplicate key 's'"):
        load_yaml_text("stem: &stem {op: conv}\nrow: {<<: *stem, s: 1, s: 2}\n", "f.yaml")


def test_a_spec_with_merge_keys_analyzes(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("name: net\nresolution: 32\nlayers:\n"
                    "  - &stem {op: conv, c: 8, k: 3, s: 2}\n"
                    "  - {<<: *stem, s: 1}\n  - {op: pool}\n  - {op: fc, c: 10}\n")
    result = run("analyze", str(spec), "-f", "csv", "--per-layer")
    assert result.exit_code == 0, result.output
    assert result.stdout.count(",conv,") == 2


# ---------------------------------------------------------------------------------------------
# patch where: a boolean is not a number

def _child(tmp_path, where: str):
    spec = tmp_path / "child.yaml"
    spec.write_text(f"name: child\nextends: v1\npatch:\n  - where: {where}\n"
                    "    set: {c: 48}\n")
    return spec


@pytest.mark.parametrize("where", ["{index: true}", "{index: 1.0}", "{index: '1'}"])
def test_patch_index_must_be_a_row_number(tmp_path, where):
    spec = _child(tmp_path, where)
    line = one_error_line(run("analyze", str(spec)))
    assert f"{spec}:4" in line and "patch[0].where.index" in line


def test_patch_where_true_does_not_match_a_one(tmp_path):
    spec = _child(tmp_path, "{s: true}")     # v1's rows have s: 1 and s: 2
    line = one_error_line(run("analyze", str(spec)))
    assert "matches no row" in line


# ---------------------------------------------------------------------------------------------
# A baseline field the reader does not know is refused, not skipped (a typo would skip a check)

@pytest.mark.parametrize("where, key", [("entry", "latency_ms_medain"), ("totals", "mac"),
                                        ("layer", "param")])
def test_baseline_unknown_keys_are_refused(baseline, where, key):
    path, doc = baseline
    entry = doc["entries"][0]
    target = {"entry": entry, "totals": entry["totals"], "layer": entry["layers"][2]}[where]
    target[key] = 1
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=f"unknown key '{key}'"):
        load_baseline(str(path))


# ---------------------------------------------------------------------------------------------
# A model or configuration given twice is one row, one entry (as alphas given twice are)

def test_sweep_model_given_twice_is_swept_once():
    result = run("sweep", "v1", "v1", "--alpha", "0.5,1.0", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1 + 2


def test_baseline_write_model_given_twice_is_one_entry(tmp_path):
    out = tmp_path / "b.json"
    assert run("baseline", "write", "v1", "v1", "-o", str(out)).exit_code == 0
    assert len(json.loads(out.read_text())["entries"]) == 1
