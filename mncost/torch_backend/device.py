"""Where and how a measurement runs: the device, the dtype, the clock and the thread count."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping

import torch

from ..errors import InputError
from ..measure.environment import Environment, Host
from ..measure.profile_options import DTYPE_NAMES, ProfileOptions
from ..measure.timing import CPU_CLOCK, Clock, cpu_name

#: ``--dtype`` names -> torch dtypes. Whether the device runs one is found by running it.
DTYPES: Mapping[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPE_NAMES}


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a usable device.

    Raises:
        InputError: for another name, or CUDA where no GPU (or no such GPU) is available.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise InputError(f"unsupported device {name!r}; use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is available to torch "
                         f"{torch.__version__}")
    index = device.index if device.index is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise InputError(f"--device {name}: there are only {count} CUDA device(s)")
    return torch.device("cuda", index)


def check_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype of ``name``, rejecting what the device is known not to run (bfloat16 on
    a GPU without it); other gaps show up at the first run (:func:`_translate`)."""
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}")
    if device.type == "cuda" and name == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise InputError(f"dtype bfloat16 is not supported on {device_name(device)}")
    return DTYPES[name]


def clock_for(device: torch.device) -> Clock:
    """The clock for ``device``: plain ``perf_counter_ns`` on a CPU; on CUDA the same clock
    read only after ``torch.cuda.synchronize(device)``, so no interval ends at an
    asynchronous kernel launch."""
    if device.type == "cuda":
        return Clock("time.perf_counter_ns after torch.cuda.synchronize",
                     sync=lambda: torch.cuda.synchronize(device))
    return CPU_CLOCK


@contextlib.contextmanager
def fixed_threads(threads: int | None) -> Iterator[int]:
    """Set torch's intra-op thread count (``None``: keep it) and restore it on exit.

    Yields:
        The thread count in effect.
    """
    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name (for the environment record and errors)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def describe_environment(device: torch.device, threads: int, options: ProfileOptions,
                         clock: Clock) -> dict[str, Any]:
    """What a result needs beside it to be compared later: the :class:`Environment` record
    with torch's part filled in, as written (the caller adds the allocator setting)."""
    settings: dict[str, Any] = {
        "device": str(device),
        "interop_threads": torch.get_num_interop_threads(),
        "channels_last": options.channels_last,
        "fuse_bn": options.fuse_bn,
        "compile": options.compile,
        "warmup": options.warmup,
        "repeats": options.repeats,
        "min_time_s": options.min_time_s,
        "clock": clock.name,
        "inference_mode": True,
    }
    if device.type == "cuda":
        settings["cuda"] = torch.version.cuda
        settings["cudnn"] = torch.backends.cudnn.version()
        settings["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    return Environment(options.runtime, threads, options.dtype, options.batch,
                       versions={"torch": torch.__version__}, settings=settings,
                       host=Host.here(device_name(device))).to_dict()
