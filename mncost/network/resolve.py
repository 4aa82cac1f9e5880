"""Resolve a spec into a flat list of layers, once (the "one builder" of the design).

Walks the spec's rows carrying the running feature-map shape, applies the width multiplier and
the spec's conventions, and emits :class:`~mncost.network.layers.ResolvedLayer` records, each
part of a block with the block and its role recorded. Output sizes follow 'same' padding:
``ceil(in / stride)``, computed in exact integers (:func:`ceil_div`), so a side above 2^53
pixels is not rounded through a float.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ..errors import InputError
from ..limits import MAX_ALPHA, MAX_CHANNELS, MAX_DEPTH_MULTIPLIER, MAX_LAYERS, MAX_SPEC_INT
from ..spec.load import ROW_OPS, Row, RowOp, Spec, add_row_op, remove_row_op
from ..spec.values import CLASSES, parse_resolution
from .layers import INPUT, Network, ResolvedLayer, Shape
from .width import expand, make_divisible, repeats, squeeze, thin


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for positive integers, exactly (no float on the way)."""
    return -(-a // b)


def check_alpha(alpha: object) -> float:
    """The width multiplier must be a finite number in (0, :data:`MAX_ALPHA`] (v1 paper
    Sec. 3.3: alpha in (0, 1], and the reference code accepts alpha > 1 too)."""
    # Comparisons only: exact for any int (math.isfinite would overflow on a huge one), and
    # false for nan.
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (
            0 < alpha <= MAX_ALPHA):
        shown = f"{alpha:.6g}" if isinstance(alpha, float) else repr(alpha)[:40]
        raise InputError(f"alpha must be a number in (0, {MAX_ALPHA:g}], got {shown}")
    return float(alpha)


def check_depth(depth: object) -> float:
    """The depth multiplier (EfficientNet's d) must be a finite number in
    (0, :data:`MAX_DEPTH_MULTIPLIER`]."""
    if isinstance(depth, bool) or not isinstance(depth, (int, float)) or not (
            0 < depth <= MAX_DEPTH_MULTIPLIER):
        shown = f"{depth:.6g}" if isinstance(depth, float) else repr(depth)[:40]
        raise InputError(f"depth must be a number in (0, {MAX_DEPTH_MULTIPLIER:g}], got {shown}")
    return float(depth)


def check_classes(classes: object) -> int:
    if isinstance(classes, bool) or not isinstance(classes, int) or not (
            1 <= classes <= MAX_SPEC_INT):
        raise InputError(f"classes must be an integer from 1 to {MAX_SPEC_INT:,}, got "
                         f"{classes!r:.40}")
    return classes


def check_resolution(resolution: object) -> tuple[int, int]:
    try:
        return parse_resolution(resolution)
    except ValueError as exc:
        raise InputError(f"resolution {exc}") from None


@dataclass
class Walk:
    """Running state while walking the rows: the current map, its producer, the layers so far.

    A row builder (:func:`register_row_op`) reads :attr:`shape` and :attr:`last` (the map its
    row reads and the layer that produced it), emits its layers with :meth:`emit` or
    :meth:`conv`, and leaves its output's producer and shape in :attr:`last` and
    :attr:`shape`. :meth:`width` applies alpha and the spec's width rule to a row's ``c``.
    """

    spec: Spec
    alpha: float
    classes: int
    shape: Shape
    last: str = INPUT
    layers: list[ResolvedLayer] = field(default_factory=list)
    #: The current width before any thinning (the table's own number), for expansion factors.
    nominal_c: float = 3
    #: Each row's input (producer, shape) by row name, for ``residual_from``.
    row_inputs: dict[str, tuple[str, Shape]] = field(default_factory=dict)

    def width(self, row: Row, channels: int | str) -> int:
        if channels == CLASSES:
            return self.classes
        return thin(channels, self.alpha, self.spec.width, row.get("keep_width", False))

    def emit(self, layer: ResolvedLayer) -> str:
        self.layers.append(layer)
        return layer.name

    def conv(self, row: Row, name: str, x: str, shape: Shape, c_out: int, *, k: int, s: int,
             groups: int = 1, act: str, bn: bool, bias: bool | None = None,
             kind: str | None = None, block: str | None = None, role: str | None = None
             ) -> tuple[str, Shape]:
        """Emit one convolution (+ batch norm + activation) reading ``x`` of ``shape``, as
        part ``role`` of ``block`` if given."""
        if shape.c % groups or c_out % groups:
            raise row.error("groups", f"groups={groups} must divide the input ({shape.c}) and "
                                      f"output ({c_out}) channels of {name}")
        if kind is None:
            if groups == 1:
                kind = "pointwise" if k == 1 else "conv"
            elif groups == shape.c:
                kind = "depthwise"
            else:
                kind = "grouped"
        if c_out > MAX_CHANNELS:
            raise row.error(None, f"{name} would get {c_out:,} channels (at most "
                                  f"{MAX_CHANNELS:,})")
        out = Shape(c_out, ceil_div(shape.h, s), ceil_div(shape.w, s))
        self.emit(ResolvedLayer(name=name, kind=kind, stage=row.name, inputs=(x,),
                                in_shape=shape, out_shape=out, kernel=k, stride=s,
                                groups=groups, act=act, bn=bn,
                                bias=(not bn) if bias is None else bias, block=block,
                                role=role))
        return name, out


# ---------------------------------------------------------------------------------------------
# One function per row op. Each reads the walk's current map and leaves its own output there.

def _positive(row: Row, key: str, name: str, channels: int, base: int) -> int:
    """A resolved width must be at least one channel (``t: 0.5`` of 1 channel rounds to 0)."""
    if channels < 1:
        raise row.error(key, f"{name} would get {channels} channels ({key}={row[key]} of "
                             f"{base} input channels): a width must be at least 1")
    return channels


def _conv_row(w: Walk, row: Row, name: str, stride: int) -> None:
    if "t" in row.fields:
        c_out = _positive(row, "t", name, expand(w.shape.c, row["t"],
                                                 w.spec.expansion_rounding, w.spec.width),
                          w.shape.c)
    else:
        c_out = w.width(row, row["c"])
    w.last, w.shape = w.conv(row, name, w.last, w.shape, c_out, k=row["k"], s=stride,
                             groups=row["groups"], act=row["act"], bn=row["bn"],
                             bias=row.get("bias"))


def _dw_row(w: Walk, row: Row, name: str, stride: int) -> None:
    w.last, w.shape = w.conv(row, name, w.last, w.shape, w.shape.c, k=row["k"], s=stride,
                             groups=w.shape.c, act=row["act"], bn=row["bn"],
                             bias=row.get("bias"), kind="depthwise")


def _separable_row(w: Walk, row: Row, name: str, stride: int) -> None:
    """Depthwise separable conv (v1 paper Fig. 3): 3x3 depthwise, then 1x1 pointwise."""
    x, shape = w.conv(row, f"{name}.dw", w.last, w.shape, w.shape.c, k=row["k"], s=stride,
                      groups=w.shape.c, act=row["act"], bn=row["bn"], kind="depthwise",
                      block=name, role="dw")
    w.last, w.shape = w.conv(row, f"{name}.pw", x, shape, w.width(row, row["c"]), k=1, s=1,
                             act=row["act"], bn=row["bn"], block=name, role="pw")


def _bottleneck_row(w: Walk, row: Row, name: str, stride: int) -> None:
    """Inverted residual with linear bottleneck (v2 Table 1; v3 Fig. 4 with SE).

    1x1 expansion (skipped when the expanded width equals the input, as torchvision and
    TF-slim do, unless ``expand: always``: timm's InvertedResidual keeps it at t = 1), kxk
    depthwise, optional squeeze-excite, linear 1x1 projection, and a residual add when the rule
    allows it.
    """
    block_in, in_shape = w.last, w.shape
    if "t" in row.fields:
        hidden = _positive(row, "t", name, expand(in_shape.c, row["t"],
                                                  w.spec.expansion_rounding, w.spec.width),
                           in_shape.c)
    elif w.spec.expansion_size == "factor":
        hidden = make_divisible(in_shape.c * (row["exp"] / w.nominal_c), w.spec.width.divisor,
                                None, w.spec.width.round_limit)
    else:
        hidden = w.width(row, row["exp"])
    c_out = w.width(row, row["c"])
    act, bn = row["act"], row["bn"]
    x, shape = block_in, in_shape
    if hidden != in_shape.c or row["expand"] == "always":
        x, shape = w.conv(row, f"{name}.expand", x, shape, hidden, k=1, s=1, act=act, bn=bn,
                          block=name, role="expand")
    x, shape = w.conv(row, f"{name}.dw", x, shape, hidden, k=row["k"], s=stride, groups=hidden,
                      act=act, bn=bn, kind="depthwise", block=name, role="dw")
    if row["se"]:
        x = _squeeze_excite(w, row, name, x, shape, in_shape.c)
    x, shape = w.conv(row, f"{name}.project", x, shape, c_out, k=1, s=1, act="none", bn=bn,
                      block=name, role="project")
    w.last, w.shape = _block_residual(w, row, name, x, shape, block_in, in_shape, stride), shape


def _block_residual(w: Walk, row: Row, name: str, x: str, shape: Shape, block_in: str,
                    in_shape: Shape, stride: int) -> str:
    """The block's output: ``x``, or ``x`` + the block's input ``block_in`` (a ``.add`` layer)
    when the row's ``residual`` rule allows it (auto: stride 1 and equal shapes)."""
    residual = row["residual"]
    fits = stride == 1 and shape == in_shape
    if residual is True and not fits:
        raise row.error("residual", f"residual add between mismatched shapes in {name}: input "
                                    f"{in_shape}, output {shape} (stride {stride})")
    if fits and residual in ("auto", True):
        return w.emit(ResolvedLayer(name=f"{name}.add", kind="add", stage=row.name,
                                    inputs=(x, block_in), in_shape=shape, out_shape=shape,
                                    block=name, role="add"))
    return x


def _expanded(w: Walk, row: Row, name: str, channels: int) -> int:
    """A block's hidden width ``t`` x its (thinned) input width, by the spec's
    ``expansion_rounding`` (MobileNetV4: timm's ``make_divisible(in * t)``)."""
    return _positive(row, "t", name, expand(channels, row["t"], w.spec.expansion_rounding,
                                            w.spec.width), channels)


def _uib_row(w: Walk, row: Row, name: str, stride: int) -> None:
    """Universal inverted bottleneck (MobileNetV4, arXiv 2404.10518, Sec. 3.1, Fig. 4).

    An optional ``start`` depthwise conv on the input (BN, no activation), a 1x1 expansion to
    ``t`` x the input width (BN + act), an optional ``mid`` depthwise conv on the expanded map
    (BN + act), a linear 1x1 projection (BN), and a residual add when the rule allows it. The
    stride is on the middle depthwise when there is one, else on the start one. Which of the
    two are present makes the paper's four instances: both ExtraDW, ``mid`` only the inverted
    bottleneck (IB), ``start`` only ConvNeXt-like, neither the FFN.
    """
    block_in, in_shape = w.last, w.shape
    start, mid = row["start"], row["mid"]
    if stride > 1 and not (start or mid):
        raise row.error("s", f"{name} has no depthwise conv (start and mid are 0) to carry "
                             f"stride {stride}")
    c_out = w.width(row, row["c"])
    act, bn = row["act"], row["bn"]
    x, shape = block_in, in_shape
    if start:
        x, shape = w.conv(row, f"{name}.dw_start", x, shape, shape.c, k=start,
                          s=1 if mid else stride, groups=shape.c, act="none", bn=bn,
                          kind="depthwise", block=name, role="dw_start")
    hidden = _expanded(w, row, name, in_shape.c)
    x, shape = w.conv(row, f"{name}.expand", x, shape, hidden, k=1, s=1, act=act, bn=bn,
                      block=name, role="expand")
    if mid:
        x, shape = w.conv(row, f"{name}.dw_mid", x, shape, hidden, k=mid, s=stride,
                          groups=hidden, act=act, bn=bn, kind="depthwise", block=name,
                          role="dw")
    x, shape = w.conv(row, f"{name}.project", x, shape, c_out, k=1, s=1, act="none", bn=bn,
                      block=name, role="project")
    x = _layer_scale(w, row, name, x, shape)
    w.last, w.shape = _block_residual(w, row, name, x, shape, block_in, in_shape, stride), shape


def _layer_scale(w: Walk, row: Row, name: str, x: str, shape: Shape) -> str:
    """The block's output ``x`` times a learned per-channel gamma (a ``.layer_scale`` layer)
    when the row asks for it (CaiT's LayerScale, timm's LayerScale2d: MobileNetV4's hybrid
    models scale every UIB and MQA block's output before the residual add), else ``x``."""
    if not row["layer_scale"]:
        return x
    return w.emit(ResolvedLayer(name=f"{name}.layer_scale", kind="layer_scale",
                                stage=row.name, inputs=(x,), in_shape=shape, out_shape=shape,
                                block=name, role="layer_scale"))


def _mqa_row(w: Walk, row: Row, name: str, stride: int) -> None:
    """Mobile MQA (MobileNetV4, arXiv 2404.10518, Sec. 3.2; timm's MobileAttention with
    MultiQueryAttention2d).

    A batch norm on the block input (``.norm``); the queries, a 1x1 conv to ``heads`` x
    ``key_dim`` channels (``.q``); one key and one value head shared by every query head
    (multi-query): each a 1x1 conv to ``key_dim`` (``.k``) or ``value_dim`` (``.v``)
    channels, after a ``k`` x ``k`` depthwise conv with stride ``kv_stride`` + BN (``.k_dw``,
    ``.v_dw``) when ``kv_stride`` > 1 (the paper's spatial reduction of keys and values); the
    attention itself (``.attn``: softmax(Q K^T / sqrt(key_dim)) V per head); a 1x1 output
    projection to ``c`` (``.o``); layer scale when asked (``.layer_scale``); and the residual
    add when the rule allows it. Projections have no bias and no activation. ``heads``,
    ``key_dim`` and ``value_dim`` are not thinned by alpha (timm keeps them at every width).
    """
    block_in, in_shape = w.last, w.shape
    heads, key_dim = row["heads"], row["key_dim"]
    value_dim = row["value_dim"] or key_dim
    bn = row["bn"]
    x = block_in
    if bn:
        x = w.emit(ResolvedLayer(name=f"{name}.norm", kind="norm", stage=row.name,
                                 inputs=(block_in,), in_shape=in_shape, out_shape=in_shape,
                                 bn=True, block=name, role="norm"))
    q, q_shape = w.conv(row, f"{name}.q", x, in_shape, heads * key_dim, k=1, s=1, act="none",
                        bn=False, bias=False, block=name, role="q")

    def head(part: str, channels: int) -> tuple[str, Shape]:
        src, shape = x, in_shape
        if row["kv_stride"] > 1:
            src, shape = w.conv(row, f"{name}.{part}_dw", src, shape, shape.c, k=row["k"],
                                s=row["kv_stride"], groups=shape.c, act="none", bn=bn,
                                bias=False, kind="depthwise", block=name, role=f"{part}_dw")
        return w.conv(row, f"{name}.{part}", src, shape, channels, k=1, s=1, act="none",
                      bn=False, bias=False, block=name, role=part)

    k, kv_shape = head("k", key_dim)
    v, _ = head("v", value_dim)
    o_shape = Shape(heads * value_dim, q_shape.h, q_shape.w)
    if o_shape.c > MAX_CHANNELS:
        raise row.error(None, f"{name}.attn would get {o_shape.c:,} channels (at most "
                              f"{MAX_CHANNELS:,})")
    attn = w.emit(ResolvedLayer(
        name=f"{name}.attn", kind="attention", stage=row.name, inputs=(q, k, v),
        in_shape=q_shape, out_shape=o_shape, block=name, role="attn",
        attrs=(("heads", heads), ("key_dim", key_dim), ("value_dim", value_dim),
               ("kv_h", kv_shape.h), ("kv_w", kv_shape.w))))
    x, shape = w.conv(row, f"{name}.o", attn, o_shape, w.width(row, row["c"]), k=1, s=1,
                      act="none", bn=False, bias=False, block=name, role="o")
    x = _layer_scale(w, row, name, x, shape)
    w.last, w.shape = _block_residual(w, row, name, x, shape, block_in, in_shape, stride), shape


def _fused_row(w: Walk, row: Row, name: str, stride: int) -> None:
    """Fused inverted bottleneck (FusedIB: MobileNetV4 Sec. 3.1; EfficientNetV2's Fused-MBConv,
    timm's EdgeResidual): a k x k conv expanding to ``t`` x the input width and carrying the
    stride (BN + act), a linear 1x1 projection (BN), and a residual add when the rule allows
    it."""
    block_in, in_shape = w.last, w.shape
    hidden = _expanded(w, row, name, in_shape.c)
    x, shape = w.conv(row, f"{name}.expand", block_in, in_shape, hidden, k=row["k"], s=stride,
                      act=row["act"], bn=row["bn"], block=name, role="expand")
    x, shape = w.conv(row, f"{name}.project", x, shape, w.width(row, row["c"]), k=1, s=1,
                      act="none", bn=row["bn"], block=name, role="project")
    w.last, w.shape = _block_residual(w, row, name, x, shape, block_in, in_shape, stride), shape


def _squeeze_excite(w: Walk, row: Row, name: str, x: str, shape: Shape, block_in_c: int
                    ) -> str:
    """Squeeze-excite (v3 Sec. 5.3): global pool, FC + act, FC + gate, channel-wise scale;
    parts of the bottleneck ``name``."""
    se = w.spec.se
    sq = squeeze(shape.c if se.of == "expanded" else block_in_c, se)
    pooled = Shape(shape.c, 1, 1)
    p = w.emit(ResolvedLayer(name=f"{name}.se.pool", kind="pool", stage=row.name, inputs=(x,),
                             in_shape=shape, out_shape=pooled, kernel=0, pool="avg",
                             block=name, role="se_pool"))
    f1, s1 = w.conv(row, f"{name}.se.fc1", p, pooled, sq, k=1, s=1, act=se.act, bn=False,
                    bias=True, kind="se_fc", block=name, role="se_fc1")
    f2, _ = w.conv(row, f"{name}.se.fc2", f1, s1, shape.c, k=1, s=1, act=se.gate, bn=False,
                   bias=True, kind="se_fc", block=name, role="se_fc2")
    return w.emit(ResolvedLayer(name=f"{name}.se.scale", kind="scale", stage=row.name,
                                inputs=(x, f2), in_shape=shape, out_shape=shape, block=name,
                                role="se_scale"))


def _residual_from(w: Walk, row: Row, name: str, n: int) -> None:
    """``residual_from: START`` on ``row``: add ``row``'s output and the input of row ``START``
    (a residual spanning rows START...row, e.g. timm's FFN-style blocks written as two 1x1
    conv rows). Both ends must be single layers' rows: a repeated row has no one input."""
    start = row["residual_from"]
    if n != 1 or start not in w.row_inputs:
        raise row.error("residual_from", f"a residual from {start!r} to {row.name!r} spans a "
                                         "row that repeats (n or the depth multiplier); give "
                                         "both rows n: 1 and keep_depth: true")
    x_in, in_shape = w.row_inputs[start]
    if w.shape != in_shape:
        raise row.error("residual_from", f"residual add between mismatched shapes in {name}: "
                                         f"input of {start} {in_shape}, output {w.shape}")
    # ``{name}_add``, not ``{name}.add``: the row's own layer is a leaf module in torch
    w.last = w.emit(ResolvedLayer(name=f"{name}_add", kind="add", stage=row.name,
                                  inputs=(w.last, x_in), in_shape=w.shape, out_shape=w.shape))


def _pool_row(w: Walk, row: Row, name: str, stride: int) -> None:
    k = row["k"]
    if k is None:
        out, k, stride = Shape(w.shape.c, 1, 1), 0, 1
    else:
        out = Shape(w.shape.c, ceil_div(w.shape.h, stride), ceil_div(w.shape.w, stride))
    w.last = w.emit(ResolvedLayer(name=name, kind="pool", stage=row.name, inputs=(w.last,),
                                  in_shape=w.shape, out_shape=out, kernel=k, stride=stride,
                                  pool=row["type"]))
    w.shape = out


def _fc_row(w: Walk, row: Row, name: str, stride: int) -> None:
    if (w.shape.h, w.shape.w) != (1, 1):
        raise row.error("op", f"fc needs a 1x1 input, but {name} gets {w.shape}: put a pool "
                              "row before it")
    w.last, w.shape = w.conv(row, name, w.last, w.shape, w.width(row, row["c"]), k=1, s=1,
                             act=row["act"], bn=False, bias=row["bias"], kind="fc")


def _nominal_width(row: Row, w: Walk) -> float:
    """The table's (unthinned) output width of ``row``: what an expansion factor divides."""
    c = row.get("c")
    if c == CLASSES:
        return w.classes
    if c is not None:
        return c
    if row.op == "conv":                      # c given as t x the input width
        return w.nominal_c * row["t"]
    return w.nominal_c                        # dw and pool keep the width


def _too_many_layers(spec: Spec) -> InputError:
    return InputError(f"{spec.file}: the spec resolves to more than {MAX_LAYERS:,} layers "
                      "(the limit; check the rows' n)")


#: A row op's builder: ``builder(walk, row, name, stride)`` emits one repeat of ``row`` (named
#: ``name``; ``stride`` is the row's ``s`` for its first repeat, 1 after) onto the walk.
RowBuilder = Callable[[Walk, Row, str, int], None]

#: One builder per row op, keyed as :data:`mncost.spec.load.ROW_OPS` (a test holds the two
#: equal; :func:`register_row_op` adds to both).
_ROW_BUILDERS: dict[str, RowBuilder] = {
    "conv": _conv_row, "dw": _dw_row, "separable": _separable_row,
    "bottleneck": _bottleneck_row, "uib": _uib_row, "fused": _fused_row, "mqa": _mqa_row,
    "pool": _pool_row, "fc": _fc_row}


def register_row_op(op: RowOp, builder: RowBuilder) -> None:
    """Add a row op: its record to the spec format (:data:`mncost.spec.load.ROW_OPS`, so specs
    may use ``op: <name>`` or an alias) and its builder here (:class:`Walk` says what a
    builder reads and leaves). The way a kind added with
    :func:`mncost.costs.kinds.register_kind` reaches a spec.

    Raises:
        ValueError: the name or an alias is taken.
    """
    add_row_op(op)
    _ROW_BUILDERS[op.name] = builder


def unregister_row_op(name: str) -> None:
    """Remove a row op added by :func:`register_row_op` (a built-in one cannot be removed)."""
    remove_row_op(name)
    del _ROW_BUILDERS[name]


@contextmanager
def registered_row_op(op: RowOp, builder: RowBuilder) -> Iterator[RowOp]:
    """:func:`register_row_op` for the duration of a ``with`` block (tests)."""
    register_row_op(op, builder)
    try:
        yield op
    finally:
        unregister_row_op(op.name)


def row_repeats(row: Row, spec: Spec, depth: float) -> int:
    """How many times ``row`` repeats under depth multiplier ``depth`` (``keep_depth`` rows,
    pools and classifiers never change)."""
    if row.keep_depth or ROW_OPS[row.op].fixed_depth:
        return row.n
    return repeats(row.n, depth, spec.depth_rounding)


def resolve(spec: Spec, alpha: float | None = None, resolution: object = None,
            classes: int | None = None, depth: float | None = None) -> Network:
    """Resolve ``spec`` at width multiplier ``alpha``, depth multiplier ``depth``, input
    ``resolution`` and ``classes``.

    Args:
        spec: a validated spec (:func:`mncost.spec.load_spec`).
        alpha: width multiplier (v1 paper Sec. 3.3), any number > 0; default the spec's
            (``alpha:``, 1.0 unless it says otherwise).
        resolution: ``R``, ``"HxW"`` or ``(H, W)``; default the spec's (224).
        classes: classifier outputs; default the spec's (1000).
        depth: depth multiplier (EfficientNet Sec. 3.3): each row's ``n`` becomes
            ``ceil(depth * n)`` (the spec's ``depth_rounding``); default the spec's
            (``depth:``, 1.0 unless it says otherwise).

    Returns:
        The :class:`Network` with its layers in execution order.
    """
    alpha = check_alpha(spec.alpha if alpha is None else alpha)
    depth = check_depth(spec.depth if depth is None else depth)
    h, w = spec.resolution if resolution is None else check_resolution(resolution)
    classes = spec.classes if classes is None else check_classes(classes)
    walk = Walk(spec=spec, alpha=alpha, classes=classes, shape=Shape(3, h, w))
    if sum(row_repeats(row, spec, depth) for row in spec.rows) > MAX_LAYERS:
        raise _too_many_layers(spec)
    stages = []
    for row in spec.rows:
        n = row_repeats(row, spec, depth)
        if n:
            stages.append(row.name)
        if n == 1:
            walk.row_inputs[row.name] = (walk.last, walk.shape)
        for j in range(n):
            name = row.name if n == 1 else f"{row.name}.{j}"
            _ROW_BUILDERS[row.op](walk, row, name, row.get("s", 1) if j == 0 else 1)
            if row.get("residual_from") is not None:
                _residual_from(walk, row, name, n)
            walk.nominal_c = _nominal_width(row, walk)
            if len(walk.layers) > MAX_LAYERS:
                raise _too_many_layers(spec)
    if not walk.layers:
        raise InputError(f"{spec.file}: the spec has no layers (every row has n: 0)")
    return Network(spec_name=spec.name, spec_file=spec.file, alpha=alpha, resolution=(h, w),
                   classes=classes, layers=tuple(walk.layers), stages=tuple(stages),
                   depth=depth)
