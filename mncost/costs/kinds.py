"""Layer kinds: one record per resolved layer kind, holding everything the engine knows about it.

A :class:`~mncost.layers.ResolvedLayer`'s ``kind`` names an entry of :data:`REGISTRY`. The
entry carries the kind's table label, whether it is conv-like, its MAC / weight / bias formulas,
the element-wise op it performs itself (the ``ops`` view), what fvcore's default count adds for
it, and the elements it reads and holds at inference. Everything else reads these records:
:data:`KINDS`, the cost engine
(:mod:`mncost.costs`), the counting conventions (:mod:`mncost.conventions`), the MAC columns of
``sweep``, the bytes of :mod:`mncost.memory`. The torch back end keeps one module factory per
kind, keyed the same way (:data:`mncost.torch_backend.builder.MODULES`).

Adding a kind: one :class:`Kind` here, one factory there (a test fails if either is missing),
plus the spec/resolve rows that emit it. Further per-kind figures are further
fields of :class:`Kind` with a default, so existing entries need not change.

Batch norm and activations are properties of a layer, not of its kind (any kind may have
them); their costs are in :mod:`mncost.costs`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping

if TYPE_CHECKING:  # the records only read layers
    from ..network.layers import ResolvedLayer

Formula = Callable[["ResolvedLayer"], int]


def zero(layer: "ResolvedLayer") -> int:
    return 0


# ---------------------------------------------------------------------------------------------
# Formulas. Each takes a resolved layer and returns an integer.

def conv_macs(layer: "ResolvedLayer") -> int:
    """D_F^2 * (M / g) * N * D_K^2 (v1 paper Eq. 1; Eq. 4 with g = M for depthwise).

    Output map D_F x D_F (H_out x W_out here), M input and N output channels, kernel D_K,
    ``g`` groups. A fully connected layer is the 1x1 case on a 1x1 map: M * N.
    """
    o = layer.out_shape
    return o.h * o.w * o.c * (layer.in_shape.c // layer.groups) * layer.kernel ** 2


def conv_weights(layer: "ResolvedLayer") -> int:
    """N * (M / g) * D_K^2 weights."""
    return layer.out_shape.c * (layer.in_shape.c // layer.groups) * layer.kernel ** 2


def conv_biases(layer: "ResolvedLayer") -> int:
    return layer.out_shape.c if layer.bias else 0


def in_elements(layer: "ResolvedLayer") -> int:
    return layer.in_shape.numel


def out_elements(layer: "ResolvedLayer") -> int:
    return layer.out_shape.numel


def add_in_elements(layer: "ResolvedLayer") -> int:
    """A residual add reads the projection and the block input: two maps of the same shape."""
    return 2 * layer.in_shape.numel


def scale_in_elements(layer: "ResolvedLayer") -> int:
    """Squeeze-excite scale reads the map and the 1 x 1 x C gate."""
    return layer.in_shape.numel + layer.in_shape.c


def folded_weights(layer: "ResolvedLayer") -> int:
    """Inference weights: conv weights + one bias per output channel if the layer has a bias
    or a batch norm folded into it (its scale into the weights, its shift into a bias)."""
    return conv_weights(layer) + (layer.out_shape.c if layer.bias or layer.bn else 0)


def global_avg_pool_elements(layer: "ResolvedLayer") -> int:
    """Input elements of a global average pool (``aten::adaptive_avg_pool2d``), else 0."""
    return layer.in_shape.numel if layer.global_pool and layer.pool == "avg" else 0


def pool_term(layer: "ResolvedLayer") -> str:
    """``avg_pool``, ``max_pool``, ``global_avg_pool``, ``global_max_pool``."""
    return ("global_" if layer.global_pool else "") + f"{layer.pool}_pool"


# ---------------------------------------------------------------------------------------------
# The records


@dataclass(frozen=True)
class ElementwiseOp:
    """An element-wise op a kind performs itself, as a named term of a convention.

    Attributes:
        term: the term's name for a layer (``residual_add``; for pools it depends on the
            layer: ``global_avg_pool``...). fvcore terms use fvcore's operator names.
        rule: what is counted, in words.
        per_element: operations per element.
        elements: the elements it applies to in a layer (0: the op does not apply).
        rank: where its terms stand among the kinds' own-op terms of a convention (lower
            first; then registry order).
    """

    term: Callable[["ResolvedLayer"], str]
    rule: str
    per_element: int
    elements: Formula
    rank: int = 100

    def count(self, layer: "ResolvedLayer") -> int:
        return self.per_element * self.elements(layer)


def _named(name: str) -> Callable[["ResolvedLayer"], str]:
    return lambda layer: name


@dataclass(frozen=True)
class Kind:
    """Everything about one resolved layer kind.

    Attributes:
        name: the kind (``ResolvedLayer.kind``).
        label: for tables (``pointwise conv (1x1)``).
        conv: conv family (fc and SE fc are 1x1 convs on a 1x1 map): the kinds with MACs and
            weights, one MAC column each in ``sweep``.
        macs, weights, biases: formulas (0 for the element-wise kinds).
        ops: the element-wise op the kind performs itself, counted by the ``ops`` view (None:
            none beyond batch norm and activation).
        fvcore: what fvcore's default count adds for the kind beyond MACs and batch norm (None:
            nothing; fvcore skips activations, adds, multiplies and local pooling).
        input_elements: activation elements the layer reads (:mod:`mncost.memory`).
        weight_elements: inference weight elements it holds, batch norm folded
            (:mod:`mncost.memory`).
    """

    name: str
    label: str
    conv: bool = False
    macs: Formula = zero
    weights: Formula = zero
    biases: Formula = zero
    ops: ElementwiseOp | None = None
    fvcore: ElementwiseOp | None = None
    input_elements: Formula = in_elements
    weight_elements: Formula = zero


def _conv(name: str, label: str) -> Kind:
    return Kind(name, label, conv=True, macs=conv_macs, weights=conv_weights,
                biases=conv_biases, weight_elements=folded_weights)


#: The registry: layer kind -> record. The order is the order of the kind lists (``KINDS``,
#: the sweep MAC columns).
REGISTRY: Mapping[str, Kind] = OrderedDict((k.name, k) for k in (
    _conv("conv", "standard conv"),
    _conv("pointwise", "pointwise conv (1x1)"),
    _conv("depthwise", "depthwise conv"),
    _conv("grouped", "grouped conv"),
    _conv("fc", "fully connected"),
    _conv("se_fc", "squeeze-excite FC"),
    Kind("pool", "pooling",
         ops=ElementwiseOp(pool_term, "1 per input element (add or compare)", 1, in_elements,
                           rank=2),
         fvcore=ElementwiseOp(_named("adaptive_avg_pool2d"),
                              "1 per input element of global average pools", 1,
                              global_avg_pool_elements)),
    Kind("add", "residual add",
         ops=ElementwiseOp(_named("residual_add"), "1 per output element", 1, out_elements,
                           rank=1),
         input_elements=add_in_elements),
    Kind("scale", "squeeze-excite scale",
         ops=ElementwiseOp(_named("se_scale"), "1 multiply per output element", 1,
                           out_elements, rank=0),
         input_elements=scale_in_elements),
))

#: Every layer kind, in registry order.
KINDS = tuple(REGISTRY)
#: The conv-family kinds: those with MACs (one ``macs_<kind>`` column each in ``sweep``).
MAC_KINDS = tuple(name for name, kind in REGISTRY.items() if kind.conv)
