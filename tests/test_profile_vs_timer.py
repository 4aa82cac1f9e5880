"""benchmarks/profile_vs_timer.py without measuring: the plan of ``--quick``, the child
processes' allocator variables, the re-blocking and the summary of several rounds (the full run
takes minutes; these pieces must not fail at its end)."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "profile_vs_timer", ROOT / "benchmarks" / "profile_vs_timer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_and_full_plans(bench):
    quick = bench.parse_args(["--quick"])
    assert (quick.rounds, quick.min_time, quick.repeats, quick.warmup) == (1, 0.2, 10, 3)
    full = bench.parse_args(["--rounds", "5"])
    assert (full.rounds, full.min_time, full.repeats, full.warmup) == (5, 2.0, 30, 10)


def test_children_get_the_allocator_variables_of_their_setting(bench, monkeypatch):
    seen = []

    class Done:
        returncode, stdout, stderr = 0, "{}", ""

    def run(command, env, **kwargs):
        seen.append((command[command.index("--child") + 1],
                     command[command.index("--setting") + 1],
                     {k: v for k, v in env.items() if k.startswith("MALLOC_")}))
        return Done()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")              # never passed on
    monkeypatch.setattr(bench.subprocess, "run", run)
    args = bench.parse_args(["--quick"])
    for side in ("profile", "timer", "timer-grad"):
        for setting in ("steady", "plain"):
            bench.run_child(side, "v1", setting, args)
    steady = {"MALLOC_MMAP_THRESHOLD_": "67108864", "MALLOC_TRIM_THRESHOLD_": "134217728"}
    assert seen == [("profile", "steady", {}), ("profile", "plain", {}),
                    ("timer", "steady", steady), ("timer", "plain", {}),
                    ("timer-grad", "steady", steady), ("timer-grad", "plain", {})]


def test_reblocked_means_of_consecutive_runs(bench):
    assert bench.reblocked([1.0, 3.0, 5.0, 7.0, 100.0], 2) == [2.0, 6.0]
    assert bench.reblocked([1.0, 3.0], 1) == [1.0, 3.0]
    assert bench.reblocked([1.0, 3.0], 10) == [2.0]


def test_summary_of_two_rounds_with_grad(bench):
    rows = []
    for r, (ours, theirs, grad) in enumerate([(9.0, 10.0, 12.0), (11.0, 10.0, 11.0)]):
        for setting in ("steady", "plain"):
            common = dict(model="v2", setting=setting, round=r, malloc_env={})
            rows += [dict(common, side="profile", median_ms=ours, quiet_ms=ours / 2, mean_ms=ours,
                          samples_ms=[ours] * 4, faults_per_run=3.0, malloc="default (off)"),
                     dict(common, side="timer", median_ms=theirs, quiet_ms=theirs / 4,
                          mean_ms=theirs, times_ms=[theirs] * 2, number_per_run=2,
                          faults_per_run=1.0),
                     dict(common, side="timer-grad", median_ms=grad, quiet_ms=grad,
                          mean_ms=grad, times_ms=[grad], number_per_run=1,
                          faults_per_run=None)]
    text = bench.summary(rows, ["v2"], with_grad=True)
    assert "profile/Timer  median 1.000 (0.900 1.100)  quiet 2.000 (1.800 2.200)" in text
    assert "profile/Timer in grad mode  median 0.875 (0.750 1.000)" in text
    assert text.endswith("v2        plain      1.000   2.000      1.000     0.875")
