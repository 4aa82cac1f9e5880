"""ONNX Runtime: export the built network, time it in ORT, map ORT's per-node profile back to
the engine's layer names (``--runtime onnxruntime``; extra ``onnx``).

**Export.** ``torch.onnx.export`` (the TorchScript exporter, opset 17, ``dynamo=False``: about
0.5 s a model here, against 5 s for the dynamo exporter) of a flat wrapper: every leaf module
is registered directly on the root under ``L`` + its dotted name with ``.`` written ``__``
(``layers.1.dw`` -> ``Llayers__1__dw``). The exporter names every node and tensor after the
module path of the module that made it (``/Llayers__1__dw/conv/Conv``), so each ONNX node
carries its layer. (Exported from the nested build, nodes of ``layers.1.dw`` would be named
``/dw/conv/Conv`` in every block: the exporter drops the plain containers.) Batch norm is
folded into the conv by the exporter's constant folding, in eval mode.

**Session.** ``intra_op_num_threads`` = the thread count, ``inter_op_num_threads`` = 1,
sequential execution, all graph optimizations (ORT fuses conv + activation and may change the
layout to NCHWc), the CPU execution provider.

**Per layer.** A second session with ``enable_profiling``; each run's ``model_run`` event
brackets its node events (``cat == "Node"``, names ending ``_kernel_time``). A fused or
re-laid-out node keeps a name derived from the first node or tensor it replaced, so it still
starts with ``/L<layer>/``: its time goes to that layer (a fused conv + activation is the
conv layer's kernel, as in eager mode). Node events with no layer in their name (layout
reorders ORT inserts at the graph's edges) are summed as ``unattributed`` and reported.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import tempfile
import warnings
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..costs.int8 import FOLDED_KINDS
from ..errors import InputError, MissingDependency
from ..latency.model import LAYOUT_PROBES, ChannelLayout, infer_layout
from ..measure.profile_options import ProfileOptions
from ..measure.timing import CPU_CLOCK, ProgressFn, measure
from ..network.layers import Network
from .builder import MobileNet
from .device import describe_environment
from .prepare import prepare

OPSET = 17
_SCOPE = re.compile(r"^/(L[A-Za-z0-9_]+)/")


def require_ort() -> Any:
    """``onnxruntime`` (and ``onnx``, which the exporter needs), or a one-line error naming
    the extra."""
    for package in ("onnx", "onnxruntime"):
        try:
            module = importlib.import_module(package)
        except ImportError:
            raise MissingDependency(package, "onnx") from None
    return module


def ort_versions() -> dict[str, str]:
    ort = require_ort()
    try:
        import onnx
        onnx_version = onnx.__version__
    except ImportError:
        onnx_version = "not installed"
    return {"onnxruntime": ort.__version__, "onnx": onnx_version, "opset": str(OPSET)}


def safe_name(name: str) -> str:
    """The flat attribute name of a layer: ``layers.1.dw`` -> ``Llayers__1__dw``."""
    return "L" + name.replace(".", "__")


class FlatExport(nn.Module):
    """The built network with every leaf module registered on the root (see module docstring);
    ``forward`` is the network's own, on the same module objects."""

    def __init__(self, model: MobileNet) -> None:
        super().__init__()
        self.names: dict[str, str] = {}
        for name in model.layer_names:
            safe = safe_name(name)
            if safe in self.names:
                raise InputError(f"layer {name}: its ONNX scope {safe} is not unique")
            self.names[safe] = name
            self.add_module(safe, model.get_submodule(name))
        self._forward = model.forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x)


def export(model: MobileNet, x: torch.Tensor) -> tuple[bytes, dict[str, str]]:
    """The ONNX model of ``model`` at input ``x`` and the scope -> layer name map.

    Raises:
        InputError: when the export fails (one line with torch's reason).
    """
    flat = FlatExport(model).eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(flat, (x,), buffer, dynamo=False, opset_version=OPSET,
                              input_names=["input"], output_names=["output"],
                              do_constant_folding=True)
    except Exception as exc:  # noqa: BLE001 - any exporter failure is one line
        text = str(exc).strip().splitlines()
        raise InputError(f"ONNX export failed: {type(exc).__name__}: "
                         f"{text[0][:200] if text else ''}") from None
    return buffer.getvalue(), flat.names


def layer_of(node_name: str, names: Mapping[str, str]) -> str | None:
    """The engine layer an ORT node (or profile event) name belongs to, or ``None``."""
    match = _SCOPE.match(node_name)
    if match is None:
        return None
    return names.get(match.group(1))


def folded_layers(network: Network) -> dict[str, str]:
    """Layer -> the conv layer before it, for the layers ORT's graph optimizations fold into
    that conv (:data:`mncost.costs.int8.FOLDED_KINDS`: layer scale, ``ConvMulFusion``)."""
    return {la.name: la.inputs[0] for la in network.layers
            if la.kind in FOLDED_KINDS and len(la.inputs) == 1}


def count_nodes(graph: Any, names: Mapping[str, str], nodes: Mapping[str, str] | None = None,
                folded: Mapping[str, str] | None = None) -> dict[str, int]:
    """Layer -> the nodes of ``graph`` (ORT's optimized graph) that belong to it, as
    :func:`parse_profile` attributes profile events (``nodes``: the int8 graph's node map;
    ``folded``: a layer scale's fused conv is its conv's). Constants and identities run no
    kernel and are not counted."""
    counts: dict[str, int] = {}
    for node in graph.node:
        if node.op_type in ("Constant", "Identity"):
            continue
        layer = layer_of(node.name, names) or (nodes or {}).get(node.name)
        if folded and layer in folded and node.op_type != "Mul":
            layer = folded[layer]
        if layer is not None:
            counts[layer] = counts.get(layer, 0) + 1
    return counts


def session_options(threads: int, profile_prefix: str | None = None) -> Any:
    ort = require_ort()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile_prefix is not None:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


def parse_profile(events: list[dict[str, Any]], names: Mapping[str, str], skip: int,
                  nodes: Mapping[str, str] | None = None,
                  folded: Mapping[str, str] | None = None
                  ) -> tuple[dict[str, list[int]], list[int], list[int]]:
    """Per-run node times from an ORT profile (a list of chrome-trace events).

    ``nodes`` (node name -> layer) gives a layer to nodes whose name has no layer scope
    (the int8 graph's, :func:`.ort_int8.node_layers`). ``folded`` (layer -> the conv layer
    it follows, :func:`folded_layers`): ORT fuses a layer scale's Mul into the conv before it
    and names the fused conv after the Mul, so a conv event in such a layer's scope is the
    conv layer's time.

    Returns:
        layer -> per-run ns (every layer of ``names``; 0 for a run where it had no node),
        per-run ``model_run`` ns, per-run unattributed ns. The first ``skip`` runs (warm-up)
        are dropped.
    """
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")[skip:]
    per_layer = {name: [0] * len(runs) for name in names.values()}
    unattributed = [0] * len(runs)
    starts = [r[0] for r in runs]
    import bisect

    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        i = bisect.bisect_right(starts, e["ts"]) - 1
        if i < 0 or e["ts"] > runs[i][1]:
            continue
        layer = layer_of(e["name"], names)
        if layer is None and nodes:
            layer = nodes.get(e["name"][:-len("_kernel_time")])
        if folded and layer in folded and e.get("args", {}).get("op_name") != "Mul":
            layer = folded[layer]
        if layer is None:
            unattributed[i] += int(e["dur"]) * 1000
        else:
            per_layer[layer][i] += int(e["dur"]) * 1000
    return per_layer, [(end - start) * 1000 for start, end in runs], unattributed


# ---------------------------------------------------------------------------------------------
# Which convs ORT runs blocked (NCHWc): probed, not assumed

BLOCKED_DOMAIN = "com.microsoft.nchwc"


def probe_blocked(cin: int, cout: int, groups: int, threads: int = 1) -> bool:
    """Whether ORT's optimized graph runs one 3x3 conv + ReLU in the blocked layout."""
    module = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, groups=groups), nn.ReLU()).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(1, cin, 8, 8),), buffer, dynamo=False,
                          opset_version=OPSET)
    graph = optimized_graph(buffer.getvalue(), threads)
    return any(n.domain == BLOCKED_DOMAIN and n.op_type == "Conv" for n in graph.node)


def optimized_graph(onnx_model: bytes, threads: int = 1) -> Any:
    """The graph ORT runs: ``onnx_model`` after all of its graph optimizations."""
    import onnx

    ort = require_ort()
    with tempfile.TemporaryDirectory(prefix="mncost-ort-") as tmp:
        options = session_options(threads)
        options.optimized_model_filepath = os.path.join(tmp, "optimized.onnx")
        ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath).graph


def blocked_layers(onnx_model: bytes, names: Mapping[str, str], threads: int = 1
                   ) -> dict[str, bool]:
    """Layer -> whether ORT runs its conv blocked, for every layer that is a conv node in the
    optimized graph (read from the node's domain; the node keeps its layer's scope)."""
    found: dict[str, bool] = {}
    for node in optimized_graph(onnx_model, threads).node:
        layer = layer_of(node.name, names)
        if layer is not None and node.op_type in ("Conv", "FusedConv"):
            found[layer] = found.get(layer, False) or node.domain == BLOCKED_DOMAIN
    return found


def probe_layout(threads: int = 1) -> tuple[Any, list[tuple[int, int, int, bool]]]:
    """The installed ORT's blocked-layout rule (``None`` if it has none or no rule fits) and
    the probe observations it was inferred from (:func:`mncost.latency.model.infer_layout`)."""
    observed = [(ci, co, g, probe_blocked(ci, co, g, threads)) for ci, co, g in LAYOUT_PROBES]
    return infer_layout(observed), observed


class OrtRunner:
    """``--runtime onnxruntime`` (a :class:`.runners.Runner`): the exported model in ONNX
    Runtime on the CPU, float32, ``threads`` intra-op threads (1 when not given), batch
    ``options.batch``."""

    name = "onnxruntime"
    #: Per-layer runs come from a profiling session made per call: the calibration asks for
    #: them once per configuration, after its interleaved end-to-end rounds.
    batch_layer_runs = True

    def __init__(self, network: Network, options: ProfileOptions) -> None:
        self._refuse(options)
        ort = require_ort()
        self.network = network
        self.options = options
        self.threads = options.threads or 1
        with torch.no_grad():
            model, x = prepare(network, ProfileOptions(batch=options.batch), torch.device("cpu"),
                               torch.float32)
            self.onnx, self.names = export(model, x)
        self.feed = {"input": x.numpy()}
        self.session = ort.InferenceSession(self.onnx, session_options(self.threads),
                                            providers=["CPUExecutionProvider"])
        self.unattributed_ns: list[int] | None = None

    @classmethod
    def _refuse(cls, options: ProfileOptions) -> None:
        """ONNX Runtime runs its own float32 CPU graph: eager-only options are an error."""
        bad = [flag for flag, on in (("--device cuda", options.device != "cpu"),
                                     (f"--dtype {options.dtype}", options.dtype != "float32"),
                                     ("--compile", options.compile),
                                     ("--channels-last", options.channels_last)) if on]
        if bad:
            raise InputError(f"--runtime {cls.name} runs float32 on the CPU with its own "
                             f"layout and fusions; drop {', '.join(bad)}")

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"torch": torch.__version__, **ort_versions()}

    @classmethod
    def layout(cls, threads: int, progress: Callable[[str], None]) -> ChannelLayout | None:
        """The installed ORT's blocked-layout rule (:func:`probe_layout`)."""
        layout, observed = probe_layout(threads)
        if layout is None:
            progress(f"layout probe: no blocked conv layout explains {len(observed)} probes; "
                     "one kernel per layer kind")
        else:
            progress(f"layout probe: ORT runs a conv in {layout.name} when its channels are "
                     f"multiples of {layout.alignment} (grouped: {layout.block} per group)")
        return layout

    def __enter__(self) -> OrtRunner:
        return self                # the session holds its threads; nothing to set around it

    def __exit__(self, *exc: Any) -> None:
        return None

    def run(self) -> Any:
        return self.session.run(None, self.feed)

    def first_run(self) -> None:
        self.run()

    def timed(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
              progress: ProgressFn | None = None, faults: list[int] | None = None
              ) -> list[int]:
        return measure(self.run, CPU_CLOCK, warmup=warmup, repeats=repeats,
                       min_time_s=min_time_s, label="end-to-end", progress=progress,
                       faults=faults)

    def layer_runs(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
                   progress: ProgressFn | None = None
                   ) -> tuple[dict[str, list[int]], list[int]]:
        """``warmup + repeats`` runs in a profiling session (``min_time_s`` does not apply:
        the session's trace holds a fixed number of runs); the node time no layer claims
        is kept in ``unattributed_ns``."""
        ort = require_ort()
        if progress is not None:
            progress("per-layer", 0.0, 0)
        with tempfile.TemporaryDirectory(prefix="mncost-ort-") as tmp:
            session = ort.InferenceSession(self.onnx, session_options(
                self.threads, os.path.join(tmp, "profile")), providers=["CPUExecutionProvider"])
            for _ in range(warmup + repeats):
                session.run(None, self.feed)
            path = session.end_profiling()
            with open(path, encoding="utf-8") as handle:
                events = json.load(handle)
        per_layer, model_runs, unattributed = parse_profile(
            events, self.names, warmup, folded=folded_layers(self.network))
        self.unattributed_ns = unattributed
        if progress is not None:
            progress("per-layer", 1.0, repeats)
        return per_layer, model_runs

    def profiled_nodes(self) -> dict[str, int]:
        """Layer -> how many nodes of ORT's optimized graph (so of its profile) are its own
        (:func:`count_nodes`): the calibration's fit takes the profiler's cost per node out of
        the per-layer times (:func:`mncost.latency.model.fit_layers`)."""
        return count_nodes(optimized_graph(self.onnx, self.threads), self.names,
                           folded=folded_layers(self.network))

    def describe(self) -> dict[str, Any]:
        env = describe_environment(torch.device("cpu"), self.threads, self.options, CPU_CLOCK)
        env.update(self.versions(), interop_threads=1, inference_mode=False, fuse_bn=True,
                   ort_session="intra_op_num_threads=threads, inter_op_num_threads=1, "
                               "sequential, ORT_ENABLE_ALL, CPUExecutionProvider")
        if self.unattributed_ns is not None:
            done = sorted(self.unattributed_ns)
            env["unattributed_ms_median"] = done[len(done) // 2] / 1e6 if done else 0.0
        return env

