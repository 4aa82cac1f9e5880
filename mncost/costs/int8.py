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

A layer's op is int8 when its kind's op is in :data:`ORT_QUANTIZED_OPS` (a kind missing from
:data:`KIND_OPS`, added at run time, stays float32); its output is int8 when its activation's
ops are too (ReLU and ReLU6 are fused into the conv, sigmoid runs as QLinearSigmoid), else the
int8 output is dequantized and the activation runs in float32 (hswish, hsigmoid: no ORT
quantizer). Where an int8 op reads a float32 tensor a QuantizeLinear makes an int8 copy, and
where a float32 op reads an int8 tensor a DequantizeLinear makes a float32 copy; one copy per
tensor, shared by its readers. The graph's input and output stay float32.

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
    add="Add",          # QLinearAdd
    scale="Mul",        # squeeze-excite's gate multiply: QLinearMul
    # MobileNetV4's hybrids (kinds on main): a lone batch norm; attention's Q K^T and A V
    # (QLinearMatMul; its softmax QLinearSoftmax); layer scale's gamma multiply (QLinearMul).
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
    naive="At int8, ORT's nodes one by one: the image (float32) and its int8 copy, an int8 "
          "op's int8 output and float32 copy before a float activation, the copies a "
          "Quantize / Dequantize makes where int8 and float32 meet (one per tensor, alive "
          "from before its first reader through its last), the float32 graph output; a "
          "layer's live bytes are the most alive during any of its nodes",
    streamed="At int8, a hand-written runtime that converts inside its kernels: every tensor "
             "at the size ORT would leave it (float32 after hswish, hsigmoid), no copies",
)

#: What ``--help`` says about int8 (one line).
INT8_HELP = ("int8 models ONNX Runtime's QDQ static quantization: hswish, hsigmoid and gelu "
             "activations, lone batch norms and kinds it does not know stay float32")


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
#: float32 part (its activation, attention's softmax), no node of its own.
INT8_RUN, FLOAT_RUN, MIXED_RUN, FOLDED = "int8", "float32", "mixed", "-"

#: Activations the graph ORT quantizes writes as ``x * f(x)`` (the quantizer's pre-processing
#: expands HardSwish into HardSigmoid and Mul; swish is Sigmoid and Mul, GELU five nodes): the
#: layer's output before the activation has two readers.
SELF_GATED_ACTS = frozenset(("hswish", "swish", "gelu"))
#: Kinds ORT's basic graph optimizations fold into the conv they follow before the quantizer
#: sees the graph (a Mul by a constant after a Conv: ``ConvMulFusion``): layer scale.
FOLDED_KINDS = frozenset(("layer_scale",))
#: Kinds whose int8 op leaves part of its work in float32: attention's softmax runs between
#: its two QLinearMatMuls in float32.
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


def float_kinds() -> tuple[str, ...]:
    """The registered kinds whose op stays float32 (every layer of the kind; a pool's op
    depends on the layer, and every pool runs in int8)."""
    return tuple(k for k, op in ((k, KIND_OPS.get(k)) for k in REGISTRY)
                 if not callable(op) and not runs_int8(op))


def output_size(layer: ResolvedLayer) -> int:
    """Bytes per element of the tensor the layer leaves for its readers."""
    return INT8 if op_quantized(layer) and act_quantized(layer) else FLOAT32


def sizes(network: Network) -> dict[str, int]:
    """Bytes per element of every tensor a reader sees: the input image is float32."""
    out = {INPUT: FLOAT32}
    out.update((la.name, output_size(la)) for la in network.layers)
    return out


def weight_bytes(layer: ResolvedLayer, per_channel: bool = False) -> int:
    """Inference weight bytes at int8 (module docstring): int8 weights, int32 biases, the
    weights' quantization parameters (one set, or one per output channel), and those of the
    int8 tensors the op reads and writes. A float32 op holds float32 weights."""
    kind = REGISTRY[layer.kind]
    total = kind.weight_elements(layer)
    if not op_quantized(layer):
        return FLOAT32 * total
    weights = kind.weights(layer)
    groups = (layer.out_shape.c if per_channel else 1) if weights else 0
    return (INT8 * weights + BIAS * (total - weights) + QPARAMS * groups
            + QPARAMS * (len(layer.inputs) + 1))


def io_bytes(layer: ResolvedLayer, size: Mapping[str, int], numel: Mapping[str, int]
             ) -> tuple[int, int]:
    """Input and output bytes: each input at the size its producer left it, the output at
    :func:`output_size` (conversions between them run on data in cache)."""
    kind = REGISTRY[layer.kind]
    given = {size[s] for s in layer.inputs}
    if len(given) == 1:
        read = given.pop() * kind.input_elements(layer)
    else:
        read = sum(size[s] * numel[s] for s in layer.inputs)
    return read, size[layer.name] * layer.out_shape.numel


# ---------------------------------------------------------------------------------------------
# The runtime's graph, op by op (the naive schedule at int8)

@dataclass(frozen=True)
class Op:
    """One node ORT runs: the layer it belongs to, the tensors it reads, the one it writes."""

    layer: str
    reads: tuple[str, ...]
    writes: str


def runtime_graph(network: Network) -> tuple[dict[str, int], list[Op]]:
    """Every tensor ORT holds (name -> bytes) and its nodes in order: per layer the
    Quantize / Dequantize copies of inputs held at the other size (made before their first
    reader, shared by later ones), the op, and for an int8 op with a float activation the
    op's int8 output ``L/int8``, its float32 copy ``L/int8/dequantized`` and the activation
    (copies of a tensor ``T``: ``T/quantized``, ``T/dequantized``). The last
    layer's int8 output is dequantized into the graph output ``L/output``."""
    size = sizes(network)
    numel = {INPUT: network.input_shape.numel}
    numel.update((la.name, la.out_shape.numel) for la in network.layers)
    tensors = {t: size[t] * numel[t] for t in numel}
    ops: list[Op] = []
    for layer in network.layers:
        q = op_quantized(layer)
        need = INT8 if q else FLOAT32
        reads = []
        for src in layer.inputs:
            if size[src] == need:
                reads.append(src)
                continue
            copy = f"{src}/{'quantized' if q else 'dequantized'}"
            if copy not in tensors:
                tensors[copy] = need * numel[src]
                ops.append(Op(layer.name, (src,), copy))
            reads.append(copy)
        n = layer.out_shape.numel
        # A kind's workspace (an attention's scores, ``Kind.workspace`` on main), held by its
        # op only: int8 in QLinearMatMul / QLinearSoftmax.
        workspace = getattr(REGISTRY[layer.kind], "workspace", None)
        if workspace is not None and workspace(layer):
            scratch = f"{layer.name}/workspace"
            tensors[scratch] = need * workspace(layer)
            ops.append(Op(layer.name, tuple(reads), scratch))
            reads.append(scratch)
        if q and not act_quantized(layer):
            pre = f"{layer.name}/int8"
            deq = f"{pre}/dequantized"
            tensors[pre], tensors[deq] = INT8 * n, FLOAT32 * n
            ops += [Op(layer.name, tuple(reads), pre), Op(layer.name, (pre,), deq),
                    Op(layer.name, (deq,), layer.name)]
        else:
            ops.append(Op(layer.name, tuple(reads), layer.name))
    last = network.layers[-1]
    if size[last.name] == INT8:
        out = f"{last.name}/output"
        tensors[out] = FLOAT32 * last.out_shape.numel
        ops.append(Op(last.name, (last.name,), out))
    return tensors, ops


def naive_live_bytes(network: Network) -> list[tuple[str, int]]:
    """Per layer, in order, the most bytes alive during any of its nodes (:func:`runtime_graph`;
    the image is held by the caller for the whole pass, a tensor lives from its node through
    its last reader)."""
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
    return list(live.items())
