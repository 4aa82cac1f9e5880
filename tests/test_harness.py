"""The test harness cannot lie: with ``MNCOST_REQUIRE_TORCH=1`` a missing torch or fvcore fails
the run (no skip, no xfail, exit status non-zero).

Each case runs pytest in a subprocess with a stub package first on ``PYTHONPATH`` whose import
raises ImportError, as on a machine where the package is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HAS_TORCH, ROOT


def _stub(tmp_path: Path, package: str) -> Path:
    """A package whose import fails as an absent one does: ``ModuleNotFoundError`` naming it
    (pytest 9.2's ``importorskip`` skips on that alone; a plain ImportError is a broken
    install, and an error)."""
    stubs = tmp_path / "stubs"
    (stubs / package).mkdir(parents=True)
    (stubs / package / "__init__.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{package}' (made unimportable by "
        f"tests/test_harness.py)\", name='{package}')\n")
    return stubs


def _pytest(tmp_path: Path, stubs: Path, require: bool, *args: str
            ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MNCOST_REQUIRE_TORCH", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(stubs), env.get("PYTHONPATH"))))
    if require:
        env["MNCOST_REQUIRE_TORCH"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(ROOT), *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_missing_torch_fails_the_run_under_require(tmp_path):
    stubs = _stub(tmp_path, "torch")
    # test_builder.py skips at import (importorskip); test_sweep's real-latency test is marked.
    targets = (str(ROOT / "tests" / "test_builder.py"),
               str(ROOT / "tests" / "test_sweep.py") + "::test_real_latency_small")
    relaxed = _pytest(tmp_path, stubs, False, *targets)
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr   # the stub hides torch:
    assert "skipped" in relaxed.stdout and "passed" not in relaxed.stdout   # all skipped
    strict = _pytest(tmp_path, stubs, True, *targets)
    assert strict.returncode != 0
    assert "MNCOST_REQUIRE_TORCH=1 but torch" in strict.stdout + strict.stderr
    assert "made unimportable" in strict.stdout + strict.stderr


@pytest.mark.skipif(not HAS_TORCH, reason="the fvcore case needs a real torch beside the stub")
def test_missing_fvcore_fails_the_run_under_require(tmp_path):
    stubs = _stub(tmp_path, "fvcore")
    strict = _pytest(tmp_path, stubs, True, "--collect-only",
                     str(ROOT / "tests" / "test_timing.py"))
    assert strict.returncode != 0
    assert "MNCOST_REQUIRE_TORCH=1 but fvcore" in strict.stdout + strict.stderr
