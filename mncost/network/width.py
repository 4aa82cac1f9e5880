"""Width-multiplier rounding conventions, each named once (see docs/conventions.md, "Conventions").

The papers scale every layer's channels by the width multiplier alpha (v1 paper, Sec. 3.3);
the reference implementations then round the result, and the published figures depend on how.
"""

from __future__ import annotations

import math

from ..spec.load import SqueezeExcite, Width


def make_divisible(value: float, divisor: int, minimum: int | None = None,
                   round_limit: float = 0.9) -> int:
    """Nearest multiple of ``divisor`` to ``value``, at least ``minimum`` (default ``divisor``),
    bumped up one step if rounding down lost more than ``1 - round_limit`` of ``value``.

    This is the rule of the MobileNet v2/v3 reference code (TF-slim ``_make_divisible``,
    torchvision ``_make_divisible``, timm ``make_divisible(..., round_limit=.9)``).
    """
    minimum = divisor if minimum is None else minimum
    rounded = max(minimum, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def thin(channels: int, alpha: float, width: Width, keep_width: bool | str = False) -> int:
    """Channels of a layer of nominal width ``channels`` under width multiplier ``alpha``.

    ``floor`` (TF-slim MobileNet v1): ``max(int(alpha * c), min)``. ``make_divisible`` (v2/v3):
    :func:`make_divisible` of ``alpha * c``. With ``keep_width`` an alpha below 1 does not thin
    the layer (v2 paper: "we apply width multiplier to all layers except the very last
    convolutional layer"); an alpha above 1 still widens it (torchvision: ``max(1.0, alpha)``).
    With ``keep_width="always"`` the layer has its alpha-1 width at every alpha, in both
    directions (torchvision MnasNet's 1280-wide head).

    The product ``alpha * c`` is taken in floating point, as every reference implementation
    does (so ``int(0.29 * 100)`` is 28 there and here).
    """
    if keep_width == "always":
        alpha = 1.0
    elif keep_width:
        alpha = max(alpha, 1.0)
    value = channels * alpha
    if width.rounding == "floor":
        return max(int(value), width.min)
    return make_divisible(value, width.divisor, width.min, width.round_limit)


def expand(channels: int, t: float, rounding: str, width: Width) -> int:
    """Expanded (hidden) width ``t * channels`` of an inverted residual block (v2 Table 1).

    ``round``: ``int(round(in * t))`` (torchvision); ``make_divisible``: to ``width.divisor``
    (TF-slim ``expand_input_by_factor``).
    """
    if rounding == "round":
        return int(round(channels * t))
    return make_divisible(channels * t, width.divisor, None, width.round_limit)


def squeeze(base: int, se: SqueezeExcite) -> int:
    """Squeeze width of a squeeze-excite unit (v3 paper Sec. 5.3; Hu et al. 2018).

    ``int(base * ratio)`` (v3: ``exp // 4``), then :func:`make_divisible` to ``se.divisor``
    (v3: 8) or, with no divisor, at least 1 (EfficientNet: ``max(1, int(in * 0.25))``).
    """
    value = int(base * se.ratio)
    if se.divisor is None:
        return max(1, value)
    return make_divisible(value, se.divisor)


def repeats(n: int, depth: float, rounding: str) -> int:
    """Repeats of a row of ``n`` blocks under depth multiplier ``depth`` (EfficientNet Sec. 3.3).

    ``ceil``: ``ceil(depth * n)`` (EfficientNet's TF reference ``round_repeats``, torchvision
    ``adjust_depth``, timm ``depth_trunc="ceil"``); ``round``: Python's ``round`` (timm
    ``depth_trunc="round"``); ``floor``: ``int(depth * n)``. A row that has blocks keeps at
    least one; ``n: 0`` stays 0.
    """
    if n == 0 or depth == 1.0:
        return n
    value = depth * n
    if rounding == "ceil":
        scaled = math.ceil(value)
    elif rounding == "round":
        scaled = round(value)
    else:
        scaled = int(value)
    return max(1, int(scaled))
