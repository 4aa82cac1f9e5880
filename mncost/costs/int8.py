"""int8 as ONNX Runtime runs it: QDQ static quantization (``quantize_static``, QDQ format,
per-tensor or per-channel weights), then ORT's QDQ fusions on the CPU execution provider
(docs/memory.md, "int8").

Which tensors are int8 depends on the runtime; this module models one, as data:

* :data:`KIND_OPS`: each layer kind -> the ONNX op the exporter writes for it
  (:mod:`mncost.torch_backend.onnx_runtime`, opset 17; batch norm folded into the conv);
* :data:`ACT_OPS`: each activation -> the ONNX ops it exports to;
* :data:`ORT_QUANTIZED_OPS`: the ops ``quantize_static`` quantizes by default in ORT 1.32, the
  keys of ``onnxruntime.quantization.registry``'s ``QLinearOpsRegistry`` and ``QDQRegistry``
  (a test compares them with the installed ORT).

What ORT runs each layer in is decided by the graph's structure, in one place,
:func:`precisions`: ORT fuses a ``DQ -> op -> Q`` group into an int8 kernel only when the group
owns its tensors, so a tensor with two readers (a residual's skip, the map squeeze-excite both
pools and scales, the input of a self-gated activation: hswish, swish, gelu) keeps its writer
and all its readers float32; a layer runs int8 when its op is in :data:`ORT_QUANTIZED_OPS`
(:func:`op_quantized`; a kind missing from :data:`KIND_OPS`, added at run time, stays float32)
and owns its tensors; mixed when its activation has no int8 kernel (hsigmoid: int8 output,
dequantized, float32 activation) or its op leaves a part in float32 (attention's scores); a
layer scale after a conv is folded into the conv's weights (no node). Every byte count here
reads those precisions: a float32 layer holds float32 weights and writes float32, an int8 one
int8 weights and an int8 output. Where an int8 op reads a float32 tensor a QuantizeLinear makes
an int8 copy, and where a float32 op reads an int8 tensor a DequantizeLinear makes a float32
copy; one copy per tensor, shared by its readers. The graph's input and output stay float32.

Byte sizes: weights 1 byte, activations 1 byte, biases int32 (4 bytes, their scale is
input scale x weight scale: no parameters of their own), and per quantized tensor a scale
(float32, 4 bytes) and a zero point (int8, 1 byte): per weight tensor, or per output channel
with ``per_channel``; each int8 op reads those of every tensor it reads and writes.

Pure: no torch, no numpy, no onnxruntime.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Callable, Mapping, Union

from ..network.layers import INPUT, Network, ResolvedLayer
from .kinds import REGISTRY

#: Bytes of an int8 element, of a float32 one, of an int32 bias.
INT8, FLOAT32, BIAS = 1, 4, 4
#: Bytes of one tensor's (or one channel's) quantization parameters: a float32 scale and an
#: int8 zero point.
QPARAMS = 4 + 1


def _pool_op(layer: ResolvedLayer) -> str:
    # AdaptiveAvgPool2d(1) exports as GlobalAveragePool, AdaptiveMaxPool2d(1) as MaxPool.
    if layer.global_pool and layer.pool == "avg":
        return "GlobalAveragePool"
    return "MaxPool" if layer.pool == "max" else "AveragePool"


#: Layer kind -> the ONNX op the exporter writes for it (a name, or a function of the layer).
KIND_OPS: Mapping[str, Union[str, Callable[[ResolvedLayer], str]]] = OrderedDict(
    conv="Conv", pointwise="Conv", depthwise="Conv", grouped="Conv", se_fc="Conv",
    fc="Gemm",          # after a Flatten (int8 in, int8 out)
    pool=_pool_op,
    # quantized, but a residual add and squeeze-excite's gate multiply always read a tensor
    # with two readers: ORT runs them in float32 (:func:`precisions`)
    add="Add",
    scale="Mul",
    # MobileNetV4's hybrids: a lone batch norm; attention's Q K^T and A V (QLinearMatMul,
    # the scores scaled in float32, QLinearSoftmax); layer scale's gamma multiply (folded into
    # the conv before it).
    norm="BatchNormalization", attention="MatMul", layer_scale="Mul",
)

#: Activation -> the ONNX ops it exports to (opset 17).
ACT_OPS: Mapping[str, tuple[str, ...]] = OrderedDict(
    none=(), relu=("Relu",), relu6=("Clip",), hsigmoid=("HardSigmoid",),
    hswish=("HardSwish",), sigmoid=("Sigmoid",), swish=("Sigmoid", "Mul"),
    gelu=("Div", "Erf", "Add", "Mul", "Mul"),   # on main
)

#: The ops ORT 1.32's ``quantize_static`` quantizes when ``op_types_to_quantize`` is not
#: given: ``QLinearOpsRegistry`` | ``QDQRegistry`` (onnxruntime/quantization/registry.py).
ORT_QUANTIZED_OPS = frozenset((
    "Add", "ArgMax", "AveragePool", "BatchNormalization", "Clip", "Concat", "Conv",
    "ConvTranspose", "CumSum", "EmbedLayerNormalization", "Flatten", "Gather",
    "GatherElements", "Gemm", "GlobalAveragePool", "InstanceNormalization",
    "LayerNormalization", "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad", "Relu", "Reshape",
    "Resize", "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "TopK", "Transpose",
    "Unsqueeze", "Where",
))

#: Ops the quantizer wraps in Quantize / Dequantize but ORT's CPU provider has no int8 kernel
#: for (no QDQ fusion): they run in float32 between a Dequantize and a Quantize.
FLOAT_KERNELS = frozenset(("BatchNormalization", "InstanceNormalization",
                           "LayerNormalization", "CumSum"))

#: What each peak schedule means at int8, after its float description.
SCHEDULE_NOTES: Mapping[str, str] = OrderedDict(
    naive="At int8, ORT's nodes one by one, each layer in the precision ORT runs it (a "
          "tensor with two readers keeps its writer and readers float32): the image "
          "(float32) and its int8 copy, a mixed op's int8 output and float32 copy before its "
          "float activation, the copies a Quantize / Dequantize makes where int8 and float32 "
          "meet (one per tensor, alive from before its first reader through its last), the "
          "float32 graph output; a layer's live bytes are the most alive during any of its "
          "nodes",
    streamed="At int8, a hand-written runtime that converts inside its kernels: every tensor "
             "at the size ORT would leave it (float32 where ORT runs its writer in float32 "
             "or its activation is hsigmoid), no copies",
)

#: What ``--help`` says about int8 (one line).
INT8_HELP = ("int8 models ONNX Runtime's QDQ static quantization: a tensor with two readers "
             "(a residual's skip, squeeze-excite's map, the input of hswish, swish, gelu) keeps "
             "its writer and readers float32, as do lone batch norms and kinds it does not "
             "know; hsigmoid runs float32 after its int8 conv")


def kind_op(layer: ResolvedLayer) -> str | None:
    """The ONNX op of ``layer``'s kind (None: a kind :data:`KIND_OPS` does not know)."""
    op = KIND_OPS.get(layer.kind)
    return op(layer) if callable(op) else op


def runs_int8(op: str | None) -> bool:
    """Whether ORT quantizes ``op`` and runs it with an int8 kernel."""
    return op in ORT_QUANTIZED_OPS and op not in FLOAT_KERNELS


def op_quantized(layer: ResolvedLayer) -> bool:
    """Whether ORT runs the layer's op in int8."""
    return runs_int8(kind_op(layer))


def act_quantized(layer: ResolvedLayer) -> bool:
    """Whether the layer's activation runs in int8 (after an int8 op)."""
    return all(runs_int8(op) for op in ACT_OPS.get(layer.act, ("?",)))


# ---------------------------------------------------------------------------------------------
# What ORT really runs each layer in: the graph's structure decides, not the kind alone

#: :func:`precisions`' values: only int8 kernels, only float32 kernels, an int8 op followed by a
#: float32 part (its activation, attention's scaling), no node of its own.
INT8_RUN, FLOAT_RUN, MIXED_RUN, FOLDED = "int8", "float32", "mixed", "-"

#: Activations the graph ORT quantizes writes as ``x * f(x)`` (the quantizer's pre-processing
#: expands HardSwish into HardSigmoid and Mul; swish is Sigmoid and Mul, GELU five nodes): the
#: layer's output before the activation has two readers.
SELF_GATED_ACTS = frozenset(("hswish", "swish", "gelu"))
#: Kinds ORT's basic graph optimizations fold into the conv they follow before the quantizer
#: sees the graph (a Mul by a constant after a Conv: ``ConvMulFusion``): layer scale.
FOLDED_KINDS = frozenset(("layer_scale",))
#: Kinds whose int8 op leaves part of its work in float32: attention's scaling of Q K^T by
#: 1/sqrt(d) runs in float32 between a Dequantize and a Quantize (ORT's optimized graph:
#: QLinearMatMul, DQ, Mul, Q, QLinearSoftmax, QLinearMatMul).
PARTLY_FLOAT_KINDS = frozenset(("attention",))


def precisions(network: Network) -> dict[str, str]:
    """Layer name -> what ORT 1.32's CPU provider runs it in after QDQ static quantization
    (:data:`INT8_RUN`, :data:`FLOAT_RUN`, :data:`MIXED_RUN`, :data:`FOLDED`).

    ``quantize_static`` puts a Quantize / Dequantize pair on every tensor, but ORT fuses a
    ``DQ -> op -> Q`` group into an int8 kernel (QLinearConv, QGemm, QLinearAveragePool, ...)
    only when the group owns its tensors: a tensor with two readers (a residual's skip, the
    map squeeze-excite both pools and scales, the input of a self-gated activation) leaves
    its writer and all its readers in float32. So a layer runs int8 when its op has an int8
    kernel (:func:`op_quantized`), each tensor it reads has no other reader, and the tensor
    it writes (through a folded layer scale) has at most one reader and no self-gated
    activation; it is mixed when its activation has no int8 kernel (hsigmoid) or its kind
    leaves a part in float32 (:data:`PARTLY_FLOAT_KINDS`). Residual adds and squeeze-excite
    scales always read a shared tensor: they run float32. Measured: this rule gives ORT's
    own per-layer kernels for every layer of v1, v2, v3, MobileNetV4, EfficientNet and the
    calibration specs (``tests/test_ort_int8.py``)."""
    layers = network.layers
    by_name = {la.name: la for la in layers}
    readers = Counter(t for la in layers for t in la.inputs)
    folded = {la.name for la in layers
              if la.kind in FOLDED_KINDS and len(la.inputs) == 1
              and la.inputs[0] in by_name and kind_op(by_name[la.inputs[0]]) == "Conv"
              and readers[la.inputs[0]] == 1}
    writes = {by_name[name].inputs[0]: name for name in folded}
    out: dict[str, str] = {}
    for layer in layers:
        if layer.name in folded:
            out[layer.name] = FOLDED
            continue
        shared = (any(readers[t] > 1 for t in layer.inputs)
                  or readers[writes.get(layer.name, layer.name)] > 1
                  or layer.act in SELF_GATED_ACTS)
        if shared or not op_quantized(layer):
            out[layer.name] = FLOAT_RUN
        elif not act_quantized(layer) or layer.kind in PARTLY_FLOAT_KINDS:
            out[layer.name] = MIXED_RUN
        else:
            out[layer.name] = INT8_RUN
    return out


def float_activation(layer: ResolvedLayer, precision: str) -> bool:
    """Whether ``layer`` (of ``precision``, :func:`precisions`) runs its activation in float32
    after its int8 op: a mixed layer whose activation has no int8 kernel (hsigmoid). A mixed
    layer whose float part is inside the op (attention's scores) writes int8."""
    return precision == MIXED_RUN and not act_quantized(layer)


def sizes(network: Network, precision: Mapping[str, str] | None = None) -> dict[str, int]:
    """Bytes per element of every tensor a reader sees (``precision``: :func:`precisions`,
    computed when not given): int8 after an int8 layer or a mixed one whose float part is
    inside its op, float32 after a float32 layer or a float activation, a folded layer scale's
    its conv's (the same tensor). The input image is float32."""
    precision = precisions(network) if precision is None else precision
    out = {INPUT: FLOAT32}
    for la in network.layers:
        p = precision[la.name]
        out[la.name] = (out[la.inputs[0]] if p == FOLDED
                        else INT8 if p == INT8_RUN or (p == MIXED_RUN
                                                       and not float_activation(la, p))
                        else FLOAT32)
    return out


def weight_bytes(layer: ResolvedLayer, precision: str, per_channel: bool = False) -> int:
    """Inference weight bytes at int8 of ``layer`` run at ``precision`` (:func:`precisions`):
    an int8 or mixed op holds int8 weights, int32 biases, the weights' quantization parameters
    (one set, or one per output channel) and those of the int8 tensors it reads and writes
    (module docstring); a float32 op holds float32 weights; a folded layer scale none (its
    gamma is multiplied into its conv's weights and bias, which keep their count)."""
    if precision == FOLDED:
        return 0
    kind = REGISTRY[layer.kind]
    total = kind.weight_elements(layer)
    if precision == FLOAT_RUN:
        return FLOAT32 * total
    weights = kind.weights(layer)
    groups = (layer.out_shape.c if per_channel else 1) if weights else 0
    return (INT8 * weights + BIAS * (total - weights) + QPARAMS * groups
            + QPARAMS * (len(layer.inputs) + 1))


def io_bytes(layer: ResolvedLayer, precision: str, size: Mapping[str, int],
             numel: Mapping[str, int]) -> tuple[int, int]:
    """Input and output bytes of ``layer`` run at ``precision``: each input at the size its
    producer left it, the output at :func:`sizes`' (conversions between them run on data in
    cache); a folded layer scale runs no node: none."""
    if precision == FOLDED:
        return 0, 0
    kind = REGISTRY[layer.kind]
    given = {size[s] for s in layer.inputs}
    if len(given) == 1:
        read = given.pop() * kind.input_elements(layer)
    else:
        read = sum(size[s] * numel[s] for s in layer.inputs)
    return read, size[layer.name] * layer.out_shape.numel


def workspace_bytes(layer: ResolvedLayer, precision: str) -> int:
    """Bytes of what ``layer`` holds only while it runs (its kind's ``workspace``: an
    attention's score matrix) at ``precision``: int8 in an int8 op; float32 in a mixed or
    float32 one (ORT dequantizes attention's int8 Q K^T, scales it by 1/sqrt(key_dim) in
    float32 and quantizes it again for QLinearSoftmax: the float32 matrix is counted, once, as
    float32 counts one score matrix); none in a folded layer."""
    workspace = getattr(REGISTRY[layer.kind], "workspace", None)
    if precision == FOLDED or workspace is None:
        return 0
    return (INT8 if precision == INT8_RUN else FLOAT32) * workspace(layer)


# ---------------------------------------------------------------------------------------------
# The runtime's graph, op by op (the naive schedule at int8)

@dataclass(frozen=True)
class Op:
    """One node ORT runs: the layer it belongs to, the tensors it reads, the one it writes."""

    layer: str
    reads: tuple[str, ...]
    writes: str


def runtime_graph(network: Network) -> tuple[dict[str, int], list[Op]]:
    """Every tensor ORT holds (name -> bytes) and its nodes in order, each layer as
    :func:`precisions` runs it: the Quantize (Dequantize) copies of inputs an int8 or mixed
    (float32) op reads at the other size, made before their first reader and shared by later
    ones (copies of a tensor ``T``: ``T/quantized``, ``T/dequantized``); a kind's workspace
    (:func:`workspace_bytes`, ``L/workspace``); the op; for a mixed layer with a float
    activation the op's int8 output ``L/int8``, its float32 copy ``L/int8/dequantized`` and
    the activation. A folded layer scale runs no node: its readers read its conv's tensor. An
    int8 last tensor is dequantized into the graph output ``L/output``."""
    precision = precisions(network)
    size = sizes(network, precision)
    numel = {INPUT: network.input_shape.numel}
    numel.update((la.name, la.out_shape.numel) for la in network.layers)
    tensor = {INPUT: INPUT}     # layer -> the tensor holding its output
    tensors = {INPUT: FLOAT32 * numel[INPUT]}
    ops: list[Op] = []
    for layer in network.layers:
        p = precision[layer.name]
        if p == FOLDED:
            tensor[layer.name] = tensor[layer.inputs[0]]
            continue
        tensor[layer.name] = layer.name
        tensors[layer.name] = size[layer.name] * numel[layer.name]
        need = FLOAT32 if p == FLOAT_RUN else INT8
        reads = []
        for src in layer.inputs:
            held = tensor[src]
            if size[src] == need:
                reads.append(held)
                continue
            copy = f"{held}/{'dequantized' if p == FLOAT_RUN else 'quantized'}"
            if copy not in tensors:
                tensors[copy] = need * numel[src]
                ops.append(Op(layer.name, (held,), copy))
            reads.append(copy)
        scratch = workspace_bytes(layer, p)
        if scratch:
            tensors[f"{layer.name}/workspace"] = scratch
            ops.append(Op(layer.name, tuple(reads), f"{layer.name}/workspace"))
            reads.append(f"{layer.name}/workspace")
        if float_activation(layer, p):
            pre = f"{layer.name}/int8"
            deq = f"{pre}/dequantized"
            tensors[pre], tensors[deq] = INT8 * numel[layer.name], FLOAT32 * numel[layer.name]
            ops += [Op(layer.name, tuple(reads), pre), Op(layer.name, (pre,), deq),
                    Op(layer.name, (deq,), layer.name)]
        else:
            ops.append(Op(layer.name, tuple(reads), layer.name))
    last = network.layers[-1]
    if size[last.name] == INT8:
        out = f"{tensor[last.name]}/output"
        tensors[out] = FLOAT32 * last.out_shape.numel
        ops.append(Op(last.name, (tensor[last.name],), out))
    return tensors, ops


def conversions(network: Network) -> dict[str, tuple[tuple[str, int], ...]]:
    """Layer name -> the Quantize and Dequantize copies ORT runs for it, as ``(source,
    elements)`` pairs: the copies of :func:`runtime_graph` (an input read at the other size,
    made before its first reader and attributed to it; a mixed layer's int8 output before its
    float32 activation), ``source`` being the layer whose output is copied (:data:`INPUT` for
    the image, the layer itself for a mixed layer's own output). Layers without one are
    absent. The graph output's Dequantize is left out: it belongs to no layer (ORT's profiler
    times it apart). Each copy reads and writes every element of its tensor once: what the
    latency model prices per element (:mod:`mncost.latency.model`)."""
    tensors, ops = runtime_graph(network)
    out: dict[str, list[tuple[str, int]]] = {}
    for op in ops:
        for suffix, size in (("/quantized", INT8), ("/dequantized", FLOAT32)):
            if op.writes.endswith(suffix):
                source = op.reads[0].removesuffix("/int8")
                out.setdefault(op.layer, []).append((source, tensors[op.writes] // size))
    return {name: tuple(pairs) for name, pairs in out.items()}


def naive_live_bytes(network: Network) -> list[tuple[str, int]]:
    """Per layer, in order, the most bytes alive during any of its nodes (:func:`runtime_graph`;
    the image is held by the caller for the whole pass, a tensor lives from its node through
    its last reader). A folded layer scale runs no node: its live bytes are its conv's."""
    tensors, ops = runtime_graph(network)
    produced = {INPUT: -1}
    last_read: dict[str, int] = {INPUT: len(ops) - 1}
    for i, op in enumerate(ops):
        produced[op.writes] = i
        for t in op.reads:
            if t != INPUT:
                last_read[t] = i
    live: dict[str, int] = OrderedDict((la.name, 0) for la in network.layers)
    for i, op in enumerate(ops):
        now = sum(b for t, b in tensors.items()
                  if produced[t] == i or produced[t] < i <= last_read.get(t, produced[t]))
        live[op.layer] = max(live[op.layer], now)
    precision = precisions(network)
    for la in network.layers:
        if precision[la.name] == FOLDED:
            live[la.name] = live[la.inputs[0]]
    return list(live.items())
