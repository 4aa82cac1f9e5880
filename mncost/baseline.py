"""Baselines, budgets and the regression check (``mncost baseline write``, ``mncost check``).

Pure and torch-free; latency values come in from the caller. The pieces:

* the baseline file (:data:`BASELINE_SCHEMA`, documented in README.md): per model
  and configuration, the totals and the per-layer counts;
* budgets (a small YAML file: "v3-large at 1.0/224: MACs <= 220M, params <= 5.5M");
* :func:`compare` and :func:`check_budgets`, which return plain result data;
* rendered by :mod:`mncost.render.check`: terminal table (rich), Markdown (a GitHub job
  summary), JUnit XML.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from . import __version__
from .costs import DEFAULT_PARAMS, PARAM_CONVENTIONS, Report
from .errors import InputError, MncostError
from .inputfile import Refused, load_json, read_limited
from .layers import Network
from .limits import MAX_ENTRIES, MAX_JSON_BYTES
from .render.text import resolution_str
from .resolve import check_alpha, check_classes, check_depth, check_resolution
from .yamlfile import LineDict, LineList, load_yaml_file

BASELINE_SCHEMA = "mncost.baseline/1"
#: The metrics a baseline entry holds in ``totals`` and checks (exact integers).
METRICS = ("macs", "params")
#: Memory metrics (float32, naive schedule; README "Memory and the roofline"): written into
#: every new entry and checked when the baseline has them (older baselines do not).
MEMORY_METRICS = ("peak_activation_bytes", "bytes_moved")
_UNITS = {"": 1, "k": 10 ** 3, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12}
_NUMBER_RE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?|\.[0-9]+)\s*([kKMGT]?)\s*$",
                        re.ASCII)
#: Longest count or tolerance accepted (characters): far beyond any count of a network, and
#: short enough that exact arithmetic on it stays instant.
_MAX_NUMBER_CHARS = 40
#: Largest relative tolerance, and the finest step of one (``1e-999999999%`` would make exact
#: comparison build a billion-digit denominator).
_MAX_PERCENT = Decimal(10) ** 6
_MIN_PERCENT_EXPONENT = -12


# ---------------------------------------------------------------------------------------------
# Numbers with human units, and tolerances

_BYTE_UNITS = {"B": 1, "kB": 10 ** 3, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9,
               "KiB": 2 ** 10, "MiB": 2 ** 20, "GiB": 2 ** 30}
_BYTES_RE = re.compile(r"^\s*([0-9][0-9_]*(?:\.[0-9]+)?|\.[0-9]+)\s*"
                       r"(B|kB|KB|MB|GB|KiB|MiB|GiB)\s*$")


def parse_bytes(value: object) -> Decimal:
    """A byte size: ``2MB`` = 2,000,000 (kB, KB, MB, GB: powers of 1000), ``2MiB`` =
    2,097,152 (KiB, MiB, GiB: powers of 1024), ``512B``, or a count as :func:`parse_count`
    reads it (``2M``, ``2000000``)."""
    if isinstance(value, str):
        match = _BYTES_RE.match(value)
        if match:
            return Decimal(match.group(1).replace("_", "")) * _BYTE_UNITS[match.group(2)]
    try:
        return parse_count(value)
    except ValueError:
        raise ValueError(f"must be a byte size such as 2MB (10^6), 2MiB (2^20) or 512kB, "
                         f"got {value!r}") from None


def memory_totals(network: Network) -> dict[str, int]:
    """:data:`MEMORY_METRICS` of a network: float32, the naive schedule."""
    from .memory import layer_traffic, peak_memory

    return {"peak_activation_bytes": peak_memory(network).bytes,
            "bytes_moved": sum(layer_traffic(la).bytes_moved for la in network.layers)}


def parse_count(value: object) -> Decimal:
    """``220M`` -> 220000000, ``5.5M``, ``300k``, ``1.2G``, ``220_000_000`` or a plain number.

    Raises:
        ValueError: with the reason, for the caller to place (file and line, or option).
    """
    if isinstance(value, bool):
        raise ValueError(f"must be a number such as 220M or 5.5M, got {value!r}")
    if isinstance(value, int):
        text = str(value) if value.bit_length() < 4 * _MAX_NUMBER_CHARS else "x" * 99
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(f"must be a number such as 220M or 5.5M, got {value!r:.40}")
    if len(text) > _MAX_NUMBER_CHARS:
        raise ValueError(f"must be a number such as 220M or 5.5M of at most "
                         f"{_MAX_NUMBER_CHARS} characters")
    match = _NUMBER_RE.match(text)
    if not match:
        raise ValueError(f"must be a number such as 220M or 5.5M, got {value!r}")
    return Decimal(match.group(1).replace("_", "")) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class Tolerance:
    """How far a value may move and still pass: ``percent`` of the old value, or an absolute
    ``amount``. The edge passes: exactly 0.5% away is within ``0.5%``."""

    percent: Decimal | None = None
    amount: Decimal | None = None

    @classmethod
    def parse(cls, text: str) -> "Tolerance":
        """``0.5%`` (relative), ``0`` (exact), ``10k`` or ``1000`` (absolute)."""
        text = str(text).strip()
        try:
            if len(text) > _MAX_NUMBER_CHARS:
                raise ValueError
            if text.endswith("%"):
                percent = Decimal(text[:-1].strip())
                if not percent.is_finite() or percent < 0:
                    raise InvalidOperation
                if percent > _MAX_PERCENT or (
                        percent and percent.as_tuple().exponent < _MIN_PERCENT_EXPONENT):
                    raise InputError(f"tolerance {text!r} is out of range: a percentage "
                                     f"from 0 to {_MAX_PERCENT:,}% in steps of at least "
                                     f"1e{_MIN_PERCENT_EXPONENT}%")
                return cls(percent=percent)
            return cls(amount=parse_count(text))
        except (InvalidOperation, ValueError):
            raise InputError(f"tolerance must be a percentage such as 0.5% or an absolute "
                             f"count such as 1000 or 10k, got {text[:40]!r}") from None

    def allows(self, old: float, new: float) -> bool:
        """Whether ``new`` is within tolerance of ``old`` (exact arithmetic)."""
        delta = abs(Fraction(new) - Fraction(old))
        if self.amount is not None:
            return delta <= Fraction(self.amount)
        limit = Fraction(self.percent or 0) / 100 * abs(Fraction(old))
        return delta <= limit

    def __str__(self) -> str:
        if self.amount is not None:
            text = f"{self.amount:f}"
            return text.rstrip("0").rstrip(".") if "." in text else text
        return f"{self.percent:f}%" if self.percent else "0 (exact)"


def delta_percent(old: float, new: float) -> float | None:
    """``(new - old) / old`` in percent; None when ``old`` is 0."""
    return (new - old) / old * 100 if old else None


# ---------------------------------------------------------------------------------------------
# Baseline file

def entry_of(model: str, report: Report, params: str, latency_ms: float | None = None
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
    if latency_ms is not None:
        entry["latency_ms_median"] = latency_ms
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


def _bad(file: str, reason: str) -> InputError:
    return InputError(f"{file}: not a valid mncost baseline: {reason}")


def load_baseline(path: str) -> dict[str, Any]:
    """Read and validate a baseline file.

    Raises:
        InputError: missing or unreadable file, invalid JSON, unknown schema version, or an
            entry without the fields :func:`compare` reads, each said in one line.
    """
    try:
        text = read_limited(path, MAX_JSON_BYTES)
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


def _check_entry(path: str, i: int, entry: Any) -> None:
    where = f"entries[{i}]"
    if not isinstance(entry, dict):
        raise _bad(path, f"{where} must be an object")
    for key, kind in (("model", str), ("alpha", (int, float)), ("resolution", list),
                      ("classes", int), ("totals", dict), ("layers", list)):
        if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
            raise _bad(path, f"{where}.{key} is missing or has the wrong type")
    for metric in METRICS:
        if not _is_int(entry["totals"].get(metric)):
            raise _bad(path, f"{where}.totals.{metric} must be an integer")
    for j, layer in enumerate(entry["layers"]):
        if not (isinstance(layer, dict) and isinstance(layer.get("name"), str)
                and all(_is_int(layer.get(m)) for m in METRICS)):
            raise _bad(path, f"{where}.layers[{j}] needs name, macs and params")
    if "latency_ms_median" in entry:
        latency = entry["latency_ms_median"]
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not (
                math.isfinite(latency) and latency >= 0):
            shown = "null" if latency is None else repr(latency)[:40]
            raise _bad(path, f"{where}.latency_ms_median must be a number of milliseconds "
                             f">= 0, got {shown}")
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


# ---------------------------------------------------------------------------------------------
# Comparison

@dataclass(frozen=True)
class MetricDelta:
    """One metric of one configuration, old (baseline) and new (now)."""

    metric: str
    old: float
    new: float
    ok: bool

    @property
    def delta_percent(self) -> float | None:
        return delta_percent(self.old, self.new)


@dataclass(frozen=True)
class LayerChange:
    """A layer whose counts differ from the baseline; ``old``/``new`` None when it was added
    or removed. ``ok``: its MACs and params each moved within the tolerance (an added or
    removed layer never is): a layer is checked in its own right, so changes that cancel in
    the totals still fail."""

    name: str
    old_macs: int | None
    new_macs: int | None
    old_params: int | None
    new_params: int | None
    ok: bool = False

    @property
    def status(self) -> str:
        if self.old_macs is None:
            return "added"
        if self.new_macs is None:
            return "removed"
        return "within tolerance" if self.ok else "changed"


@dataclass(frozen=True)
class Configuration:
    """A model at one alpha, resolution, class count and depth: what every result is about."""

    model: str
    alpha: float
    resolution: tuple[int, int]
    classes: int
    depth: float = 1.0

    @property
    def config(self) -> str:
        return config_name(self.alpha, self.resolution, self.classes, self.depth)


@dataclass(frozen=True)
class ConfigResult(Configuration):
    """The comparison of one baseline entry with the current specs."""

    metrics: tuple[MetricDelta, ...] = ()
    layers: tuple[LayerChange, ...] = ()

    @property
    def moved_layers(self) -> list[LayerChange]:
        """Layers added, removed or moved beyond the tolerance."""
        return [change for change in self.layers if not change.ok]

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.metrics) and not self.moved_layers


@dataclass(frozen=True)
class BudgetResult(Configuration):
    """One budget line checked: ``metric`` of the configuration must be <= ``limit``.

    ``skipped`` (the reason) when it was not checked: a latency budget without ``--latency``;
    ``value`` is then None and the budget neither holds nor breaks.
    """

    metric: str = ""
    limit: Decimal = Decimal(0)
    value: float | None = 0
    where: str = ""
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.skipped) or Fraction(self.value) <= Fraction(self.limit)


@dataclass(frozen=True)
class CheckResult:
    """Everything ``mncost check`` found."""

    configs: tuple[ConfigResult, ...] = ()
    budgets: tuple[BudgetResult, ...] = ()
    tolerance: Tolerance = field(default_factory=Tolerance)
    latency_tolerance: Tolerance | None = None
    param_convention: str = DEFAULT_PARAMS

    @property
    def moved(self) -> list[ConfigResult]:
        return [c for c in self.configs if not c.ok]

    @property
    def broken(self) -> list[BudgetResult]:
        return [b for b in self.budgets if not b.ok]

    @property
    def skipped(self) -> list[BudgetResult]:
        """Budgets not checked (latency without ``--latency``)."""
        return [b for b in self.budgets if b.skipped]

    @property
    def ok(self) -> bool:
        return not self.moved and not self.broken

    def summary(self) -> str:
        """One line: what passed, what failed."""
        parts = []
        if self.configs:
            parts.append(f"{len(self.moved)} of {len(self.configs)} configurations moved "
                         f"beyond tolerance {self.tolerance}")
        if self.budgets:
            skipped = len(self.skipped)
            checked = len(self.budgets) - skipped
            parts.append(f"{len(self.broken)} of {checked} budgets broken" if not skipped else
                         f"{len(self.broken)} of {checked} checked budgets broken, "
                         f"{skipped} skipped (latency budgets need --latency)")
        return ("OK: " if self.ok else "FAILED: ") + "; ".join(parts)


def config_name(alpha: float, resolution: Sequence[int], classes: int,
                depth: float | None = 1.0) -> str:
    """``alpha=A res=R classes=K``, with ``depth=D`` after alpha when it is not 1."""
    depth_part = f" depth={depth:g}" if depth not in (None, 1.0) else ""
    return f"alpha={alpha:g}{depth_part} res={resolution_str(resolution)} classes={classes}"


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
    ``(tolerance, new median ms)``, fails only when slower.
    """
    new = {"macs": report.total.macs, "params": report.total.params(params),
           **memory_totals(report.network)}
    metrics = [MetricDelta(m, entry["totals"][m], new[m],
                           tolerance.allows(entry["totals"][m], new[m]))
               for m in METRICS + MEMORY_METRICS if _is_int(entry["totals"].get(m))]
    if latency is not None:
        lat_tolerance, median = latency
        old = entry["latency_ms_median"]
        metrics.append(MetricDelta("latency_ms_median", old, median,
                                   median <= old or lat_tolerance.allows(old, median)))
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
# Budgets

BUDGET_KEYS = {"max_macs": "macs", "max_params": "params", "max_latency_ms": "latency_ms",
               "max_peak_activation_bytes": "peak_activation_bytes",
               "max_bytes_moved": "bytes_moved",
               "max_predicted_latency_ms": "predicted_latency_ms"}
#: Budget keys whose limits are byte sizes (:func:`parse_bytes`).
_BYTE_BUDGETS = ("max_peak_activation_bytes", "max_bytes_moved")
_BUDGET_FIELDS = ("model", "alpha", "depth", "resolution", "classes", *BUDGET_KEYS)


@dataclass(frozen=True)
class Budget:
    """One budget entry: a configuration and its limits (metric -> limit)."""

    model: str
    alpha: float | None
    resolution: object
    classes: int | None
    limits: tuple[tuple[str, Decimal], ...]
    where: str
    depth: float | None = None


def _budget_error(file: str, line: int | None, key: str, reason: str) -> InputError:
    where = f"{file}:{line}" if line is not None else file
    return InputError(f"{where}: {key}: {reason}")


def load_budgets(path: str) -> tuple[Budget, ...]:
    """Read a budgets YAML file (format in README.md)::

        budgets:
          - {model: v3-large, alpha: 1.0, resolution: 224, max_macs: 220M, max_params: 5.5M}

    Raises:
        InputError: ``FILE:LINE: FIELD: reason`` for the first problem.
    """
    doc = load_yaml_file(Path(path))
    if not isinstance(doc, LineDict) or not isinstance(doc.get("budgets"), LineList):
        line = doc.line if isinstance(doc, LineDict) else None
        raise _budget_error(path, line, "budgets", "the file must hold a 'budgets:' list")
    unknown = [k for k in doc if k != "budgets"]
    if unknown:
        raise _budget_error(path, doc.line_of(unknown[0]), unknown[0],
                            "unknown key (the file holds only 'budgets:')")
    items = doc["budgets"]
    if not items:
        raise _budget_error(path, items.line, "budgets", "the list is empty")
    if len(items) > MAX_ENTRIES:
        raise _budget_error(path, items.line, "budgets",
                            f"{len(items):,} entries (at most {MAX_ENTRIES:,})")
    return tuple(_budget(path, i, item, items.item_lines[i]) for i, item in enumerate(items))


def _budget(path: str, i: int, item: Any, line: int) -> Budget:
    name = f"budgets[{i}]"
    if not isinstance(item, LineDict):
        raise _budget_error(path, line, name, "each budget must be a mapping with model: and "
                                              "max_macs:/max_params:/max_latency_ms:/"
                                              "max_predicted_latency_ms:")
    for key in item:
        if key not in _BUDGET_FIELDS:
            raise _budget_error(path, item.line_of(key), f"{name}.{key}",
                                f"unknown key (known: {', '.join(_BUDGET_FIELDS)})")
    if not isinstance(item.get("model"), str):
        raise _budget_error(path, item.line_of("model"), f"{name}.model",
                            "a model name or spec path is required")

    def checked(key: str, check: Callable[[Any], Any]) -> Any:
        try:
            return check(item[key])
        except (InputError, ValueError) as exc:
            raise _budget_error(path, item.line_of(key), f"{name}.{key}", str(exc)) from None

    limits = tuple((metric, checked(key, parse_bytes if key in _BYTE_BUDGETS else parse_count))
                   for key, metric in BUDGET_KEYS.items() if key in item)
    if not limits:
        raise _budget_error(path, item.line, name, "give at least one of "
                                                   + ", ".join(BUDGET_KEYS))
    return Budget(model=item["model"],
                  alpha=checked("alpha", check_alpha) if "alpha" in item else None,
                  depth=checked("depth", check_depth) if "depth" in item else None,
                  resolution=checked("resolution", check_resolution)
                  if "resolution" in item else None,
                  classes=checked("classes", check_classes) if "classes" in item else None,
                  limits=limits, where=f"{path}:{item.line}")


#: Why a latency budget was not checked.
LATENCY_SKIPPED = "latency is measured only with --latency"


def check_budget(budget: Budget, report: Report, params: str,
                 latency_ms: float | None = None, predicted_ms: float | None = None
                 ) -> list[BudgetResult]:
    """Each limit of ``budget`` against the recomputed ``report`` (and measured or predicted
    latency); a latency limit with no measurement is a skipped result, never dropped."""
    net = report.network
    values = {"macs": report.total.macs, "params": report.total.params(params),
              "latency_ms": latency_ms, "predicted_latency_ms": predicted_ms}
    if any(m in MEMORY_METRICS for m, _ in budget.limits):
        values.update(memory_totals(net))
    return [BudgetResult(model=budget.model, alpha=net.alpha, resolution=tuple(net.resolution),
                         classes=net.classes, depth=net.depth, metric=metric, limit=limit,
                         value=values[metric], where=budget.where,
                         skipped="" if values[metric] is not None else LATENCY_SKIPPED)
            for metric, limit in budget.limits]


# ---------------------------------------------------------------------------------------------
# Orchestration (the models are resolved through the functions passed in, latency measured by
# ``measure``: the CLI passes the torch profiler there, the tests a fake)

#: ``measure(network) -> median milliseconds``.
Measure = Callable[[Network], float]


def write_entries(configs: Iterable[tuple[str, float, object]], classes: int | None,
                  params: str, resolve_model: Callable[..., Network],
                  analyze: Callable[[Network], Report], measure: Measure | None = None
                  ) -> list[dict[str, Any]]:
    """Baseline entries for ``(model, alpha, resolution[, depth])`` configurations (``None``:
    the spec's own)."""
    entries = []
    for model, alpha, resolution, *depth in configs:
        network = resolve_model(model, alpha, resolution, classes, *depth)
        latency = measure(network) if measure is not None else None
        entries.append(entry_of(model, analyze(network), params, latency))
    return entries


def run_check(baseline: dict[str, Any] | None, baseline_file: str,
              budgets: Sequence[Budget], tolerance: Tolerance, params: str,
              resolve_model: Callable[..., Network], analyze: Callable[[Network], Report],
              measure: Measure | None = None, latency_tolerance: Tolerance | None = None,
              predict: Measure | None = None) -> CheckResult:
    """Recompute every baseline entry and budget from the current specs and compare."""
    configs = []
    if baseline is not None:
        if measure is not None and any("latency_ms_median" not in e
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
                                measure(network) if wants_latency else None,
                                predict(network) if wants_prediction else None)
    return CheckResult(tuple(configs), tuple(results), tolerance,
                       latency_tolerance if measure is not None else None, params)
