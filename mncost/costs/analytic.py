"""The analytic cost engine: each layer's costs from its kind's record
(:mod:`mncost.costs.kinds`).

Conventions (docs/conventions.md, "Conventions"):

* **MACs** are multiply-accumulates of conv and fully connected layers, the papers'
  "mult-adds". One fused multiply-add counts as one; FLOPs in the 2 x MACs sense are
  ``2 * macs``. Biases, batch norm, activations, pooling and element-wise ops are not MACs.
* **Parameters** come in three named conventions (:data:`PARAM_CONVENTIONS`).
* **Element-wise ops** count the work MACs leave out, per output element unless said
  otherwise (each activation's ``ops`` in :data:`mncost.spec.values.ACTIVATIONS`,
  :data:`BN_OPS` and each kind's own op,
  :func:`elementwise_ops`). The **ops** view is MACs + element-wise ops (:attr:`Cost.ops`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Callable, Iterable, Mapping

from ..network.layers import Network, ResolvedLayer
from ..spec.values import ACTIVATIONS
from .kinds import REGISTRY, Kind

#: Parameter conventions: what "parameters" means in each published figure.
PARAM_CONVENTIONS: Mapping[str, str] = OrderedDict(
    weights="conv and fc weights only (the v1 paper's Table 2)",
    trainable="weights + biases + batch norm scale and shift: sum(p.numel()) of the torch "
              "model (torchvision's num_params); the default",
    checkpoint="trainable + batch norm running mean and variance (a checkpoint's variables; "
               "torch's num_batches_tracked scalars not counted)",
)
DEFAULT_PARAMS = "trainable"

#: Inference batch norm (not folded): y = x * scale + shift, 2 ops per element (as fvcore).
BN_OPS = 2


@dataclass(frozen=True)
class Elementwise:
    """Element-wise work of one layer (or a sum of layers), by source."""

    bn: int = 0          # batch norm: BN_OPS per output element
    act: int = 0         # activation: its ops per output element (ACTIVATIONS)
    own: int = 0         # the kind's own op (pool, residual add, SE scale): Kind.ops

    @property
    def total(self) -> int:
        return self.bn + self.act + self.own

    def __add__(self, other: "Elementwise") -> "Elementwise":
        return Elementwise(*(getattr(self, f.name) + getattr(other, f.name)
                             for f in fields(Elementwise)))


@dataclass(frozen=True)
class Cost:
    """Costs of one layer, or a sum of layers.

    Attributes:
        macs: multiply-accumulates (conv and fc only).
        weights, biases, bn_affine, bn_stats: parameter counts by role.
        activations: output elements (batch 1).
        elementwise: element-wise work (:class:`Elementwise`).
        fvcore: what fvcore's ``FlopCountAnalysis`` counts by default for the built model in
            eval mode (:func:`fvcore_count`).
    """

    macs: int = 0
    weights: int = 0
    biases: int = 0
    bn_affine: int = 0
    bn_stats: int = 0
    activations: int = 0
    elementwise: Elementwise = Elementwise()
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
    def ops(self) -> int:
        """The ``ops`` view: MACs plus every element-wise op."""
        return self.macs + self.elementwise.total

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Cost)))


# ---------------------------------------------------------------------------------------------
# Per-layer formulas (the per-kind ones are in :mod:`mncost.costs.kinds`)

def bn_affine(layer: ResolvedLayer) -> int:
    """Batch norm scale (gamma) and shift (beta): 2 per output channel."""
    return 2 * layer.out_shape.c if layer.bn else 0


def bn_stats(layer: ResolvedLayer) -> int:
    """Batch norm running mean and variance: 2 per output channel (checkpoint convention)."""
    return 2 * layer.out_shape.c if layer.bn else 0


def bn_ops(layer: ResolvedLayer) -> int:
    """Inference batch norm: :data:`BN_OPS` per output element of a batch-normed layer."""
    return BN_OPS * layer.out_shape.numel if layer.bn else 0


def elementwise_ops(layer: ResolvedLayer) -> Elementwise:
    """The element-wise work of one layer: batch norm, activation (its ``ops`` per element in
    :data:`mncost.spec.values.ACTIVATIONS`) and the kind's own op
    (:attr:`mncost.costs.kinds.Kind.ops`)."""
    own = REGISTRY[layer.kind].ops
    return Elementwise(bn=bn_ops(layer),
                       act=ACTIVATIONS[layer.act].ops * layer.out_shape.numel,
                       own=own.count(layer) if own is not None else 0)


def fvcore_extra(layer: ResolvedLayer) -> int:
    """What fvcore counts for the layer's kind beyond MACs and batch norm
    (:attr:`mncost.costs.kinds.Kind.fvcore`: the global average pool's input)."""
    extra = REGISTRY[layer.kind].fvcore
    return extra.count(layer) if extra is not None else 0


def fvcore_count(layer: ResolvedLayer, macs: int) -> int:
    """fvcore's default count, eval mode: MACs + batch norm (:data:`BN_OPS` per element, as
    fvcore's ``batchnorm_flop_jit``) + :func:`fvcore_extra`. It skips activations, residual
    adds, the SE multiply and local pooling. :func:`mncost.costs.conventions.fvcore_convention`
    states the same sum term by term."""
    return macs + bn_ops(layer) + fvcore_extra(layer)


def layer_macs(layer: ResolvedLayer) -> int:
    """The layer's MACs: its kind's formula (:attr:`mncost.costs.kinds.Kind.macs`)."""
    return REGISTRY[layer.kind].macs(layer)


def network_macs(network: Network) -> int:
    """The network's MACs (``analyze(network).total.macs``, without the other counts)."""
    return sum(map(layer_macs, network.layers))


def layer_cost(layer: ResolvedLayer) -> Cost:
    """All costs of one resolved layer, from the registry entry of its kind."""
    kind: Kind = REGISTRY[layer.kind]
    macs = layer_macs(layer)
    return Cost(macs=macs, weights=kind.weights(layer), biases=kind.biases(layer),
                bn_affine=bn_affine(layer), bn_stats=bn_stats(layer),
                activations=layer.out_shape.numel, elementwise=elementwise_ops(layer),
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
