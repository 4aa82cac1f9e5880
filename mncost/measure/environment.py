"""Where and how a measurement ran: the one environment record of profiles (``mncost profile``,
``sweep --latency``) and device profiles (``mncost calibrate``), and the machine fields
``predict`` compares before trusting a device profile.

Torch-free: the host part is read here (:meth:`Host.here`); the torch back end fills in the
runtime's versions and how the runs were made (:func:`mncost.torch_backend.device.
describe_environment`, :func:`mncost.torch_backend.calibrate.environment`).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import __version__
from .timing import cpu_name, malloc_env

#: The fields that say which machine a measurement ran on: a device profile made on another
#: machine predicts for that machine (:func:`Host.differences`).
MACHINE_FIELDS = ("device_name", "cpu_count", "machine")


@dataclass(frozen=True)
class Host:
    """The machine and the Python that ran a measurement."""

    device_name: str
    cpu_count: int | None
    machine: str
    platform: str
    python: str
    mncost: str = __version__

    @classmethod
    def here(cls, device_name: str | None = None) -> "Host":
        """This machine; ``device_name`` a GPU's name (default: the CPU's model name)."""
        return cls(device_name if device_name is not None else cpu_name(), os.cpu_count(),
                   platform.machine(), platform.platform(), platform.python_version())

    def differences(self, recorded: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
        """``(field, recorded, here)`` for each of :data:`MACHINE_FIELDS` that ``recorded``
        (an environment as written) holds with another value than this host."""
        here = {"device_name": self.device_name, "cpu_count": self.cpu_count,
                "machine": self.machine}
        return [(key, recorded[key], here[key]) for key in MACHINE_FIELDS
                if key in recorded and recorded[key] != here[key]]


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (``None`` where the OS has none)."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


@dataclass(frozen=True)
class Environment:
    """Where and how a measurement ran (its JSON shape: :meth:`to_dict`).

    Attributes:
        runtime: one of :data:`mncost.measure.profile_options.RUNTIMES`.
        threads: intra-op threads used.
        dtype, batch: what was run.
        versions: the runtime's packages (``torch``, ``onnxruntime``, ``onnx``, ``opset``).
        settings: how the runs were made (device, clock, warm-ups, memory format, ...), in
            the order they are written.
        malloc: the allocator setting (:func:`mncost.measure.timing.steady_malloc`).
        malloc_env: glibc tunables given through the environment.
        load: the system load around the measurement (device profiles: ``load_average`` at
            the start, ``load_average_end`` at the end).
        host: the machine.
    """

    runtime: str
    threads: int | None
    dtype: str = "float32"
    batch: int = 1
    versions: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    malloc: str | None = None
    malloc_env: Any = field(default_factory=malloc_env)
    load: Mapping[str, Any] = field(default_factory=dict)
    host: Host = field(default_factory=Host.here)

    def to_dict(self) -> dict[str, Any]:
        h = self.host
        return {"mncost": h.mncost, "python": h.python, "platform": h.platform,
                "machine": h.machine, "device_name": h.device_name, "cpu_count": h.cpu_count,
                "runtime": self.runtime, **self.versions, "threads": self.threads,
                "dtype": self.dtype, "batch": self.batch, **self.settings,
                "malloc": self.malloc, "malloc_env": self.malloc_env, **self.load}
