"""Helpers shared by several test modules (not a test module itself: test modules do not import
each other, so running, renaming or deleting one never changes another's collection).

* A synthetic device: :data:`TRUTH` (ms per MAC, ms per byte, ms per call of each kernel),
  :data:`BETWEEN` and :data:`FIXED`, the known coefficients the latency-model, predict and
  evaluation tests fit, predict and measure with; :func:`profile_doc`, a valid device profile
  built from them.
* :func:`parse_junit`: a JUnit file mncost wrote parses, and its counts add up.
* :func:`run` (the CLI in-process), :func:`one_error_line` / :func:`one_line_error` (a
  command failed with exit 2 and exactly one ``mncost: error:`` line).
* :func:`assert_readable`: every cell of the tables a command drew appears whole in its text,
  with no ellipsis and no line wider than the terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mncost.render.tables import Section


def run(*args: str):
    """``mncost ARGS`` in-process (click's runner; stdout and stderr apart)."""
    from click.testing import CliRunner

    from mncost.cli import cli

    return CliRunner().invoke(cli, list(args))


def error_line(stderr: str) -> str:
    """The one ``mncost: error: ...`` line ``stderr`` holds, and nothing else (no newline)."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mncost: error: "), stderr
    return lines[0]


def one_error_line(result) -> str:
    """The one ``mncost: error: ...`` line of a command that exited 2 (without newline)."""
    assert result.exit_code == 2, result.output
    return error_line(result.stderr)


def no_temporaries(directory) -> bool:
    """Whether ``directory`` holds no ``.mncost-*`` temporary left by an atomic write."""
    import os

    return not [p for p in os.listdir(directory) if p.startswith(".mncost-")]


def signal_a_writing_sweep(directory, signum: int, root=None):
    """Start a sweep whose CSV takes tens of seconds to write into ``directory``, wait until its
    temporary file exists, send it ``signum`` and return ``(returncode, stderr, output path)``.

    The sweep's first row is written within a second on this machine; the wait allows three
    minutes, for a CI runner under load. When the sweep exits or the wait ends before the
    temporary appears, the failure says which, with the sweep's exit status and its stderr,
    instead of a bare "never started writing".
    """
    import os
    import subprocess
    import sys
    import time

    out = os.path.join(directory, "big.csv")
    proc = subprocess.Popen([sys.executable, "-m", "mncost", "sweep", "v1", "v2",
                             "--alpha", "0.1:4:0.001", "--res", "96:480:4", "-f", "csv",
                             "-o", out], stderr=subprocess.PIPE, text=True, cwd=root)
    start = time.monotonic()
    try:
        while no_temporaries(directory) and proc.poll() is None:
            if time.monotonic() - start > 180:
                raise AssertionError("the sweep wrote nothing in 180 s")
            time.sleep(0.01)
        if no_temporaries(directory):
            _, err = proc.communicate(timeout=60)
            raise AssertionError(f"the sweep exited ({proc.returncode}) after "
                                 f"{time.monotonic() - start:.1f} s without writing: {err!r}")
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, err, out


def record_sections(monkeypatch) -> list:
    """Every table section drawn from now on, in order (``tables._column_groups`` wrapped)."""
    import mncost.render.tables as tables

    sections: list = []
    real = tables._column_groups

    def recording(section, width):
        sections.append(section)
        return real(section, width)

    monkeypatch.setattr(tables, "_column_groups", recording)
    return sections


def assert_cli_imports_none(commands, modules=("torch", "numpy"), timeout: int = 120) -> None:
    """Run every argument list of ``commands`` through the CLI in one fresh process: each
    exits 0, and none of ``modules`` is imported."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from mncost.cli import main\n"
            f"for args in {list(map(list, commands))!r}:\n"
            "    try:\n"
            "        main(args)\n"
            "    except SystemExit as exit:\n"
            "        assert not exit.code, exit.code\n"
            f"for name in {list(modules)!r}:\n"
            "    assert name not in sys.modules, name + ' imported'\n"
            "print('CLEAN', file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith("CLEAN\n")


def one_line_error(result) -> str:
    """:func:`one_error_line`, as stderr holds it (with its newline)."""
    return one_error_line(result) + "\n"

#: Known coefficients: ms per MAC, ms per byte, ms per call. MAC-free kinds have no MAC term.
TRUTH = {
    "conv": (2.0e-8, 1.0e-8, 0.010), "pointwise": (1.2e-8, 2.0e-9, 0.006),
    "depthwise": (6.0e-8, 4.0e-9, 0.008), "grouped": (3.0e-8, 1.0e-9, 0.009),
    "fc": (5.0e-9, 4.0e-10, 0.004), "se_fc": (3.0e-8, 2.0e-9, 0.012),
    "pool": (0.0, 3.0e-9, 0.005), "add": (0.0, 1.5e-9, 0.003), "scale": (0.0, 2.5e-9, 0.004),
    "norm": (0.0, 2.0e-9, 0.003), "attention": (1.5e-8, 3.0e-9, 0.010),
    "layer_scale": (0.0, 2.0e-9, 0.003),
    "conv@stem": (3.5e-8, 1.2e-8, 0.011),
}
#: Known ms between consecutive layers and fixed ms per run.
BETWEEN, FIXED = 0.0021, 0.35


def assert_coefficients(fitted, expected, kind: str = "", rel: float = 1e-6) -> None:
    """A fitted kernel's ``(a, b, c, w)`` against known ``(a, b, c)`` (weights at ``b``) or
    ``(a, b, c, w)``. A kind without weights (pooling, adds, SE scales, attention's matmuls)
    has no weight bytes to fit ``w`` on: its ``w`` is not compared."""
    import pytest

    from mncost.latency.model import full_coefficients

    fitted, expected = full_coefficients(fitted), full_coefficients(expected)
    n = 3 if kind.partition("@")[0] in ("pool", "add", "scale", "attention") else 4
    assert fitted[:n] == pytest.approx(expected[:n], rel=rel, abs=1e-15), kind


def profile_doc() -> dict:
    """A valid ``mncost.device/1`` profile of the synthetic device (without ``grouped``), fresh
    on every call so a test may edit it."""
    from mncost.latency import model as lm

    model = lm.LatencyModel({k: v for k, v in TRUTH.items() if k != "grouped"}, BETWEEN, FIXED)
    return {"schema": "mncost.device/1", "runtime": "eager", "threads": 1,
            "environment": {"cpu": "x"}, "model": model.to_dict(),
            "coverage": {"alpha": [0.35, 1.0], "resolution": [96, 224],
                         "macs": [5_000_000, 600_000_000]}}


def assert_profile_refused(tmp_path, doc: dict, message: str) -> str:
    """Write ``doc`` as a device profile and assert that loading it fails with one line that
    names the file and starts with ``message``; returns the profile's path."""
    import json

    import pytest

    from mncost.errors import InputError
    from mncost.latency import device_profile as dp

    path = tmp_path / "dev.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError) as err:
        dp.load_device(str(path))
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)
    return str(path)


def assert_readable(text: str, sections: list[Section], width: int) -> None:
    """Every header word and cell of ``sections`` is in ``text`` whole; no ellipsis, and no
    line of ``text`` wider than ``width`` cells."""
    from rich.cells import cell_len

    assert sections, "no table drawn"
    assert "…" not in text
    too_wide = [line for line in text.splitlines() if cell_len(line) > width]
    assert not too_wide, too_wide[:3]
    for section in sections:
        for header in section.headers:
            for word in str(header).split():
                assert word in text, (section.title, header)
        for row in section.rows:
            for cell in row:
                assert str(cell) in text, (section.title, row[0], cell)


def parse_junit(path) -> object:
    """Parse a JUnit file mncost wrote (it must be well-formed XML whatever the names in it),
    check that each suite's counts are its test cases', and return the root element."""
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    cases = failures = skipped = 0
    for suite in root.findall("testsuite"):
        found = suite.findall("testcase")
        assert int(suite.get("tests")) == len(found), suite.get("name")
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped"))
        cases += len(found)
        failures += int(suite.get("failures"))
        skipped += int(suite.get("skipped"))
    assert (int(root.get("tests")), int(root.get("failures")), int(root.get("skipped"))) == (
        cases, failures, skipped)
    return root
