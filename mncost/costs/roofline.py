"""The roofline: a device's peak MAC rate and memory bandwidth, and per layer the time bound
``max(MACs / peak, bytes moved / bandwidth)`` (docs/memory.md, "Roofline").

A device comes from the user (``--peak-gmacs``, ``--bandwidth-gbs``) or from a JSON file that
``mncost roofline-measure`` writes (:mod:`mncost.torch_backend.roofline`). Pure: no torch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError
from ..files.inputfile import Refused, load_json, read_limited
from ..limits import MAX_YAML_BYTES
from .memory import Traffic

#: Schema of a roofline file (``mncost roofline-measure -o``); a latency device profile
#: (``mncost calibrate``) is ``mncost.device/1``, a different file.
ROOFLINE_SCHEMA = "mncost.roofline/1"


@dataclass(frozen=True)
class Device:
    """A roofline: peak GMAC/s (1e9 MAC/s) and bandwidth in GB/s (1e9 bytes/s)."""

    peak_gmacs: float
    bandwidth_gbs: float
    source: str = "given"
    details: dict[str, Any] | None = None

    @property
    def ridge(self) -> float:
        """The ridge point, MACs per byte: below it a layer is memory-bound."""
        return self.peak_gmacs / self.bandwidth_gbs

    def to_dict(self) -> dict[str, Any]:
        return {"schema": ROOFLINE_SCHEMA, **asdict(self), "ridge_macs_per_byte": self.ridge}


def _positive(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0 < value < math.inf):   # comparisons: false for nan, exact for a huge int
        raise InputError(f"{what} must be a number > 0, got {value!r:.40}")
    return float(value)


def make_device(peak_gmacs: object, bandwidth_gbs: object, source: str = "given",
                details: dict[str, Any] | None = None) -> Device:
    return Device(_positive(peak_gmacs, "peak GMAC/s"),
                  _positive(bandwidth_gbs, "bandwidth GB/s"), source, details)


def load_device(path: str) -> Device:
    """Read a device file (``mncost roofline-measure -o FILE``, or written by hand:
    ``{"peak_gmacs": 50, "bandwidth_gbs": 10}``)."""
    try:   # a device file is a few lines: the spec size limit is plenty
        data = load_json(read_limited(path, MAX_YAML_BYTES))
    except OSError as exc:
        raise InputError(f"cannot read device file {path}: {exc.strerror or exc}") from None
    except Refused as exc:
        raise InputError(f"{path}: not a valid device file: {exc}") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema not in (None, ROOFLINE_SCHEMA):
        hint = (" (a latency profile from `mncost calibrate`; --roofline takes a file from "
                "`mncost roofline-measure`)" if schema == "mncost.device/1" else "")
        raise InputError(f"{path}: schema {str(schema)[:40]!r} is not {ROOFLINE_SCHEMA!r}{hint}")
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


def fraction_of_roof(traffic: Traffic, device: Device, measured_s: float) -> float | None:
    """Roofline time bound / measured time: 1 = at the roof."""
    return bound(traffic, device).time_s / measured_s if measured_s > 0 else None


#: Element sizes of profile's dtypes (bfloat16 is 2 bytes like float16; int8 as ONNX Runtime's
#: QDQ quantization holds it, :mod:`.int8`).
_PROFILE_DTYPE_BYTES = {"float32": "float32", "float16": "float16", "bfloat16": "float16",
                        "int8": "int8"}


def join_profile(data: dict[str, Any], network: Any, device: Device) -> dict[str, Any]:
    """Add the roofline to ``profile --per-layer`` data: per layer the bytes moved, intensity,
    time bound (for the whole batch), bound and the fraction of the roof reached (time bound /
    measured median); by kind the sums. Returns new data (``roofline`` key added)."""
    from .memory import network_traffic

    per_layer = data.get("per_layer")
    if per_layer is None:
        raise InputError("--roofline needs --per-layer (measured time per layer)")
    dtype = _PROFILE_DTYPE_BYTES.get(data["options"]["dtype"], "float32")
    batch = data["options"]["batch"]
    layers, kinds = [], {}
    by_name = dict(zip((la.name for la in network.layers), network_traffic(network, dtype)))
    for row in per_layer["layers"]:
        t = by_name[row["name"]]
        t = Traffic(t.input_bytes * batch, t.weight_bytes, t.output_bytes * batch,
                    t.macs * batch)
        b = bound(t, device)
        measured_s = row["median_ms"] / 1e3
        entry = {"name": row["name"], "kind": row["kind"], "bytes_moved": t.bytes_moved,
                 "intensity": t.intensity, "time_bound_ms": b.time_s * 1e3, "bound": b.bound,
                 "memory_over_compute": b.memory_over_compute if t.macs else None,
                 "median_ms": row["median_ms"],
                 "achieved_gmacs": t.macs / measured_s / 1e9 if measured_s > 0 else None,
                 "roof_fraction": b.time_s / measured_s if measured_s > 0 else None}
        layers.append(entry)
        k = kinds.setdefault(row["kind"], {"kind": row["kind"], "layers": 0, "macs": 0,
                                           "bytes_moved": 0, "time_bound_ms": 0.0,
                                           "median_ms": 0.0, "memory_bound_layers": 0})
        k["layers"] += 1
        k["macs"] += t.macs
        k["bytes_moved"] += t.bytes_moved
        k["time_bound_ms"] += entry["time_bound_ms"]
        k["median_ms"] += row["median_ms"]
        k["memory_bound_layers"] += b.bound == "memory"
    for k in kinds.values():
        k["intensity"] = k["macs"] / k["bytes_moved"] if k["bytes_moved"] else 0.0
        k["roof_fraction"] = k["time_bound_ms"] / k["median_ms"] if k["median_ms"] else None
    return {**data, "roofline": {"device": device.to_dict(), "dtype": dtype,
                                 "by_kind": list(kinds.values()), "layers": layers}}
