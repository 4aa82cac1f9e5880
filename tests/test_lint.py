"""The linter runs with the suite: ruff (pyflakes, pycodestyle, import order; configured in
pyproject.toml) over the package, the tests, the benchmarks and the scripts.

It is what catches a second definition that silently replaces the first, an unused re-export,
an undefined name. ruff comes with the ``test`` extra; where it is absent the test is skipped,
except under ``MNCOST_REQUIRE_TORCH=1`` (CI), which installs every extra.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT


def _ruff() -> list[str] | None:
    try:
        import ruff  # noqa: F401  (the package ships the binary)
    except ImportError:
        exe = shutil.which("ruff")
        return [exe] if exe else None
    return [sys.executable, "-m", "ruff"]


def test_ruff_finds_nothing():
    command = _ruff()
    if command is None:
        if os.environ.get("MNCOST_REQUIRE_TORCH") == "1":
            pytest.fail("ruff is not installed (pip install -e '.[test]')")
        pytest.skip("ruff is not installed")
    run = subprocess.run([*command, "check", "--no-cache", "mncost", "tests", "benchmarks",
                          "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
