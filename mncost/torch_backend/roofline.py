"""Measure this machine's roofline (``mncost roofline-measure``): peak MAC rate from a large
float32 GEMM and memory bandwidth from a large copy, with a fixed thread count.

* peak: ``torch.mm`` of two N x N float32 matrices, N^3 MACs; best of the repeats (a roof is
  the best the machine does, not its typical run).
* bandwidth: ``dst.copy_(src)`` of a buffer far larger than the caches; it reads and writes
  every byte, so 2 x size bytes moved; best of the repeats.

Both run under the same ``torch.set_num_threads`` as ``profile --threads`` should use, so the
per-layer comparison is made on the same roof. On a loaded machine both figures are low.
"""

from __future__ import annotations

import time

import torch

from ..costs.roofline import Device, make_device
from .device import fixed_threads


def _best(run, repeats: int) -> float:
    run()                                     # warm-up: page faults, thread pool start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - start) / 1e9)
    return best


def measure_device(threads: int = 1, size: int = 1024, copy_mib: int = 256,
                   repeats: int = 10) -> Device:
    """Peak GMAC/s and bandwidth GB/s of this CPU (module docstring)."""
    with fixed_threads(threads) as used, torch.inference_mode():
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=generator)
        b = torch.randn(size, size, generator=generator)
        gemm_s = _best(lambda: torch.mm(a, b), repeats)
        n = copy_mib * 2 ** 20 // 4
        src = torch.ones(n)
        dst = torch.empty(n)
        copy_s = _best(lambda: dst.copy_(src), repeats)
    peak = size ** 3 / gemm_s / 1e9
    bandwidth = 2 * n * 4 / copy_s / 1e9
    return make_device(peak, bandwidth, source="measured", details={
        "threads": used, "gemm": f"torch.mm {size}x{size} float32, best of {repeats}",
        "gemm_s": gemm_s, "copy": f"copy_ of {copy_mib} MiB float32 (read + write), best of "
                                  f"{repeats}", "copy_s": copy_s,
        "torch": torch.__version__})
