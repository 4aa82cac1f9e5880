"""``mncost.measure.timing``: statistics against hand-computed values, and the repeat loop against
a fake clock (including a fake asynchronous device, the CUDA path's logic)."""

from __future__ import annotations

import gc
import math

import pytest

from mncost.measure.timing import Clock, TimingStats, mean, measure, percentile, std

# Sorted: 1 2 3 4. Rank h = (n - 1) q = 3q (Hyndman & Fan definition 7).
FOUR = [4.0, 1.0, 3.0, 2.0]


@pytest.mark.parametrize("q, expected", [
    (0.0, 1.0),     # h = 0
    (0.1, 1.3),     # h = 0.3: 1 + 0.3 * (2 - 1)
    (0.25, 1.75),   # h = 0.75
    (0.5, 2.5),     # h = 1.5: the mean of the two middle values
    (0.75, 3.25),   # h = 2.25
    (0.9, 3.7),     # h = 2.7
    (1.0, 4.0),     # h = 3
])
def test_percentile_hand_values(q, expected):
    assert percentile(FOUR, q) == pytest.approx(expected, abs=1e-12)


def test_percentile_odd_count_and_single_sample():
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert percentile([5.0, 1.0, 3.0], 0.25) == 2.0     # h = 0.5 between 1 and 3
    assert percentile([7.0], 0.1) == percentile([7.0], 0.9) == 7.0


def test_percentile_rejects_bad_input():
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_mean_and_sample_std():
    data = [2, 4, 4, 4, 5, 5, 7, 9]
    assert mean(data) == 5
    # squared deviations 9+1+1+1+0+0+4+16 = 32; sample variance 32 / 7
    assert std(data) == pytest.approx(math.sqrt(32 / 7), rel=1e-12)
    assert std([3.0]) == 0.0


def test_timing_stats_from_ns():
    s = TimingStats.from_ns([4_000_000, 1_000_000, 3_000_000, 2_000_000])
    assert (s.runs, s.min_ms, s.max_ms, s.total_ms) == (4, 1.0, 4.0, 10.0)
    assert s.median_ms == 2.5 and s.mean_ms == 2.5
    assert s.p10_ms == pytest.approx(1.3) and s.p90_ms == pytest.approx(3.7)
    assert s.p25_ms == pytest.approx(1.75) and s.p75_ms == pytest.approx(3.25)
    assert s.iqr_ms == pytest.approx(1.5)
    assert s.std_ms == pytest.approx(math.sqrt(5 / 3))   # deviations 2.25+0.25+0.25+2.25
    assert set(s.to_dict()) >= {"runs", "median_ms", "mean_ms", "std_ms", "p10_ms", "p90_ms",
                                "iqr_ms", "min_ms", "max_ms"}
    with pytest.raises(ValueError):
        TimingStats.from_ns([])


class FakeDevice:
    """An asynchronous device: work is queued at launch and finishes only at ``sync``.

    ``read`` is the host clock. Launches cost the host nothing, as on a GPU.
    """

    def __init__(self) -> None:
        self.now = 0
        self.pending = 0
        self.log: list[str] = []

    def launch(self, ns: int) -> None:
        self.pending += ns

    def sync(self) -> None:
        self.log.append("sync")
        self.now += self.pending
        self.pending = 0

    def read(self) -> int:
        self.log.append("read")
        return self.now


def test_synchronizing_clock_times_finished_work_not_launches():
    device = FakeDevice()
    synced = Clock("fake, synced", read=device.read, sync=device.sync)
    samples = measure(lambda: device.launch(5_000), synced, warmup=2, repeats=4)
    assert samples == [5_000] * 4
    # every read is preceded by a sync: the interval never ends at a launch
    assert device.log == ["sync", "read"] * 8
    # the same loop without synchronization would time only the launches
    unsynced_device = FakeDevice()
    unsynced = Clock("fake, unsynced", read=unsynced_device.read)
    assert measure(lambda: unsynced_device.launch(5_000), unsynced, warmup=0,
                   repeats=3) == [0, 0, 0]


class StepClock:
    """Host clock that a synchronous ``fn`` advances by ``step`` ns per call."""

    def __init__(self, step: int) -> None:
        self.now = 0
        self.calls = 0
        self.step = step

    def run(self) -> None:
        self.calls += 1
        self.now += self.step

    def clock(self) -> Clock:
        return Clock("fake", read=lambda: self.now)


def test_repeats_and_min_time_both_hold():
    fake = StepClock(1_000_000)                       # 1 ms per run
    assert len(measure(fake.run, fake.clock(), warmup=3, repeats=4, min_time_s=0.010)) == 10
    assert fake.calls == 13                           # warm-up runs are not timed
    fake = StepClock(1_000_000)
    assert len(measure(fake.run, fake.clock(), warmup=0, repeats=5, min_time_s=0.002)) == 5
    with pytest.raises(ValueError):
        measure(fake.run, fake.clock(), warmup=0, repeats=0)


def test_progress_and_gc_state():
    fake = StepClock(1_000_000)
    calls = []
    assert gc.isenabled()
    measure(fake.run, fake.clock(), warmup=2, repeats=2, min_time_s=0.004, label="e2e",
            progress=lambda phase, fraction, runs: calls.append((phase, fraction, runs,
                                                                 gc.isenabled())))
    assert calls[:2] == [("warm-up", 0.5, 1, True), ("warm-up", 1.0, 2, True)]
    # fraction: the lesser of runs / repeats and time / min time; gc paused while timing
    assert [c[1] for c in calls[2:]] == [0.25, 0.5, 0.75, 1.0]
    assert all(c[0] == "e2e" and not c[3] for c in calls[2:])
    assert gc.isenabled()


# ---------------------------------------------------------------------------------------------
# Steady allocator, page faults, instability (issue 10, items 17-18)

from mncost.measure import timing  # noqa: E402


def _stats(median: float, p90: float, p25: float, p75: float) -> TimingStats:
    return TimingStats(runs=10, median_ms=median, mean_ms=median, std_ms=0.0, p10_ms=median,
                       p25_ms=p25, p75_ms=p75, p90_ms=p90, iqr_ms=p75 - p25, min_ms=p25,
                       max_ms=p90, total_ms=10 * median, quiet_ms=p25)


@pytest.mark.parametrize("p90, p25, p75, expected", [
    (15.0, 9.5, 10.5, None),                                  # p90 1.5x, IQR 10%: the edge
    (15.1, 9.5, 10.5, "p90 is 1.51x the median"),
    (11.0, 9.0, 11.6, "the IQR is 26% of the median"),
    (17.0, 8.0, 12.0, "p90 is 1.70x the median and the IQR is 40% of the median"),
])
def test_instability_thresholds(p90, p25, p75, expected):
    assert timing.instability(_stats(10.0, p90, p25, p75)) == expected


def test_instability_catches_a_fast_mode_below_the_median():
    stats = TimingStats.from_ms([3.4] * 3 + [7.4] * 17)     # p10 3.4 (rank 1.9), IQR 0
    assert timing.instability(stats) == "p10 is 0.46x the median (bimodal)"


def test_instability_advice_names_threads_and_cores():
    text = timing.instability_advice("p90 is 3.00x the median", 2, 2)
    assert "2 threads on a machine with 2 cores" in text
    assert "--threads below the number of idle cores" in text
    # At 1 thread "use fewer threads" does not apply (issue 23): what does, instead.
    one = timing.instability_advice("the IQR is 31% of the median", 1, 2)
    assert "1 thread on a machine with 2 cores" in one and "--threads" not in one
    assert "quiet estimate (p5)" in one and "--min-time" in one


def test_measure_reports_page_faults_of_the_timed_runs_only(monkeypatch):
    counts = iter([100, 175])       # read after the warm-up, then after the timed runs
    monkeypatch.setattr(timing, "minor_faults", lambda: next(counts))
    faults: list[int] = []
    samples = measure(lambda: None, Clock("fake", read=iter(range(0, 100, 1)).__next__),
                      warmup=3, repeats=5, faults=faults)
    assert len(samples) == 5 and faults == [75]


def test_page_faults_unknown_where_getrusage_is_missing(monkeypatch):
    monkeypatch.setattr(timing, "minor_faults", lambda: -1)
    faults: list[int] = []
    measure(lambda: None, Clock("fake", read=iter(range(100)).__next__), warmup=0, repeats=2,
            faults=faults)
    assert faults == [-1]


def test_minor_faults_count_a_fresh_mapping():
    if timing.minor_faults() < 0:
        pytest.skip("no getrusage here")
    before = timing.minor_faults()
    import mmap
    with mmap.mmap(-1, 64 * 4096) as block:        # 64 fresh pages, each touched once
        for page in range(64):
            block[page * 4096] = 1
    assert timing.minor_faults() - before >= 64


def test_steady_malloc_off_leaves_the_allocator(monkeypatch):
    monkeypatch.setattr(timing, "_steady_state", None)
    monkeypatch.setattr(timing, "_glibc", lambda: pytest.fail("mallopt must not be called"))
    assert timing.steady_malloc(False) == "default (off)"


def test_steady_malloc_is_a_noted_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(timing, "_steady_state", None)
    monkeypatch.setattr(timing, "_glibc", lambda: None)
    assert timing.steady_malloc(True) == "default (not glibc: no mallopt, left as is)"


def test_steady_malloc_sets_both_thresholds(monkeypatch):
    calls = []

    class FakeLibc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(timing, "_steady_state", None)
    monkeypatch.setattr(timing, "_glibc", FakeLibc)
    state = timing.steady_malloc(True)
    assert calls == [(-3, 64 * 2 ** 20), (-1, 128 * 2 ** 20)]   # M_MMAP_, M_TRIM_THRESHOLD
    assert state == "glibc mallopt mmap_threshold=64MiB trim_threshold=128MiB"
    assert timing.steady_malloc(False) == state     # once set, it holds for the process


def test_steady_malloc_reports_a_refusal(monkeypatch):
    class Refusing:
        def mallopt(self, param, value):
            return 0

    monkeypatch.setattr(timing, "_steady_state", None)
    monkeypatch.setattr(timing, "_glibc", Refusing)
    assert timing.steady_malloc(True) == "default (mallopt refused the thresholds)"


def test_real_mallopt_on_glibc(monkeypatch):
    if timing._glibc() is None:
        pytest.skip("not glibc")
    monkeypatch.setattr(timing, "_steady_state", None)
    assert timing.steady_malloc(True).startswith("glibc mallopt mmap_threshold=64MiB")
