"""Device profiles (``mncost.device/1``), the one module that reads and writes them: what
``mncost calibrate`` measures and fits (:class:`DeviceProfile`, :meth:`DeviceProfile.to_dict`),
read and validated within the same bounds as specs (docs/latency.md, "Device profile"; nesting and
integer lengths of :mod:`mncost.limits`).

A bad file is one line naming the file and the field (``FILE: FIELD: reason``), exit 2 on the
CLI. The fitted model inside is a :class:`mncost.latency.model.LatencyModel`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..costs.kinds import KINDS, REGISTRY
from ..errors import InputError
from ..files.inputfile import (
    Refused,
    bounded_int,
    check_json_shape,
    deeper_than,
    read_limited,
    unique_keys,
)
from ..limits import MAX_DEPTH, MAX_THREADS
from ..measure.profile_options import RUNTIMES
from ..network.layers import Network
from ..spec.values import ACTIVATIONS
from .evaluation import error_summaries
from .model import (
    ACTIVATION_COEFFICIENTS,
    COEFFICIENTS,
    FLOAT_VARIANT,
    GENERIC,
    PADDED,
    PLAIN,
    PRECISIONS,
    STEM,
    ChannelLayout,
    Int8ConvPaths,
    KernelRule,
    LatencyModel,
    OneDnnPaths,
    network_macs,
)

DEVICE_SCHEMA = "mncost.device/1"
#: Largest device profile read (a calibration with every layer's data is a few hundred KB).
MAX_DEVICE_BYTES = 64 * 1024 * 1024
#: Largest cache capacity a profile's uncached-weights term may name (bytes): 1 TiB, far
#: above any CPU's caches, and small enough for exact float arithmetic.
MAX_CACHE_BYTES = 1 << 40
#: The runtime of a profile fitted on published latencies (``calibrate --from-published``,
#: :mod:`mncost.zoo.published_fit`): TF-Lite on a phone, never measured here.
PUBLISHED_RUNTIMES = ("tflite",)


@dataclass(frozen=True)
class Note:
    """One warning about a prediction (:func:`mncost.latency.predict.prediction_warnings`).

    Attributes:
        topic: what it is about (a predicted sweep counts its configurations by topic):
            ``unstable``, ``machine``, ``alpha``, ``resolution``, ``macs``, ``kinds``,
            ``kernels`` or ``clamped``.
        text: the line shown.
        items: the kinds or kernels it names (``kinds``, ``kernels``).
    """

    topic: str
    text: str
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeviceProfile:
    """A calibrated device: where, how, the model, and what it was fitted on.

    Attributes:
        path: the file it was read from (or a label for one in hand).
        runtime, threads: what it was calibrated with (:data:`RUNTIMES`).
        environment: the environment record as written
            (:class:`mncost.measure.environment.Environment`).
        model: the fitted coefficients.
        coverage: the calibrated ``alpha``, ``resolution`` and ``macs`` ranges,
            ``(min, max)`` each.
        data: the document as read (``{}`` for a profile built in code).
        created: when it was written (UTC, ISO 8601).
        ms_per_mac: the MACs baseline fitted on the same data (``latency = k x MACs``).
        measurement: how it was measured (rounds, runs, ``fitted_unstable``, ...).
        fit: how it was fitted and its training error.
        training: every calibration configuration's measured and predicted time.
        evaluation: the held-out evaluation (``calibrate --evaluate``), or ``None``.
        measurements: the raw measurements (:mod:`mncost.latency.calibration`), or ``None``.
    """

    path: str
    runtime: str
    threads: int
    environment: Mapping[str, Any]
    model: LatencyModel
    coverage: Mapping[str, Any]
    data: Mapping[str, Any] = field(default_factory=dict)
    created: str | None = None
    ms_per_mac: float | None = None
    measurement: Mapping[str, Any] = field(default_factory=dict)
    fit: Mapping[str, Any] = field(default_factory=dict)
    training: Sequence[Mapping[str, Any]] = ()
    evaluation: Mapping[str, Any] | None = None
    measurements: Mapping[str, Any] | None = None

    @property
    def published(self) -> str | None:
        """The published device it was fitted on (``calibrate --from-published``), or None
        for a profile measured by ``calibrate``."""
        name = self.environment.get("published_device")
        return name if isinstance(name, str) else None

    @property
    def fitted_unstable(self) -> bool:
        """Whether it was fitted on unstable measurements (``--allow-unstable``)."""
        return bool(self.measurement.get("fitted_unstable"))

    @property
    def statistic(self) -> str:
        """What ``predicted_ms`` estimates: the fitted statistic (``"quiet (p5)"``, or
        ``"median"`` for a profile written before the quiet estimate)."""
        name = self.measurement.get("statistic")
        return name if isinstance(name, str) else "median"

    @property
    def noise(self) -> tuple[float, float] | None:
        """``median / quiet`` over the calibration: its median and p90 (``None`` when not
        recorded)."""
        doc = self.measurement.get("noise")
        ratios = doc.get("median_over_quiet") if isinstance(doc, Mapping) else None
        if not isinstance(ratios, Mapping):
            return None
        return ratios["median"], ratios["p90"]

    def to_dict(self) -> dict[str, Any]:
        """The ``mncost.device/1`` document (docs/latency.md, "Device profile")."""
        cov = self.coverage
        doc: dict[str, Any] = {
            "schema": DEVICE_SCHEMA, "created": self.created,
            "runtime": self.runtime, "threads": self.threads,
            "environment": dict(self.environment), "model": self.model.to_dict()}
        if self.ms_per_mac is not None:
            doc["macs_baseline"] = {"ms_per_mac": self.ms_per_mac}
        doc["coverage"] = {"alpha": list(cov["alpha"]), "resolution": list(cov["resolution"]),
                           "macs": list(cov["macs"]), "kinds": sorted(self.model.kinds)}
        if cov.get("models"):
            doc["coverage"]["models"] = list(cov["models"])
        doc.update(measurement=dict(self.measurement), fit=dict(self.fit),
                   training=list(self.training))
        if self.evaluation is not None:
            doc["evaluation"] = dict(self.evaluation)
        if self.measurements is not None:
            doc["measurements"] = dict(self.measurements)
        return doc

    def notes(self, network: Network, resolution: tuple[int, int] | None = None,
              macs: int | None = None, layers: bool = True) -> list[Note]:
        """Why ``network`` lies outside what the calibration covered ([] if it does not): its
        alpha, resolution or MACs beyond the calibrated range, kinds never calibrated
        (predicted as 0 ms), plain kernels priced as their blocked kind.

        ``resolution`` and ``macs``: the configuration's, where ``network`` holds its layers
        at another resolution (a predicted sweep's alpha, :mod:`mncost.sweep.split`);
        ``layers=False`` leaves out the notes on kinds and kernels, which no resolution
        changes (a predicted sweep takes them once per alpha).
        """
        cov, notes = self.coverage, []
        resolution = tuple(network.resolution) if resolution is None else resolution
        macs = network_macs(network) if macs is None else macs
        lo, hi = cov["alpha"]
        if not lo <= network.alpha <= hi:
            notes.append(Note("alpha", f"alpha {network.alpha:g} is outside the calibrated "
                                       f"{lo:g}-{hi:g}"))
        lo, hi = cov["resolution"]
        if min(resolution) < lo or max(resolution) > hi:
            notes.append(Note("resolution", f"resolution {resolution[0]}x{resolution[1]} is "
                                            f"outside the calibrated {lo}-{hi}"))
        lo, hi = cov["macs"]
        if not lo <= macs <= hi:
            notes.append(Note("macs", f"{macs:,} MACs is outside the calibrated "
                                      f"{lo:,}-{hi:,}"))
        models = cov.get("models")
        if models and network.spec_name not in models:
            notes.append(Note("models", f"{network.spec_name} is not among the networks "
                                        f"{self.path} was fitted on ({', '.join(models)}): "
                                        "its prediction extrapolates"))
        if not layers:
            return notes
        # A kernel never calibrated falls back to its kind's coefficients
        # (:meth:`LatencyModel.coefficients`), and to 0 ms where its kind has none either.
        uncalibrated = self.model.uncalibrated(network)
        missing = tuple(sorted({k.split("@")[0] for k in uncalibrated}
                               - set(self.model.kinds)))
        if missing:
            notes.append(Note("kinds", f"layer kinds never calibrated (predicted as 0 ms): "
                                       f"{', '.join(missing)}", missing))
        variants = tuple(k for k in uncalibrated
                         if any(v in k for v in (PLAIN, FLOAT_VARIANT, GENERIC, PADDED))
                         and k.split("@")[0] in self.model.kinds)
        if variants:
            whose = "blocked kind's" if all(PLAIN in k for k in variants) else "kind's"
            notes.append(Note("kernels", f"kernels never calibrated, predicted with their "
                                         f"{whose} coefficients: {', '.join(variants)}",
                              variants))
        return notes

    def outside(self, network: Network) -> list[str]:
        """The lines of :meth:`notes`."""
        return [note.text for note in self.notes(network)]


def _err(path: str, where: str, reason: str) -> InputError:
    return InputError(f"{path}: {where}: {reason}")


def coverage_of(networks: Sequence[Network]) -> dict[str, tuple]:
    """The ``coverage`` of a calibration on ``networks``: the ``(min, max)`` of their alphas,
    resolutions (either side) and MACs."""
    macs = [network_macs(n) for n in networks]
    return {"alpha": (min(n.alpha for n in networks), max(n.alpha for n in networks)),
            "resolution": (min(min(n.resolution) for n in networks),
                           max(max(n.resolution) for n in networks)),
            "macs": (min(macs), max(macs))}


def _number(path: str, where: str, value: Any, minimum: float = 0.0) -> float:
    bound = f" >= {minimum:g}" if math.isfinite(minimum) else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(path, where, f"must be a finite number{bound}, got {value!r:.40}")
    try:
        number = float(value)
    except OverflowError:        # an integer beyond a float's range (built in code)
        raise _err(path, where, f"must be a finite number{bound}, got an integer of "
                                f"{len(str(abs(value))):,} digits") from None
    if not math.isfinite(number) or number < minimum:
        raise _err(path, where, f"must be a finite number{bound}, got {value!r}")
    return number


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


def _known_variant(kernel: str, layout: KernelRule | None, int8: bool = False) -> bool:
    """A kind, ``conv@stem``, or with a layout a kind's plain variant ``KIND@nchw`` (with
    MLAS's int8 conv paths ``KIND@generic``); in an int8 model, any of these with
    ``@float32`` appended."""
    if int8 and kernel.endswith(FLOAT_VARIANT):
        kernel = kernel[:-len(FLOAT_VARIANT)]
    base, at, variant = kernel.partition("@")
    if not at:
        return True
    if "@" + variant == STEM:
        return REGISTRY[base].stem_kernel
    return layout is not None and "@" + variant == layout.suffix


def layout_from_dict(path: str, doc: Any) -> KernelRule | None:
    """A profile's ``model.layout`` as read by :func:`device_from_dict` (one-line errors)."""
    return _layout(path, doc)


#: Each rule's ``model.layout.name``, its class and its fields: integers 1-1024, or booleans.
_RULES = {
    ChannelLayout.name: (ChannelLayout, ("alignment", "block"), ()),
    Int8ConvPaths.name: (Int8ConvPaths, ("depthwise_alignment", "input_alignment",
                                         "output_alignment", "min_outputs"), ()),
    OneDnnPaths.name: (OneDnnPaths, ("block",), ("pointwise",)),
}
#: Integer fields a rule's profile may lack, and the value that predicts as a profile written
#: before them did: what MLAS's int8 conv paths compute (1: MACs over the layer's own pixels
#: and channels, :class:`Int8ConvPaths`).
_OPTIONAL = {Int8ConvPaths.name: {"rows": 1, "depthwise_rows": 1, "channel_pack": 1,
                                   "depthwise_vector": 1, "gemm_depth_pack": 1}}


def _layout(path: str, doc: Any) -> KernelRule | None:
    """``model.layout``: absent or null (one kernel per kind), ONNX Runtime's blocked layout
    rule, (an int8 model) MLAS's int8 conv paths, or eager PyTorch's oneDNN paths."""
    if doc is None:
        return None
    doc = _mapping(path, "model.layout", doc)
    name = doc.get("name")
    if not isinstance(name, str) or name not in _RULES:
        names = ", ".join(f"'{n}'" for n in _RULES)
        raise _err(path, "model.layout.name", f"must be one of {names}, got {name!r:.40}")
    rule, sizes, flags = _RULES[name]
    optional = _OPTIONAL.get(name, {})
    extra = set(doc) - {"name", *sizes, *flags, *optional}
    if extra:
        raise _err(path, f"model.layout.{sorted(extra)[0]}", "unknown field")
    values = {}
    for key in (*sizes, *optional):
        value = doc.get(key, optional.get(key))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
            raise _err(path, f"model.layout.{key}", f"must be an integer 1-1024, got {value!r}")
        values[key] = value
    for key in flags:
        value = doc.get(key)
        if not isinstance(value, bool):
            raise _err(path, f"model.layout.{key}", f"must be true or false, got {value!r:.40}")
        values[key] = value
    return rule(**values)


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


def _uncached_weights(path: str, doc: Any) -> tuple[int, float]:
    """``model.uncached_weights``: ``cache_bytes`` (an integer >= 1) and ``ms_per_byte`` of
    the uncached-weights term (:func:`mncost.latency.model.uncached_share`); absent (a model
    without the term, or a profile written before it): ``(0, 0.0)``."""
    if doc is None:
        return 0, 0.0
    where = "model.uncached_weights"
    doc = _mapping(path, where, doc)
    extra = set(doc) - {"cache_bytes", "ms_per_byte"}
    if extra:
        raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown field")
    capacity = doc.get("cache_bytes")
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not \
            1 <= capacity <= MAX_CACHE_BYTES:
        raise _err(path, f"{where}.cache_bytes",
                   f"must be an integer from 1 to {MAX_CACHE_BYTES:,}, got {capacity!r:.40}")
    return capacity, _number(path, f"{where}.ms_per_byte", doc.get("ms_per_byte"))


def _conversions(path: str, doc: Any) -> float:
    """``model.conversions``: ``ms_per_element`` of an int8 model's Quantize and Dequantize
    copies (:func:`mncost.costs.int8.conversions`); absent (a float32 model, or a profile
    written before the term): 0."""
    if doc is None:
        return 0.0
    where = "model.conversions"
    doc = _mapping(path, where, doc)
    extra = set(doc) - {"ms_per_element"}
    if extra:
        raise _err(path, f"{where}.{sorted(extra)[0]}", "unknown field")
    return _number(path, f"{where}.ms_per_element", doc.get("ms_per_element"))


def device_from_dict(doc: Any, path: str) -> DeviceProfile:
    """Validate a parsed device profile; the first problem is ``FILE: FIELD: reason``."""
    doc = _mapping(path, "top level", doc)
    if doc.get("schema") != DEVICE_SCHEMA:
        raise _err(path, "schema", f"must be {DEVICE_SCHEMA!r} (a file written by `mncost "
                                   f"calibrate`), got {doc.get('schema')!r}")
    if doc.get("status") == "refused":
        raise InputError(f"{path}: holds the measurements of a calibration that refused to "
                         f"fit ({str(doc.get('refused'))[:200]}), no model; fit them with "
                         f"`mncost calibrate --refit {path} --allow-unstable -o PROFILE.json`")
    runtime = doc.get("runtime")
    if runtime not in RUNTIMES + PUBLISHED_RUNTIMES:
        raise _err(path, "runtime", f"must be one of {', '.join(RUNTIMES + PUBLISHED_RUNTIMES)}"
                                    f", got {runtime!r}")
    threads = doc.get("threads")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise _err(path, "threads", f"must be an integer >= 1, got {threads!r:.40}")
    if threads > MAX_THREADS:
        raise _err(path, "threads", f"must be at most {MAX_THREADS:,}, got {threads:.3g}")
    env = _mapping(path, "environment", doc.get("environment"))
    m = _mapping(path, "model", doc.get("model"))
    dtype_bytes = m.get("dtype_bytes")
    if dtype_bytes not in (1, 2, 4, 8) or isinstance(dtype_bytes, bool):
        raise _err(path, "model.dtype_bytes", f"must be 1, 2, 4 or 8, got {dtype_bytes!r}")
    layout = _layout(path, m.get("layout"))
    precision = m.get("precision", "float32")
    if precision not in PRECISIONS:
        raise _err(path, "model.precision", f"must be one of {', '.join(PRECISIONS)}, got "
                                            f"{precision!r:.40}")
    kinds_doc = _mapping(path, "model.kinds", m.get("kinds"))
    kinds = {}
    for kind, coefs in kinds_doc.items():
        base = kind.partition("@")[0]
        if base not in KINDS or not _known_variant(kind, layout, precision == "int8"):
            variants = f"; with model.layout also KIND{layout.suffix}" if layout else ""
            if precision == "int8":
                variants += f"; at int8 also KIND{FLOAT_VARIANT}"
            raise _err(path, f"model.kinds.{kind}",
                       f"unknown layer kind (known: {', '.join(KINDS)}, conv{STEM}{variants})")
        coefs = _mapping(path, f"model.kinds.{kind}", coefs)
        extra = set(coefs) - set(COEFFICIENTS)
        if extra:
            raise _err(path, f"model.kinds.{kind}.{sorted(extra)[0]}", "unknown coefficient")
        # A profile written before the weights had a rate of their own prices them at
        # ms_per_byte (the same prediction as when it was written).
        given = COEFFICIENTS if "ms_per_weight_byte" in coefs else COEFFICIENTS[:3]
        kinds[kind] = tuple(_number(path, f"model.kinds.{kind}.{c}", coefs.get(c))
                            for c in given)
    if not kinds:
        raise _err(path, "model.kinds", "no layer kind is calibrated")
    model = LatencyModel(kinds, _number(path, "model.between_layers_ms",
                                        m.get("between_layers_ms"), -math.inf),
                         _number(path, "model.fixed_ms", m.get("fixed_ms")), dtype_bytes,
                         layout, _activations(path, m.get("activations")), precision,
                         _number(path, "model.between_float_layers_ms",
                                 m.get("between_float_layers_ms", 0.0), -math.inf),
                         *_uncached_weights(path, m.get("uncached_weights")),
                         _conversions(path, m.get("conversions")))
    if model.ms_per_converted_element and precision != "int8":
        raise _err(path, "model.conversions", "Quantize and Dequantize copies are an int8 "
                   f"model's (model.precision int8), this one is {precision}")
    cov = _mapping(path, "coverage", doc.get("coverage"))
    coverage = {"alpha": _range(path, "coverage.alpha", cov.get("alpha")),
                "resolution": _range(path, "coverage.resolution", cov.get("resolution"), True),
                "macs": _range(path, "coverage.macs", cov.get("macs"), True)}
    models = cov.get("models")
    if models is not None:
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise _err(path, "coverage.models", "must be a list of model names")
        coverage["models"] = tuple(models)
    _check_evaluation(path, doc)
    created = doc.get("created")
    if created is not None and not isinstance(created, str):
        raise _err(path, "created", f"must be a date and time, got {created!r:.40}")
    ms_per_mac = None
    if doc.get("macs_baseline") is not None:
        baseline = _mapping(path, "macs_baseline", doc["macs_baseline"])
        ms_per_mac = _number(path, "macs_baseline.ms_per_mac", baseline.get("ms_per_mac"))
    measurement = _mapping(path, "measurement", doc.get("measurement", {}))
    if not isinstance(measurement.get("fitted_unstable", False), bool):
        raise _err(path, "measurement.fitted_unstable", f"must be true or false, got "
                                                        f"{measurement['fitted_unstable']!r:.40}")
    _check_noise(path, measurement)
    fit = _mapping(path, "fit", doc.get("fit", {}))
    training = doc.get("training", [])
    if not isinstance(training, list):
        raise _err(path, "training", f"must be a list, got {type(training).__name__}")
    measurements = doc.get("measurements")
    return DeviceProfile(path, runtime, threads, env, model, coverage, doc, created,
                         ms_per_mac, measurement, fit, training, doc.get("evaluation"),
                         measurements if isinstance(measurements, dict) else None)


def _check_noise(path: str, measurement: Mapping[str, Any]) -> None:
    """``measurement.statistic`` (a name) and ``measurement.noise.median_over_quiet`` (median
    and p90, each a ratio >= 1), which ``predict`` reads for its expected range."""
    name = measurement.get("statistic")
    if name is not None and not isinstance(name, str):
        raise _err(path, "measurement.statistic", f"must be a name, got {name!r:.40}")
    if measurement.get("noise") is None:
        return
    noise = _mapping(path, "measurement.noise", measurement["noise"])
    ratios = _mapping(path, "measurement.noise.median_over_quiet",
                      noise.get("median_over_quiet"))
    for key in ("median", "p90"):
        _number(path, f"measurement.noise.median_over_quiet.{key}", ratios.get(key), 1.0)


#: The numbers of an ``evaluation`` row, of a layer-share comparison and of an error summary.
EVALUATION_ROW = ("measured_ms", "predicted_ms", "macs_baseline_ms")
EVALUATION_SHARES = ("max_abs_points", "mean_abs_points", "within_5_points")
ERROR_SUMMARY = ("count", "within_5pct", "within_10pct", "median_abs_error", "max_abs_error")


def evaluation_section(rows: Sequence[Mapping[str, Any]], shares: Sequence[Mapping[str, Any]],
                       runtime: str, threads: int, rounds: int) -> dict[str, Any]:
    """The device profile's ``evaluation`` section (docs/latency.md, "Evaluation"): the held-out
    ``rows`` (:func:`mncost.latency.evaluation.evaluation_row`) and ``shares``
    (:func:`mncost.latency.evaluation.layer_shares`) with their error summaries; read back by
    :func:`_check_evaluation`."""
    return {"runtime": runtime, "threads": threads, "rounds": rounds,
            "measured": "in the calibration's interleaved rounds; never fitted",
            "configurations": len(rows),
            "unstable": sum(r["unstable"] is not None for r in rows),
            "error": error_summaries(rows), "rows": list(rows), "layer_shares": list(shares)}


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
    return device_from_dict(read_profile(path), path)


def read_profile(path: str) -> Any:
    """The parsed JSON of a device profile file, not yet validated (``calibrate --refit``
    reads its measurements from it).

    Raises:
        InputError: one line: a file that is missing, unreadable, too large, not JSON or
            nested too deep.
    """
    try:
        text = read_limited(path, MAX_DEVICE_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Refused as exc:
        raise InputError(f"{path}: {exc} (a device profile is a JSON file)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    # Within the bounds of inputfile.load_json (nesting, integer digits), but parsed here: a
    # float beyond range is reported by the field that holds it (model.kinds.add.ms_per_mac:
    # must be a finite number).
    try:
        check_json_shape(text)
        doc = json.loads(text, parse_int=bounded_int, parse_constant=_no_constant,
                         object_pairs_hook=unique_keys)
    except Refused as exc:
        raise InputError(f"{path}: {exc} (a device profile is a JSON file)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        doc = _TOO_DEEP
    except ValueError as exc:
        raise InputError(f"{path}: not a device profile: {str(exc)[:120]}") from None
    if doc is _TOO_DEEP or isinstance(doc, (dict, list)) and deeper_than(doc, MAX_DEPTH):
        raise InputError(f"{path}: not a device profile: nested more than {MAX_DEPTH} levels "
                         "deep")
    return doc


#: What a parse that ran out of recursion stands for (deeper than any limit).
_TOO_DEEP = object()


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a device profile can hold")
