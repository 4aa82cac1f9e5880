"""Layer kinds: one record per resolved layer kind, holding everything the engine knows about it.

A :class:`~mncost.network.layers.ResolvedLayer`'s ``kind`` names an entry of :data:`REGISTRY`.
The entry carries the kind's table label, its MAC / weight / bias formulas, the element-wise op
it performs itself (the ``ops`` view), what fvcore's default count adds for it, the elements it
reads and holds at inference, and named facts about how other code sees it (a ``Conv2d`` of
its own in the reference implementations, a runtime's channel-layout rule, a stem kernel).
Everything else reads these records: the cost engine (:mod:`mncost.costs.analytic`), the
counting conventions (:mod:`mncost.costs.conventions`), the MAC columns of ``sweep``, the bytes
of :mod:`mncost.costs.memory`, the latency model's kernels. The torch back end keeps one module
factory per built-in kind, keyed the same way (:data:`mncost.torch_backend.builder.MODULES`).

Adding a kind: one :class:`Kind` in :data:`REGISTRY`, one factory in ``MODULES`` (a test fails
if either is missing), and a row op that emits it (:data:`mncost.spec.load.ROW_OPS` and its
builder in :mod:`mncost.network.resolve`). Code outside the package adds one at run time with
:func:`register_kind` (its torch module factory in :attr:`Kind.module`). Further per-kind
figures are further fields of :class:`Kind` with a default, so existing entries need not
change.

Batch norm and activations are properties of a layer, not of its kind (any kind may have
them); their costs are in :mod:`mncost.costs.analytic`.
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:  # the records only read layers
    from ..network.layers import ResolvedLayer

Formula = Callable[["ResolvedLayer"], int]
#: A torch leaf module factory: ``ResolvedLayer -> nn.Module`` (typed loosely: no torch here).
ModuleFactory = Callable[["ResolvedLayer"], Any]


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


def se_gate_elements(layer: "ResolvedLayer") -> int:
    """Squeeze-excite scale reads, besides the map, the 1 x 1 x C gate."""
    return layer.in_shape.c


def folded_weights(layer: "ResolvedLayer") -> int:
    """Inference weights: conv weights + one bias per output channel if the layer has a bias
    or a batch norm folded into it (its scale into the weights, its shift into a bias)."""
    return conv_weights(layer) + (layer.out_shape.c if layer.bias or layer.bn else 0)


def global_avg_pool_elements(layer: "ResolvedLayer") -> int:
    """Input elements of a global average pool (``aten::adaptive_avg_pool2d``), else 0."""
    return layer.in_shape.numel if layer.global_pool and layer.pool == "avg" else 0


def per_channel(layer: "ResolvedLayer") -> int:
    """One per output channel (a layer scale's gamma)."""
    return layer.out_shape.c


def norm_weight_elements(layer: "ResolvedLayer") -> int:
    """A batch norm on its own (no conv before it to fold into): its scale and shift held at
    inference, 2 per channel."""
    return 2 * layer.out_shape.c if layer.bn else 0


def _kv_pixels(layer: "ResolvedLayer") -> int:
    return layer.attr("kv_h") * layer.attr("kv_w")


def attention_scores(layer: "ResolvedLayer") -> int:
    """Attention scores: heads x N_q x N_kv, N_q the queries' pixels (the layer's output map)
    and N_kv the keys' and values' (attrs ``kv_h`` x ``kv_w``, fewer where they are
    downsampled)."""
    return layer.attr("heads") * layer.out_shape.h * layer.out_shape.w * _kv_pixels(layer)


def attention_macs(layer: "ResolvedLayer") -> int:
    """Q K^T and A V (Vaswani et al. 2017, Eq. 1; MobileNetV4 Sec. 3.2, Mobile MQA): the
    scores, heads x N_q x N_kv x key_dim, and their weighted sum of the values,
    heads x N_q x N_kv x value_dim. The projections are layers of their own."""
    return attention_scores(layer) * (layer.attr("key_dim") + layer.attr("value_dim"))


def attention_kv_elements(layer: "ResolvedLayer") -> int:
    """The keys and values it reads besides the queries: (key_dim + value_dim) x N_kv (one
    head of each, shared by every query head: multi-query)."""
    return (layer.attr("key_dim") + layer.attr("value_dim")) * _kv_pixels(layer)


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


#: What a conv or fc layer's ``biases`` formula counts (:attr:`Kind.bias_rule`).
CONV_BIAS_RULE = "conv and fc biases: N per biased layer"


@dataclass(frozen=True)
class Kind:
    """Everything about one resolved layer kind.

    Attributes:
        name: the kind (``ResolvedLayer.kind``).
        label: for tables (``pointwise conv (1x1)``).
        macs, weights, biases: formulas (0 for the element-wise kinds). A kind whose ``macs``
            is not :func:`zero` gets a ``macs_<kind>`` column in ``sweep`` (:attr:`has_macs`).
        ops: the element-wise op the kind performs itself, counted by the ``ops`` view (None:
            none beyond batch norm and activation).
        fvcore: what fvcore's default count adds for the kind beyond MACs and batch norm (None:
            nothing; fvcore skips activations, adds, multiplies and local pooling).
        input_maps: how many maps of the layer's ``in_shape`` it reads (a residual add: 2).
        side_input: elements it reads besides those maps: the squeeze-excite gate
            (1 x 1 x C), an attention's keys and values. With ``input_maps``:
            :meth:`input_elements`. ``sweep --predict`` prices it as fixed by the channels,
            and checks that against the configuration predicted whole: where it changes with
            the resolution (keys and values do), each configuration is predicted whole.
        weight_elements: inference weight elements it holds, batch norm folded
            (:mod:`mncost.costs.memory`).
        workspace: activation elements it holds only while it runs, besides its inputs and
            output (an attention layer's score matrix): the peak-memory schedules add them
            to the layer's step (:func:`mncost.costs.memory.peak_memory`); bytes moved do not
            (they stay inside the layer).
        bias_rule: what its ``biases`` formula counts, in words: the rule of the ``biases``
            term of the parameter conventions (:mod:`mncost.costs.conventions`) names the
            rules of the kinds a network has biases of.
        conv_module: the layer is one ``nn.Conv2d`` or ``nn.Linear`` of its own in every
            implementation (torchvision, timm, the builder), which
            :mod:`mncost.costs.reference` compares it with. An attention layer (its matmuls,
            no module of its own) is not: it is compared with the matmuls run between two
            such modules.
        channel_layout: a conv a runtime may run in a blocked channel layout, so the layout
            rule decides its kernel (:class:`mncost.latency.model.ChannelLayout`; ONNX
            Runtime's NCHWc rewrites Conv nodes, and ``fc`` is a GEMM).
        stem_kernel: a layer of the kind that reads the network input runs as a kernel of its
            own, ``<kind>@stem`` (:data:`mncost.latency.model.STEM`).
        module: the factory of its torch leaf module, for a kind added from outside the package
            (:func:`register_kind`); ``None`` for the built-in kinds, whose factories are in
            :data:`mncost.torch_backend.builder.MODULES` (this module never imports torch).
    """

    name: str
    label: str
    macs: Formula = zero
    weights: Formula = zero
    biases: Formula = zero
    ops: ElementwiseOp | None = None
    fvcore: ElementwiseOp | None = None
    input_maps: int = 1
    side_input: Formula = zero
    weight_elements: Formula = zero
    workspace: Formula = zero
    bias_rule: str = CONV_BIAS_RULE
    conv_module: bool = False
    channel_layout: bool = False
    stem_kernel: bool = False
    module: ModuleFactory | None = None

    @property
    def has_macs(self) -> bool:
        """Whether the kind does multiply-accumulates (its ``macs`` is not :func:`zero`)."""
        return self.macs is not zero

    def input_elements(self, layer: "ResolvedLayer") -> int:
        """Activation elements the layer reads (:mod:`mncost.costs.memory`)."""
        return self.input_maps * layer.in_shape.numel + self.side_input(layer)


def _conv(name: str, label: str, *, channel_layout: bool = True, stem_kernel: bool = False
          ) -> Kind:
    return Kind(name, label, macs=conv_macs, weights=conv_weights, biases=conv_biases,
                weight_elements=folded_weights, conv_module=True,
                channel_layout=channel_layout, stem_kernel=stem_kernel)


#: The registry: layer kind -> record. The order is the order of the kind lists (``KINDS``,
#: the sweep MAC columns). Built-in kinds are entries here; others are added with
#: :func:`register_kind`.
REGISTRY: dict[str, Kind] = OrderedDict((k.name, k) for k in (
    _conv("conv", "standard conv", stem_kernel=True),
    _conv("pointwise", "pointwise conv (1x1)"),
    _conv("depthwise", "depthwise conv"),
    _conv("grouped", "grouped conv"),
    _conv("fc", "fully connected", channel_layout=False),
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
         input_maps=2),
    Kind("scale", "squeeze-excite scale",
         ops=ElementwiseOp(_named("se_scale"), "1 multiply per output element", 1,
                           out_elements, rank=0),
         side_input=se_gate_elements),
    # MobileNetV4's hybrid blocks (Mobile MQA): a batch norm with no conv before it, the
    # attention's two matmuls, and layer scale (a learned per-channel multiplier).
    Kind("norm", "batch norm (alone)", weight_elements=norm_weight_elements),
    Kind("attention", "attention (Q K^T, A V)", macs=attention_macs,
         ops=ElementwiseOp(_named("softmax"), "4 per attention score (heads x N_q x N_kv): "
                           "the 1/sqrt(key_dim) scale, exp, sum, divide", 4, attention_scores,
                           rank=3),
         side_input=attention_kv_elements, workspace=attention_scores),
    Kind("layer_scale", "layer scale", biases=per_channel,
         bias_rule="layer scale: its gamma, 1 per channel",
         ops=ElementwiseOp(_named("layer_scale"), "1 multiply per output element", 1,
                           out_elements, rank=0),
         weight_elements=per_channel),
))
_BUILT_IN = frozenset(REGISTRY)

#: Every layer kind, in registry order: a live view of :data:`REGISTRY`'s keys (a kind
#: registered later is in it).
KINDS = REGISTRY.keys()


def mac_kinds() -> tuple[str, ...]:
    """The kinds with MACs (:attr:`Kind.has_macs`), in registry order: one ``macs_<kind>``
    column each in ``sweep``."""
    return tuple(name for name, kind in REGISTRY.items() if kind.has_macs)


# ---------------------------------------------------------------------------------------------
# Kinds added at run time (a plug-in, or a test that proves a kind is one record)

def register_kind(kind: Kind, module: ModuleFactory | None = None) -> Kind:
    """Add ``kind`` to :data:`REGISTRY`, after the kinds already there; every consumer reads it
    from then on (analyze, memory, sweep, the latency model, the builder).

    Args:
        kind: the record. Its name must be new and must not contain ``@`` (kernel variants
            such as ``conv@stem`` use it).
        module: its torch leaf module factory (``ResolvedLayer -> nn.Module``), stored as
            :attr:`Kind.module`; without one, building a network that uses the kind fails
            with a one-line error, and everything analytic still works.

    Returns:
        The record as registered. A row op must emit the kind for a spec to use it
        (:func:`mncost.network.resolve.register_row_op`).

    Raises:
        ValueError: the name is taken or malformed.
    """
    if kind.name in REGISTRY:
        raise ValueError(f"layer kind {kind.name!r} is already registered")
    if not kind.name or "@" in kind.name:
        raise ValueError(f"a layer kind's name must be non-empty and without '@', got "
                         f"{kind.name!r}")
    if module is not None:
        kind = replace(kind, module=module)
    REGISTRY[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind added by :func:`register_kind` (a built-in kind cannot be removed)."""
    if name in _BUILT_IN:
        raise ValueError(f"layer kind {name!r} is built in and cannot be unregistered")
    if name not in REGISTRY:
        raise ValueError(f"layer kind {name!r} is not registered")
    del REGISTRY[name]


@contextmanager
def registered_kind(kind: Kind, module: ModuleFactory | None = None) -> Iterator[Kind]:
    """:func:`register_kind` for the duration of a ``with`` block (tests)."""
    record = register_kind(kind, module)
    try:
        yield record
    finally:
        unregister_kind(kind.name)
