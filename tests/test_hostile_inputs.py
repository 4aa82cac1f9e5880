"""Hostile and ambiguous inputs: each gives one line ``mncost: error: ...`` on stderr, exit 2,
no traceback, in bounded time and memory (issue 10, items 1, 3, 9, 10, 11 and 13).

Cases run in process through click's CliRunner under an alarm; the ones that could take the
interpreter down (deep nesting that once segfaulted, an alias bomb) run in a subprocess with an
address-space limit instead.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mncost.cli import cli
from mncost.limits import MAX_DEPTH, MAX_EXTENDS, MAX_LAYERS, MAX_RESOLUTION, MAX_YAML_BYTES
from mncost.network.catalog import resolve_model
from mncost.network.resolve import resolve
from mncost.spec.values import parse_resolution

#: Seconds any one case may take (each takes well under one today).
TIME_LIMIT = 20
#: Address space a subprocess case may use (python + yaml need well under 200 MB).
MEMORY_LIMIT = 1 << 30

SPEC = "name: x\nlayers:\n  - {op: conv, c: 16, s: 2}\n"
BOMB = "name: x\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi")
) + "layers: *i\n"


@contextlib.contextmanager
def time_limit(seconds: int = TIME_LIMIT):
    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run(*args: str):
    with time_limit():
        return CliRunner().invoke(cli, list(args))


def assert_one_line(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.stderr.startswith("mncost: error: "), result.stderr[:500]
    assert result.stderr.count("\n") == 1, result.stderr[:2000]
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


# ---------------------------------------------------------------------------------------------
# Files: specs (validate), budgets (check --budget) and baselines (check --baseline)

def _digits(n: int) -> str:
    return "1" * n


def _extends_chain(tmp: Path, length: int) -> str:
    for i in range(length):
        body = f"extends: e{i + 1}.yaml\n" if i < length - 1 else SPEC
        (tmp / f"e{i}.yaml").write_text(body)
    return "e0.yaml"


def _baseline(tmp: Path, edit) -> str:
    result = CliRunner().invoke(cli, ["baseline", "write", "v1", "-o", str(tmp / "ok.json")])
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp / "ok.json").read_text())
    text = edit(doc)
    (tmp / "b.json").write_text(text if isinstance(text, str) else json.dumps(doc))
    return str(tmp / "b.json")


def _with(key, value):
    def edit(doc):
        doc["entries"][0][key] = value
    return edit


SPEC_CASES = {
    # name: (file text, fragments of the one line)
    "int over 4300 digits": (SPEC.replace("c: 16", f"c: {_digits(5000)}"),
                             ["spec.yaml:3:", "5,000 digits", "at most 100"]),
    "t: .inf": (SPEC + "  - {op: bottleneck, t: .inf, c: 16}\n",
                ["spec.yaml:4:", "layers[1].t", "(0, 10000]", "inf"]),
    "t: 1.0e+308": (SPEC + "  - {op: bottleneck, t: 1.0e+308, c: 16}\n",
                    ["layers[1].t", "(0, 10000]"]),
    "se.ratio: .inf": ("name: x\nse: {ratio: .inf}\nlayers:\n  - {op: conv, c: 16}\n",
                       ["spec.yaml:2:", "se.ratio", "(0, 10000]"]),
    "se.ratio: nan": ("name: x\nse: {ratio: .nan}\nlayers:\n  - {op: conv, c: 16}\n",
                      ["se.ratio"]),
    "channels over the limit": (SPEC.replace("c: 16", "c: 2000000000"),
                                ["layers[0].c", "up to 1,000,000,000"]),
    "t chain to 10^16 channels": (SPEC + "  - {op: conv, t: 10000}\n" * 4,
                                  ["layers[3]", "channels (at most 1,000,000,000,000)"]),
    "!!timestamp 2001-13-45": (SPEC.replace("name: x", "name: !!timestamp 2001-13-45"),
                               ["spec.yaml:1:", "'2001-13-45' as timestamp"]),
    "c: !!int abc": (SPEC.replace("c: 16", "c: !!int abc"), ["spec.yaml:3:", "'abc' as int"]),
    "!!float abc": (SPEC.replace("c: 16", "c: !!float abc"), ["spec.yaml:3:", "as float"]),
    "!!timestamp on a key": (SPEC.replace("{op: conv,", "{op: conv, !!timestamp"),
                             ["spec.yaml:3:", "as timestamp"]),
    "nested 500 deep": ("name: x\nlayers: " + "[" * 500 + "]" * 500 + "\n",
                        ["spec.yaml:2:", f"nested more than {MAX_DEPTH} levels"]),
    "block nested 500 deep": ("name: x\nlayers:\n" + "- " * 500 + "x\n",
                              [f"nested more than {MAX_DEPTH} levels"]),
    "mapping nested 500 deep": ("name: x\nlayers: " + "{a: " * 500 + "1" + "}" * 500 + "\n",
                                [f"nested more than {MAX_DEPTH} levels"]),
    "alias bomb": (BOMB, ["once its aliases", "100,000"]),
    "n: 1000000000": (SPEC.replace("s: 2}", "s: 2, n: 1000000000}"),
                      ["layers[0].n", f"at most {MAX_LAYERS:,}"]),
    "n: 5000 bottlenecks": (SPEC + "  - {op: bottleneck, t: 6, c: 16, n: 5000}\n",
                            [f"more than {MAX_LAYERS:,} layers"]),
    "total layers": ("name: x\nlayers:\n" + "  - {op: conv, c: 8, n: 9000}\n" * 100,
                     [f"more than {MAX_LAYERS:,} layers"]),
    "resolution with a comma": ("name: x\nresolution: '224,160'\n" + SPEC[8:],
                                ["resolution:", "a comma separates the values of a list"]),
    "resolution with a capital X": ("name: x\nresolution: 224X160\n" + SPEC[8:],
                                    ["resolution:", "lowercase"]),
    "resolution over the limit": (f"name: x\nresolution: {10 ** 19}\n" + SPEC[8:],
                                  ["resolution:", f"at most {MAX_RESOLUTION:,}"]),
    "larger than 1 MiB": ("#" + "x" * MAX_YAML_BYTES + "\n" + SPEC,
                          ["larger than the limit of 1,048,576 bytes"]),
    "not UTF-8": (b"name: \xff\xfe\nlayers: []\n", ["not UTF-8"]),
    "undefined alias": ("name: x\nlayers: *nothing\n", ["spec.yaml:2:"]),
    "rows over the limit": ("name: x\nlayers:\n" + "  - {op: conv, c: 8, n: 0}\n" * 10_001,
                            ["layers:", "10,001 rows: at most 10,000"]),
    "patch entries over the limit": ("name: x\nextends: v1\npatch:\n"
                                     + "  - {where: {index: 0}, set: {n: 1}}\n" * 1001,
                                     ["patch:", "1,001 entries: at most 1,000"]),
    "a NUL byte in the name": ('name: "a\\0"\nlayers:\n  - {op: conv, c: 8}\n',
                               ["name: must be printable text", "a\\x00"]),
    "control characters in a key": (SPEC.replace("s: 2}", 's: 2, "a\\nb\\x1b[31m": 1}'),
                                    ["unknown key", "a\\nb\\x1b[31m"]),
    "extends with a NUL byte": ('extends: "v1\\0"\nname: x\n', ["extends"]),
}


@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_hostile_spec(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    text, fragments = SPEC_CASES[case]
    path = tmp_path / "spec.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert_one_line(run("validate", "spec.yaml"), *fragments)


def test_extends_chain_3000_long(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = _extends_chain(tmp_path, 3000)
    assert_one_line(run("validate", start), f"extends chain longer than {MAX_EXTENDS} files")


def test_short_extends_chain_still_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = _extends_chain(tmp_path, MAX_EXTENDS)
    assert run("validate", start).exit_code == 0


def test_a_date_like_name_is_a_string(tmp_path, monkeypatch):
    # `name: 2001-13-45` crashed the timestamp resolver; a spec never holds dates, so it is
    # the string it looks like.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("name: x", "name: 2001-13-45"))
    result = run("validate", "spec.yaml")
    assert result.exit_code == 0 and "(2001-13-45: 1 layers" in result.stdout


@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_only_regular_files_are_read(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    if kind == "device":
        path = "/dev/zero"
    elif kind == "fifo":
        path = str(tmp_path / "spec.yaml")
        os.mkfifo(path)                      # no writer: opening it would block for ever
    else:
        path = str(tmp_path / "dir.yaml")
        os.mkdir(path)
    expected = "is a directory" if kind == "directory" else "not a regular file"
    assert_one_line(run("validate", path), expected)
    assert_one_line(run("check", "--budget", path), expected)
    assert_one_line(run("check", "--baseline", path), expected)


BUDGET_CASES = {
    "int over 4300 digits": (f"budgets:\n  - {{model: v1, max_macs: {_digits(5000)}}}\n",
                             ["budgets.yaml:2:", "5,000 digits"]),
    "max_latency_ms: .inf": ("budgets:\n  - {model: v1, max_latency_ms: .inf}\n",
                             ["budgets[0].max_latency_ms"]),
    "max_macs: 1.0e+308": ("budgets:\n  - {model: v1, max_macs: 1.0e+308}\n",
                           ["budgets[0].max_macs"]),
    "alpha: 1.0e+307": ("budgets:\n  - {model: v1, alpha: 1.0e+307, max_macs: 1M}\n",
                        ["budgets[0].alpha", "(0, 10000]"]),
    "resolution 224,160": ("budgets:\n  - {model: v1, resolution: '224,160', max_macs: 1M}\n",
                           ["budgets[0].resolution", "comma"]),
    "nested 500 deep": ("budgets: " + "[" * 500 + "]" * 500 + "\n",
                        [f"nested more than {MAX_DEPTH} levels"]),
    "alias bomb": (BOMB.replace("name: x\n", "").replace("layers: *i", "budgets: *i"),
                   ["once its aliases"]),
    "max_macs: 2001-13-45": ("budgets:\n  - {model: v1, max_macs: 2001-13-45}\n",
                             ["budgets[0].max_macs"]),
    "model with a NUL byte": ('budgets:\n  - {model: "a\\0b.yaml", max_macs: 1M}\n',
                              ["a\\x00b.yaml"]),
    "entries over the limit": ("budgets:\n" + "  - {model: v1, max_macs: 1G}\n" * 10_001,
                               ["budgets:", "10,001 entries (at most 10,000)"]),
    "model name of 5000 characters": (f"budgets:\n  - {{model: {'a' * 5000}, max_macs: 1M}}\n",
                                      ["File name too long"]),
}


@pytest.mark.parametrize("case", list(BUDGET_CASES))
def test_hostile_budget(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    text, fragments = BUDGET_CASES[case]
    (tmp_path / "budgets.yaml").write_text(text)
    assert_one_line(run("check", "--budget", "budgets.yaml"), *fragments)


BASELINE_CASES = {
    "JSON nested 100,000 deep": (lambda doc: "[" * 100_000 + "]" * 100_000,
                                 [f"nested more than {MAX_DEPTH} levels"]),
    "int over 4300 digits": (lambda doc: json.dumps(doc).replace(
        '"classes": 1000', f'"classes": {_digits(5000)}', 1), ["5,000 digits"]),
    "alpha 1e400": (lambda doc: json.dumps(doc).replace('"alpha": 1.0', '"alpha": 1e400', 1),
                    ["1e400 is out of range"]),
    "alpha 1e307": (_with("alpha", 1e307), ["alpha must be a number in (0, 10000]"]),
    "NaN": (lambda doc: json.dumps(doc).replace('"alpha": 1.0', '"alpha": NaN', 1), ["NaN"]),
    "latency abc": (_with("latency_ms_median", "abc"), ["latency_ms_median", "'abc'"]),
    "latency null": (_with("latency_ms_median", None), ["latency_ms_median", "null"]),
    "latency -1": (_with("latency_ms_median", -1), ["latency_ms_median"]),
    "quiet latency true": (_with("latency_ms_quiet", True), ["latency_ms_quiet", "True"]),
    "quiet latency inf": (lambda doc: json.dumps(doc).replace(
        '"alpha": 1.0', '"alpha": 1.0, "latency_ms_quiet": Infinity', 1), ["Infinity"]),
    "param_convention list": (lambda doc: doc.update(param_convention=[]),
                              ["param_convention must be one of"]),
    "resolution as text": (_with("resolution", "224x160"), ["entries[0].resolution"]),
    "resolution 10^19": (_with("resolution", [10 ** 19, 1]), ["at most"]),
}


@pytest.mark.parametrize("latency", [False, True], ids=["counts", "latency"])
@pytest.mark.parametrize("case", list(BASELINE_CASES))
def test_hostile_baseline(tmp_path, case, latency):
    edit, fragments = BASELINE_CASES[case]
    path = _baseline(tmp_path, edit)
    # Refused while reading, before anything is measured (no torch is needed to see that).
    args = ("check", "--baseline", path) + (("--latency",) if latency else ())
    assert_one_line(run(*args), "not a valid mncost baseline", *fragments)


def test_baseline_entries_over_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr("mncost.check.baseline.MAX_ENTRIES", 2)
    path = _baseline(tmp_path, lambda doc: doc.update(entries=doc["entries"] * 3))
    assert_one_line(run("check", "--baseline", path), "3 entries (at most 2)")


@pytest.mark.parametrize("content,fragment", [
    ("[" * 100_000 + "]" * 100_000, f"nested more than {MAX_DEPTH} levels"),
    ('{"peak_gmacs": 1e400, "bandwidth_gbs": 1}', "1e400 is out of range"),
    ('{"peak_gmacs": NaN, "bandwidth_gbs": 1}', "NaN"),
    ('{"peak_gmacs": %s, "bandwidth_gbs": 1}' % _digits(5000), "5,000 digits"),
    (None, "not a regular file"),
    ('{"schema": "mncost.device/1", "peak_gmacs": 1, "bandwidth_gbs": 1}',
     "a latency profile from `mncost calibrate`; --roofline takes a file from "
     "`mncost roofline-measure`"),
    ('{"schema": "mncost.roofline/9", "peak_gmacs": 1, "bandwidth_gbs": 1}',
     "schema 'mncost.roofline/9' is not 'mncost.roofline/1'"),
], ids=["nested 100,000 deep", "1e400", "NaN", "5000 digits", "/dev/zero",
        "a calibrate profile", "another schema version"])
def test_hostile_device_file(tmp_path, content, fragment):
    path = "/dev/zero"
    if content is not None:
        path = str(tmp_path / "device.json")
        Path(path).write_text(content)
    assert_one_line(run("memory", "v1", "--roofline", path), fragment)


def test_oversized_baseline(tmp_path, monkeypatch):
    monkeypatch.setattr("mncost.check.baseline.MAX_BASELINE_BYTES", 1000)
    path = _baseline(tmp_path, lambda doc: None)
    assert_one_line(run("check", "--baseline", path), "larger than the limit of 1,000 bytes")


# ---------------------------------------------------------------------------------------------
# Options

OPTION_CASES = {
    "--alpha 1e307": (["analyze", "v1", "--alpha", "1e307"], ["(0, 10000]", "1e+307"]),
    "--alpha nan": (["analyze", "v1", "--alpha", "nan"], ["(0, 10000]"]),
    "--alpha -inf": (["analyze", "v1", "--alpha=-inf"], ["(0, 10000]"]),
    "--res 301 digits": (["analyze", "v1", "--res", "9" * 301], ["--res", "at most"]),
    "--res 10^18+1": (["analyze", "v1", "--res", str(MAX_RESOLUTION + 1)],
                      [f"at most {MAX_RESOLUTION:,} pixels"]),
    "--res unicode digits": (["analyze", "v1", "--res", "２２４"], ["--res"]),
    "model name of 5000 characters": (["analyze", "a" * 5000], ["File name too long"]),
    "--classes 5000 digits": (["analyze", "v1", "--classes", _digits(5000)],
                              ["--classes", "too long"]),
    "sweep --alpha 1:1e30:1": (["sweep", "v1", "--alpha", "1:1e30:1"],
                               ["--alpha", "more than 2,000,000 values"]),
    "sweep --alpha 1:1e999999:1": (["sweep", "v1", "--alpha", "1:1e999999:1"],
                                   ["more than 2,000,000 values"]),
    "sweep --alpha 0.1:1:1e-30": (["sweep", "v1", "--alpha", "0.1:1:1e-30"],
                                  ["more than 2,000,000 values"]),
    "sweep --alpha 1e999999": (["sweep", "v1", "--alpha", "1e999999"], ["(0, 10000]"]),
    "sweep --res 1:1e30:1": (["sweep", "v1", "--res", "1:1e30:1"], ["--res"]),
    "sweep --res 301 digits": (["sweep", "v1", "--res", "9" * 301], ["at most"]),
    "sweep --alpha 60-char number": (["sweep", "v1", "--alpha", "1" * 60], ["too long"]),
    "--tolerance 1e-999999999%": (["check", "--budget", "b.yaml", "--tolerance",
                                   "1e-999999999%"], ["out of range"]),
    "--tolerance 1e999999999%": (["check", "--budget", "b.yaml", "--tolerance",
                                  "1e999999999%"], ["out of range"]),
    "--tolerance 5000 digits": (["check", "--budget", "b.yaml", "--tolerance", _digits(5000)],
                                ["tolerance must be"]),
    "--latency-tolerance nan%": (["check", "--budget", "b.yaml", "--latency-tolerance",
                                  "nan%"], ["tolerance must be"]),
    "--min-time nan": (["profile", "v1", "--min-time", "nan"], ["--min-time"]),
    "--min-time inf": (["sweep", "v1", "--latency", "--min-time", "inf"], ["--min-time"]),
    "--threads 10^9": (["profile", "v1", "--threads", "1000000000"], ["--threads"]),
    "--batch 0": (["check", "--budget", "b.yaml", "--batch", "0"], ["--batch"]),
    "--peak-gmacs nan": (["memory", "v1", "--peak-gmacs", "nan", "--bandwidth-gbs", "1"],
                         ["peak GMAC/s must be a number > 0"]),
}


@pytest.mark.parametrize("case", list(OPTION_CASES))
def test_hostile_option(tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.yaml").write_text("budgets:\n  - {model: v1, max_macs: 1G}\n")
    args, fragments = OPTION_CASES[case]
    assert_one_line(run(*args), *fragments)


# ---------------------------------------------------------------------------------------------
# Item 10/11: cases that could crash or exhaust the interpreter run in a bounded subprocess

def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.mark.parametrize("text", [
    "name: x\nlayers: " + "[" * 30_000 + "]" * 30_000 + "\n",     # 60 kB; segfaulted
    "name: x\nlayers:\n" + "- " * 30_000 + "x\n",
    BOMB,
], ids=["flow nested 30,000 deep", "block nested 30,000 deep", "alias bomb"])
def test_no_crash_in_a_bounded_process(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "mncost", "validate", str(path)],
                          capture_output=True, text=True, timeout=TIME_LIMIT,
                          preexec_fn=_limited)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("mncost: error: ") and proc.stderr.count("\n") == 1


@pytest.mark.torch
def test_crosscheck_refuses_a_model_too_large_to_build():
    # alpha 10000: about 1.2 million GiB of weights; refused from the analytic counts before
    # torch allocates anything.
    assert_one_line(run("crosscheck", "v1", "--alpha", "10000"),
                    "would need about", "GiB", "the limit for building a model is 16 GiB")


@pytest.mark.torch
def test_profile_refuses_a_batch_too_large_to_build():
    assert_one_line(run("profile", "v1", "--batch", "100000"), "batch=100000",
                    "the limit for building a model is 16 GiB")


# ---------------------------------------------------------------------------------------------
# Item 1: one value is one value; a comma is never H x W

SINGLE_RES = [["analyze", "v1"], ["crosscheck", "v1"], ["profile", "v1"], ["memory", "v1"]]


@pytest.mark.parametrize("command", SINGLE_RES, ids=lambda c: c[0])
@pytest.mark.parametrize("value,fragment", [
    ("224,192", "a comma separates the values of a list, never height and width"),
    ("224, 192", "a comma separates"),
    ("224X192", "write the x in lowercase"),
    ("224×192", "write the x in lowercase"),
    ("224x192x3", "R or HxW with a lowercase x"),
])
def test_single_res_refuses_lists_and_capital_x(command, value, fragment):
    # Refused while parsing options: crosscheck and profile never import torch for it.
    assert_one_line(run(*command, "--res", value), "--res", fragment)


@pytest.mark.parametrize("option,value", [
    ("--alpha", "0.5,1.0"), ("--classes", "10,20"), ("--classes", "1e3"),
])
def test_single_value_options_refuse_lists(option, value):
    assert_one_line(run("analyze", "v1", option, value), option)


@pytest.mark.parametrize("command", [
    ["validate", "v1", "--alpha", "0.5,1"],
    ["check", "--budget", "b.yaml", "--tolerance", "1%,2%"],
    ["check", "--budget", "b.yaml", "--latency-tolerance", "5%,10%"],
    ["check", "--budget", "b.yaml", "--tolerance", "1,000"],
    ["sweep", "v1", "--classes", "10,20"],
    ["sweep", "v1", "--latency", "--threads", "1,2"],
    ["sweep", "v1", "--latency", "--batch", "1,2"],
    ["sweep", "v1", "--latency", "--repeats", "1,2"],
    ["sweep", "v1", "--latency", "--warmup", "1,2"],
    ["sweep", "v1", "--latency", "--min-time", "1,2"],
    ["profile", "v1", "--threads", "1,2"],
    ["baseline", "write", "v1", "--classes", "10,20"],
], ids=lambda c: " ".join(c[:1] + c[-2:]))
def test_every_single_value_option_refuses_a_comma(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.yaml").write_text("budgets:\n  - {model: v1, max_macs: 1G}\n")
    assert_one_line(run(*command))
    assert not (tmp_path / "mncost-baseline.json").exists()


def test_lists_still_split_on_commas_and_read_lowercase_x():
    from mncost.sweep.grid import parse_resolutions

    assert parse_resolutions("224,192") == ((224, 224), (192, 192))
    assert parse_resolutions("224x192, 160") == ((224, 192), (160, 160))
    assert parse_resolution(" 224 x 192 ") == (224, 192)
    assert parse_resolution([224, 192]) == (224, 192)
    result = run("analyze", "v1", "--res", "224x192", "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["resolution"] == [224, 192]
    assert_one_line(run("sweep", "v1", "--res", "224X192"), "lowercase")
    assert_one_line(run("baseline", "write", "v1", "--res", "224X192"), "lowercase")


# ---------------------------------------------------------------------------------------------
# Item 3: sizes in exact integers, above 2^53 too

def test_shapes_above_2_to_the_53_are_exact():
    side = 2 ** 53 + 1                       # 9007199254740993: a float reads it as 2^53
    network = resolve_model("v1", resolution=side)
    h = side
    for layer in network.layers:
        assert layer.in_shape.h == h
        if layer.kind != "pool":
            h = (h + layer.stride - 1) // layer.stride   # 'same' padding, in integers
        else:
            h = 1
        assert layer.out_shape.h == layer.out_shape.w == h
    first = network.layers[0]
    assert first.out_shape.h == 4503599627370497 != math.ceil(side / 2)  # the float answer
    result = run("analyze", "v1", "--res", str(side), "-f", "json")
    assert result.exit_code == 0
    layer0 = json.loads(result.stdout)["layers"][0]
    assert layer0["out_shape"] == [32, 4503599627370497, 4503599627370497]
    assert layer0["macs"] == 4503599627370497 ** 2 * 32 * 27


def test_the_resolution_limit_is_said():
    assert parse_resolution(str(MAX_RESOLUTION)) == (MAX_RESOLUTION, MAX_RESOLUTION)
    with pytest.raises(ValueError, match="at most 1,000,000,000,000,000,000 pixels"):
        parse_resolution(MAX_RESOLUTION + 1)


def test_resolve_computes_no_float_sizes():
    from mncost.network.catalog import load_model

    network = resolve(load_model("v2"), 1.0, (2 ** 59 + 1, 7))
    assert network.layers[0].out_shape.h == 2 ** 58 + 1
    assert network.layers[0].out_shape.w == 4


# ---------------------------------------------------------------------------------------------
# Item 13: click usage errors are one line, with click's suggestion kept

@pytest.mark.parametrize("args,fragments", [
    (["analyze", "v1", "--fromat", "csv"], ["No such option", "Did you mean '--format'?",
                                            "analyze -h"]),
    (["analyze", "v1", "--format", "xml"], ["'--format'", "'xml' is not one of"]),
    (["analyze", "v1", "--alpha", "abc"], ["'--alpha'", "'abc' is not a valid float"]),
    (["anlyze", "v1"], ["No such command 'anlyze'"]),
    (["baseline", "wrte"], ["No such command 'wrte'", "Did you mean 'write'?"]),
    (["analyze"], ["Missing argument 'MODEL'"]),
    (["sweep", "v1", "--res"], ["'--res' requires an argument"]),
    (["--bogus"], ["No such option"]),
    (["sweep", "v1", "--latency", "--per-layer"], ["drop --per-layer"]),
])
def test_usage_errors_are_one_line(args, fragments):
    assert_one_line(run(*args), *fragments)


def test_usage_error_from_a_fresh_process():
    proc = subprocess.run([sys.executable, "-m", "mncost", "analyze", "v1", "--fromat", "csv"],
                          capture_output=True, text=True, timeout=TIME_LIMIT)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("mncost: error: No such option '--fromat'. Did you mean "
                           "'--format'? (see 'mncost analyze -h')\n")


@pytest.mark.parametrize("args", [[], ["baseline"]], ids=["mncost", "mncost baseline"])
def test_no_command_still_shows_the_whole_help(args):
    result = run(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.output and "Commands:" in result.output
    assert "mncost: error" not in result.output


@pytest.mark.parametrize("args", [
    ["roofline-measure", "--size", "1000000000"],
    ["roofline-measure", "--copy-mib", "99999999"],
    ["roofline-measure", "--threads", "1,2"],
    ["memory", "v1", "--split", "0"],
], ids=lambda a: " ".join(a[-2:]))
def test_memory_options_are_bounded(args):
    # Refused while parsing: nothing is allocated (a 10^9 x 10^9 GEMM, a 95 TiB copy).
    assert_one_line(run(*args), "Invalid value for")
