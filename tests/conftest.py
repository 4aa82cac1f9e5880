"""Shared test helpers.

* **torch / fvcore / reference.** Tests that need them use the ``torch`` / ``fvcore`` /
  ``reference`` (torchvision and timm) markers (and, for a module, ``pytest.importorskip``):
  they are skipped only when a package cannot be imported. With ``MNCOST_REQUIRE_TORCH=1``
  (CI, where ``.[all]`` is installed) a missing or broken one fails the whole run before any
  test: no skip and no xfail can hide it (``tests/test_harness.py`` proves it with torch made
  unimportable).
* **Hypothesis profiles.** ``ci`` (used when ``CI`` is set, as CI services and ``.ci/run`` do):
  derandomized, so a failure found in CI reproduces on the next run and on a laptop, with no
  example database. ``dev`` (the default elsewhere): random, with the example database.
  ``fuzz``: ten times the examples, for a long local hunt (``HYPOTHESIS_PROFILE=fuzz``).
  Tests size their example counts with :func:`examples`.
* **Paths.** :data:`ROOT` is the repository root: tests read ``configs/`` and ``tests/data/``
  through it, so they pass from any working directory.
* **A fake profiler** (:func:`fake_profiler`) for the latency options of ``sweep``, ``baseline
  write`` and ``check``, taking the real :class:`mncost.measure.profile_options.ProfileOptions`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The small user spec with a layer of most kinds, worked by hand in test_conventions.py.
TINY_EVERY_KIND = str(ROOT / "tests" / "data" / "tiny_every_kind.yaml")
#: Installed (found); whether it also imports is tried where a test needs it.
HAS_TORCH = importlib.util.find_spec("torch") is not None
REQUIRE = os.environ.get("MNCOST_REQUIRE_TORCH") == "1"
#: Test marker -> the packages its tests need (the reference extra: ``crosscheck --reference``).
MARKERS = {"torch": ("torch",), "fvcore": ("fvcore",), "reference": ("torchvision", "timm")}
#: What MNCOST_REQUIRE_TORCH=1 (CI, which installs ``.[all]``) requires: every marker's package.
REQUIRED = tuple(p for packages in MARKERS.values() for p in packages)

# ---------------------------------------------------------------------------------------------
# Hypothesis

try:
    from hypothesis import settings as _settings
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    _settings = None
else:
    _settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                               print_blob=True)
    _settings.register_profile("dev", deadline=None, print_blob=True)
    _settings.register_profile("fuzz", deadline=None, print_blob=True, max_examples=1000)
    _settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                           or ("ci" if os.environ.get("CI") else "dev"))


def examples(n: int) -> int:
    """``n`` examples under the ``ci`` and ``dev`` profiles, ``10 n`` under ``fuzz``: the
    profile's ``max_examples`` over Hypothesis's default of 100."""
    return max(1, n * _settings.default.max_examples // 100) if _settings else n


# ---------------------------------------------------------------------------------------------
# torch / fvcore


def _import(package: str) -> None:
    """Import ``package`` as mncost does: torchvision and timm through the reference back
    end's importers, which work around a torchvision wheel built for another torch."""
    if package in ("torchvision", "timm"):
        from mncost.torch_backend import reference

        getattr(reference, f"import_{package}")()
    else:
        importlib.import_module(package)


def _import_error(package: str) -> str | None:
    """Why ``package`` cannot be imported, or None when it can."""
    try:
        _import(package)
    except Exception as exc:  # ImportError, or a broken install raising anything else
        return f"{type(exc).__name__}: {exc}"
    return None


def pytest_configure(config):
    if not REQUIRE:
        return
    missing = [f"{p} ({why})" for p in REQUIRED if (why := _import_error(p)) is not None]
    if missing:
        raise pytest.UsageError(
            f"MNCOST_REQUIRE_TORCH=1 but {', '.join(missing)} cannot be imported: the torch "
            "tests would be skipped. Install the torch extra (pip install -e '.[all]') or "
            "unset MNCOST_REQUIRE_TORCH.")


def pytest_collection_modifyitems(config, items):
    """Skip marked tests whose package cannot be imported (tried only when a collected test
    needs it). Under MNCOST_REQUIRE_TORCH=1 pytest_configure has already failed the run."""
    why: dict[str, str | None] = {}
    for item in items:
        for marker, packages in MARKERS.items():
            if not item.get_closest_marker(marker):
                continue
            for package in packages:
                if package not in why:
                    why[package] = _import_error(package)
                if why[package] is not None:
                    item.add_marker(pytest.mark.skip(
                        reason=f"{package} cannot be imported ({why[package]})"))
                    break


# ---------------------------------------------------------------------------------------------
# A fake profiler


@pytest.fixture
def fake_profiler(monkeypatch):
    """Installs a fake ``mncost.torch_backend.profile`` whose ``profile_network`` checks its
    options like the real one (they are the real :class:`ProfileOptions`) and returns the
    fields the latency columns read.

    The returned state: ``ms`` (None: latency = MACs / 1e7 ms, else this median), ``quiet``
    (the quiet estimate; None: 0.8 x the median),
    ``interrupt_at`` (the call, counted from 1, that raises KeyboardInterrupt), ``calls`` and
    ``options`` (every options object received), ``threads_default`` (the thread count
    reported when none was asked for, as torch reports its own).
    """
    from mncost.costs.analytic import analyze
    from mncost.measure.profile_options import ProfileOptions

    state = {"calls": 0, "interrupt_at": None, "options": [], "ms": None, "quiet": None,
             "threads_default": 4}

    def profile_network(network, options, progress=None):
        assert isinstance(options, ProfileOptions), type(options)
        options.check()
        state["calls"] += 1
        state["options"].append(options)
        if state["calls"] == state["interrupt_at"]:
            raise KeyboardInterrupt
        ms = state["ms"] if state["ms"] is not None else analyze(network).total.macs / 1e7
        quiet = state["quiet"] if state["quiet"] is not None else ms * 0.8
        stats = types.SimpleNamespace(median_ms=ms, p10_ms=ms * 0.9, p90_ms=ms * 1.1,
                                      mean_ms=ms, std_ms=0.5, runs=options.repeats,
                                      quiet_ms=quiet)
        threads = options.threads if options.threads is not None else state["threads_default"]
        environment = {"device": options.device, "threads": threads, "batch": options.batch,
                       "dtype": options.dtype}
        return types.SimpleNamespace(end_to_end=stats, environment=environment)

    module = types.ModuleType("mncost.torch_backend.profile")
    module.ProfileOptions = ProfileOptions
    module.profile_network = profile_network
    monkeypatch.setitem(sys.modules, "mncost.torch_backend.profile", module)
    return state
