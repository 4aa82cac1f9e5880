"""``--runtime onnxruntime --dtype int8``: the exported network quantized by ONNX Runtime's
own tools, timed in ORT, its per-node profile mapped back to the engine's layers.

**Quantize.** The float export of :mod:`.onnx_runtime` (every node named after its layer)
goes through ``onnxruntime.quantization.shape_inference.quant_pre_process`` (ONNX shape
inference and ORT's basic graph optimizations; the shapes are static, so the symbolic shape
pass is skipped), then ``quantize_static`` in the QDQ format: a ``QuantizeLinear`` /
``DequantizeLinear`` pair on every activation a quantizable op reads or writes and on every
weight, signed int8 activations and weights (``QuantType.QInt8``), per tensor unless
``per_channel``, min/max calibration (:data:`SETTINGS`) on :data:`CALIBRATION_SAMPLES` random
inputs (seed :data:`SEED`). Latency does not depend on the values, only the scales do, so
random inputs are enough for timing (they are not for accuracy). Everything happens in a
``TemporaryDirectory``; the quantized model is kept in memory.

**Which layers must be quantized.** Every Conv and Gemm of the QDQ model must read its weight
through a ``DequantizeLinear``: a layer whose conv the quantizer left float is an error naming
the layer (:class:`~mncost.errors.InputError`, exit 2), so the quantized model is never
silently the float one.

**What ran int8.** ORT's graph optimizations fuse ``DQ -> Conv -> Q`` into ``QLinearConv``
(and Add, pooling, Gemm into ``QLinearAdd``, ``QLinearGlobalAveragePool``, ``QGemm``) where
it has a kernel for the types; elsewhere the DQ/Q pairs stay and the op runs in float32
between them. :func:`layer_precision` reads the graph ORT really runs and says, per layer,
``int8`` (only quantized kernels), ``float32`` (only float kernels), ``mixed`` or ``-`` (no
node of its own, e.g. an add fused into the conv before it).

**Per layer.** The fused nodes keep the name of the node they replaced (``/L<layer>/...``).
Nodes the quantizer names itself (the ``DequantizeLinear`` of a weight, named after the
initializer; the unnamed ``HardSigmoid`` and ``Mul`` of a hard swish it expands) are renamed
into their layer's scope before ORT sees the model (:func:`scoped`); nodes ORT inserts
(layout ``Transpose`` and re-quantization nodes at an int8/float boundary) are given a layer
from the optimized graph. Either way the layer is :func:`node_layers`': the first layer the
node feeds, else the last layer that feeds it. Nodes at the graph's edges (the
input's ``QuantizeLinear`` and layout change before the first layer, the output's
``DequantizeLinear`` after the last) belong to no layer and are reported as unattributed, as
the float path reports its edge reorders.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from itertools import cycle
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..errors import InputError
from ..latency.model import Int8ConvPaths
from ..measure.profile_options import ProfileOptions
from ..measure.timing import CPU_CLOCK, ProgressFn, measure
from ..network.layers import Network
from .onnx_runtime import (
    OrtRunner,
    count_nodes,
    folded_layers,
    layer_of,
    parse_profile,
    require_ort,
    session_options,
)
from .roofline import cpu_flags

#: Random calibration inputs (standard normal, like a normalised image) and their seed.
CALIBRATION_SAMPLES = 8
SEED = 0
#: ORT node types that run integer kernels (the fused forms of the QDQ groups).
#: (NhwcMaxPool: the NHWC max pool ORT runs on int8 data; it has no float32 kernel.)
QUANTIZED_OPS = frozenset({"QLinearConv", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool",
                           "QLinearAveragePool", "QLinearSigmoid", "QLinearLeakyRelu",
                           "QLinearConcat", "QLinearMatMul", "QGemm", "QLinearSoftmax",
                           "QLinearReduceMean", "NhwcMaxPool", "ConvInteger", "MatMulInteger",
                           "MatMulIntegerToFloat", "DynamicQuantizeMatMul"})
#: Node types that move or convert data but compute nothing of a layer's own.
NEUTRAL_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "Transpose", "Reshape",
                         "Flatten", "Identity", "Squeeze", "Unsqueeze", "ReorderInput",
                         "ReorderOutput", "Shape", "Gather", "Constant"})
#: Small networks whose per-layer precision ``calibrate --dtype int8`` compares with the rule
#: of :func:`mncost.costs.int8.precisions`: residuals, SE, h-swish and h-sigmoid (v3-Small);
#: layer scale, attention, GELU, max and average pooling (the calibration specs).
PRECISION_PROBES = (("v3-small", 0.5, 64), ("calibration/attention.yaml", 0.5, 64),
                    ("calibration/grouped.yaml", 0.5, 64))
#: Ops whose weight the quantizer must quantize (a layer built on them is an error if not).
MUST_QUANTIZE = ("Conv", "Gemm")


def settings(per_channel: bool) -> dict[str, Any]:
    """The quantization settings a result records (its environment's ``quantization``)."""
    return {"format": "QDQ", "activations": "int8 (QuantType.QInt8)",
            "weights": "int8 (QuantType.QInt8)", "per_channel": per_channel,
            "calibration": "MinMax", "calibration_samples": CALIBRATION_SAMPLES,
            "calibration_inputs": f"standard normal, seed {SEED}",
            "tools": "quant_pre_process + quantize_static"}


def _reader(shape: tuple[int, ...]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class RandomReader(CalibrationDataReader):
        """:data:`CALIBRATION_SAMPLES` fixed-seed random inputs for the min/max calibration."""

        def __init__(self) -> None:
            rng = np.random.default_rng(SEED)
            self._feeds = iter([{"input": rng.standard_normal(shape).astype(np.float32)}
                                for _ in range(CALIBRATION_SAMPLES)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._feeds, None)

    return RandomReader()


def quantize(onnx_model: bytes, shape: tuple[int, ...], per_channel: bool) -> bytes:
    """The QDQ int8 model of ``onnx_model`` (module docstring), in memory.

    Raises:
        InputError: when ORT's tools fail (one line with their reason).
    """
    require_ort()
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="mncost-int8-") as tmp:
        source, prepared, quantized = (os.path.join(tmp, f"{n}.onnx")
                                       for n in ("float", "prepared", "int8"))
        with open(source, "wb") as handle:
            handle.write(onnx_model)
        try:
            quant_pre_process(source, prepared, skip_symbolic_shape=True)
            quantize_static(prepared, quantized, _reader(shape), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                            per_channel=per_channel,
                            calibrate_method=CalibrationMethod.MinMax)
        except Exception as exc:  # noqa: BLE001 - any quantizer failure is one line
            text = str(exc).strip().splitlines()
            raise InputError(f"int8 quantization failed: {type(exc).__name__}: "
                             f"{text[0][:200] if text else ''}") from None
        return onnx.load(quantized).SerializeToString()


def unquantized_layers(qdq_model: bytes, names: Mapping[str, str]) -> list[str]:
    """Layers with a Conv or Gemm whose weight the quantizer left float (not read through a
    ``DequantizeLinear``), in graph order."""
    import onnx

    graph = onnx.load_from_string(qdq_model).graph
    producer = {out: node for node in graph.node for out in node.output}
    missing: list[str] = []
    for node in graph.node:
        if node.op_type not in MUST_QUANTIZE or len(node.input) < 2:
            continue
        weight = producer.get(node.input[1])
        if weight is None or weight.op_type != "DequantizeLinear":
            layer = layer_of(node.name, names) or node.name
            if layer not in missing:
                missing.append(layer)
    return missing


def node_layers(graph: Any, names: Mapping[str, str]) -> dict[str, str]:
    """Node name -> layer for every node of ``graph`` (an optimized ONNX graph) that has no
    layer scope of its own but sits inside the network: the first scoped node it feeds
    (breadth first), else the last scoped node that feeds it. Nodes that reach the graph's
    input or output through unscoped nodes only are left out (unattributed)."""
    nodes = list(graph.node)
    scoped = {n.name: layer_of(n.name, names) for n in nodes}
    consumers: dict[str, list[Any]] = {}
    producer = {out: n for n in nodes for out in n.output}
    for n in nodes:
        for tensor in n.input:
            consumers.setdefault(tensor, []).append(n)
    edge = _reach(graph.input, nodes, scoped, forward=True, consumers=consumers,
                  producer=producer) | \
        _reach(graph.output, nodes, scoped, forward=False, consumers=consumers,
               producer=producer)
    found: dict[str, str] = {}
    for n in nodes:
        if scoped[n.name] is not None or n.name in edge:
            continue
        layer = _nearest(n, scoped, lambda m: [c for o in m.output
                                               for c in consumers.get(o, [])])
        if layer is None:
            layer = _nearest(n, scoped, lambda m: [producer[i] for i in m.input
                                                   if i in producer])
        if layer is not None:
            found[n.name] = layer
    return found


def _reach(ends: Iterable[Any], nodes: list[Any], scoped: Mapping[str, str | None], *,
           forward: bool, consumers: Mapping[str, list[Any]], producer: Mapping[str, Any]
           ) -> set[str]:
    """Unscoped nodes reachable from the graph inputs (``forward``) or outputs through
    unscoped nodes only."""
    seen: set[str] = set()
    if forward:
        queue = deque(c for e in ends for c in consumers.get(e.name, []))
    else:
        queue = deque(producer[e.name] for e in ends if e.name in producer)
    while queue:
        n = queue.popleft()
        if n.name in seen or scoped[n.name] is not None:
            continue
        seen.add(n.name)
        if forward:
            queue.extend(c for o in n.output for c in consumers.get(o, []))
        else:
            queue.extend(producer[i] for i in n.input if i in producer)
    return seen


def _nearest(start: Any, scoped: Mapping[str, str | None], step: Any) -> str | None:
    seen = {start.name}
    queue = deque(step(start))
    while queue:
        n = queue.popleft()
        if n.name in seen:
            continue
        seen.add(n.name)
        if scoped[n.name] is not None:
            return scoped[n.name]
        queue.extend(step(n))
    return None


def scoped(qdq_model: bytes, names: Mapping[str, str]) -> bytes:
    """``qdq_model`` with a layer scope on every node inside the network that has none (the
    quantizer names a weight's ``DequantizeLinear`` after the initializer; the hard swish it
    expands gets nodes with no name at all, which ORT would call ``Mul_253``): such a node
    becomes ``/L<layer>/<old name>``, with the layer of :func:`node_layers`; an unnamed one is
    first named ``<op type>_unnamed<index>``. The graph's edges stay unscoped (unattributed)."""
    import onnx

    model = onnx.load_from_string(qdq_model)
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_unnamed{i}"
    scope = {layer: safe for safe, layer in names.items()}
    found = node_layers(model.graph, names)
    for node in model.graph.node:
        if node.name in found:
            node.name = f"/{scope[found[node.name]]}/{node.name}"
    return model.SerializeToString()


def layer_precision(graph: Any, names: Mapping[str, str]) -> dict[str, str]:
    """Layer -> ``int8``, ``float32``, ``mixed`` or ``-`` (no computing node of its own) in
    ``graph``, ORT's optimized graph (module docstring), for every layer of ``names``."""
    aliases = node_layers(graph, names)
    kinds: dict[str, set[str]] = {layer: set() for layer in names.values()}
    for node in graph.node:
        layer = layer_of(node.name, names) or aliases.get(node.name)
        if layer is None or node.op_type in NEUTRAL_OPS:
            continue
        kinds[layer].add("int8" if node.op_type in QUANTIZED_OPS else "float32")
    return {layer: "-" if not found else found.pop() if len(found) == 1 else "mixed"
            for layer, found in kinds.items()}


def _loaded(path: str) -> Any:
    import onnx

    return onnx.load(path).graph


class OrtInt8Runner(OrtRunner):
    """``--runtime onnxruntime --dtype int8`` (a :class:`.runners.Runner`): the exported model
    quantized to QDQ int8 (module docstring) in ONNX Runtime on the CPU. With
    ``options.compare`` the float32 export is timed too, interleaved run by run with the
    int8 model, and returned by :meth:`baseline`."""

    dtype = "int8"

    def __init__(self, network: Network, options: ProfileOptions) -> None:
        super().__init__(network, options)
        ort = require_ort()
        self.float_onnx, self.float_session = self.onnx, self.session
        self.onnx = quantize(self.float_onnx, tuple(self.feed["input"].shape),
                             options.per_channel)
        self.onnx = scoped(self.onnx, self.names)
        missing = unquantized_layers(self.onnx, self.names)
        if missing:
            raise InputError(f"int8: ONNX Runtime's quantizer left {len(missing)} layer(s) "
                             f"float: {', '.join(missing[:6])}"
                             + (" ..." if len(missing) > 6 else ""))
        with tempfile.TemporaryDirectory(prefix="mncost-int8-") as tmp:
            so = session_options(self.threads)
            so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
            self.session = ort.InferenceSession(self.onnx, so,
                                                providers=["CPUExecutionProvider"])
            graph = _loaded(so.optimized_model_filepath)
        self.precision = layer_precision(graph, self.names)
        self._nodes = count_nodes(graph, self.names, node_layers(graph, self.names))
        if "int8" not in self.precision.values() and "mixed" not in self.precision.values():
            raise InputError("int8: ONNX Runtime runs no layer of the quantized model with an "
                             "int8 kernel here")
        self.compare = options.compare
        self._baseline_ns: list[int] | None = None
        self._baseline_layers: tuple[dict[str, list[int]], list[int]] | None = None
        self.baseline_unattributed_ns: list[int] | None = None

    @classmethod
    def layout(cls, threads: int, progress: Callable[[str], None]) -> Int8ConvPaths:
        """MLAS's rule of which int8 convs run its fast symmetric kernels, for this CPU
        (:meth:`Int8ConvPaths.for_cpu`); ORT runs every int8 conv as an NHWC QLinearConv
        and the float32 layers between them as plain NCHW convs (no blocked layout). Which
        layers run float32 is the graph's structure (:func:`mncost.costs.int8.precisions`);
        this probe quantizes :data:`PRECISION_PROBES` and reports where the installed ORT
        disagrees with it (the fit then prices those layers with the rule's kernel
        anyway)."""
        from ..costs.int8 import precisions
        from ..network.catalog import configs_dir, resolve_model

        differ, total = [], 0
        for model, alpha, res in PRECISION_PROBES:
            name = str(configs_dir() / model) if model.endswith(".yaml") else model
            network = resolve_model(name, alpha, res)
            runner = cls(network, ProfileOptions(threads=threads, runtime=cls.name,
                                                 dtype=cls.dtype))
            rule = precisions(network)
            total += len(rule)
            differ += [f"{model} {layer}: ORT {runner.precision[layer]}, rule {ran}"
                       for layer, ran in rule.items() if runner.precision[layer] != ran]
        if differ:
            progress(f"warning: int8 probe: the installed ONNX Runtime runs {len(differ)} of "
                     f"{total} layers in another precision than mncost's rule ("
                     f"{'; '.join(differ[:3])}{' ...' if len(differ) > 3 else ''}); "
                     "predictions of such layers use the rule's kernel")
        else:
            progress(f"int8 probe: ONNX Runtime runs all {total} layers of "
                     f"{len(PRECISION_PROBES)} probe networks in the precision mncost's rule "
                     "gives (a tensor with two readers keeps its writer and readers float32)")
        rule = Int8ConvPaths.for_cpu(cpu_flags())
        progress(f"int8 conv paths: MLAS's fast kernels take a depthwise conv of a multiple "
                 f"of {rule.depthwise_alignment} channels, a standard conv of a multiple of "
                 f"{rule.input_alignment} inputs and {rule.output_alignment} outputs (at "
                 f"least {rule.min_outputs}), computing {rule.rows} output pixels a call "
                 f"({rule.depthwise_rows} depthwise) and output channels in packs of "
                 f"{rule.channel_pack}; other convs are priced as kind@generic")
        return rule

    @classmethod
    def _refuse(cls, options: ProfileOptions) -> None:
        bad = [flag for flag, on in (("--device cuda", options.device != "cpu"),
                                     ("--compile", options.compile),
                                     ("--channels-last", options.channels_last)) if on]
        if bad:
            raise InputError(f"--runtime {cls.name} --dtype {cls.dtype} runs on the CPU with "
                             f"its own layout and fusions; drop {', '.join(bad)}")

    def timed(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
              progress: ProgressFn | None = None, faults: list[int] | None = None
              ) -> list[int]:
        """End to end; with a comparison, int8 and float32 runs alternate one by one (each
        timed alone) so both see the same conditions; the float32 runs are kept for
        :meth:`baseline`."""
        if self.compare is None:
            return super().timed(warmup, repeats, min_time_s=min_time_s, progress=progress,
                                 faults=faults)
        runs = cycle((self.run, lambda: self.float_session.run(None, self.feed)))
        samples = measure(lambda: next(runs)(), CPU_CLOCK, warmup=2 * warmup,
                          repeats=2 * repeats, min_time_s=2 * min_time_s,
                          label="end-to-end", progress=progress, faults=faults)
        if len(samples) % 2:                 # the float32 run of the last pair
            samples.append(measure(lambda: next(runs)(), CPU_CLOCK, warmup=0, repeats=1)[0])
        if faults and faults[-1] > 0:        # counted over both models' runs: half each
            faults[-1] //= 2
        self._baseline_ns = samples[1::2]
        return samples[0::2]

    def layer_runs(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
                   progress: ProgressFn | None = None
                   ) -> tuple[dict[str, list[int]], list[int]]:
        """Per-layer runs in a profiling session of the int8 model (and, with a comparison,
        one of the float32 model, runs alternating); node time at the graph's edges is kept
        in ``unattributed_ns``."""
        ort = require_ort()
        if progress is not None:
            progress("per-layer", 0.0, 0)
        models = [("int8", self.onnx)] + ([("float32", self.float_onnx)] if self.compare
                                          else [])
        with tempfile.TemporaryDirectory(prefix="mncost-int8-") as tmp:
            sessions, paths = [], []
            for label, model in models:
                so = session_options(self.threads, os.path.join(tmp, f"profile-{label}"))
                if label == "int8":
                    so.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
                sessions.append(ort.InferenceSession(model, so,
                                                     providers=["CPUExecutionProvider"]))
            aliases = node_layers(_loaded(os.path.join(tmp, "optimized.onnx")), self.names)
            for _ in range(warmup + repeats):
                for session in sessions:
                    session.run(None, self.feed)
            for session in sessions:
                paths.append(session.end_profiling())
            events = []
            for path in paths:
                with open(path, encoding="utf-8") as handle:
                    events.append(json.load(handle))
        per_layer, model_runs, self.unattributed_ns = parse_profile(events[0], self.names,
                                                                    warmup, aliases)
        if self.compare:
            *self._baseline_layers, self.baseline_unattributed_ns = parse_profile(
                events[1], self.names, warmup, folded=folded_layers(self.network))
        if progress is not None:
            progress("per-layer", 1.0, repeats)
        return per_layer, model_runs

    def profiled_nodes(self) -> dict[str, int]:
        """Layer -> its nodes in the int8 graph ORT runs (its Quantize, Dequantize and layout
        Transpose nodes included, as the profile attributes them)."""
        return dict(self._nodes)

    def baseline(self) -> tuple[str, list[int], tuple[dict[str, list[int]], list[int]] | None]:
        """The comparison's dtype, its end-to-end runs and its per-layer runs (``None``
        without per-layer timing), measured interleaved with the int8 runs."""
        if self._baseline_ns is None:
            raise RuntimeError("baseline() before timed()")
        layers = tuple(self._baseline_layers) if self._baseline_layers else None
        return self.compare or "float32", self._baseline_ns, layers  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        env = super().describe()
        env.update(dtype=self.dtype, quantization=settings(self.options.per_channel),
                   layer_precision=dict(self.precision))
        if self.baseline_unattributed_ns:
            done = sorted(self.baseline_unattributed_ns)
            env["compare_unattributed_ms"] = done[len(done) // 2] / 1e6
        return env


__all__ = ["OrtInt8Runner", "quantize", "layer_precision", "node_layers", "scoped",
           "settings", "unquantized_layers"]
