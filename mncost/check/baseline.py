"""Baselines and the regression check (``mncost baseline write``, ``mncost check``).

Pure and torch-free; latency values come in from the caller. The pieces:

* the baseline file (:data:`BASELINE_SCHEMA`, its shape :func:`entry_of` /
  :func:`baseline_dict`, documented in docs/ci.md): per model and configuration, the totals
  and the per-layer counts; read back and validated here;
* :func:`compare_entry` and :func:`run_check`, which return the typed results of
  :mod:`mncost.check.results`;
* budgets: :mod:`mncost.check.budgets`; numbers with units and tolerances:
:mod:`mncost.check.units`;
* rendered by :mod:`mncost.render.check`: terminal table (rich), Markdown (a GitHub job
  summary), JUnit XML.
"""

from __future__ import annotations

import math
from decimal import Decimal
from itertools import islice
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from .. import __version__
from ..costs.analytic import PARAM_CONVENTIONS, Report
from ..costs.memory import memory_totals
from ..errors import InputError, MncostError
from ..files.inputfile import Refused, load_json, read_limited
from ..limits import MAX_BASELINE_BYTES, MAX_BASELINE_LAYERS, MAX_ENTRIES, MAX_RESOLVED_LAYERS
from ..network.layers import Network
from ..network.resolve import check_alpha, check_classes, check_depth, check_resolution
from .budgets import Budget, check_budget
from .results import (
    COUNT_METRICS,
    MEMORY_METRICS,
    CheckResult,
    ConfigResult,
    LayerChange,
    MetricDelta,
    config_name,
)
from .units import Tolerance

# ---------------------------------------------------------------------------------------------
# The baseline document (baseline write; read back by load_baseline)

BASELINE_SCHEMA = "mncost.baseline/1"


def entry_of(model: str, report: Report, params: str, latency: Latency | None = None
             ) -> dict[str, Any]:
    """One baseline entry: a configuration, its totals and its per-layer counts."""
    net = report.network
    entry: dict[str, Any] = {
        "model": model, "spec": net.spec_name, "alpha": net.alpha, "depth": net.depth,
        "resolution": list(net.resolution), "classes": net.classes,
        "totals": {"macs": report.total.macs, "params": report.total.params(params),
                   "layers": len(report.layers), **memory_totals(net)},
        "layers": [{"name": r.layer.name, "kind": r.layer.kind,
                    "out_shape": [r.layer.out_shape.c, r.layer.out_shape.h,
                                  r.layer.out_shape.w],
                    "macs": r.cost.macs, "params": r.cost.params(params)}
                   for r in report.layers],
    }
    if latency is not None:
        entry["latency_ms_quiet"] = latency.quiet_ms
        entry["latency_ms_median"] = latency.median_ms
    return entry


def baseline_dict(entries: Sequence[dict[str, Any]], params: str,
                  latency: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole baseline document. No timestamp, so rewriting an unchanged baseline gives an
    identical file (a clean diff in review)."""
    doc: dict[str, Any] = {"schema": BASELINE_SCHEMA, "mncost_version": __version__,
                           "param_convention": params, "counts": "MACs = multiply-accumulates",
                           "entries": list(entries)}
    if latency is not None:
        doc["latency"] = latency
    return doc


#: The keys :func:`entry_of` writes, its totals' and its layers': what :func:`load_baseline`
#: reads. Any other key is refused (a misspelt ``latency_ms_median`` would skip a check).
ENTRY_KEYS = ("model", "spec", "alpha", "depth", "resolution", "classes", "totals", "layers",
              "latency_ms_quiet", "latency_ms_median")
#: The latency keys of an entry, in the order ``check --latency`` prefers them: the quiet
#: estimate, which contention moves least, then the median (all a baseline written before
#: the quiet estimate holds).
LATENCY_KEYS = ("latency_ms_quiet", "latency_ms_median")
TOTALS_KEYS = (*COUNT_METRICS, "layers", *MEMORY_METRICS)
LAYER_KEYS = ("name", "kind", "out_shape", *COUNT_METRICS)


# ---------------------------------------------------------------------------------------------
# Reading a baseline file back

def _bad(file: str, reason: str) -> InputError:
    return InputError(f"{file}: not a valid mncost baseline: {reason}")


def load_baseline(path: str) -> dict[str, Any]:
    """Read and validate a baseline file.

    Raises:
        InputError: missing or unreadable file, invalid JSON, unknown schema version, or an
            entry without the fields :func:`compare` reads, each said in one line.
    """
    try:
        text = read_limited(path, MAX_BASELINE_BYTES)
    except FileNotFoundError:
        raise InputError(f"{path}: baseline file not found (write one with `mncost baseline "
                         "write -o FILE`)") from None
    except (OSError, Refused) as exc:
        raise InputError(f"{path}: cannot read baseline: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        doc = load_json(text)
    except Refused as exc:
        raise _bad(path, str(exc)) from None
    if not isinstance(doc, dict) or "schema" not in doc:
        raise _bad(path, "no \"schema\" field")
    if doc["schema"] != BASELINE_SCHEMA:
        raise InputError(f"{path}: unknown baseline schema {str(doc['schema'])[:40]!r} (this "
                         f"mncost reads {BASELINE_SCHEMA}); rewrite it with `mncost baseline "
                         "write`")
    if not isinstance(doc.get("param_convention"), str) or (
            doc["param_convention"] not in PARAM_CONVENTIONS):
        raise _bad(path, f"param_convention must be one of {', '.join(PARAM_CONVENTIONS)}")
    entries = doc.get("entries")
    if not isinstance(entries, list) or not entries:
        raise _bad(path, "\"entries\" must be a non-empty list")
    if len(entries) > MAX_ENTRIES:
        raise _bad(path, f"{len(entries):,} entries (at most {MAX_ENTRIES:,})")
    for i, entry in enumerate(entries):
        _check_entry(path, i, entry)
    return doc


def _unknown(path: str, where: str, item: dict[str, Any], known: Sequence[str]) -> None:
    for key in item:
        if key not in known:
            raise _bad(path, f"{where}: unknown key {key[:40]!r} (known: {', '.join(known)})")


def _check_entry(path: str, i: int, entry: Any) -> None:
    where = f"entries[{i}]"
    if not isinstance(entry, dict):
        raise _bad(path, f"{where} must be an object")
    _unknown(path, where, entry, ENTRY_KEYS)
    for key, kind in (("model", str), ("alpha", (int, float)), ("resolution", list),
                      ("classes", int), ("totals", dict), ("layers", list)):
        if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
            raise _bad(path, f"{where}.{key} is missing or has the wrong type")
    _unknown(path, f"{where}.totals", entry["totals"], TOTALS_KEYS)
    for metric in COUNT_METRICS:
        if not _is_int(entry["totals"].get(metric)):
            raise _bad(path, f"{where}.totals.{metric} must be an integer")
    for metric in MEMORY_METRICS:   # optional (older baselines), compared when present
        if metric in entry["totals"] and not _is_int(entry["totals"][metric]):
            raise _bad(path, f"{where}.totals.{metric} must be an integer, got "
                             f"{json_value(entry['totals'][metric])}")
    names: dict[str, int] = {}
    for j, layer in enumerate(entry["layers"]):
        if not (isinstance(layer, dict) and isinstance(layer.get("name"), str)
                and all(_is_int(layer.get(m)) for m in COUNT_METRICS)):
            raise _bad(path, f"{where}.layers[{j}] needs name, macs and params")
        _unknown(path, f"{where}.layers[{j}]", layer, LAYER_KEYS)
        if layer["name"] in names:   # layers are matched by name: a second would hide one
            raise _bad(path, f"{where}.layers[{j}]: layer {layer['name'][:80]!r} is listed "
                             f"twice (also layers[{names[layer['name']]}])")
        names[layer["name"]] = j
    for key in LATENCY_KEYS:
        if key not in entry:
            continue
        latency = entry[key]
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not (
                math.isfinite(latency) and latency >= 0):
            shown = "null" if latency is None else repr(latency)[:40]
            raise _bad(path, f"{where}.{key} must be a number of milliseconds >= 0, got "
                             f"{shown}")
    try:
        check_alpha(entry["alpha"])
        if "depth" in entry:
            check_depth(entry["depth"])
        check_resolution(entry["resolution"])
        check_classes(entry["classes"])
    except InputError as exc:
        raise _bad(path, f"{where}: {exc}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def json_value(value: Any) -> str:
    """A value read from JSON as JSON writes it (``null``, ``true``, ``"12"``), short."""
    import json

    return json.dumps(value)[:40]


# ---------------------------------------------------------------------------------------------
# Comparison

def layer_changes(old_layers: Sequence[dict[str, Any]], report: Report, params: str,
                  tolerance: Tolerance | None = None) -> tuple[LayerChange, ...]:
    """Layers added, removed, or with other MACs or params, matched by name, in network order
    (removed layers last). Each changed layer's MACs and params are held to ``tolerance``
    (default exact) against its own baseline values, not only through the totals."""
    tolerance = tolerance or Tolerance()
    old = {layer["name"]: layer for layer in old_layers}
    changes = []
    for row in report.layers:
        before = old.pop(row.layer.name, None)
        new_macs, new_params = row.cost.macs, row.cost.params(params)
        if before is None:
            changes.append(LayerChange(row.layer.name, None, new_macs, None, new_params))
        elif (before["macs"], before["params"]) != (new_macs, new_params):
            ok = (tolerance.allows(before["macs"], new_macs)
                  and tolerance.allows(before["params"], new_params))
            changes.append(LayerChange(row.layer.name, before["macs"], new_macs,
                                       before["params"], new_params, ok))
    changes += [LayerChange(name, layer["macs"], None, layer["params"], None)
                for name, layer in old.items()]
    return tuple(changes)


def compare_entry(entry: dict[str, Any], report: Report, params: str, tolerance: Tolerance,
                  latency: tuple[Tolerance, float] | None = None) -> ConfigResult:
    """Compare one baseline entry with ``report`` (the same configuration, recomputed).

    Counts fail when they move beyond ``tolerance`` either way (a stale baseline is a failure
    too), in total and layer by layer (:func:`layer_changes`). Latency, when given as
    ``(tolerance, new latency)``, fails only when slower; it compares the quiet estimates, or
    the medians for a baseline that has no quiet estimate (:data:`LATENCY_KEYS`).
    """
    new = {"macs": report.total.macs, "params": report.total.params(params),
           **memory_totals(report.network)}
    metrics = [MetricDelta(m, entry["totals"][m], new[m],
                           tolerance.allows(entry["totals"][m], new[m]))
               for m in COUNT_METRICS + MEMORY_METRICS if m in entry["totals"]]
    if latency is not None:
        lat_tolerance, now = latency
        key = next(k for k in LATENCY_KEYS if k in entry)
        old, ms = entry[key], now.quiet_ms if key == "latency_ms_quiet" else now.median_ms
        metrics.append(MetricDelta(key, old, ms, ms <= old or lat_tolerance.allows(old, ms)))
    net = report.network
    return ConfigResult(model=entry["model"], alpha=net.alpha,
                        resolution=tuple(net.resolution), classes=net.classes, depth=net.depth,
                        metrics=tuple(metrics),
                        layers=layer_changes(entry["layers"], report, params, tolerance))


def resolve_entry(entry: dict[str, Any], baseline_file: str,
                  resolve_model: Callable[..., Network]) -> Network:
    """The entry's configuration resolved from the current specs; a model that no longer
    exists is an :class:`InputError` naming the baseline."""
    try:
        return resolve_model(entry["model"], entry["alpha"], entry["resolution"],
                             entry["classes"], entry.get("depth"))
    except MncostError as exc:
        config = config_name(entry["alpha"], check_resolution(entry["resolution"]),
                             entry["classes"], entry.get("depth"))
        raise InputError(f"{baseline_file}: model {entry['model']!r} ({config}) in the "
                         f"baseline cannot be recomputed: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Orchestration (the models are resolved through the functions passed in, latency measured by
# ``measure``: the CLI passes the torch profiler there, the tests a fake)

class Latency(NamedTuple):
    """One measured latency (ms per forward pass of one batch): the quiet estimate
    (:data:`mncost.measure.timing.QUIET_STATISTIC` of the timed runs: what the machine gives
    when nothing competes, which a busy CI runner moves least) and the median under the run's
    conditions."""

    quiet_ms: float
    median_ms: float


#: ``measure(network) -> Latency`` (the quiet estimate and the median).
Measure = Callable[[Network], Latency]
#: ``predict(network) -> predicted milliseconds``.
Predict = Callable[[Network], float]


def write_entries(configs: Iterable[tuple[str, float, object]], classes: int | None,
                  params: str, resolve_model: Callable[..., Network],
                  analyze: Callable[[Network], Report], measure: Measure | None = None
                  ) -> list[dict[str, Any]]:
    """Baseline entries for ``(model, alpha, resolution[, depth])`` configurations (``None``:
    the spec's own).

    Raises:
        InputError: before any analysis or measuring, more than :data:`MAX_ENTRIES`
            configurations or :data:`MAX_BASELINE_LAYERS` layers: a baseline that
            :func:`load_baseline` would not read.
    """
    # a configuration given twice (a model named twice) is one entry, as alphas given twice are
    configs = list(dict.fromkeys(islice(configs, MAX_ENTRIES + 1)))
    if len(configs) > MAX_ENTRIES:
        raise InputError(f"a baseline holds at most {MAX_ENTRIES:,} configurations (what "
                         "`mncost check` reads); use fewer models, alphas, depths or "
                         "resolutions")
    networks, layers = [], 0
    for model, alpha, resolution, *depth in configs:
        network = resolve_model(model, alpha, resolution, classes, *depth)
        layers += len(network.layers)
        if layers > MAX_BASELINE_LAYERS:
            raise InputError(f"the baseline would record more than {MAX_BASELINE_LAYERS:,} "
                             f"layers, more than `mncost check` reads (a file of at most "
                             f"{MAX_BASELINE_BYTES:,} bytes); use fewer models, alphas, depths "
                             "or resolutions")
        networks.append((model, network))
    entries = []
    for model, network in networks:
        latency = measure(network) if measure is not None else None
        entries.append(entry_of(model, analyze(network), params, latency))
    return entries


def check_work(baseline: dict[str, Any] | None, budgets: Sequence[Budget],
               resolve_model: Callable[..., Network]) -> None:
    """Refuse a check that would analyze more than :data:`MAX_RESOLVED_LAYERS` layers: the
    baseline's (as recorded) and the budgets' networks (each resolved to count its layers: a
    resolve costs a sixth of the analysis, and the count stops at the limit)."""
    layers = sum(len(e["layers"]) for e in baseline["entries"]) if baseline else 0
    for budget in budgets:
        if layers > MAX_RESOLVED_LAYERS:
            break
        try:
            layers += len(resolve_model(budget.model, budget.alpha, budget.resolution,
                                        budget.classes, budget.depth).layers)
        except MncostError:
            pass   # reported, with the budget's line, when the budget is checked
    if layers > MAX_RESOLVED_LAYERS:
        raise InputError(f"the baseline and budgets would analyze more than "
                         f"{MAX_RESOLVED_LAYERS:,} layers (the limit of one check): split them "
                         "into several checks")


def run_check(baseline: dict[str, Any] | None, baseline_file: str,
              budgets: Sequence[Budget], tolerance: Tolerance, params: str,
              resolve_model: Callable[..., Network], analyze: Callable[[Network], Report],
              measure: Measure | None = None, latency_tolerance: Tolerance | None = None,
              predict: Predict | None = None) -> CheckResult:
    """Recompute every baseline entry and budget from the current specs and compare.

    Raises:
        InputError: before anything is analyzed or measured, when the baseline's layers and
            the budgets' networks pass :data:`MAX_RESOLVED_LAYERS` (:func:`check_work`).
    """
    check_work(baseline, budgets, resolve_model)
    configs = []
    if baseline is not None:
        if measure is not None and any(not any(k in e for k in LATENCY_KEYS)
                                       for e in baseline["entries"]):
            raise InputError(f"{baseline_file}: the baseline has no latency to check against; "
                             "write it with `mncost baseline write --latency`")
        for entry in baseline["entries"]:
            network = resolve_entry(entry, baseline_file, resolve_model)
            latency = ((latency_tolerance or Tolerance(percent=Decimal(10))),
                       measure(network)) if measure is not None else None
            configs.append(compare_entry(entry, analyze(network), params, tolerance, latency))
    results = []
    for budget in budgets:
        try:
            network = resolve_model(budget.model, budget.alpha, budget.resolution,
                                    budget.classes, budget.depth)
        except MncostError as exc:
            raise InputError(f"{budget.where}: budget for {budget.model!r}: {exc}") from None
        wants_latency = measure is not None and any(m == "latency_ms" for m, _ in budget.limits)
        wants_prediction = predict is not None and any(m == "predicted_latency_ms"
                                                       for m, _ in budget.limits)
        results += check_budget(budget, analyze(network), params,
                                measure(network).quiet_ms if wants_latency else None,
                                predict(network) if wants_prediction else None)
    return CheckResult(tuple(configs), tuple(results), tolerance,
                       latency_tolerance if measure is not None else None, params)
