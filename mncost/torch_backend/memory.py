"""Measured peak activation memory of the built model, beside the analytic ``naive`` schedule.

CPU: a :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees every tensor an op
returns during one forward pass; each new storage is counted from its creation until the last
Python reference to it dies (a weakref finalizer), and the peak of the running sum is the peak
of live tensors, as an eager framework holds them. Buffers that kernels allocate and free
inside one op (im2col, oneDNN scratch) are below the dispatcher and not seen: the naive schedule
does not count them either. CUDA: ``torch.cuda.max_memory_allocated`` around the pass (which
does include kernel workspaces), minus what was allocated before (weights, input).

Two builds are measured: **as built** (conv, batch norm and activation are separate modules,
so batch norm and each out-of-place activation make one more output-sized tensor while the
conv's output is alive) and **folded** (batch norm folded into the conv, activations in
place: one tensor per layer, the naive schedule's assumption).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..costs.memory import MemoryReport, dtype_bytes, peak_memory
from ..network.layers import Network
from .builder import MobileNet, build
from .device import resolve_device
from .prepare import fuse_batch_norm

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16}


class LiveTensors(TorchDispatchMode):
    """Counts the bytes of storages created by ops while they are referenced from Python."""

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._storages: dict[int, list[int]] = {}      # data_ptr -> [nbytes, references]
        self._tensors: set[int] = set()

    def track(self, t: torch.Tensor) -> None:
        if id(t) in self._tensors:
            return
        storage = t.untyped_storage()
        ptr, nbytes = storage.data_ptr(), storage.nbytes()
        entry = self._storages.get(ptr)
        if entry is None:
            self._storages[ptr] = [nbytes, 1]
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        else:
            entry[1] += 1
        self._tensors.add(id(t))
        weakref.finalize(t, self._release, id(t), ptr)

    def _release(self, tid: int, ptr: int) -> None:
        self._tensors.discard(tid)
        entry = self._storages.get(ptr)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self._storages[ptr]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                self.track(t)
        return out


def fold_for_inference(model: MobileNet) -> MobileNet:
    """Batch norm folded into the conv, activations in place (where torch has ``inplace``)."""
    fuse_batch_norm(model)
    for module in model.modules():
        if hasattr(module, "inplace") and isinstance(getattr(module, "inplace"), bool):
            module.inplace = True
    return model


def measure_peak(network: Network, folded: bool, dtype: str = "float32",
                 device: str = "cpu") -> int:
    """Peak bytes of live activations in one forward pass (module docstring), batch 1."""
    device = str(resolve_device(device))
    model = build(network)
    if folded:
        fold_for_inference(model)
    torch_dtype = _TORCH_DTYPES[dtype]
    model = model.to(device=device, dtype=torch_dtype)
    shape = (1, *(network.input_shape.c, network.input_shape.h, network.input_shape.w))
    with torch.inference_mode():
        if device.startswith("cuda"):
            x = torch.randn(shape, device=device, dtype=torch_dtype)
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device) - x.numel() * x.element_size()
            torch.cuda.reset_peak_memory_stats(device)
            model(x)
            torch.cuda.synchronize(device)
            return torch.cuda.max_memory_allocated(device) - before
        mode = LiveTensors()
        with mode:
            # Made inside the mode so the input is counted; forward(x) holds it to the end.
            out = model(torch.randn(shape, dtype=torch_dtype))
        del out
        return mode.peak


def as_built_prediction(network: Network, dtype: str) -> int:
    """The naive schedule plus one output-sized tensor at every layer followed by batch norm
    or an activation (the unfused build's conv -> bn -> act hand-over)."""
    size = dtype_bytes(dtype)
    steps = peak_memory(network, "naive", dtype).steps
    return max(step.live_bytes + (size * layer.out_shape.numel
                                  if layer.bn or layer.act != "none" else 0)
               for step, layer in zip(steps, network.layers))


def measured_dict(network: Network, dtype: str, report: MemoryReport,
                  device: str = "cpu") -> dict[str, Any]:
    """Both builds measured, beside the naive figure, with the difference explained."""
    if dtype not in _TORCH_DTYPES:
        from ..errors import InputError
        raise InputError(f"--measure runs float32 or float16, not {dtype}")
    device = str(resolve_device(device))
    naive = report.peaks["naive"].bytes
    runs = [{"label": "folded (BN in conv, in-place act)", "folded": True,
             "bytes": measure_peak(network, True, dtype, device)},
            {"label": "as built (conv, BN, act)", "folded": False,
             "bytes": measure_peak(network, False, dtype, device)}]
    predicted = as_built_prediction(network, dtype)
    notes = [
        f"naive schedule: {naive:,} B at {report.peaks['naive'].step.name}.",
        "folded: one tensor per layer, as the naive schedule assumes (the live-tensor count "
        "sees what ops return, not kernels' scratch buffers).",
        f"as built: batch norm and an out-of-place activation each make a new tensor while "
        f"the one before is alive, so each such layer holds one more output: max over layers "
        f"of (naive live bytes + output bytes) = {predicted:,} B.",
    ]
    return {"device": device, "method": "torch dispatch mode, live tensor storages"
            if not device.startswith("cuda") else "torch.cuda.max_memory_allocated",
            "naive_bytes": naive, "as_built_predicted_bytes": predicted, "runs": runs,
            "notes": notes}
