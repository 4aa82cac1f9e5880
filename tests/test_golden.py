"""The outputs whose bytes are the interface are byte-identical to the files in tests/golden/.

Every ``--help``, every output format of ``analyze`` once (v3-small), and the sweep, memory,
list, baseline and check reports. The files are written by ``python tests/golden/make_golden.py``
(which says what they cover); this test runs the same commands in-process and compares byte for
byte. An intended change of an output is made by running the script again and committing the new
files with the change. The numbers of every built-in are held elsewhere, to outside counts:
tests/test_builtin_totals.py and tests/test_reference_counts.py.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
_spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_golden", make_golden)
_spec.loader.exec_module(make_golden)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return make_golden.generate()


def _stored() -> list[str]:
    return sorted(p.name for p in GOLDEN.iterdir() if p.is_file() and p.suffix != ".py"
                  and not p.name.startswith("."))


def test_every_case_has_a_golden_file_and_no_file_is_stale(generated):
    missing = sorted(set(generated) - set(_stored()))
    stale = sorted(set(_stored()) - set(generated))
    assert not missing and not stale, (
        f"golden files missing: {missing}, stale: {stale}; if the change is intended, run "
        "python tests/golden/make_golden.py and commit the files")


@pytest.mark.parametrize("name", _stored())
def test_output_is_byte_identical(generated, name):
    if name not in generated:
        pytest.fail(f"{name}: no case generates it any more (see the test above)")
    want = (GOLDEN / name).read_bytes()
    got = generated[name].encode("utf-8")
    if got != want:
        diff = "".join(list(difflib.unified_diff(
            want.decode("utf-8").splitlines(keepends=True),
            got.decode("utf-8").splitlines(keepends=True), f"golden/{name}", "now", n=1))[:40])
        pytest.fail(f"{name} differs from the golden file (if intended, run python "
                    f"tests/golden/make_golden.py):\n{diff}")
