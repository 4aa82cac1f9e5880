"""Options are checked when they are parsed, before any work (issue 22, item 17): calibrate's
``-o`` like every other output, ``--budget-s`` finite and bounded, ``--threads`` within
1..MAX_THREADS for every command that takes it; an empty value is refused, never read as the
option left out; every numeric option of every command refuses inf, nan, huge and negative
values in one line."""

from __future__ import annotations

import os

import click
import pytest
from _helpers import one_error_line, run

from mncost.cli import cli
from mncost.limits import MAX_THREADS


@pytest.fixture
def no_measuring(monkeypatch):
    """calibrate's measuring replaced by a failure: an option refused after it started would
    show as this error, not as the one-line refusal the tests expect."""
    import sys
    import types

    module = types.ModuleType("mncost.torch_backend.calibrate")

    def calibrate(**kwargs):
        raise AssertionError("measuring started")

    module.calibrate = calibrate
    monkeypatch.setitem(sys.modules, "mncost.torch_backend.calibrate", module)


# ---------------------------------------------------------------------------------------------
# calibrate

def test_calibrate_read_only_output_is_refused_before_measuring(tmp_path, no_measuring):
    out = tmp_path / "dev.json"
    out.write_text("{}")
    out.chmod(0o444)
    line = one_error_line(run("calibrate", "-o", str(out)))
    assert "read-only" in line and out.read_text() == "{}"


@pytest.mark.parametrize("name, says", [("n" * 300, "too long"),
                                        ("missing/dev.json", "does not exist"),
                                        ("", "empty")])
def test_calibrate_bad_output_names_are_one_line(tmp_path, no_measuring, monkeypatch, name,
                                                 says):
    monkeypatch.chdir(tmp_path)
    assert says in one_error_line(run("calibrate", "-o", name)).lower()


def test_calibrate_output_in_a_read_only_file_system_is_refused(tmp_path, no_measuring):
    """Also where access(2) would let root through: the directory is tried for real."""
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc")
    line = one_error_line(run("calibrate", "-o", "/proc/self/dev.json"))
    assert "/proc/self/dev.json" in line


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "1e309", "0", "-1", "86401", "abc"])
def test_calibrate_budget_is_finite_and_bounded(tmp_path, no_measuring, value):
    line = one_error_line(run("calibrate", "-o", str(tmp_path / "d.json"), "--budget-s", value))
    assert "--budget-s" in line


@pytest.mark.parametrize("value", ["99999999999999999999", str(MAX_THREADS + 1), "4097", "0",
                                   "-1", "1e3"])
def test_calibrate_threads_are_bounded(tmp_path, no_measuring, value):
    line = one_error_line(run("calibrate", "-o", str(tmp_path / "d.json"), "--threads", value))
    assert "--threads" in line


def test_calibrate_help_says_the_thread_range():
    result = run("calibrate", "--help")
    assert f"1<=x<={MAX_THREADS}" in result.stdout


# ---------------------------------------------------------------------------------------------
# threads everywhere

@pytest.mark.parametrize("args", [("sweep", "v1", "--latency"), ("profile", "v1"),
                                  ("baseline", "write", "v1"), ("roofline-measure",),
                                  ("check", "--budget", "b.yaml", "--latency")])
def test_threads_over_the_limit_are_refused_everywhere(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)   # where baseline write would write its default file
    (tmp_path / "b.yaml").write_text("budgets:\n  - model: v1\n    max_macs: 600M\n")
    line = one_error_line(run(*args, "--threads", str(MAX_THREADS + 1)))
    assert "--threads" in line and f"{MAX_THREADS}" in line


# ---------------------------------------------------------------------------------------------
# Empty values are refused, not read as "option left out"

@pytest.mark.parametrize("args, option, why", [
    (("sweep", "v1", "--device-profile", ""), "--device-profile", "empty"),
    (("sweep", "v1", "--predict", ""), "--predict", "empty"),
    (("sweep", "v1", "--alpha", ""), "--alpha", "empty"),
    (("sweep", "v1", "--res", ""), "--res", "empty"),
    (("sweep", "v1", "--depth", ""), "--depth", "empty"),
    (("baseline", "write", "v1", "--alpha", ""), "--alpha", "empty"),
    (("check", "--baseline", "", "--budget", "b.yaml"), "--baseline", "empty"),
    (("check", "--budget", ""), "--budget", "empty"),
    (("check", "--budget", "b.yaml", "--device-profile", ""), "--device-profile", "empty"),
    (("predict", "v1", "--device-profile", ""), "--device-profile", "empty"),
    (("predict", "v1", "--device", ""), "--device", "empty"),
    (("sweep", "v1", "--latency", "--device", " "), "--device", "is not cpu, cuda or cuda:N"),
])
def test_an_empty_value_is_refused(tmp_path, monkeypatch, args, option, why):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b.yaml").write_text("budgets:\n  - model: v1\n    max_macs: 600M\n")
    line = one_error_line(run(*args))
    assert option in line and why in line


# ---------------------------------------------------------------------------------------------
# Every numeric option of every command: the class

#: Every value an attacker tries on a number.
HOSTILE = ("inf", "nan", "-inf", "1e309", "-1", "99999999999999999999", "1e400")


def numeric_options():
    """(command path, option) for every option of every command whose value is a number."""
    ctx = click.Context(cli)
    found = []

    def walk(command, path):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), path + (name,))
            return
        for param in command.params:
            if isinstance(param, click.Option) and not param.is_flag and isinstance(
                    param.type, (click.types._NumberParamTypeBase, click.FloatRange,
                                 click.IntRange)) or getattr(param.type, "name", "") in (
                    "seconds",):
                found.append((path, param.opts[0]))

    walk(cli, ())
    return found


def test_the_numeric_options_are_found():
    found = numeric_options()
    assert (("calibrate",), "--budget-s") in found and (("sweep",), "--threads") in found
    assert (("analyze",), "--alpha") in found and len(found) > 30


#: Where a command needs more than its options to get as far as checking them.
_EXTRA = {"predict": ("--device-profile", "dev.json"), "check": ("--budget", "b.yaml"),
          "calibrate": ("-o", "out.json")}


def inputs_in(directory) -> None:
    """The budgets and the device profile the commands of :data:`_EXTRA` read."""
    import json

    from _helpers import profile_doc

    (directory / "b.yaml").write_text("budgets:\n  - model: v1\n    max_macs: 600M\n")
    (directory / "dev.json").write_text(json.dumps(profile_doc()))
#: Options that are not numbers the user measures with (a seed is any integer).
_ANY_INTEGER = {("calibrate", "--seed")}


@pytest.mark.parametrize("path, option", numeric_options())
def test_every_numeric_option_refuses_hostile_values(tmp_path, monkeypatch, no_measuring,
                                                     path, option):
    if (path[-1], option) in _ANY_INTEGER:
        pytest.skip("a seed is any integer")
    monkeypatch.chdir(tmp_path)
    inputs_in(tmp_path)
    takes_model = path[0] in ("analyze", "validate", "crosscheck", "profile", "sweep",
                              "memory", "predict") or path == ("baseline", "write")
    base = (*path, *(("v1",) if takes_model else ()), *_EXTRA.get(path[0], ()))
    for value in HOSTILE:
        result = run(*base, option, value)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            value, result.exception)
        line = one_error_line(result)
        # click names the option; the core names the quantity ("alpha must be ...")
        assert option.lstrip("-").split("-")[0] in line, (value, line)
