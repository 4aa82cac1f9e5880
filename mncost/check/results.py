"""What ``mncost check`` found: typed results for the renderers (:mod:`mncost.render.check`).

A configuration's metrics against the baseline (:class:`ConfigResult`), a budget's limits
(:class:`BudgetResult`), and the whole run (:class:`CheckResult`). Plain data; computed by
:mod:`mncost.check.baseline` and :mod:`mncost.check.budgets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Sequence

from ..costs.analytic import DEFAULT_PARAMS
from ..costs.schema import resolution_str
from .units import Tolerance, delta_percent

#: The metrics a baseline entry holds in ``totals`` and checks (exact integers).
COUNT_METRICS = ("macs", "params")
#: Memory metrics (float32, naive schedule; docs/memory.md "Memory and the roofline"): written into
#: every new entry and checked when the baseline has them (older baselines do not).
MEMORY_METRICS = ("peak_activation_bytes", "bytes_moved")


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
