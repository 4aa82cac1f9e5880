"""Device profiles (``mncost.device/1``): what ``mncost calibrate`` writes, read and validated
like specs (README, "Device profile").

A bad file is one line naming the file and the field (``FILE: FIELD: reason``), exit 2 on the
CLI. The fitted model inside is a :class:`mncost.latency_model.LatencyModel`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..costs.kinds import KINDS
from ..errors import InputError
from ..files.inputfile import Refused, check_json_shape, read_limited, unique_keys
from ..network.layers import Network
from ..spec.values import ACTIVATIONS
from .model import (
    ACTIVATION_COEFFICIENTS,
    COEFFICIENTS,
    PLAIN,
    STEM,
    ChannelLayout,
    LatencyModel,
    network_macs,
)

DEVICE_SCHEMA = "mncost.device/1"
RUNTIMES = ("eager", "onnxruntime")
#: Largest device profile read (a calibration with every layer's data is a few hundred KB).
MAX_DEVICE_BYTES = 64 * 1024 * 1024

@dataclass(frozen=True)
class DeviceProfile:
    """A calibrated device: where, how, the model, and what it was fitted on."""

    path: str
    runtime: str
    threads: int
    environment: Mapping[str, Any]
    model: LatencyModel
    coverage: Mapping[str, Any]
    data: Mapping[str, Any] = field(default_factory=dict)

    def outside(self, network: Network) -> list[str]:
        """Why ``network`` lies outside what the calibration covered ([] if it does not)."""
        cov, notes = self.coverage, []
        lo, hi = cov["alpha"]
        if not lo <= network.alpha <= hi:
            notes.append(f"alpha {network.alpha:g} is outside the calibrated {lo:g}-{hi:g}")
        lo, hi = cov["resolution"]
        if min(network.resolution) < lo or max(network.resolution) > hi:
            notes.append(f"resolution {network.resolution[0]}x{network.resolution[1]} is "
                         f"outside the calibrated {lo}-{hi}")
        lo, hi = cov["macs"]
        macs = network_macs(network)
        if not lo <= macs <= hi:
            notes.append(f"{macs:,} MACs is outside the calibrated {lo:,}-{hi:,}")
        missing = sorted({l.kind for l in network.layers} - set(self.model.kinds))
        if missing:
            notes.append(f"layer kinds never calibrated (predicted as 0 ms): "
                         f"{', '.join(missing)}")
        plain = [k for k in self.model.uncalibrated(network) if PLAIN in k
                 and k.split("@")[0] in self.model.kinds]
        if plain:
            notes.append(f"kernels never calibrated, predicted with their blocked kind's "
                         f"coefficients: {', '.join(plain)}")
        return notes


def _err(path: str, where: str, reason: str) -> InputError:
    return InputError(f"{path}: {where}: {reason}")


def _number(path: str, where: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or value < minimum:
        bound = f" >= {minimum:g}" if math.isfinite(minimum) else ""
        raise _err(path, where, f"must be a finite number{bound}, got {value!r}")
    return float(value)


def _mapping(path: str, where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _err(path, where, f"must be a mapping, got {type(value).__name__}")
    return value


def _range(path: str, where: str, value: Any, integer: bool = False) -> tuple:
    if not isinstance(value, list) or len(value) != 2:
        raise _err(path, where, "must be a [min, max] pair")
    lo, hi = (_number(path, f"{where}[{i}]", v) for i, v in enumerate(value))
    if lo > hi:
        raise _err(path, where, f"min {lo:g} is above max {hi:g}")
    return (int(lo), int(hi)) if integer else (lo, hi)


def _known_variant(kernel: str, layout: bool) -> bool:
    """A kind, ``conv@stem``, or with a layout a kind's plain variant ``KIND@nchw``."""
    base, at, variant = kernel.partition("@")
    if not at:
        return True
    if "@" + variant == STEM:
        return base == "conv"
    return layout and "@" + variant == PLAIN


def _layout(path: str, doc: Any) -> ChannelLayout | None:
    """``model.layout``: absent or null (one kernel per kind), or the blocked layout rule."""
    if doc is None:
        return None
    doc = _mapping(path, "model.layout", doc)
    extra = set(doc) - {"name", "alignment", "block"}
    if extra:
        raise _err(path, f"model.layout.{sorted(extra)[0]}", "unknown field")
    if doc.get("name") != "nchwc":
        raise _err(path, "model.layout.name", f"must be 'nchwc', got {doc.get('name')!r}")
    sizes = []
    for key in ("alignment", "block"):
        value = doc.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
            raise _err(path, f"model.layout.{key}", f"must be an integer 1-1024, got {value!r}")
        sizes.append(value)
    return ChannelLayout(*sizes)


def _activations(path: str, doc: Any) -> dict[str, tuple[float, float]]:
    """``model.activations``: activation -> ``ms_per_byte``, ``ms_per_call`` (absent in a
    profile written before activations had terms of their own: none)."""
    if doc is None:
        return {}
    doc = _mapping(path, "model.activations", doc)
    out = {}
    for act, coefs in doc.items():
        where = f"model.activations.{act}"
        if act not in ACTIVATIONS or act == "none":
            raise _err(path, where, f"unknown activation (known: "
                                    f"{', '.join(a for a in ACTIVATIONS if a != 'none')})")
        coefs = _mapping(path, where, coefs)
        extra = set(coefs) - set(ACTIVATION_COEFFICIENTS)
        if extra:
            raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown coefficient")
        out[act] = tuple(_number(path, f"{where}.{c}", coefs.get(c))
                         for c in ACTIVATION_COEFFICIENTS)
    return out


def device_from_dict(doc: Any, path: str) -> DeviceProfile:
    """Validate a parsed device profile; the first problem is ``FILE: FIELD: reason``."""
    doc = _mapping(path, "top level", doc)
    if doc.get("schema") != DEVICE_SCHEMA:
        raise _err(path, "schema", f"must be {DEVICE_SCHEMA!r} (a file written by `mncost "
                                   f"calibrate`), got {doc.get('schema')!r}")
    runtime = doc.get("runtime")
    if runtime not in RUNTIMES:
        raise _err(path, "runtime", f"must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    threads = doc.get("threads")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise _err(path, "threads", f"must be an integer >= 1, got {threads!r}")
    env = _mapping(path, "environment", doc.get("environment"))
    m = _mapping(path, "model", doc.get("model"))
    dtype_bytes = m.get("dtype_bytes")
    if dtype_bytes not in (1, 2, 4, 8) or isinstance(dtype_bytes, bool):
        raise _err(path, "model.dtype_bytes", f"must be 1, 2, 4 or 8, got {dtype_bytes!r}")
    layout = _layout(path, m.get("layout"))
    kinds_doc = _mapping(path, "model.kinds", m.get("kinds"))
    kinds = {}
    for kind, coefs in kinds_doc.items():
        base = kind.partition("@")[0]
        if base not in KINDS or not _known_variant(kind, layout is not None):
            variants = f"; with model.layout also KIND{PLAIN}" if layout else ""
            raise _err(path, f"model.kinds.{kind}",
                       f"unknown layer kind (known: {', '.join(KINDS)}, conv{STEM}{variants})")
        coefs = _mapping(path, f"model.kinds.{kind}", coefs)
        extra = set(coefs) - set(COEFFICIENTS)
        if extra:
            raise _err(path, f"model.kinds.{kind}.{sorted(extra)[0]}", "unknown coefficient")
        kinds[kind] = tuple(_number(path, f"model.kinds.{kind}.{c}", coefs.get(c))
                            for c in COEFFICIENTS)
    if not kinds:
        raise _err(path, "model.kinds", "no layer kind is calibrated")
    model = LatencyModel(kinds, _number(path, "model.between_layers_ms",
                                        m.get("between_layers_ms"), -math.inf),
                         _number(path, "model.fixed_ms", m.get("fixed_ms")), dtype_bytes,
                         layout, _activations(path, m.get("activations")))
    cov = _mapping(path, "coverage", doc.get("coverage"))
    coverage = {"alpha": _range(path, "coverage.alpha", cov.get("alpha")),
                "resolution": _range(path, "coverage.resolution", cov.get("resolution"), True),
                "macs": _range(path, "coverage.macs", cov.get("macs"), True)}
    _check_evaluation(path, doc)
    return DeviceProfile(path, runtime, threads, env, model, coverage, doc)


#: The numbers of an ``evaluation`` row, of a layer-share comparison and of an error summary.
EVALUATION_ROW = ("measured_ms", "predicted_ms", "macs_baseline_ms")
EVALUATION_SHARES = ("max_abs_points", "mean_abs_points", "within_5_points")
ERROR_SUMMARY = ("count", "within_5pct", "within_10pct", "median_abs_error", "max_abs_error")


def _check_evaluation(path: str, doc: Mapping[str, Any]) -> None:
    """The optional ``evaluation`` section (``calibrate --evaluate``; no prediction reads it):
    checked for the shape its readers rely on, so a hand-broken one is one line naming the
    field rather than a traceback later."""
    if "evaluation" not in doc:
        return
    ev = _mapping(path, "evaluation", doc["evaluation"])
    errors = _mapping(path, "evaluation.error", ev.get("error"))
    for predictor in ("model", "macs_baseline"):
        subsets = _mapping(path, f"evaluation.error.{predictor}", errors.get(predictor))
        for subset in ("all", "stable"):
            where = f"evaluation.error.{predictor}.{subset}"
            summary = _mapping(path, where, subsets.get(subset))
            for name in ERROR_SUMMARY:
                _number(path, f"{where}.{name}", summary.get(name))
    for key, numbers in (("rows", EVALUATION_ROW), ("layer_shares", EVALUATION_SHARES)):
        items = ev.get(key)
        if not isinstance(items, list):
            raise _err(path, f"evaluation.{key}", f"must be a list, got "
                                                  f"{type(items).__name__}")
        for i, item in enumerate(items):
            where = f"evaluation.{key}[{i}]"
            item = _mapping(path, where, item)
            if not isinstance(item.get("model"), str):
                raise _err(path, f"{where}.model", f"must be a string, got "
                                                   f"{item.get('model')!r}")
            if not (item.get("unstable") is None or isinstance(item["unstable"], str)):
                raise _err(path, f"{where}.unstable", "must be null or a reason")
            for name in numbers:
                _number(path, f"{where}.{name}", item.get(name))


def load_device(path: str) -> DeviceProfile:
    """Read and validate a device profile written by ``mncost calibrate``.

    Raises:
        InputError: one line, ``FILE: FIELD: reason`` (exit 2 on the CLI).
    """
    try:
        text = read_limited(path, MAX_DEVICE_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Refused as exc:
        raise InputError(f"{path}: {exc} (a device profile is a JSON file)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    # Parsed here rather than by inputfile.load_json: a non-finite number is reported by the
    # field that holds it (model.kinds.add.ms_per_mac: must be a finite number).
    try:
        check_json_shape(text)
        doc = json.loads(text, parse_constant=_no_constant, object_pairs_hook=unique_keys)
    except Refused as exc:
        raise InputError(f"{path}: {exc} (a device profile is a JSON file)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:
        raise InputError(f"{path}: not a device profile: {str(exc)[:120]}") from None
    return device_from_dict(doc, path)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a device profile can hold")
