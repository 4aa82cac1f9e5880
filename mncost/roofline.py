"""The roofline: a device's peak MAC rate and memory bandwidth, and per layer the time bound
``max(MACs / peak, bytes moved / bandwidth)`` (README, "Roofline").

A device comes from the user (``--peak-gmacs``, ``--bandwidth-gbs``) or from a JSON file that
``mncost roofline-measure`` writes (:mod:`mncost.torch_backend.roofline`). Pure: no torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

from .errors import InputError
from .memory import Traffic

DEVICE_SCHEMA = "mncost.device/1"


@dataclass(frozen=True)
class Device:
    """A roofline: peak GMAC/s (1e9 MAC/s) and bandwidth in GB/s (1e9 bytes/s)."""

    peak_gmacs: float
    bandwidth_gbs: float
    source: str = "given"
    details: Optional[dict[str, Any]] = None

    @property
    def ridge(self) -> float:
        """The ridge point, MACs per byte: below it a layer is memory-bound."""
        return self.peak_gmacs / self.bandwidth_gbs

    def to_dict(self) -> dict[str, Any]:
        return {"schema": DEVICE_SCHEMA, **asdict(self), "ridge_macs_per_byte": self.ridge}


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
            value) or value <= 0:
        raise InputError(f"{what} must be a number > 0, got {value!r}")
    return float(value)


def make_device(peak_gmacs: object, bandwidth_gbs: object, source: str = "given",
                details: Optional[dict[str, Any]] = None) -> Device:
    return Device(_positive(peak_gmacs, "peak GMAC/s"),
                  _positive(bandwidth_gbs, "bandwidth GB/s"), source, details)


def load_device(path: str) -> Device:
    """Read a device file (``mncost roofline-measure -o FILE``, or written by hand:
    ``{"peak_gmacs": 50, "bandwidth_gbs": 10}``)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise InputError(f"cannot read device file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "peak_gmacs" not in data or "bandwidth_gbs" not in data:
        raise InputError(f"{path}: a device file needs peak_gmacs and bandwidth_gbs")
    return make_device(data["peak_gmacs"], data["bandwidth_gbs"],
                       str(data.get("source", path)), data.get("details"))


@dataclass(frozen=True)
class Bound:
    """One layer (or a sum) on the roofline.

    Attributes:
        compute_s: MACs / peak.
        memory_s: bytes moved / bandwidth.
    """

    compute_s: float
    memory_s: float

    @property
    def time_s(self) -> float:
        """The roofline time bound: the larger of the two."""
        return max(self.compute_s, self.memory_s)

    @property
    def bound(self) -> str:
        return "memory" if self.memory_s > self.compute_s else "compute"

    @property
    def memory_over_compute(self) -> float:
        """How many times the memory time exceeds the compute time (> 1: memory-bound)."""
        return self.memory_s / self.compute_s if self.compute_s else math.inf


def bound(traffic: Traffic, device: Device) -> Bound:
    return Bound(traffic.macs / (device.peak_gmacs * 1e9),
                 traffic.bytes_moved / (device.bandwidth_gbs * 1e9))


def fraction_of_roof(traffic: Traffic, device: Device, measured_s: float) -> Optional[float]:
    """Roofline time bound / measured time: 1 = at the roof."""
    return bound(traffic, device).time_s / measured_s if measured_s > 0 else None
