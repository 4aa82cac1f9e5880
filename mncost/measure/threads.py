"""How many threads a measurement may use before they compete for the cores: the one warning
that ``profile`` (and ``calibrate``) print when the thread count leaves no core free.

Torch-free and pure apart from :func:`available_cpus`, so the rule is tested without torch.

Why (docs/profiling.md, "A busy machine"): a thread pool with as many threads as cores waits at
every layer for whichever thread the OS has descheduled to run another process; with any other
process running, timings split into a fast and a slow group (seen here: 2 threads on 2 cores,
v3-large 1.0/224 at 15.5-17.0 ms in some processes, 20.8-21.7 ms in others).
"""

from __future__ import annotations

import os


def available_cpus() -> int | None:
    """The CPUs this process may run on: its affinity mask (``os.sched_getaffinity``, which
    ``taskset`` and container CPU sets narrow) where the OS has one, else ``os.cpu_count()``;
    ``None`` where neither is known."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is not None:
        try:
            return len(getaffinity(0)) or None
        except OSError:
            pass
    return os.cpu_count()


def thread_warning(threads: int | None, cpus: int | None) -> str | None:
    """The warning (without the ``mncost: warning: `` prefix) for measuring with ``threads``
    intra-op threads on ``cpus`` available CPUs, or ``None`` when a core is left free.

    It fires when ``threads >= cpus``: the pool then needs every core, so any other process
    makes it wait and the runs come out bimodal. One thread never warns (there is nothing
    fewer to suggest), nor does an unknown count.

    Args:
        threads: the intra-op thread count the measurement uses.
        cpus: the CPUs available to it (:func:`available_cpus`).
    """
    if threads is None or cpus is None or threads <= 1 or threads < cpus:
        return None
    fewer = max(1, cpus - 1)
    cores = f"{cpus} available CPU core{'s' if cpus != 1 else ''}"
    return (f"{threads} threads on {cores}: the thread pool needs every core, so any other "
            f"process makes it wait and the timings come out contended and bimodal; use fewer "
            f"threads (e.g. --threads {fewer})")
