"""Grid values as the command line writes them: ``--alpha 0.25,0.5:1.5:0.05``,
``--depth 1.0,1.4`` and ``--res 128,224x160,96:480:16`` (``sweep``, ``baseline write``).

Pure; ranges in exact decimal arithmetic.
"""

from __future__ import annotations

from decimal import Decimal, DecimalException, InvalidOperation
from typing import Iterable

from ..errors import InputError
from ..network.resolve import check_alpha, check_depth, check_resolution

#: Largest grid accepted, so a typo in a range step cannot exhaust memory.
MAX_CONFIGS = 2_000_000


def _decimal(text: str, what: str) -> Decimal:
    if len(text.strip()) > 40:
        raise InputError(f"{what}: {text.strip()[:40]!r}... is too long for a number")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"{what}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise InputError(f"{what}: {text.strip()!r} is not a finite number")
    return value


def expand_range(text: str, what: str) -> list[Decimal]:
    """``start:stop:step`` -> ``[start, start + step, ..., stop]`` (stop included when the steps
    land on it), in exact decimal arithmetic so ``0.25:1.5:0.05`` ends at 1.5, not 1.4999..."""
    parts = text.split(":")
    if len(parts) != 3:
        raise InputError(f"{what}: range {text!r} must be start:stop:step, e.g. 0.25:1.5:0.05")
    start, stop, step = (_decimal(p, what) for p in parts)
    if step <= 0:
        raise InputError(f"{what}: range {text!r} needs a step > 0")
    if stop < start:
        raise InputError(f"{what}: range {text!r} ends before it starts")
    too_many = InputError(f"{what}: range {text[:80]!r} has more than {MAX_CONFIGS:,} values "
                          "(the limit)")
    try:   # decimal's context stops at 28 digits: 1:1e30:1 cannot even be divided
        count = int((stop - start) // step) + 1
        if count > MAX_CONFIGS:
            raise too_many
        return [start + i * step for i in range(count)]
    except DecimalException:
        raise too_many from None


def _items(text: str, what: str) -> list[str]:
    items = [item.strip() for item in str(text).split(",")]
    if not text or not str(text).strip() or any(not item for item in items):
        raise InputError(f"{what}: {text!r} must be a comma-separated list of values or "
                         "start:stop:step ranges")
    return items


def _unique(values: Iterable) -> tuple:
    return tuple(dict.fromkeys(values))


def parse_alphas(text: str) -> tuple[float, ...]:
    """``--alpha``: ``0.25,0.5,1.0``, ``0.25:1.5:0.05`` or a mix; each value checked > 0.
    Duplicates are dropped, the order kept."""
    values: list[float] = []
    for item in _items(text, "--alpha"):
        decimals = expand_range(item, "--alpha") if ":" in item else [_decimal(item, "--alpha")]
        values += [check_alpha(float(d)) for d in decimals]
    return _unique(values)


def parse_depths(text: str) -> tuple[float, ...]:
    """``--depth``: ``1.0,1.4``, ``1.0:2.0:0.2`` or a mix; each value checked > 0."""
    values: list[float] = []
    for item in _items(text, "--depth"):
        decimals = expand_range(item, "--depth") if ":" in item else [_decimal(item, "--depth")]
        values += [check_depth(float(d)) for d in decimals]
    return _unique(values)


def parse_resolutions(text: str) -> tuple[tuple[int, int], ...]:
    """``--res``: ``128,160,224``, ``224x160`` (H x W), ``96:480:16`` (integers) or a mix."""
    values: list[tuple[int, int]] = []
    for item in _items(text, "--res"):
        if ":" in item:
            for d in expand_range(item, "--res"):
                if d != d.to_integral_value():
                    raise InputError(f"--res: range {item!r} gives {d}, not a whole number "
                                     "of pixels")
                values.append(check_resolution(int(d)))
        else:
            values.append(check_resolution(item))
    return _unique(values)
