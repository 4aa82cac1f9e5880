"""Shared test helpers.

Tests that need torch or fvcore use the ``torch`` / ``fvcore`` markers through the fixtures
below: they are skipped only when the package is truly absent (in CI both are installed, and
``MNCOST_REQUIRE_TORCH=1`` turns a missing package into a failure instead of a skip).
"""

from __future__ import annotations

import importlib.util
import os

import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_FVCORE = importlib.util.find_spec("fvcore") is not None
#: The reference extra (torchvision, timm) for ``crosscheck --reference``; CI installs it.
HAS_REFERENCE = all(importlib.util.find_spec(p) is not None for p in ("torchvision", "timm"))
REQUIRE = os.environ.get("MNCOST_REQUIRE_TORCH") == "1"


def pytest_collection_modifyitems(config, items):
    for item in items:
        for marker, present, package in (("torch", HAS_TORCH, "torch"),
                                         ("fvcore", HAS_FVCORE, "fvcore"),
                                         ("reference", HAS_REFERENCE, "torchvision / timm")):
            if item.get_closest_marker(marker) and not present:
                if REQUIRE:
                    item.add_marker(pytest.mark.xfail(
                        reason=f"{package} missing but MNCOST_REQUIRE_TORCH=1", run=False,
                        strict=True))
                else:
                    item.add_marker(pytest.mark.skip(reason=f"{package} is not installed"))
