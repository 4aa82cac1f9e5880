"""The busy-machine load of issue 23: two neighbours, each 20 ms busy then 20 ms asleep.

    python benchmarks/load.py --seconds 600        # run the load in the foreground
    python benchmarks/load.py --only copy          # the cache / memory neighbour alone

* ``spin``: a loop spinning on the CPU (a process that competes for a core);
* ``copy``: a loop copying a 256 MB array chunk by chunk (a neighbour that loads the caches and
  the memory bus, as a host's other tenants do).

Together they stand for "a laptop with a browser open". Other benchmarks import
:func:`neighbours` and run their measurements inside it. Not a test: it only makes load.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import time
from typing import Iterator

BUSY_S, IDLE_S = 0.020, 0.020
COPY_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 4 * 1024 * 1024
KINDS = ("spin", "copy")


def _spin(stop: "mp.synchronize.Event") -> None:
    while not stop.is_set():
        end = time.perf_counter() + BUSY_S
        while time.perf_counter() < end:
            pass
        time.sleep(IDLE_S)


def _copy(stop: "mp.synchronize.Event") -> None:
    import numpy as np

    src = np.ones(COPY_BYTES, dtype=np.uint8)
    dst = np.empty_like(src)
    at = 0
    while not stop.is_set():
        end = time.perf_counter() + BUSY_S
        while time.perf_counter() < end:
            dst[at:at + CHUNK_BYTES] = src[at:at + CHUNK_BYTES]
            at = (at + CHUNK_BYTES) % COPY_BYTES
        time.sleep(IDLE_S)


@contextlib.contextmanager
def neighbours(kinds: tuple[str, ...] = KINDS) -> Iterator[list[str]]:
    """Run the chosen neighbours (``spin``, ``copy``) in their own processes for the duration
    of the ``with`` block; yields their names."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    targets = {"spin": _spin, "copy": _copy}
    procs = [ctx.Process(target=targets[k], args=(stop,), daemon=True, name=f"load-{k}")
             for k in kinds]
    for p in procs:
        p.start()
    try:
        time.sleep(0.5)            # let the copier allocate and touch its arrays
        yield list(kinds)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--only", choices=KINDS, default=None)
    args = parser.parse_args()
    with neighbours((args.only,) if args.only else KINDS) as running:
        print(f"load running ({', '.join(running)}) for {args.seconds:g} s; Ctrl-C stops it",
              flush=True)
        try:
            time.sleep(args.seconds)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
