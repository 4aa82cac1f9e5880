"""A source's printed MACs and parameters, reproduced from mncost's own count.

Each printed figure names how the source counted it (:class:`mncost.zoo.data.Figure`): the
unit and digits it prints, whether it rounds or truncates to them, what it counts (every MAC,
or all but the classifier's; which parameters), and, where the source printed the figures of
another network than its checkpoint (the v3-Small tables' 1280-wide head), that network's spec.
:func:`check` counts the row that way and says whether the printed figure follows: the data
checks itself (``tests/test_zoo_data.py``), and a figure no convention reproduces names why in
its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache

from ..costs.analytic import Cost, analyze
from ..network.catalog import find_spec, load_model
from ..network.resolve import resolve
from ..spec.load import Spec, load_spec
from .data import UNITS, Figure, Published, variants_dir

_ROUNDING = {"round": ROUND_HALF_UP, "floor": ROUND_FLOOR}


@dataclass(frozen=True)
class Check:
    """One printed figure against mncost's count.

    Attributes:
        figure: ``macs`` or ``params``.
        printed: the figure as printed (in its unit).
        counted: mncost's exact count under the figure's conventions.
        expected: ``counted`` in the unit, rounded as the source rounds, to its digits.
        mismatch: the row's reason why they differ, or None.
    """

    figure: str
    printed: Decimal
    counted: int
    expected: Decimal
    mismatch: str | None

    @property
    def agrees(self) -> bool:
        return self.printed == self.expected


@lru_cache(maxsize=16)
def _variant(name: str) -> Spec:
    return load_spec(variants_dir() / name, find_spec)


@lru_cache(maxsize=1024)
def _total(model: str, variant: str | None, alpha: float | None, depth: float | None,
           resolution: tuple[int, int], classes: int) -> tuple[Cost, int]:
    """The network's total cost and its classifier's MACs (the last layer with MACs)."""
    spec = _variant(variant) if variant else load_model(model)
    report = analyze(resolve(spec, alpha, resolution, classes, depth))
    classifier = next((r.cost.macs for r in reversed(report.layers) if r.cost.macs), 0)
    return report.total, classifier


def count(row: Published, figure: str) -> int:
    """The row's ``figure`` (``macs`` / ``params``) counted as its source counted it."""
    fig: Figure = getattr(row, figure)
    total, classifier = _total(row.model, fig.network, row.alpha, row.depth, row.resolution,
                               row.classes)
    if figure == "macs":
        return total.macs - (classifier if fig.count == "no-classifier" else 0)
    if fig.count == "bn3":
        return total.weights + total.biases + 3 * (total.bn_affine // 2)
    return total.params(fig.count)


def expected(counted: int, fig: Figure) -> Decimal:
    """``counted`` as the source would print it."""
    step = Decimal(1).scaleb(-fig.decimals)
    return (Decimal(counted) / UNITS[fig.unit]).quantize(step, rounding=_ROUNDING[fig.rounding])


def check(row: Published) -> list[Check]:
    """Every printed figure of a counted row against mncost's count."""
    out = []
    for name in ("macs", "params"):
        fig: Figure | None = getattr(row, name)
        if fig is None:
            continue
        counted = count(row, name)
        printed = Decimal(repr(fig.value)).quantize(Decimal(1).scaleb(-fig.decimals))
        out.append(Check(name, printed, counted, expected(counted, fig), fig.mismatch))
    return out
