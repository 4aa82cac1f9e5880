"""Budgets: "v3-large at 1.0/224: MACs <= 220M, params <= 5.5M" (a small YAML file, format in
docs/ci.md), read with line numbers and checked against the recomputed costs.

Pure and torch-free; a measured or predicted latency comes in from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from ..costs.analytic import Report
from ..costs.memory import DEFAULT_DTYPE, DTYPE_BYTES, memory_totals
from ..errors import InputError
from ..files.yamlfile import LineDict, LineList, load_yaml_file
from ..limits import MAX_ENTRIES
from ..network.resolve import check_alpha, check_classes, check_depth, check_resolution
from .results import MEMORY_METRICS, BudgetResult
from .units import parse_bytes, parse_count

BUDGET_KEYS = {"max_macs": "macs", "max_params": "params", "max_latency_ms": "latency_ms",
               "max_peak_activation_bytes": "peak_activation_bytes",
               "max_bytes_moved": "bytes_moved",
               "max_predicted_latency_ms": "predicted_latency_ms"}
#: Budget keys whose limits are byte sizes (:func:`parse_bytes`).
_BYTE_BUDGETS = ("max_peak_activation_bytes", "max_bytes_moved")
#: Keys that size the memory budgets (docs/ci.md): the element type (int8: ONNX Runtime's QDQ
#: graph, :mod:`mncost.costs.int8`) and per-channel int8 weights.
_MEMORY_FIELDS = ("dtype", "per_channel")
_BUDGET_FIELDS = ("model", "alpha", "depth", "resolution", "classes", *_MEMORY_FIELDS,
                  *BUDGET_KEYS)


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
    dtype: str = DEFAULT_DTYPE
    per_channel: bool = False


def _budget_error(file: str, line: int | None, key: str, reason: str) -> InputError:
    where = f"{file}:{line}" if line is not None else file
    return InputError(f"{where}: {key}: {reason}")


def load_budgets(path: str) -> tuple[Budget, ...]:
    """Read a budgets YAML file (format in docs/ci.md)::

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
    for key in _MEMORY_FIELDS:
        if key in item and not any(m in MEMORY_METRICS for m, _ in limits):
            raise _budget_error(path, item.line_of(key), f"{name}.{key}",
                                "sizes the memory budgets (max_peak_activation_bytes, "
                                "max_bytes_moved): give one, or drop it")
    dtype = checked("dtype", _dtype) if "dtype" in item else DEFAULT_DTYPE
    per_channel = checked("per_channel", _flag) if "per_channel" in item else False
    if per_channel and dtype != "int8":
        raise _budget_error(path, item.line_of("per_channel"), f"{name}.per_channel",
                            f"quantizes int8 weights: needs dtype: int8, not {dtype}")
    return Budget(model=item["model"],
                  alpha=checked("alpha", check_alpha) if "alpha" in item else None,
                  depth=checked("depth", check_depth) if "depth" in item else None,
                  resolution=checked("resolution", check_resolution)
                  if "resolution" in item else None,
                  classes=checked("classes", check_classes) if "classes" in item else None,
                  limits=limits, where=f"{path}:{item.line}", dtype=dtype,
                  per_channel=per_channel)


def _dtype(value: Any) -> str:
    if value not in DTYPE_BYTES:
        raise ValueError(f"must be one of {', '.join(DTYPE_BYTES)}, got {str(value)[:40]!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {str(value)[:40]!r}")
    return value


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
        values.update(memory_totals(net, budget.dtype, budget.per_channel))
    return [BudgetResult(model=budget.model, alpha=net.alpha, resolution=tuple(net.resolution),
                         classes=net.classes, depth=net.depth, metric=metric, limit=limit,
                         value=values[metric], where=budget.where,
                         skipped="" if values[metric] is not None else LATENCY_SKIPPED)
            for metric, limit in budget.limits]
