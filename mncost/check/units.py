"""Numbers with human units (``220M``, ``5.5M``, ``2MiB``) and tolerances (``0.5%``,
``10k``), as budgets files and ``--tolerance`` write them.

Pure; exact decimal arithmetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from ..errors import InputError

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


def _in_unit(value: Decimal, units: dict[str, int], significant: int = 4) -> str | None:
    """``value`` in the largest of ``units`` where it is written exactly in at most
    ``significant`` digits (``6291456`` -> ``6MiB``), or None."""
    for unit, scale in sorted(units.items(), key=lambda u: -u[1]):
        if scale == 1 or abs(value) < scale:
            continue
        shown = (value / scale).normalize()
        if shown * scale == value and len(shown.as_tuple().digits) <= significant:
            return f"{shown:f}{unit}"
    return None


def format_count(value: Decimal | int) -> str:
    """A count as a budgets file would write it, exactly: ``600M``, ``4.3M``, ``50k``; a
    number with no short exact form in thousands as an integer (``1,234,567``)."""
    value = Decimal(value)
    units = {"k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12}
    return _in_unit(value, units) or (f"{value:,f}".rstrip("0").rstrip(".")
                                      if "." in f"{value:f}" else f"{value:,f}")


def format_bytes(value: Decimal | int) -> str:
    """A byte size as a budgets file would write it, exactly: ``6MiB`` (6,291,456), ``6MB``
    (6,000,000), ``512kB``; else the exact number of bytes (``1,234,567 B``)."""
    value = Decimal(value)
    binary = {u: s for u, s in _BYTE_UNITS.items() if u.endswith("iB")}
    decimal = {u: s for u, s in _BYTE_UNITS.items() if u in ("kB", "MB", "GB")}
    forms = [f for f in (_in_unit(value, decimal), _in_unit(value, binary)) if f]
    shown = min(forms, key=len) if forms else None    # the shorter; 512kB before 500KiB
    return shown or f"{format_count(value) if value < 1000 else f'{value:,f}'} B"
