"""Thread counts that make a timing bimodal: one warning for ``profile`` and ``calibrate``."""

from __future__ import annotations

from .environment import available_cpus


def thread_warning(threads: int | None, cpus: int | None = None) -> str | None:
    """The warning for timing with ``threads`` on ``cpus`` available CPUs (this process's,
    by default), or ``None``. With as many threads as cores, every neighbour (the OS, a
    browser, another tenant of the host) takes a core from one of them and the whole run
    waits for it: timings fall in two groups (seen here on 2 cores: 12.9 and 24.0 ms in two
    runs in a row)."""
    cpus = available_cpus() if cpus is None else cpus
    if threads is None or cpus is None or threads < cpus:
        return None
    return (f"{threads} threads on {cpus} available cores: any other process takes a core "
            "from one of them, so timings may fall in two groups; use fewer threads than "
            "idle cores (e.g. --threads 1)")
