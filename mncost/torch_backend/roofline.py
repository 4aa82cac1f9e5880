"""Measure this machine's roofline (``mncost roofline-measure``): peak MAC rate from a large
float32 GEMM and memory bandwidth from a large copy, with a fixed thread count.

* peak: ``torch.mm`` of two N x N float32 matrices, N^3 MACs; best of the repeats (a roof is
  the best the machine does, not its typical run). With ``dtype="int8"``: ONNX Runtime's
  integer GEMM, a ``MatMulInteger`` (uint8 x int8 -> int32, the u8s8 kernel its QLinearConv
  and QGemm use; VNNI where the CPU has it) of a model built in memory, run by a session
  with ``threads`` intra-op threads.
* bandwidth: ``dst.copy_(src)`` of a buffer far larger than the caches; it reads and writes
  every byte, so 2 x size bytes moved; best of the repeats.

Both run under the same ``torch.set_num_threads`` as ``profile --threads`` should use, so the
per-layer comparison is made on the same roof. On a loaded machine both figures are low.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

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


#: CPU flags of the int8 dot-product instructions ONNX Runtime's u8s8 GEMM uses.
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The first CPU's flags in /proc/cpuinfo ([] where it is not readable)."""
    try:
        return next((line.split(":", 1)[1].split() for line in
                     Path(cpuinfo).read_text().splitlines() if line.startswith("flags")), [])
    except OSError:
        return []


def vnni_flags(cpuinfo: str = "/proc/cpuinfo") -> list[str]:
    """The :data:`VNNI_FLAGS` this CPU has ([] where /proc/cpuinfo is not readable)."""
    flags = cpu_flags(cpuinfo)
    return [f for f in VNNI_FLAGS if f in flags]


def int8_gemm(size: int, threads: int) -> tuple[Any, dict[str, Any]]:
    """A session running ``MatMulInteger`` of an N x N uint8 input by an N x N int8 weight,
    and its feed."""
    from .onnx_runtime import require_ort

    ort = require_ort()
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(
        rng.integers(-128, 128, (size, size), dtype=np.int8), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B"], ["Y"])], "int8_gemm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [size, size])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), so,
                                   providers=["CPUExecutionProvider"])
    feed = {"A": rng.integers(0, 256, (size, size), dtype=np.uint8)}
    return session, feed


def measure_device(threads: int = 1, size: int = 1024, copy_mib: int = 256,
                   repeats: int = 10, dtype: str = "float32") -> Device:
    """Peak GMAC/s and bandwidth GB/s of this CPU (module docstring)."""
    with fixed_threads(threads) as used, torch.inference_mode():
        if dtype == "int8":
            session, feed = int8_gemm(size, used)
            gemm_s = _best(lambda: session.run(None, feed), repeats)
        else:
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
    if dtype == "int8":
        import onnxruntime

        gemm = {"dtype": "int8",
                "gemm": f"onnxruntime MatMulInteger {size}x{size} uint8 x int8 -> int32, "
                        f"best of {repeats}", "onnxruntime": onnxruntime.__version__,
                "vnni": vnni_flags()}
    else:
        gemm = {"gemm": f"torch.mm {size}x{size} float32, best of {repeats}"}
    return make_device(peak, bandwidth, source="measured", details={
        "threads": used, **gemm,
        "gemm_s": gemm_s, "copy": f"copy_ of {copy_mib} MiB float32 (read + write), best of "
                                  f"{repeats}", "copy_s": copy_s,
        "torch": torch.__version__})
