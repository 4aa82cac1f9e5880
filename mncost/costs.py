"""The analytic cost engine: one registry maps each layer kind to its cost formulas.

Conventions (README, "Conventions"):

* **MACs** are multiply-accumulates of conv and fully connected layers, the papers'
  "mult-adds". One fused multiply-add counts as one; FLOPs in the 2 x MACs sense are
  ``2 * macs``. Biases, batch norm, activations, pooling and element-wise ops are not MACs.
* **Parameters** come in three named conventions (:data:`PARAM_CONVENTIONS`).
* **Element-wise ops** (the ``ops`` view) count the work MACs leave out, per output element
  unless said otherwise (:data:`ACT_OPS` and :func:`elementwise_ops`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Callable, Iterable, Mapping

from .layers import Network, ResolvedLayer

#: Parameter conventions: what "parameters" means in each published figure.
PARAM_CONVENTIONS: Mapping[str, str] = OrderedDict(
    weights="conv and fc weights only (the v1 paper's Table 2)",
    trainable="weights + biases + batch norm scale and shift: sum(p.numel()) of the torch "
              "model (torchvision's num_params); the default",
    checkpoint="trainable + batch norm running mean and variance (a checkpoint's variables; "
               "torch's num_batches_tracked scalars not counted)",
)
DEFAULT_PARAMS = "trainable"

#: Element-wise operations per element for each activation (the ``ops`` view's convention):
#: relu = max(x, 0); relu6 = min(max(x, 0), 6); hsigmoid = relu6(x + 3) / 6 (add, 2 clamps,
#: multiply); hswish = x * hsigmoid(x); sigmoid = 1 / (1 + exp(-x)) (negate, exp, add,
#: divide); swish = x * sigmoid(x).
ACT_OPS: Mapping[str, int] = {"none": 0, "relu": 1, "relu6": 2, "hsigmoid": 4, "hswish": 5,
                              "sigmoid": 4, "swish": 5}
#: Inference batch norm (not folded): y = x * scale + shift, 2 ops per element (as fvcore).
BN_OPS = 2


@dataclass(frozen=True)
class Ops:
    """Element-wise work of one layer, by source (the ``ops`` view)."""

    bn: int = 0          # batch norm: BN_OPS per output element
    act: int = 0         # activation: ACT_OPS[act] per output element
    pool: int = 0        # pooling: one add (avg) or compare (max) per input element
    add: int = 0         # residual add: one per element
    scale: int = 0       # squeeze-excite scale: one multiply per element

    @property
    def total(self) -> int:
        return self.bn + self.act + self.pool + self.add + self.scale

    def __add__(self, other: "Ops") -> "Ops":
        return Ops(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Ops)))


@dataclass(frozen=True)
class Cost:
    """Costs of one layer, or a sum of layers.

    Attributes:
        macs: multiply-accumulates (conv and fc only).
        weights, biases, bn_affine, bn_stats: parameter counts by role.
        activations: output elements (batch 1).
        ops: element-wise work (:class:`Ops`).
        fvcore: what fvcore's ``FlopCountAnalysis`` counts by default for the built model in
            eval mode: MACs + batch norm (2 per element) + adaptive (global) average pooling
            (1 per input element); it skips activations, element-wise ops and local pooling.
    """

    macs: int = 0
    weights: int = 0
    biases: int = 0
    bn_affine: int = 0
    bn_stats: int = 0
    activations: int = 0
    ops: Ops = Ops()
    fvcore: int = 0

    def params(self, convention: str = DEFAULT_PARAMS) -> int:
        """Parameters under a named convention (:data:`PARAM_CONVENTIONS`)."""
        if convention == "weights":
            return self.weights
        if convention == "trainable":
            return self.weights + self.biases + self.bn_affine
        if convention == "checkpoint":
            return self.weights + self.biases + self.bn_affine + self.bn_stats
        raise ValueError(f"unknown parameter convention {convention!r}")

    @property
    def flops(self) -> int:
        """2 x MACs: the "FLOPs" of torch's FlopCounterMode and of most papers that say FLOPs."""
        return 2 * self.macs

    @property
    def total_ops(self) -> int:
        """MACs plus every element-wise op (the ``ops`` view)."""
        return self.macs + self.ops.total

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Cost)))


# ---------------------------------------------------------------------------------------------
# Formulas. Each takes a resolved layer and returns an integer.

def conv_macs(layer: ResolvedLayer) -> int:
    """D_F^2 * (M / g) * N * D_K^2 (v1 paper Eq. 1; Eq. 4 with g = M for depthwise).

    Output map D_F x D_F (H_out x W_out here), M input and N output channels, kernel D_K,
    ``g`` groups. A fully connected layer is the 1x1 case on a 1x1 map: M * N.
    """
    o = layer.out_shape
    return o.h * o.w * o.c * (layer.in_shape.c // layer.groups) * layer.kernel ** 2


def conv_weights(layer: ResolvedLayer) -> int:
    """N * (M / g) * D_K^2 weights."""
    return layer.out_shape.c * (layer.in_shape.c // layer.groups) * layer.kernel ** 2


def conv_biases(layer: ResolvedLayer) -> int:
    return layer.out_shape.c if layer.bias else 0


def bn_affine(layer: ResolvedLayer) -> int:
    """Batch norm scale (gamma) and shift (beta): 2 per output channel."""
    return 2 * layer.out_shape.c if layer.bn else 0


def bn_stats(layer: ResolvedLayer) -> int:
    """Batch norm running mean and variance: 2 per output channel (checkpoint convention)."""
    return 2 * layer.out_shape.c if layer.bn else 0


def elementwise_ops(layer: ResolvedLayer) -> Ops:
    """The ``ops`` view of one layer (see :data:`ACT_OPS`, :data:`BN_OPS`)."""
    out = layer.out_shape.numel
    return Ops(
        bn=BN_OPS * out if layer.bn else 0,
        act=ACT_OPS[layer.act] * out,
        pool=layer.in_shape.numel if layer.kind == "pool" else 0,
        add=out if layer.kind == "add" else 0,
        scale=out if layer.kind == "scale" else 0,
    )


def fvcore_count(layer: ResolvedLayer, macs: int) -> int:
    """fvcore's default count: MACs + 2 x batch-norm elements + adaptive-avg-pool input."""
    pool = layer.in_shape.numel if layer.global_pool and layer.pool == "avg" else 0
    return macs + (BN_OPS * layer.out_shape.numel if layer.bn else 0) + pool


def _zero(layer: ResolvedLayer) -> int:
    return 0


@dataclass(frozen=True)
class KindInfo:
    """One registry entry: a label for tables and the formulas of a layer kind."""

    label: str
    macs: Callable[[ResolvedLayer], int] = _zero
    weights: Callable[[ResolvedLayer], int] = _zero
    biases: Callable[[ResolvedLayer], int] = _zero


_CONV = dict(macs=conv_macs, weights=conv_weights, biases=conv_biases)
#: The registry: layer kind -> formulas. Every kind in ``mncost.layers.KINDS`` has an entry.
REGISTRY: Mapping[str, KindInfo] = OrderedDict(
    conv=KindInfo("standard conv", **_CONV),
    pointwise=KindInfo("pointwise conv (1x1)", **_CONV),
    depthwise=KindInfo("depthwise conv", **_CONV),
    grouped=KindInfo("grouped conv", **_CONV),
    fc=KindInfo("fully connected", **_CONV),
    se_fc=KindInfo("squeeze-excite FC", **_CONV),
    pool=KindInfo("pooling"),
    add=KindInfo("residual add"),
    scale=KindInfo("squeeze-excite scale"),
)


def layer_cost(layer: ResolvedLayer) -> Cost:
    """All costs of one resolved layer, from the registry entry of its kind."""
    info = REGISTRY[layer.kind]
    macs = info.macs(layer)
    return Cost(macs=macs, weights=info.weights(layer), biases=info.biases(layer),
                bn_affine=bn_affine(layer), bn_stats=bn_stats(layer),
                activations=layer.out_shape.numel, ops=elementwise_ops(layer),
                fvcore=fvcore_count(layer, macs))


def _sum(costs: Iterable[Cost]) -> Cost:
    total = Cost()
    for cost in costs:
        total = total + cost
    return total


@dataclass(frozen=True)
class LayerReport:
    """A resolved layer and its costs."""

    layer: ResolvedLayer
    cost: Cost


@dataclass(frozen=True)
class Report:
    """Per-layer costs of a network, with totals and breakdowns (what :func:`analyze` returns).

    ``by_kind`` and ``by_stage`` keep the order of first appearance; ``by_kind`` lists only
    kinds present in the network.
    """

    network: Network
    layers: tuple[LayerReport, ...]
    total: Cost
    by_kind: Mapping[str, Cost]
    by_stage: Mapping[str, Cost]

    def share(self, part: Cost, metric: str = "macs", params: str = DEFAULT_PARAMS) -> float:
        """``part``'s share (0..1) of the total ``metric`` (``macs`` or ``params``)."""
        if metric == "params":
            whole = self.total.params(params)
            return part.params(params) / whole if whole else 0.0
        whole = getattr(self.total, metric)
        return getattr(part, metric) / whole if whole else 0.0


def _group(rows: Iterable[LayerReport], key: Callable[[ResolvedLayer], str]
           ) -> Mapping[str, Cost]:
    groups: dict[str, Cost] = OrderedDict()
    for row in rows:
        k = key(row.layer)
        groups[k] = groups.get(k, Cost()) + row.cost
    return groups


def analyze(network: Network) -> Report:
    """Costs of every layer of ``network``, totals, and breakdowns by kind and by stage."""
    rows = tuple(LayerReport(layer, layer_cost(layer)) for layer in network.layers)
    return Report(network=network, layers=rows, total=_sum(r.cost for r in rows),
                  by_kind=_group(rows, lambda layer: layer.kind),
                  by_stage=_group(rows, lambda layer: layer.stage))
