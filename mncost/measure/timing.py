"""Timing statistics and the repeat loop, with no torch: plain numbers in, plain numbers out.

Conventions (docs/profiling.md, "Profiling"):

* **Percentiles** use linear interpolation between order statistics (Hyndman & Fan 1996,
  definition 7; NumPy's default ``"linear"`` method). For samples sorted as
  ``x[0] <= ... <= x[n-1]`` the ``q``-quantile (``0 <= q <= 1``) sits at rank
  ``h = (n - 1) * q`` and is ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
  The median is the 0.5-quantile, so for an even count it is the mean of the two middle values.
* **IQR** is ``p75 - p25`` under that definition.
* **std** is the sample standard deviation (``n - 1`` in the denominator); 0 for one sample.

The loop (:func:`measure`) reads time through a :class:`Clock`. On a CPU the clock is
``time.perf_counter_ns``; on an asynchronous device it waits for the device before every read,
so a timed interval always covers finished work, never an asynchronous launch.
"""

from __future__ import annotations

import ctypes
import gc
import math
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

NS_PER_MS = 1_000_000

#: ``progress(phase, fraction, runs)``: the phase (``"warm-up"`` or a measurement label), the
#: fraction done (0..1) and the runs done so far.
ProgressFn = Callable[[str, float, int], None]


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-quantile (``0 <= q <= 1``) by linear interpolation (Hyndman & Fan def. 7).

    Raises:
        ValueError: for no samples or ``q`` outside [0, 1].
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {q}")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def mean(samples: Sequence[float]) -> float:
    """Arithmetic mean (``math.fsum`` so long lists do not lose precision)."""
    if not samples:
        raise ValueError("mean of no samples")
    return math.fsum(samples) / len(samples)


def std(samples: Sequence[float]) -> float:
    """Sample standard deviation, ``sqrt(sum((x - mean)^2) / (n - 1))``; 0 for one sample."""
    if len(samples) < 2:
        return 0.0
    m = mean(samples)
    return math.sqrt(math.fsum((x - m) ** 2 for x in samples) / (len(samples) - 1))


#: The quiet estimate: this low percentile of the timed runs (docs/latency.md, "The quiet
#: estimate"). Contention only ever adds time, so the fast end of the distribution is what the
#: machine gives when nothing competes with it. Measured on this project's 2-core VM (v1, v2,
#: v3-small, v3-large at 1 thread, interleaved, two neighbours loading the CPU and the memory
#: bus): the load moved the median by +7% to +17%, p10 by +3% to +8%, p5 by +1% to +6.5%;
#: the minimum moved by -6% to +5% (single lucky runs), so it is not used.
QUIET_QUANTILE = 0.05
QUIET_STATISTIC = "p5"
QUIET_NAME = "quiet (p5)"
QUIET_DESCRIPTION = ("the quiet estimate: the 5th percentile of the timed runs (contention only "
                     "adds time)")
#: The statistics a calibration can fit on (``calibrate --statistic``).
STATISTICS = {"quiet": QUIET_QUANTILE, "median": 0.5}


def quiet(samples: Sequence[float]) -> float:
    """The quiet estimate of ``samples``: their :data:`QUIET_QUANTILE` percentile."""
    return percentile(samples, QUIET_QUANTILE)


def split_half(rounds: Sequence[Sequence[float]], q: float) -> float | None:
    """How far the ``q``-quantile moves between the even and the odd rounds: the larger of
    the two (each over the samples pooled within its half) over the smaller, minus 1;
    ``None`` below two rounds. Alternate rounds see the same drift of the machine, so this
    measures how well the samples determine the statistic, not how the machine changed."""
    even = [x for r in rounds[0::2] for x in r]
    odd = [x for r in rounds[1::2] for x in r]
    if not even or not odd:
        return None
    a, b = sorted((percentile(even, q), percentile(odd, q)))
    return b / a - 1 if a > 0 else None


@dataclass(frozen=True)
class TimingStats:
    """Summary of repeated timings, in milliseconds.

    Attributes:
        runs: number of timed runs.
        median_ms, mean_ms, std_ms: centre and sample standard deviation.
        p10_ms, p25_ms, p75_ms, p90_ms: percentiles (module docstring: definition 7).
        quiet_ms: the quiet estimate (:data:`QUIET_QUANTILE`: p5).
        iqr_ms: ``p75_ms - p25_ms``.
        min_ms, max_ms: fastest and slowest run.
        total_ms: the sum of all runs (the measured time).
    """

    runs: int
    median_ms: float
    mean_ms: float
    std_ms: float
    p10_ms: float
    p25_ms: float
    p75_ms: float
    p90_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float
    total_ms: float
    quiet_ms: float

    @classmethod
    def from_ms(cls, samples_ms: Sequence[float]) -> "TimingStats":
        """Summarize samples given in milliseconds."""
        if not samples_ms:
            raise ValueError("no timing samples")
        p25, p75 = percentile(samples_ms, 0.25), percentile(samples_ms, 0.75)
        return cls(runs=len(samples_ms), median_ms=percentile(samples_ms, 0.5),
                   mean_ms=mean(samples_ms), std_ms=std(samples_ms),
                   p10_ms=percentile(samples_ms, 0.10), p25_ms=p25, p75_ms=p75,
                   p90_ms=percentile(samples_ms, 0.90), iqr_ms=p75 - p25,
                   min_ms=min(samples_ms), max_ms=max(samples_ms),
                   total_ms=math.fsum(samples_ms), quiet_ms=quiet(samples_ms))

    @classmethod
    def from_ns(cls, samples_ns: Sequence[int]) -> "TimingStats":
        """Summarize samples given in integer nanoseconds (what a :class:`Clock` returns)."""
        return cls.from_ms([s / NS_PER_MS for s in samples_ns])

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Clock:
    """A monotonic nanosecond clock that is safe to difference around device work.

    Attributes:
        name: how it reads time, recorded in a result's environment.
        read: the raw clock (``time.perf_counter_ns``).
        sync: waits until queued device work is finished (``None`` on a CPU, where work is
            synchronous). It runs before every read, so ``now_ns() - earlier`` never stops at
            an asynchronous launch.
    """

    name: str
    read: Callable[[], int] = time.perf_counter_ns
    sync: Callable[[], None] | None = None

    def now_ns(self) -> int:
        """Wait for the device (if any), then read the clock."""
        if self.sync is not None:
            self.sync()
        return self.read()


CPU_CLOCK = Clock("time.perf_counter_ns")


def measure(fn: Callable[[], object], clock: Clock, *, warmup: int, repeats: int,
            min_time_s: float = 0.0, label: str = "timed",
            progress: ProgressFn | None = None,
            faults: list[int] | None = None) -> list[int]:
    """Run ``fn`` ``warmup`` times untimed, then time it until both at least ``repeats`` runs
    and at least ``min_time_s`` seconds of timed runs are done.

    Each run is timed on its own (``clock.now_ns()`` before and after), so the samples give a
    distribution, not only a mean. The garbage collector is paused while timing, as
    ``timeit`` does, so a collection does not land inside one run; ``progress`` is called
    between runs, outside the timed interval.

    ``faults``, when given, gets one number appended: the minor page faults of this process
    during the timed runs (warm-up excluded; ``-1`` where ``getrusage`` does not exist).

    Returns:
        The per-run times in nanoseconds, in run order.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for i in range(warmup):
        fn()
        if progress is not None:
            progress("warm-up", (i + 1) / warmup, i + 1)
    samples: list[int] = []
    budget_ns = int(min_time_s * 1e9)
    spent_ns = 0
    collecting = gc.isenabled()
    gc.disable()
    faults_before = minor_faults()
    try:
        while len(samples) < repeats or spent_ns < budget_ns:
            start = clock.now_ns()
            fn()
            elapsed = clock.now_ns() - start
            samples.append(elapsed)
            spent_ns += elapsed
            if progress is not None:
                progress(label, _fraction(len(samples), repeats, spent_ns, budget_ns),
                         len(samples))
    finally:
        if collecting:
            gc.enable()
    if faults is not None:
        after = minor_faults()
        faults.append(after - faults_before if after >= 0 and faults_before >= 0 else -1)
    return samples


def _fraction(runs: int, repeats: int, spent_ns: int, budget_ns: int) -> float:
    """How far :func:`measure` is: the lesser of its two targets (runs, time) decides."""
    by_runs = min(runs / repeats, 1.0)
    by_time = min(spent_ns / budget_ns, 1.0) if budget_ns > 0 else 1.0
    return min(by_runs, by_time)


# ---------------------------------------------------------------------------------------------
# A steady state: the allocator, page faults, and when a measurement is not to be trusted

#: glibc ``mallopt`` parameters (``<malloc.h>``) and the values the profiler sets.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
STEADY_MMAP_THRESHOLD = 64 * 1024 * 1024
STEADY_TRIM_THRESHOLD = 128 * 1024 * 1024

_steady_state: str | None = None


def steady_malloc(enable: bool = True) -> str:
    """Keep freed memory in the process, so that every run reuses the same pages.

    By default glibc serves blocks above a (dynamic) threshold with ``mmap`` and gives them
    back at ``free``, and trims the heap top above another; a forward pass that allocates
    tens of MB of activations then takes thousands of minor page faults on every run (seen:
    2,500-4,000 per run of v3-large, +20-40% latency). Raising ``M_MMAP_THRESHOLD`` to 64 MiB
    and ``M_TRIM_THRESHOLD`` to 128 MiB (``mallopt``, what the environment variables
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` do at start-up) keeps them mapped.
    The setting holds for the rest of the process (glibc has no way to read it back).

    Args:
        enable: ``False`` leaves the allocator as it is (``--no-steady-malloc``).

    Returns:
        What is in effect, for the environment record: ``"glibc mallopt mmap_threshold=64MiB
        trim_threshold=128MiB"``, ``"default (off)"``, or why nothing could be done (not glibc).
    """
    global _steady_state
    if not enable:
        return _steady_state or "default (off)"
    if _steady_state is not None:
        return _steady_state
    libc = _glibc()
    if libc is None:
        return "default (not glibc: no mallopt, left as is)"
    ok = (libc.mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD) == 1
          and libc.mallopt(M_TRIM_THRESHOLD, STEADY_TRIM_THRESHOLD) == 1)
    if not ok:
        return "default (mallopt refused the thresholds)"
    _steady_state = (f"glibc mallopt mmap_threshold={STEADY_MMAP_THRESHOLD >> 20}MiB "
                     f"trim_threshold={STEADY_TRIM_THRESHOLD >> 20}MiB")
    return _steady_state


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc and has ``mallopt``, else ``None``."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def malloc_env() -> dict[str, str]:
    """glibc tunables given through the environment (they apply from process start)."""
    return {k: v for k, v in os.environ.items()
            if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}


def minor_faults() -> int:
    """Minor page faults of this process so far (``getrusage``), or -1 where unavailable."""
    try:
        import resource
    except ImportError:  # not on Windows
        return -1
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


#: A measurement is called unstable above these (docs/profiling.md, "A busy machine").
UNSTABLE_P90_RATIO = 1.5
UNSTABLE_IQR_RATIO = 0.25


def instability(stats: TimingStats) -> str | None:
    """Why ``stats`` should not be trusted, or ``None``: p90 above 1.5 x the median, p10
    below median / 1.5 (runs fall in two groups), or an IQR above 25% of the median (the signs
    of a thread waiting for a core another process holds)."""
    if stats.median_ms <= 0:
        return None
    p90 = stats.p90_ms / stats.median_ms
    iqr = stats.iqr_ms / stats.median_ms
    reasons = []
    if stats.p10_ms > 0 and stats.median_ms / stats.p10_ms > UNSTABLE_P90_RATIO:
        reasons.append(f"p10 is {stats.p10_ms / stats.median_ms:.2f}x the median (bimodal)")
    if p90 > UNSTABLE_P90_RATIO:
        reasons.append(f"p90 is {p90:.2f}x the median")
    if iqr > UNSTABLE_IQR_RATIO:
        reasons.append(f"the IQR is {iqr:.0%} of the median")
    return " and ".join(reasons) if reasons else None


def instability_advice(reason: str, threads: int | None, cpus: int | None) -> str:
    """The one-line warning for an unstable measurement, with what to do about it: fewer
    threads where there are fewer to use; at 1 thread (nothing fewer to suggest), reading the
    quiet estimate, which contention moves least, and measuring for longer."""
    cores = f"{cpus} cores" if cpus else "its cores"
    used = f"{threads} thread{'s' if threads != 1 else ''}" if threads else "torch's default"
    head = (f"unstable measurement ({reason}): another process is probably competing for "
            f"the CPU; this run used {used} on a machine with {cores}. ")
    if threads == 1:
        return head + (f"At 1 thread there is no fewer to use: read the quiet estimate "
                       f"({QUIET_STATISTIC}), which contention moves least, and measure for "
                       f"longer (--min-time, --repeats)")
    return head + ("Use --threads below the number of idle cores (e.g. 1) and compare p10/p90, "
                   "not only the median")


def cpu_name() -> str:
    """This machine's CPU model (``/proc/cpuinfo`` on Linux, else what ``platform`` knows), for
    the environment records of measurements and device profiles."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"
