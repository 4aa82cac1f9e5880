"""Resolved layers: the one description of a network that every consumer reads.

:func:`mncost.network.resolve.resolve` turns a spec, alpha, resolution and class count into a
:class:`Network`: a flat tuple of :class:`ResolvedLayer` with every shape fixed. The cost engine
(``mncost.costs``) and the torch builder (``mncost.torch_backend``) both read it, so the counted
network and the built network cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Union

__all__ = ["INPUT", "Shape", "ResolvedLayer", "Network", "RECORD_FIELDS", "channel_key",
           "spatial_key"]
#: The name a layer uses to refer to the network input.
INPUT = "input"


@dataclass(frozen=True)
class Shape:
    """A feature map, channels x height x width (batch excluded)."""

    c: int
    h: int
    w: int

    @property
    def numel(self) -> int:
        return self.c * self.h * self.w

    def __str__(self) -> str:
        # C x H x W, the order of every table, CSV and JSON field.
        return f"{self.c}x{self.h}x{self.w}"


#: A kind-specific attribute's value (JSON-ready).
AttrValue = Union[int, float, str, bool]


@dataclass(frozen=True)
class ResolvedLayer:
    """One layer with every shape resolved.

    Attributes:
        name: stable dotted name (``layers.7.2.dw``), also the torch module path.
        kind: a key of :data:`mncost.costs.kinds.REGISTRY` (its record).
        stage: the spec row it comes from (its name), for breakdowns by stage.
        inputs: names of the layers whose outputs it reads (``"input"`` = the image); ``add``
            and ``scale`` read two, ``attention`` three (queries, keys, values).
        in_shape, out_shape: input and output feature maps.
        kernel, stride, groups: convolution / pooling geometry (``kernel`` 0 = global pool).
        act: activation applied after the layer (after batch norm if any).
        bn: whether batch norm follows the layer.
        bias: whether the layer has a bias.
        pool: ``avg`` or ``max`` for pooling layers, else ``None``.
        attrs: the attributes of its kind beyond the fields above, as ``(name, value)`` pairs
            in a fixed order (an attention layer's ``heads``, ``key_dim``, ``value_dim`` and
            its keys' map, ``kv_h`` x ``kv_w``): read by the kind's formulas and torch module
            (:meth:`attr`), written as an ``attrs`` object in the JSON layer record. Empty
            for every other built-in kind.
        block: the block the resolver built it as part of (the bottleneck ``layers.3.1``, the
            separable pair ``layers.2``), else ``None``.
        role: its part in that block, else ``None``: a bottleneck's ``expand`` (absent when
            the expanded width equals the input), ``dw``, ``se_pool``, ``se_fc1``,
            ``se_fc2``, ``se_scale``, ``project`` and ``add``; a separable pair's ``dw`` and
            ``pw``; a UIB's ``dw_start``, ``expand``, ``dw`` (its middle depthwise,
            ``.dw_mid``), ``project``, ``layer_scale`` and ``add``; a FusedIB's ``expand``
            (the k x k conv), ``project`` and ``add``; a Mobile MQA's ``norm``, ``q``,
            ``k_dw``, ``k``, ``v_dw``, ``v``, ``attn``, ``o``, ``layer_scale`` and ``add``.
            Consumers ask for the roles they need
            (:data:`mncost.costs.memory.STREAMED_ROLES`), never for a layer's name.
    """

    name: str
    kind: str
    stage: str
    inputs: tuple[str, ...]
    in_shape: Shape
    out_shape: Shape
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    act: str = "none"
    bn: bool = False
    bias: bool = False
    pool: str | None = None
    attrs: tuple[tuple[str, AttrValue], ...] = ()
    block: str | None = None
    role: str | None = None

    @property
    def global_pool(self) -> bool:
        return self.pool is not None and self.kernel == 0

    def attr(self, name: str) -> AttrValue:
        """The kind-specific attribute ``name`` (:attr:`attrs`)."""
        for key, value in self.attrs:
            if key == name:
                return value
        raise KeyError(f"layer {self.name} ({self.kind}) has no attribute {name!r}")


#: The fields of a layer written in its record after name, kind, stage, inputs and shapes, in
#: order: the JSON layer record and the per-layer CSV of ``analyze`` (``attrs`` follows them in
#: JSON when a layer has any). The fields left out (``pool``, ``block``, ``role``) are read by
#: the engine and not written.
RECORD_FIELDS = ("kernel", "stride", "groups", "act", "bn", "bias")
#: Fields that follow the channels (a depthwise conv has as many groups as channels): they
#: change with alpha but never a spatial size (:func:`spatial_key`).
_CHANNEL_FIELDS = ("groups",)
_SHAPES = ("in_shape", "out_shape")
_FIELDS = tuple(f.name for f in fields(ResolvedLayer))
_NOT_SHAPES = attrgetter(*(f for f in _FIELDS if f not in _SHAPES))
_SPATIAL = attrgetter(*(f for f in _FIELDS if f not in _SHAPES + _CHANNEL_FIELDS))


def channel_key(layer: ResolvedLayer) -> tuple:
    """Everything about ``layer`` except its spatial sizes (every field, the maps by their
    channels only): what its parameters and its work per output pixel depend on. Equal keys
    at two resolutions mean the same layer on other pixels."""
    return (layer.in_shape.c, layer.out_shape.c, *_NOT_SHAPES(layer))


def spatial_key(layer: ResolvedLayer) -> tuple:
    """What, besides the input's size, fixes ``layer``'s spatial sizes: every field but the
    maps and the fields that follow the channels. Equal keys at two alphas mean the same
    spatial sizes at every resolution."""
    return _SPATIAL(layer)


@dataclass(frozen=True)
class Network:
    """A resolved network: the spec it came from, the settings, and its layers in order."""

    spec_name: str
    spec_file: str
    alpha: float
    resolution: tuple[int, int]
    classes: int
    layers: tuple[ResolvedLayer, ...]
    stages: tuple[str, ...]
    #: Depth multiplier the rows' repeats were scaled by (EfficientNet's d).
    depth: float = 1.0

    @property
    def input_shape(self) -> Shape:
        return Shape(3, *self.resolution)

    @property
    def output(self) -> ResolvedLayer:
        return self.layers[-1]

    def layer(self, name: str) -> ResolvedLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
