"""The values of a spec's fields: the vocabulary (activations, roundings, ``classes``) and one
checker per kind of value, each returning the normalised value or raising ``ValueError(reason)``
(:mod:`mncost.spec` turns the reason into ``FILE:LINE: FIELD: reason``). Also the resolution
syntax, ``R`` or ``HxW``, shared with the command line.
"""

from __future__ import annotations

import difflib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..limits import MAX_EXPANSION, MAX_LAYERS, MAX_RESOLUTION, MAX_SPEC_INT

# --------------------------------------------------------------------------------------------
# Vocabulary


@dataclass(frozen=True)
class Activation:
    """Everything about one activation, in one place.

    Attributes:
        name: as a spec writes it after normalising (``hswish``).
        ops: element-wise operations per element (the ``ops`` view's convention,
            :mod:`mncost.costs.analytic`).
        formula: what ``ops`` counts.
        torch: the ``torch.nn`` module class that computes it (``None``: no module).
        aliases: the spellings the papers and libraries use for it (``HS``, ``hard_swish``).
    """

    name: str
    ops: int
    formula: str
    torch: str | None
    aliases: tuple[str, ...] = ()


#: The activations: the spec vocabulary, each one's element-wise cost and its torch module. The
#: one table; the validator, the cost engine and the torch builder all read it.
ACTIVATIONS: Mapping[str, Activation] = OrderedDict((a.name, a) for a in (
    Activation("none", 0, "identity", None, ("linear", "identity")),
    Activation("relu", 1, "max(x, 0)", "ReLU", ("re",)),
    Activation("relu6", 2, "min(max(x, 0), 6)", "ReLU6"),
    Activation("hsigmoid", 4, "relu6(x + 3) / 6: add, 2 clamps, multiply", "Hardsigmoid",
               ("hardsigmoid", "hard_sigmoid", "h-sigmoid")),
    Activation("hswish", 5, "x * hsigmoid(x)", "Hardswish",
               ("hs", "hardswish", "hard_swish", "h-swish")),
    Activation("sigmoid", 4, "1 / (1 + exp(-x)): negate, exp, add, divide", "Sigmoid"),
    Activation("swish", 5, "x * sigmoid(x)", "SiLU", ("silu",)),
    Activation("gelu", 5, "x * (1 + erf(x / sqrt 2)) / 2: divide, erf, add, 2 multiplies",
               "GELU"),
))
_ACT_ALIASES = {alias: a.name for a in ACTIVATIONS.values() for alias in a.aliases}

WIDTH_ROUNDINGS = ("floor", "make_divisible")
#: How a row's repeat count ``n`` scales under the depth multiplier D (see
#: ``mncost.network.width``).
DEPTH_ROUNDINGS = ("ceil", "round", "floor")
#: ``keep_width:`` values: ``false`` (thinned and widened by alpha), ``true`` / ``below`` (not
#: thinned below alpha 1, still widened above it: v2 paper), ``always`` (fixed at every alpha).
KEEP_WIDTHS = (False, True, "below", "always")
EXPANSION_ROUNDINGS = ("round", "make_divisible")
EXPANSION_SIZES = ("width", "factor")
CLASSES = "classes"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_NAMES = ("layers", "input")


# --------------------------------------------------------------------------------------------
# Field checkers: each returns the normalised value or raises ValueError(reason).

def _int(value: Any, minimum: int, maximum: int = MAX_SPEC_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {value!r}")
    if value < minimum:
        word = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"must be {word}, got {value}")
    if value > maximum:
        raise ValueError(f"must be at most {maximum:,}, got {value:,}")
    return value


def _pos_int(value: Any) -> int:
    return _int(value, 1)


def _pos_int_or_none(value: Any) -> int | None:
    """An optional width (an ``mqa`` row's ``value_dim``: ``null`` = its ``key_dim``)."""
    return None if value is None else _pos_int(value)


def _repeats(value: Any) -> int:
    """``n``: a row repeated more than the layer limit could never resolve."""
    return _int(value, 0, MAX_LAYERS)


def _kernel(value: Any) -> int:
    k = _int(value, 1)
    if k % 2 == 0:
        raise ValueError(f"must be odd ('same' padding needs an odd kernel), got {k}")
    return k


def _dw_kernel(value: Any) -> int:
    """An optional depthwise conv's kernel (a ``uib`` row's ``start`` and ``mid``): 0 for none
    (timm's ``a0``/``k0``), else odd like every kernel."""
    if value == 0 and not isinstance(value, bool):
        return 0
    return _kernel(value)


def _pos_num(value: Any) -> float:
    """A factor (``t``, ``se.ratio``): a finite number in (0, :data:`MAX_EXPANSION`]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, got {value!r}")
    if not 0 < value <= MAX_EXPANSION:       # false for nan; exact for a huge int
        raise ValueError(f"must be a number in (0, {MAX_EXPANSION:g}], got {value!r:.40}")
    return value


def _fraction(value: Any) -> float:
    v = _pos_num(value)
    if v > 1:
        raise ValueError(f"must be in (0, 1], got {v}")
    return v


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {value!r}")
    if not value.isprintable():
        raise ValueError(f"must be printable text (no control characters), got {value!r}")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}"
                             + _suggest(str(value), options))
        return value
    return check


def activation(value: Any) -> str:
    """Normalise an activation name (``RE``/``HS`` as in the v3 tables, ``null`` = none)."""
    if value is None:
        return "none"
    if not isinstance(value, str):
        raise ValueError(f"must be an activation name, got {value!r}")
    name = _ACT_ALIASES.get(value.lower(), value.lower())
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {value!r} (known: {', '.join(ACTIVATIONS)})"
                         + _suggest(value.lower(), (*ACTIVATIONS, *_ACT_ALIASES)))
    return name


def _channels(value: Any) -> int | str:
    if value == CLASSES:
        return CLASSES
    try:
        return _pos_int(value)
    except ValueError:
        raise ValueError(f"must be a positive integer up to {MAX_SPEC_INT:,} or 'classes', "
                         f"got {value!r:.40}") from None


def _keep_width(value: Any) -> bool | str:
    if not (isinstance(value, bool) or value in ("below", "always")):
        raise ValueError(f"must be false, true (= below: not thinned below alpha 1) or always "
                         f"(fixed at every alpha), got {value!r}")
    return True if value == "below" else value


def _residual(value: Any) -> str | bool:
    if value == "auto" or isinstance(value, bool):
        return value
    raise ValueError(f"must be auto, true or false, got {value!r}")


def _pool_kernel(value: Any) -> int | None:
    if value is None or value == "global":
        return None
    return _kernel(value)


#: ``R`` or ``HxW``: ASCII digits, and only a lowercase ``x`` between height and width.
_RESOLUTION_RE = re.compile(r"\s*([0-9]+)\s*(?:x\s*([0-9]+)\s*)?", re.ASCII)
RESOLUTION_FORM = "R or HxW with a lowercase x, such as 224 or 224x160"


def parse_resolution(value: Any) -> tuple[int, int]:
    """``224``, ``"224"``, ``"224x160"`` (H x W) or ``[224, 160]`` -> ``(H, W)``.

    Only a lowercase ``x`` separates height and width: a comma separates the values of a list
    (``sweep --res 224,192`` is two resolutions), so ``224,192`` is never one, and ``224X192``
    is refused as ambiguous rather than guessed. Each side is 1 to :data:`MAX_RESOLUTION`.
    """
    if isinstance(value, (list, tuple)) and len(value) == 2:
        h, w = value
    elif isinstance(value, str):
        match = _RESOLUTION_RE.fullmatch(value)
        if match is None:
            hint = ("; a comma separates the values of a list, never height and width"
                    if "," in value else
                    "; write the x in lowercase" if re.fullmatch(r"\s*[0-9]+\s*[X×]\s*[0-9]+\s*",
                                                                 value) else "")
            raise ValueError(f"must be {RESOLUTION_FORM}, got {value[:40]!r}{hint}")
        if max(len(g or "") for g in match.groups()) > len(str(MAX_RESOLUTION)):
            raise ValueError(f"must be at most {MAX_RESOLUTION:,} pixels a side")
        h = int(match.group(1))
        w = int(match.group(2) or h)
    else:
        h = w = value
    for side in (h, w):
        if isinstance(side, bool) or not isinstance(side, int) or side < 1:
            raise ValueError(f"must be at least 1 pixel, got {value!r}")
        if side > MAX_RESOLUTION:
            raise ValueError(f"must be at most {MAX_RESOLUTION:,} pixels a side, got "
                             f"{side:,}")
    return h, w


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
