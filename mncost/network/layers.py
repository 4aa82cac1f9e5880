"""Resolved layers: the one description of a network that every consumer reads.

:func:`mncost.resolve.resolve` turns a spec, alpha, resolution and class count into a
:class:`Network`: a flat tuple of :class:`ResolvedLayer` with every shape fixed. The cost engine
(``mncost.costs``) and the torch builder (``mncost.torch_backend``) both read it, so the counted
network and the built network cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INPUT", "Shape", "ResolvedLayer", "Network"]
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


@dataclass(frozen=True)
class ResolvedLayer:
    """One layer with every shape resolved.

    Attributes:
        name: stable dotted name (``layers.7.2.dw``), also the torch module path.
        kind: a key of :data:`mncost.kinds.REGISTRY` (its record).
        stage: the spec row it comes from (its name), for breakdowns by stage.
        inputs: names of the layers whose outputs it reads (``"input"`` = the image); ``add``
            and ``scale`` read two.
        in_shape, out_shape: input and output feature maps.
        kernel, stride, groups: convolution / pooling geometry (``kernel`` 0 = global pool).
        act: activation applied after the layer (after batch norm if any).
        bn: whether batch norm follows the layer.
        bias: whether the layer has a bias.
        pool: ``avg`` or ``max`` for ``pool`` layers.
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

    @property
    def global_pool(self) -> bool:
        return self.kind == "pool" and self.kernel == 0


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
