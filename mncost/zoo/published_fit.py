"""A device profile made from the papers' own measurements (``calibrate --from-published``).

The published latencies (:mod:`mncost.zoo.data`) are whole networks timed on real phones
(TF-Lite, one large core, batch 1). With mncost's exact per-layer counts they are enough to fit
a small latency model per published device, so that any spec gets a predicted latency on, say,
a Pixel 1 without owning one.

**The data** (:func:`gather`): every counted row of the chosen precision with a figure on the
device. A *point* is one distinct ``(configuration, figure)``: sources that print the same
figure for the same configuration (TF-slim's v3 rows copy the v3 paper's Table 9) make one
point, naming every source; sources that print different figures (v2 1.0/224: 64, 73.8, 75 ms)
make one point each, all kept (the disagreement between sources is part of the error a user
should expect). Held-out errors always leave out a whole *configuration*, every figure of it,
so a duplicate never predicts itself.

**The candidates** (:data:`CANDIDATES`), each fitted by non-negative least squares on relative
errors (each row divided by its figure, as :func:`mncost.latency.model.fit`):

* ``macs``: latency ∝ MACs, the baseline;
* ``kind_macs``: MACs per layer kind (``conv``, the stem here, ``pointwise``, ``depthwise``,
  ``fc``, ``se_fc``: each its own ms per MAC) and a fixed cost;
* ``kind_macs_bytes``: that, plus one ms per byte moved (every layer's compulsory traffic,
  :func:`mncost.latency.model.layer_features`) and one ms per byte of element-wise activation
  (hard swish, hard sigmoid, sigmoid, swish: separate ops in TF-Lite, where ReLU and ReLU6 are
  fused into the conv);
* ``roofline``: the MobileNetV4 paper's Eq. 1, ``sum_i max(MACs_i / PeakMACs, bytes_i /
  PeakMemBW)``, two numbers per device (the ridge point by a fixed log grid, the scale in
  closed form).

The first three are :class:`~mncost.latency.model.LatencyModel` s (the shared per-byte and
element-wise terms written into every kernel and activation), so the chosen one *is* an ordinary
``mncost.device/1`` profile for ``predict``, ``sweep``, ``check`` and ``zoo``. The roofline is
not linear; its figures are stated beside the others and it is what a device with too few
configurations for a per-kind fit is offered (:class:`TooFewRows`).

**The choice** is by leave-one-configuration-out (share within ±10%, then median absolute
error); leave-one-source-out (fit without one source's configurations, predict them) and
leave-one-family-out (v2 from the v3s and v1, ...) are stated beside it. A figure two
sources print alike counts in the first source's group (by id), and a held-out group takes
every figure of its configurations out of the fit, whichever source printed them.

The fit is the latency model's own non-negative least squares
(:func:`mncost.latency.model.nnls`: scipy's, or numpy's least squares refitted without the
negative terms). ``--published-device`` and ``mncost zoo`` never fit: they read the profile
``calibrate --from-published`` wrote into the package (``configs/zoo/profiles/``), so that
path imports neither numpy nor scipy, and a test holds the shipped file equal to a fresh fit.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import InputError
from ..latency.device_profile import DeviceProfile, coverage_of, load_device
from ..latency.model import ErrorSummary, LatencyModel, layer_features
from ..network.catalog import load_model
from ..network.layers import Network
from ..network.resolve import resolve
from .data import Zoo, load_zoo, zoo_dir

#: Distinct configurations a device needs for the per-kind fits (they have up to 9 columns).
MIN_CONFIGURATIONS = 12
#: Fewest configurations for the two-number roofline and its leave-one-out figure.
MIN_ROOFLINE = 4
#: Activations TF-Lite runs as element-wise ops of their own (ReLU and ReLU6 are fused).
ELEMENTWISE_ACTS = ("hsigmoid", "hswish", "sigmoid", "swish", "gelu")
#: Bytes per element of each precision.
PRECISION_BYTES = {"float32": 4, "int8": 1}
#: The runtime a published profile names (``runtime`` of ``mncost.device/1``).
PUBLISHED_RUNTIME = "tflite"
#: The ridge points (MACs per byte) the roofline's fit tries: 10^-2 .. 10^3, 50 per decade.
_RIDGES = tuple(10 ** (-2 + i / 50) for i in range(251))


# ---------------------------------------------------------------------------------------------
# The data


@dataclass(frozen=True)
class Point:
    """One distinct published figure of one configuration on the device."""

    model: str
    alpha: float
    depth: float | None
    resolution: tuple[int, int]
    classes: int
    ms: float
    sources: tuple[str, ...]
    network: Network

    @property
    def config(self) -> tuple:
        """The configuration as counted and held out. Not its classes: a 1000- and a
        1001-class network of one size (v2 1.0/224 in the v2 paper and in the v3 paper)
        differ by one classifier row, so one must not predict the other held out."""
        return (self.model, self.alpha, self.depth, self.resolution)

    @property
    def family(self) -> str:
        """The network family (``v3-large-tf`` and ``v3-large`` are one)."""
        return self.model.removesuffix("-tf")

    def label(self) -> str:
        h, w = self.resolution
        res = str(h) if h == w else f"{h}x{w}"
        return f"{self.model} {self.alpha:g}/{res}"


@lru_cache(maxsize=None)
def _network(model: str, alpha: float | None, depth: float | None,
             resolution: tuple[int, int], classes: int) -> Network:
    return resolve(load_model(model), alpha, resolution, classes, depth)


def gather(zoo: Zoo, device: str, precision: str = "float32") -> list[Point]:
    """The device's points (module docstring), in a fixed order (configuration, figure).

    Raises:
        InputError: an unknown device or precision.
    """
    if device not in zoo.devices:
        raise InputError(f"unknown published device {device!r}; devices with published "
                         f"latencies: {', '.join(zoo.devices)}")
    if precision not in PRECISION_BYTES:
        raise InputError(f"unknown precision {precision!r} (known: "
                         f"{', '.join(PRECISION_BYTES)})")
    found: dict[tuple, dict[float, list[str]]] = {}
    for row in zoo.rows:
        latency = row.latency_on(device)
        if latency is None or not row.counted or row.precision != precision:
            continue
        key = (row.model, row.alpha, row.depth, row.resolution, row.classes)
        sources = found.setdefault(key, {}).setdefault(latency.ms, [])
        if row.source.id not in sources:
            sources.append(row.source.id)
    points = []
    for key in sorted(found, key=lambda k: (k[0], k[1] or 0, k[2] or 0, k[3], k[4])):
        network = _network(*key)
        for ms in sorted(found[key]):
            points.append(Point(key[0], network.alpha, key[2], key[3], key[4], ms,
                                tuple(sorted(found[key][ms])), network))
    return points


# ---------------------------------------------------------------------------------------------
# Features


@dataclass(frozen=True)
class Features:
    """What the candidates read of one network, at ``dtype_bytes`` per element."""

    macs: int
    kernel_macs: Mapping[str, int]
    bytes: int
    elementwise: int
    #: The roofline's per-layer sum ``sum_i max(MACs_i, r x bytes_i)`` at each ridge point
    #: ``r`` of :data:`_RIDGES`.
    roof: tuple[float, ...]
    kernels: tuple[str, ...]
    acts: tuple[str, ...]


def features(network: Network, dtype_bytes: int) -> Features:
    shape = LatencyModel({}, 0.0, 0.0, dtype_bytes)
    kernel_macs: dict[str, int] = {}
    layers: list[tuple[int, int]] = []
    nbytes, elementwise, acts = 0, 0, set()
    for layer in network.layers:
        macs, moved, _ = layer_features(layer, dtype_bytes)
        # By kind: the stem is the data's only standard conv, so ``conv`` is the stem's
        # coefficient (a profile's ``conv@stem`` kernel falls back to it).
        kernel = layer.kind
        kernel_macs[kernel] = kernel_macs.get(kernel, 0) + macs
        layers.append((macs, moved))
        nbytes += moved
        if layer.act in ELEMENTWISE_ACTS:
            elementwise += shape.output_bytes(layer)
            acts.add(layer.act)
    return Features(sum(kernel_macs.values()), kernel_macs, nbytes, elementwise,
                    _roof_sums(layers), tuple(sorted(kernel_macs)), tuple(sorted(acts)))


def _roof_sums(layers: Sequence[tuple[int, int]]) -> tuple[float, ...]:
    """``sum_i max(MACs_i, r x bytes_i)`` for each ``r`` of :data:`_RIDGES` (rising): a layer
    is MAC-bound while ``r`` is below its MACs per byte, so with the layers in order of that
    ratio each sum is a prefix of bytes times ``r`` plus a suffix of MACs."""
    order = sorted(layers, key=lambda mb: mb[0] / mb[1] if mb[1] else math.inf)
    macs_left = math.fsum(m for m, _ in order)
    bytes_done, i, out = 0.0, 0, []
    for ridge in _RIDGES:
        while i < len(order) and order[i][1] and order[i][0] / order[i][1] < ridge:
            bytes_done += order[i][1]
            macs_left -= order[i][0]
            i += 1
        out.append(macs_left + ridge * bytes_done)
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Candidates


@dataclass(frozen=True)
class Fitted:
    """A fitted candidate: its coefficients by column, and how it predicts."""

    name: str
    coefficients: Mapping[str, float]
    predict: Callable[[Features], float]


@dataclass(frozen=True)
class Candidate:
    """A model the published fit tries (module docstring)."""

    name: str
    description: str
    fit: Callable[[Sequence[Features], Sequence[float], Sequence[str]], Fitted]
    #: Whether it is a :class:`LatencyModel` (a profile can hold it).
    linear: bool = True


def _linear(name: str, columns: Callable[[Sequence[str]], list[str]],
            row: Callable[[Features, Sequence[str]], list[float]]) -> Callable:
    def fit(feats: Sequence[Features], ms: Sequence[float], kernels: Sequence[str]) -> Fitted:
        import numpy as np

        from ..latency.model import nnls

        names = columns(kernels)
        a = np.array([[v / y for v in row(f, kernels)] for f, y in zip(feats, ms)])
        x = [float(v) for v in nnls(a, np.ones(len(a)))]
        coefs = dict(zip(names, x))
        return Fitted(name, coefs, lambda f: math.fsum(
            c * v for c, v in zip(x, row(f, kernels))))
    return fit


def _kind_columns(kernels: Sequence[str]) -> list[str]:
    return [f"ms_per_mac.{k}" for k in kernels]


def _roofline(feats: Sequence[Features], ms: Sequence[float], _: Sequence[str]) -> Fitted:
    best = None
    for j in range(len(_RIDGES)):
        s = [f.roof[j] / y for f, y in zip(feats, ms)]
        k = math.fsum(s) / math.fsum(v * v for v in s)
        loss = math.fsum((k * v - 1) ** 2 for v in s)
        if best is None or loss < best[0]:
            best = (loss, j, k)
    _, at, k = best
    ridge = _RIDGES[at]

    def predict(f: Features) -> float:
        return k * f.roof[at]
    # ms per MAC = 1 / PeakMACs; ms per byte = ridge / PeakMACs = 1 / PeakMemBW.
    return Fitted("roofline", {"ms_per_mac": k, "ms_per_byte": k * ridge,
                               "peak_gmacs_per_s": 1e-6 / k,
                               "peak_gbytes_per_s": 1e-6 / (k * ridge)}, predict)


CANDIDATES = (
    Candidate("macs", "latency ∝ MACs", _linear(
        "macs", lambda k: ["ms_per_mac"], lambda f, k: [f.macs])),
    Candidate("kind_macs", "MACs per kernel + a fixed cost", _linear(
        "kind_macs", lambda k: _kind_columns(k) + ["fixed_ms"],
        lambda f, k: [f.kernel_macs.get(x, 0) for x in k] + [1.0])),
    Candidate("kind_macs_bytes", "MACs per kernel + bytes moved + element-wise activation "
                                 "bytes + a fixed cost", _linear(
        "kind_macs_bytes", lambda k: _kind_columns(k) + ["ms_per_byte",
                                                         "ms_per_elementwise_byte", "fixed_ms"],
        lambda f, k: [f.kernel_macs.get(x, 0) for x in k] + [f.bytes, f.elementwise, 1.0])),
    Candidate("roofline", "roofline (MobileNetV4 Eq. 1): sum of max(MACs / PeakMACs, bytes / "
                          "PeakMemBW) per layer", _roofline, linear=False),
)


def latency_model(fitted: Fitted, kernels: Sequence[str], acts: Sequence[str],
                  dtype_bytes: int) -> LatencyModel:
    """A linear candidate as a :class:`LatencyModel`: its shared per-byte term in every
    kernel, its element-wise term in every element-wise activation."""
    c = fitted.coefficients
    per_byte = c.get("ms_per_byte", 0.0)
    kinds = {k: (c.get(f"ms_per_mac.{k}", c.get("ms_per_mac", 0.0)), per_byte, 0.0)
             for k in kernels}
    eltwise = c.get("ms_per_elementwise_byte")
    activations = {a: (eltwise, 0.0) for a in acts} if eltwise is not None else {}
    return LatencyModel(kinds, 0.0, c.get("fixed_ms", 0.0), dtype_bytes, None, activations)


# ---------------------------------------------------------------------------------------------
# Held-out errors


def held_out(candidate: Candidate, feats: Sequence[Features], points: Sequence[Point],
             group: Callable[[Point], str | tuple], kernels: Sequence[str]
             ) -> list[float | None]:
    """Each point's prediction by ``candidate`` fitted without its group (None where the rest
    is empty or shares nothing with it)."""
    out: list[float | None] = [None] * len(points)
    groups: dict[Any, list[int]] = {}
    for i, p in enumerate(points):
        groups.setdefault(group(p), []).append(i)
    for members in groups.values():
        held = set(members)
        # A configuration printed by the group's sources is left out wherever it appears.
        configs = {points[i].config for i in members}
        train = [i for i in range(len(points)) if i not in held
                 and points[i].config not in configs]
        if not train:
            continue
        fitted = candidate.fit([feats[i] for i in train], [points[i].ms for i in train],
                               kernels)
        for i in members:
            out[i] = fitted.predict(feats[i])
    return out


def _summary(pred: Sequence[float | None], points: Sequence[Point]) -> dict[str, Any]:
    return ErrorSummary.of((p, pt.ms) for p, pt in zip(pred, points)
                           if p is not None).to_dict()


def _by_source(p: Point) -> str:
    return p.sources[0]


SPLITS: Mapping[str, Callable[[Point], Any]] = {
    "leave_one_out": lambda p: p.config,
    "leave_one_source_out": _by_source,
    "leave_one_family_out": lambda p: p.family,
}


# ---------------------------------------------------------------------------------------------
# The profile


class TooFewRows(InputError):
    """A device with too few configurations for the per-kind fits (the message says what it
    offers instead)."""


@dataclass(frozen=True)
class PublishedFit:
    """Everything the published fit found for one device and precision."""

    device: str
    precision: str
    points: tuple[Point, ...]
    chosen: str
    candidates: Mapping[str, Mapping[str, Any]]
    profile: DeviceProfile


def evaluate(points: Sequence[Point], dtype_bytes: int
             ) -> tuple[list[Features], list[str], dict[str, dict[str, Any]]]:
    """Every candidate fitted on every point and held out by every split."""
    feats = [features(p.network, dtype_bytes) for p in points]
    kernels = sorted({k for f in feats for k in f.kernels})
    out: dict[str, dict[str, Any]] = {}
    for cand in CANDIDATES:
        fitted = cand.fit(feats, [p.ms for p in points], kernels)
        entry: dict[str, Any] = {
            "description": cand.description, "profile": cand.linear,
            "coefficients": dict(fitted.coefficients),
            "training_error": _summary([fitted.predict(f) for f in feats], points)}
        for split, group in SPLITS.items():
            pred = held_out(cand, feats, points, group, kernels)
            entry[split] = _summary(pred, points)
            if split == "leave_one_out":
                entry["_loo"] = pred
        entry["_fitted"] = fitted
        out[cand.name] = entry
    return feats, kernels, out


def _rank(entry: Mapping[str, Any]) -> tuple[float, float]:
    loo = entry["leave_one_out"]
    return (-loo["within_10pct"], loo["median_abs_error"])


def _public(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if not k.startswith("_")}


def fit_published(device: str, precision: str = "float32", zoo: Zoo | None = None
                  ) -> PublishedFit:
    """The published fit of ``device`` at ``precision`` (module docstring).

    Raises:
        InputError: an unknown device or precision.
        TooFewRows: fewer than :data:`MIN_CONFIGURATIONS` configurations.
    """
    zoo = load_zoo() if zoo is None else zoo
    points = gather(zoo, device, precision)
    dtype_bytes = PRECISION_BYTES[precision]
    configs = len({p.config for p in points})
    title = zoo.devices[device].title
    if configs < MIN_CONFIGURATIONS:
        raise TooFewRows(_too_few(device, title, precision, points, dtype_bytes))
    feats, kernels, cands = evaluate(points, dtype_bytes)
    linear = [c.name for c in CANDIDATES if c.linear]
    chosen = min(linear, key=lambda name: (_rank(cands[name]), linear.index(name)))
    best = cands[chosen]
    acts = sorted({a for f in feats for a in f.acts})
    model = latency_model(best["_fitted"], kernels, acts, dtype_bytes)
    baseline = cands["macs"]["_fitted"]
    training = []
    for p, f, loo in zip(points, feats, best["_loo"]):
        predicted = model.predict(p.network).total_ms
        training.append({
            "model": p.model, "alpha": p.alpha, "resolution": list(p.resolution),
            "classes": p.classes, "macs": f.macs, "measured_ms": p.ms,
            "sources": list(p.sources), "predicted_ms": predicted,
            "residual": predicted / p.ms - 1, "leave_one_out_ms": loo,
            "macs_baseline_ms": baseline.predict(f)})
    networks = [p.network for p in points]
    coverage = {**coverage_of(networks),
                "models": sorted({p.network.spec_name for p in points})}
    rows = [r for r in zoo.rows if r.counted and r.precision == precision
            and r.latency_on(device) is not None]
    lat = [r.latency_on(device) for r in rows]
    environment = {
        "published_device": device, "device_name": title, "kind": zoo.devices[device].kind,
        "runtime": "TF-Lite", "threads": 1, "batch": 1, "dtype": precision,
        "sources": sorted({r.source.id for r in rows}),
        "what": sorted({x.what for x in lat})}
    fit = {
        "method": f"published latencies of {title}: {len(points)} figures of {configs} "
                  f"configurations; candidates fitted by non-negative least squares on "
                  f"relative errors, chosen by leave-one-configuration-out within ±10%",
        "chosen": chosen,
        "duplicates": "a figure printed alike by several sources is one point; different "
                      "figures of one configuration are one point each; held-out errors "
                      "leave out every figure of a configuration together",
        "training_error": best["training_error"],
        "macs_baseline_error": cands["macs"]["training_error"],
        "candidates": {name: _public(e) for name, e in cands.items()}}
    measurement = {"published": True, "figures": len(points), "configurations": configs,
                   "fitted_unstable": False}
    profile = DeviceProfile(
        f"published:{device}", PUBLISHED_RUNTIME, 1, environment, model, coverage,
        ms_per_mac=cands["macs"]["coefficients"]["ms_per_mac"], measurement=measurement,
        fit=fit, training=training)
    return PublishedFit(device, precision, tuple(points), chosen,
                        {n: _public(e) for n, e in cands.items()}, profile)


def _too_few(device: str, title: str, precision: str, points: Sequence[Point],
             dtype_bytes: int) -> str:
    configs = len({p.config for p in points})
    head = (f"{device} ({title}) has {configs} {precision} configurations with published "
            f"latencies, too few for a per-kind fit (it needs {MIN_CONFIGURATIONS})")
    offer = f"; its published figures: mncost zoo --published-device {device}"
    if configs < MIN_ROOFLINE:
        return head + offer
    feats = [features(p.network, dtype_bytes) for p in points]
    roofline = CANDIDATES[-1]
    pred = held_out(roofline, feats, points, SPLITS["leave_one_out"], [])
    loo = ErrorSummary.of((q, p.ms) for q, p in zip(pred, points) if q is not None)
    return (head + f"; the two-number roofline fitted on them predicts "
            f"{round(loo.within_10 * loo.count)} of {loo.count} figures within ±10% "
            f"leave-one-out (median error {loo.median_abs:.1%})" + offer)


def shipped_profile_path(device: str, precision: str = "float32") -> Path:
    """Where the package keeps ``device``'s published profile (written by
    ``mncost calibrate --from-published DEVICE -o`` that path)."""
    suffix = "" if precision == "float32" else f"_{precision}"
    return zoo_dir() / "profiles" / f"{device}{suffix}.json"


@lru_cache(maxsize=None)
def published_profile(device: str, precision: str = "float32") -> DeviceProfile:
    """The profile of ``--published-device NAME``: the one the package ships, read once per
    process (no fit, no numpy).

    Raises:
        InputError: an unknown device; TooFewRows: a device whose figures are too few for a
            fit (with the roofline's leave-one-out figure); a device with enough figures but
            no shipped profile.
    """
    path = shipped_profile_path(device, precision)
    if path.is_file():                 # named as the user named it, not by the package path
        return dataclasses.replace(load_device(str(path)), path=f"published:{device}")
    zoo = load_zoo()
    points = gather(zoo, device, precision)
    if len({p.config for p in points}) < MIN_CONFIGURATIONS:
        raise TooFewRows(_too_few(device, zoo.devices[device].title, precision, points,
                                  PRECISION_BYTES[precision]))
    raise InputError(f"no built-in {precision} profile for {device}: write one with "
                     f"mncost calibrate --from-published {device} -o {device}.json and give "
                     "it as --device-profile")
