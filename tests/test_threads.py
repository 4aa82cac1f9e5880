"""The thread-count warning of ``profile`` and ``calibrate`` (issue 23, item 3): pure, no torch."""

from __future__ import annotations

import os

import pytest

from mncost.measure.threads import available_cpus, thread_warning


@pytest.mark.parametrize("threads, cpus", [(2, 2), (3, 2), (8, 8), (16, 4), (2, 1)])
def test_warns_when_the_threads_take_every_core(threads, cpus):
    message = thread_warning(threads, cpus)
    core = "core" if cpus == 1 else "cores"
    assert message == (
        f"{threads} threads on {cpus} available CPU {core}: the thread pool needs every core, "
        f"so any other process makes it wait and the timings come out contended and bimodal; "
        f"use fewer threads (e.g. --threads {max(1, cpus - 1)})")


@pytest.mark.parametrize("threads, cpus", [(1, 2), (1, 1), (3, 4), (7, 8), (None, 2), (2, None)])
def test_silent_when_a_core_is_left_free_or_nothing_is_fewer(threads, cpus):
    assert thread_warning(threads, cpus) is None


def test_available_cpus_reads_the_affinity_mask(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert available_cpus() == 3


def test_available_cpus_without_an_affinity_mask(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert available_cpus() == 6

    def refused(pid):
        raise OSError("no")
    monkeypatch.setattr(os, "sched_getaffinity", refused, raising=False)
    assert available_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cpus() is None
