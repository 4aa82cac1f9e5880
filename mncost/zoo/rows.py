"""``mncost zoo``: the published configurations as rows, counted, filtered, with latency, and
their Pareto front.

Each counted row (:class:`mncost.zoo.data.Published` whose model is a built-in) gets mncost's
exact MACs and parameters (trainable) and its peak activation memory (the naive schedule, at the
row's precision); with a device, a latency: predicted from a device profile
(:mod:`mncost.latency.predict`), or the figure its source printed for a published device. The
Pareto front is accuracy against that latency, or against MACs without a device: a row is on it
when no other row has at least its top-1 at no more cost, and beats it on one of the two.

Pure Python on the analytic path: no torch, no numpy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping, Sequence

from ..costs.analytic import layer_cost
from ..costs.memory import peak_memory
from ..errors import InputError
from ..latency.device_profile import DeviceProfile
from ..network.catalog import BUILTINS, load_model
from ..network.resolve import resolve
from .data import PENDING_MODELS, Published, Zoo

ZOO_SCHEMA = "mncost.zoo/1"
#: Built-ins that read the same paper table as another (TF-slim's conventions): naming the
#: other on the command line selects their rows too.
SAME_TABLE: Mapping[str, str] = {"v3-large-tf": "v3-large", "v3-small-tf": "v3-small"}
#: Bytes per element of each precision, to match a device profile's calibration.
_PRECISION_BYTES = {"float32": 4, "int8": 1}


@dataclass(frozen=True)
class Filters:
    """Which rows to keep (None: no bound)."""

    models: tuple[str, ...] = ()
    min_top1: float | None = None
    max_ms: float | None = None
    max_macs: Decimal | None = None
    max_params: Decimal | None = None
    dtype: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.models), "min_top1": self.min_top1,
                "max_ms": self.max_ms,
                "max_macs": None if self.max_macs is None else int(self.max_macs),
                "max_params": None if self.max_params is None else int(self.max_params),
                "dtype": self.dtype}


@dataclass(frozen=True)
class LatencySource:
    """Where a row's latency comes from: a device profile, or a published device."""

    profile: DeviceProfile | None = None
    published: str | None = None

    @property
    def axis(self) -> str:
        """The row field the front is computed against."""
        if self.profile is not None:
            return "predicted_ms"
        if self.published is not None:
            return "published_ms"
        return "macs"


@dataclass
class ZooResult:
    """The rows of ``mncost zoo`` (plain dicts, in display order) and what to say about them."""

    axis: str
    device: dict[str, Any] | None
    filters: Filters
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``mncost zoo -f json``."""
        return {"schema": ZOO_SCHEMA, "axis": self.axis, "device": self.device,
                "filters": self.filters.to_dict(), "rows": self.rows, "notes": self.notes,
                "sources": self.sources}


def check_models(zoo: Zoo, models: Sequence[str]) -> None:
    """Refuse a model with no counted published row (one line: what there is)."""
    known = sorted({r.model for r in zoo.rows if r.counted} | set(SAME_TABLE.values()),
                   key=list(BUILTINS).index)
    for model in models:
        if model in PENDING_MODELS:
            raise InputError(f"{model} has published rows but no built-in spec yet, so mncost "
                             f"cannot count it ({PENDING_MODELS[model]})")
        if model not in known:
            raise InputError(f"no published configurations of {model!r}; models with some: "
                             f"{', '.join(known)}")


def _selected(row: Published, models: Sequence[str]) -> bool:
    return not models or row.model in models or SAME_TABLE.get(row.model) in models


class _Counts:
    """MACs, parameters, peak activation memory and the network of each configuration, each
    resolved once (rows of several sources and precisions share configurations)."""

    def __init__(self) -> None:
        self._seen: dict[tuple, dict[str, Any]] = {}

    def of(self, row: Published) -> dict[str, Any]:
        key = (row.model, row.alpha, row.depth, row.resolution, row.classes)
        found = self._seen.get(key)
        if found is None:
            network = resolve(load_model(row.model), row.alpha, row.resolution, row.classes,
                              row.depth)
            costs = [layer_cost(layer) for layer in network.layers]
            found = self._seen[key] = {
                "network": network, "macs": sum(c.macs for c in costs),
                "params": sum(c.params("trainable") for c in costs),
                # The naive schedule's peak in elements (float32 bytes / 4): every tensor
                # is held at the row's element size, so bytes scale with it exactly.
                "peak_elements": peak_memory(network).bytes // 4}
        return {**found, "peak_activation_bytes":
                found["peak_elements"] * _PRECISION_BYTES[row.precision]}


def predicted_ms(profile: DeviceProfile, rows: Sequence[tuple[Published, Any]]
                 ) -> tuple[list[float], list[str]]:
    """Predicted milliseconds of each ``(row, network)`` on ``profile``, and every warning
    ``predict`` would give: the profile's (machine, fit) and the configurations' (outside the
    calibrated range, uncalibrated kinds, clamped layers), counted as ``sweep --predict``
    counts them. The one place that calls :mod:`mncost.latency.predict`."""
    from ..costs.analytic import network_macs
    from ..latency.predict import SweepPredictor, machine_notes

    predictor = SweepPredictor(profile, {r.model: load_model(r.model) for r, _ in rows})
    configs = [{"model": r.model, "alpha": net.alpha, "depth": net.depth,
                "resolution": net.resolution, "classes": net.classes,
                "macs": network_macs(net)} for r, net in rows]
    ms = [row["predicted_ms"] for row in predictor.rows(configs)]
    return ms, [n.text for n in machine_notes(profile)] + predictor.warnings()


def pareto_flags(points: Sequence[tuple[float | None, float]]) -> list[bool]:
    """For ``(cost, top1)`` points, whether each is Pareto-optimal: no other point has no
    more cost and at least the top-1, and is strictly better on one. A point without a cost
    (None) is never on the front."""
    order = sorted((i for i, p in enumerate(points) if p[0] is not None),
                   key=lambda i: (points[i][0], -points[i][1]))
    flags = [False] * len(points)
    best: float | None = None      # highest top-1 at strictly lower cost so far
    i = 0
    while i < len(order):
        j = i
        cost = points[order[i]][0]
        while j < len(order) and points[order[j]][0] == cost:
            j += 1
        group = order[i:j]            # equal cost: sorted by top-1, best first
        top = points[group[0]][1]
        for k in group:
            if points[k][1] == top and (best is None or top > best):
                flags[k] = True
        best = top if best is None else max(best, top)
        i = j
    return flags


def zoo_rows(zoo: Zoo, filters: Filters, latency: LatencySource = LatencySource()
             ) -> ZooResult:
    """The published configurations selected by ``filters``, counted, with latency, the
    front marked and first (each part sorted by cost, then top-1 down).

    Raises:
        InputError: a model with no counted published rows, an unknown published device, or
            ``--max-ms`` without a device.
    """
    check_models(zoo, filters.models)
    if latency.published is not None and latency.published not in zoo.devices:
        raise InputError(f"unknown published device {latency.published!r}; devices with "
                         f"published latencies: {', '.join(zoo.devices)}")
    if filters.max_ms is not None and latency.axis == "macs":
        raise InputError("--max-ms needs a latency: give --device-profile DEVICE.json or "
                         "--published-device NAME")
    notes: list[str] = []
    chosen = [r for r in zoo.rows if _selected(r, filters.models)
              and (filters.dtype is None or r.precision == filters.dtype)]
    pending = Counter(r.model for r in chosen if not r.counted)
    counts = _Counts()
    rows = [(r, counts.of(r)) for r in chosen if r.counted
            and (filters.min_top1 is None or r.top1 >= filters.min_top1)]
    if filters.max_macs is not None:
        rows = [(r, c) for r, c in rows if c["macs"] <= filters.max_macs]
    if filters.max_params is not None:
        rows = [(r, c) for r, c in rows if c["params"] <= filters.max_params]
    out = [_row_dict(r, c) for r, c in rows]
    device, warnings = None, []
    if latency.profile is not None:
        device, warnings = _predict(latency.profile, rows, out, notes)
    elif latency.published is not None:
        device = _published(zoo, latency.published, rows, out)
    if filters.max_ms is not None:
        out = [d for d in out if d.get(latency.axis) is not None
               and d[latency.axis] <= filters.max_ms]
    if latency.published is not None:
        notes += _published_notes(device, out)
    for d, flag in zip(out, pareto_flags([(d.get(latency.axis), d["top1"]) for d in out])):
        d["pareto"] = flag
    out.sort(key=lambda d: (not d["pareto"], d.get(latency.axis) is None,
                            d.get(latency.axis) or 0, -d["top1"]))
    if pending:
        notes.append("not shown, no built-in spec to count them yet: " + ", ".join(
            f"{n} rows of {m}" for m, n in sorted(pending.items())))
    used = {d["source"] for d in out}
    sources = [s.to_dict() for s in zoo.sources if s.id in used]
    return ZooResult(latency.axis, device, filters, out, notes, warnings, sources)


def _row_dict(row: Published, counts: Mapping[str, Any]) -> dict[str, Any]:
    net = counts["network"]
    return {"model": row.model, "alpha": net.alpha, "depth": net.depth,
            "resolution": list(net.resolution), "classes": net.classes,
            "precision": row.precision, "top1": row.top1, "top5": row.top5,
            "macs": counts["macs"], "params": counts["params"],
            "peak_activation_bytes": counts["peak_activation_bytes"],
            "source": row.source.id, "table": row.table, "weights": row.weights,
            "extra_data": row.extra_data, "note": row.note}


def profile_precision(profile: DeviceProfile) -> str:
    """The precision whose rows ``profile`` predicts: its model's (``int8`` for a calibration
    of ORT's quantized graph or a published int8 device's fit, by its element size)."""
    if profile.model.precision != "float32":
        return profile.model.precision
    size = profile.model.dtype_bytes
    return next((p for p, n in _PRECISION_BYTES.items() if n == size), f"{size} bytes")


def _predict(profile: DeviceProfile, rows: Sequence[tuple[Published, Mapping[str, Any]]],
             out: list[dict[str, Any]], notes: list[str]
             ) -> tuple[dict[str, Any], list[str]]:
    """``predicted_ms`` of each row whose precision the profile was calibrated for (None for
    the others), the device's description and the warnings."""
    precision = profile_precision(profile)
    fits = [i for i, (r, _) in enumerate(rows) if r.precision == precision]
    networks = [rows[i][1]["network"] for i in fits]
    ms, warnings = predicted_ms(profile, [(rows[i][0], n) for i, n in zip(fits, networks)])
    for d in out:
        d["predicted_ms"] = None
    for i, value in zip(fits, ms):
        out[i]["predicted_ms"] = round(value, 4)
    others = sorted({r.precision for r, _ in rows if r.precision != precision})
    if others:
        notes.append(f"-: {', '.join(others)} rows are not predicted, {profile.path} was "
                     f"calibrated at {precision}")
    outside = sum(1 for n in networks if profile.outside(n))
    if outside:
        warnings.append(f"{outside} of {len(networks)} configurations lie outside what "
                        f"{profile.path} was calibrated on: their predictions extrapolate")
    device = {"profile": profile.path, "runtime": profile.runtime,
              "threads": profile.threads,
              "device_name": profile.environment.get("device_name")}
    return device, warnings


def _published(zoo: Zoo, name: str, rows: Sequence[tuple[Published, Mapping[str, Any]]],
               out: list[dict[str, Any]]) -> dict[str, Any]:
    """``published_ms`` (and how it was measured) of each row whose source prints one."""
    for (r, _), d in zip(rows, out):
        found = r.latency_on(name)
        d["published_ms"] = found.ms if found else None
        d["published"] = found.to_dict() if found else None
    dev = zoo.devices[name]
    device = {"published": name, "name": dev.title, "kind": dev.kind}
    _predict_unpublished(zoo, name, rows, out, device)
    return device


def _predict_unpublished(zoo: Zoo, name: str,
                         rows: Sequence[tuple[Published, Mapping[str, Any]]],
                         out: list[dict[str, Any]], device: dict[str, Any]) -> None:
    """``predicted_ms`` beside ``published_ms``: each float32 row whose source prints no
    figure on the device, predicted from the profile fitted on the device's published
    figures (:mod:`mncost.zoo.published_fit`), None for the others; ``device["predicted"]``
    says how (or why not: too few figures for a fit)."""
    from ..errors import InputError
    from .published_fit import published_profile

    for d in out:
        d["predicted_ms"] = None
    try:
        profile = published_profile(name, "float32")
    except InputError as exc:          # too few figures (TooFewRows), or no shipped profile
        device["predicted"] = {"model": None, "reason": str(exc)}
        return
    model, outside = profile.model, 0
    for (r, counts), d in zip(rows, out):
        if d["published_ms"] is None and r.precision == "float32":
            d["predicted_ms"] = round(model.predict(counts["network"]).total_ms, 4)
            outside += bool(profile.outside(counts["network"]))
    chosen = profile.fit["chosen"]
    loo = profile.fit["candidates"][chosen]["leave_one_out"]
    device["predicted"] = {"model": chosen, "leave_one_out": loo, "outside": outside}


def _published_notes(device: Mapping[str, Any], out: Sequence[dict[str, Any]]) -> list[str]:
    notes = []
    missing = sum(d["published_ms"] is None for d in out)
    predicted = sum(d.get("predicted_ms") is not None for d in out)
    if predicted:
        loo = device["predicted"]["leave_one_out"]
        notes.append(f"~: {predicted} rows without a published figure are predicted from "
                     f"the published figures (`calibrate --from-published "
                     f"{device['published']}`: {device['predicted']['model']}, "
                     f"{loo['within_10pct']:.0%} within ±10% leave-one-out); never on the "
                     "front" + (f"; {device['predicted']['outside']} of them lie outside "
                                "the networks, alpha, resolution or MACs it was fitted on "
                                "and extrapolate" if device["predicted"]["outside"] else ""))
    why = (device.get("predicted") or {}).get("reason")
    if missing and why:
        notes.append(f"-: not predicted: {why}")
    if missing - predicted:
        notes.append(f"-: {missing - predicted} of {len(out)} rows have no latency on "
                     f"{device['name']} in their source")
    spread = _spread(out)
    if spread:
        notes.append("Published latencies are compared as printed, though the sources "
                     f"measured with different runtimes and versions ({spread}).")
    return notes


def _spread(out: Sequence[dict[str, Any]]) -> str | None:
    """The configuration whose published figures differ most between sources, as an example
    (``v2 1/224 float32: 64, 73.8, 75 ms in 3 sources``), or None."""
    figures: dict[tuple, set[float]] = {}
    for d in out:
        if d.get("published_ms") is not None:
            key = (d["model"], d["alpha"], tuple(d["resolution"]), d["precision"])
            figures.setdefault(key, set()).add(d["published_ms"])
    if not figures:
        return None
    key, values = max(figures.items(), key=lambda kv: (max(kv[1]) - min(kv[1]), kv[0]))
    if len(values) < 2:
        return None
    (model, alpha, (h, w), precision) = key
    res = str(h) if h == w else f"{h}x{w}"
    shown = ", ".join(f"{v:g}" for v in sorted(values))
    return f"{model} {alpha:g}/{res} {precision}: {shown} ms"
