"""Runtimes that run a built network, for calibration and ``profile --runtime``.

A runner holds one prepared model and its input and offers two things: ``run()`` (one plain
forward pass, to be timed by :func:`mncost.timing.measure`) and ``layer_runs(warmup, runs)``
(instrumented runs: per-layer times in ns, keyed by the engine's layer names, and the
instrumented end-to-end times). ``eager`` is PyTorch's eager mode (:class:`EagerRunner`); the
ONNX Runtime runner lives in :mod:`.onnx_runtime`.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..measure.timing import CPU_CLOCK, measure
from ..network.layers import Network
from .profile import LayerTimer, ProfileOptions, fixed_threads, prepare

#: runtime name -> ``(network, threads) -> runner``; filled lazily for optional runtimes.
RUNTIME_NAMES = ("eager", "onnxruntime")


class EagerRunner:
    """PyTorch eager mode, float32, batch 1, under ``inference_mode`` with ``threads``."""

    name = "eager"

    def __init__(self, network: Network, threads: int) -> None:
        self.network = network
        self.threads = threads
        with torch.inference_mode():
            self.model, self.x = prepare(network, ProfileOptions(threads=threads),
                                         torch.device("cpu"), torch.float32)

    def run(self) -> Any:
        with torch.inference_mode():
            return self.model(self.x)

    def timed(self, warmup: int, repeats: int, faults: list[int] | None = None) -> list[int]:
        with fixed_threads(self.threads), torch.inference_mode():
            return measure(lambda: self.model(self.x), CPU_CLOCK, warmup=warmup,
                           repeats=repeats, faults=faults)

    def layer_runs(self, warmup: int, runs: int) -> tuple[dict[str, list[int]], list[int]]:
        with fixed_threads(self.threads), torch.inference_mode(), \
                LayerTimer(self.model, self.model.layer_names, CPU_CLOCK) as timer:
            instrumented = measure(lambda: self.model(self.x), CPU_CLOCK, warmup=warmup,
                                   repeats=runs)
            return timer.last(len(instrumented)), instrumented

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}


def runner_factory(runtime: str) -> Callable[[Network, int], Any]:
    """The runner class of ``runtime`` (``onnxruntime`` needs the ``onnx`` extra)."""
    if runtime == "eager":
        return EagerRunner
    if runtime == "onnxruntime":
        from .onnx_runtime import OrtRunner

        return OrtRunner
    raise ValueError(f"unknown runtime {runtime!r}")
