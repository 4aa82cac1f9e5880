"""Counting conventions, named, with the exact terms between them.

Tools disagree on one network by 2-15% because they count different things, not because one is
wrong. This module takes one analytic :class:`~mncost.costs.Report` and states each convention as
the MACs plus named integer terms, so every gap is visible and exact:

* ``macs``: multiply-accumulates of conv and fc layers, the papers' "mult-adds" (v1 paper
  Eq. 1 and 4; v2 Sec. 3.4; v3 Table 3 "MAdds").
* ``flops``: 2 x MACs, the multiply and the add of each MAC counted apart (torch's
  ``torch.utils.flop_counter.FlopCounterMode``, and most papers that say "FLOPs").
* ``fvcore``: fvcore ``FlopCountAnalysis``'s default total for the built model in eval mode:
  MACs + batch norm (2 per element: scale and shift) + adaptive average pooling (1 per input
  element). It skips activations, residual adds, the squeeze-excite multiply and local pooling.
* ``ops``: MACs + every element-wise operation (batch norm, each activation including h-swish
  and h-sigmoid, the squeeze-excite scale multiply, residual adds, pooling), with the per-element
  costs of :data:`mncost.spec.values.ACTIVATIONS` and :data:`mncost.costs.analytic.BN_OPS`.

The parameter conventions (``weights``, ``trainable``, ``checkpoint``;
:data:`mncost.costs.PARAM_CONVENTIONS`) are stated the same way, as sums of named terms.

Pure: reads the engine's numbers and never imports torch.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from ..network.layers import Network, ResolvedLayer
from ..spec.values import ACTIVATIONS
from .analytic import BN_OPS, PARAM_CONVENTIONS, LayerReport, Report
from .kinds import CONV_BIAS_RULE, REGISTRY, ElementwiseOp

#: Counting conventions in the order they are shown.
COUNT_CONVENTIONS: Mapping[str, str] = OrderedDict(
    macs="multiply-accumulates of conv and fc layers (the papers' mult-adds)",
    flops="2 x MACs: multiply and add counted apart (torch FlopCounterMode)",
    fvcore="fvcore FlopCountAnalysis default, eval mode: MACs + batch norm + adaptive avg pool",
    ops="MACs + every element-wise op (batch norm, activations, SE scale, residual add, pool)",
)


@dataclass(frozen=True)
class Term:
    """One named part of a convention's total.

    Attributes:
        name: identifier (``macs``, ``batch_norm``, ``hswish``, ``se_scale``, ``weights``...).
            fvcore terms use fvcore's operator names (``batch_norm``, ``adaptive_avg_pool2d``).
        count: the term's integer contribution to the total.
        rule: what is counted, in words.
        layers: how many layers contribute to it.
        elements: elements it applies to (batch 1), for element-wise terms; else ``None``.
        per_element: operations per element, for element-wise terms; else ``None``.
    """

    name: str
    count: int
    rule: str
    layers: int = 0
    elements: int | None = None
    per_element: int | None = None


@dataclass(frozen=True)
class Convention:
    """A convention's total as a sum of named terms (the first is ``macs`` for counts)."""

    name: str
    description: str
    terms: tuple[Term, ...]

    @property
    def total(self) -> int:
        return sum(t.count for t in self.terms)

    def term(self, name: str) -> Term:
        for t in self.terms:
            if t.name == name:
                return t
        raise KeyError(name)

    def beyond(self, base: str = "macs") -> int:
        """The total minus the ``base`` term: what this convention adds to plain MACs."""
        return self.total - self.term(base).count


@dataclass(frozen=True)
class Conventions:
    """Every counting and parameter convention of one resolved network."""

    network: Network
    counts: tuple[Convention, ...]
    params: tuple[Convention, ...]

    def count(self, name: str) -> Convention:
        return _named(self.counts, name)

    def param(self, name: str) -> Convention:
        return _named(self.params, name)


def _named(conventions: Iterable[Convention], name: str) -> Convention:
    for convention in conventions:
        if convention.name == name:
            return convention
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Element-wise terms: group the engine's per-layer element-wise work by what produced it.

def _elementwise(rows: Iterable[LayerReport], name: str, rule: str, per_element: int,
                 count: Callable[[LayerReport], int],
                 elements: Callable[[ResolvedLayer], int]) -> Term:
    """Sum ``count`` over the rows where it is non-zero, with the elements they apply to."""
    hits = [r for r in rows if count(r)]
    return Term(name=name, count=sum(count(r) for r in hits), rule=rule, layers=len(hits),
                elements=sum(elements(r.layer) for r in hits), per_element=per_element)


def _out(layer: ResolvedLayer) -> int:
    return layer.out_shape.numel


def macs_term(report: Report) -> Term:
    """MACs, and the layers that have some."""
    layers = sum(1 for r in report.layers if r.cost.macs)
    return Term("macs", report.total.macs, "multiply-accumulates of conv and fc layers",
                layers=layers)


def batch_norm_term(report: Report) -> Term:
    """Inference batch norm, not folded: ``y = x * scale + shift``, 2 ops per output element
    (fvcore's ``batchnorm_flop_jit`` in eval mode with affine counts the same)."""
    return _elementwise(report.layers, "batch_norm",
                        f"{BN_OPS} per output element of each batch-normed layer", BN_OPS,
                        lambda r: r.cost.elementwise.bn, _out)


def activation_terms(report: Report) -> tuple[Term, ...]:
    """One term per activation present (ReLU 1, ReLU6 2, h-sigmoid 4, h-swish 5 ... per
    element: :data:`mncost.spec.values.ACTIVATIONS`; h-swish is ``x * relu6(x + 3) / 6``, v3
    Sec. 5.2)."""
    terms = []
    for act, per in ((a.name, a.ops) for a in ACTIVATIONS.values()):
        if per == 0:
            continue
        term = _elementwise(report.layers, act, f"{per} per output element of {act} layers",
                            per, lambda r, a=act: r.cost.elementwise.act
                            if r.layer.act == a else 0, _out)
        if term.layers:
            terms.append(term)
    return tuple(terms)


def _kind_terms(report: Report, op_of: Callable[[str], ElementwiseOp | None]
                ) -> tuple[Term, ...]:
    """One term per kind (by :attr:`ElementwiseOp.rank`, then registry order) and term name
    (order of first appearance) of the kinds' own element-wise ops: ``op_of(kind)`` picks the
    op (:attr:`Kind.ops` for the ``ops`` view, :attr:`Kind.fvcore` for fvcore)."""
    terms = []
    kinds = [(op.rank, i, kind) for i, kind in enumerate(REGISTRY)
             if (op := op_of(kind)) is not None]
    for _, _, kind in sorted(kinds):
        op = op_of(kind)
        rows = [r for r in report.layers if r.layer.kind == kind and op.count(r.layer)]
        for name in OrderedDict((op.term(r.layer), None) for r in rows):
            terms.append(_elementwise(rows, name, op.rule, op.per_element,
                                      lambda r, n=name, o=op: o.count(r.layer)
                                      if o.term(r.layer) == n else 0, op.elements))
    return tuple(terms)


def _present(terms: Iterable[Term]) -> tuple[Term, ...]:
    return tuple(t for t in terms if t.layers)


# ---------------------------------------------------------------------------------------------
# The conventions

def macs_convention(report: Report) -> Convention:
    return Convention("macs", COUNT_CONVENTIONS["macs"], (macs_term(report),))


def flops_convention(report: Report) -> Convention:
    """2 x MACs: FlopCounterMode counts ``2 * N * C_in/g * k^2 * H_out * W_out`` per conv."""
    macs = macs_term(report)
    second = Term("mac_adds", macs.count, "the add of each multiply-accumulate, counted apart",
                  layers=macs.layers)
    return Convention("flops", COUNT_CONVENTIONS["flops"], (macs, second))


def fvcore_convention(report: Report) -> Convention:
    """fvcore's default total (:func:`mncost.costs.fvcore_count`, term by term): MACs, batch
    norm, and what each kind adds (:attr:`mncost.costs.kinds.Kind.fvcore`: fvcore counts
    ``aten::adaptive_avg_pool2d`` as one op per input element and has no handle for local or
    max pooling). The terms carry fvcore's operator names, so each one can be set beside
    ``FlopCountAnalysis.by_operator()``."""
    terms = (batch_norm_term(report), *_kind_terms(report, lambda k: REGISTRY[k].fvcore))
    return Convention("fvcore", COUNT_CONVENTIONS["fvcore"],
                      (macs_term(report), *_present(terms)))


def ops_convention(report: Report) -> Convention:
    terms = (batch_norm_term(report), *activation_terms(report),
             *_kind_terms(report, lambda k: REGISTRY[k].ops))
    return Convention("ops", COUNT_CONVENTIONS["ops"], (macs_term(report), *_present(terms)))


def _bias_rule(report: Report) -> str:
    """The rule of the biases term: the :attr:`~mncost.costs.kinds.Kind.bias_rule` of each
    kind the network has biases of (registry order), or the conv kinds' when it has none."""
    kinds = {r.layer.kind for r in report.layers if r.cost.biases}
    rules = dict.fromkeys(kind.bias_rule for name, kind in REGISTRY.items() if name in kinds)
    return "; ".join(rules) or CONV_BIAS_RULE


def param_conventions(report: Report) -> tuple[Convention, ...]:
    """weights; + biases + batch norm scale/shift (trainable); + running statistics
    (checkpoint). Terms per :data:`mncost.costs.PARAM_CONVENTIONS`."""
    total = report.total
    weighted = sum(1 for r in report.layers if r.cost.weights)
    bns = sum(1 for r in report.layers if r.layer.bn)
    biased = sum(1 for r in report.layers if r.cost.biases)
    weights = Term("weights", total.weights, "conv and fc weights: N * M/g * k^2", weighted)
    biases = Term("biases", total.biases, _bias_rule(report), biased)
    affine = Term("bn_affine", total.bn_affine, "batch norm scale and shift: 2 per channel", bns)
    stats = Term("bn_stats", total.bn_stats,
                 "batch norm running mean and variance: 2 per channel", bns)
    terms = {"weights": (weights,), "trainable": (weights, biases, affine),
             "checkpoint": (weights, biases, affine, stats)}
    return tuple(Convention(name, PARAM_CONVENTIONS[name], terms[name])
                 for name in PARAM_CONVENTIONS)


def conventions(report: Report) -> Conventions:
    """Every named convention of ``report``'s network, each as MACs (or weights) + terms."""
    counts = (macs_convention(report), flops_convention(report), fvcore_convention(report),
              ops_convention(report))
    return Conventions(network=report.network, counts=counts, params=param_conventions(report))
