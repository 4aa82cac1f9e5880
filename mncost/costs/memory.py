"""Analytic memory: bytes per layer, bytes moved, arithmetic intensity and peak activation
memory under named schedules (docs/memory.md, "Memory and the roofline").

Pure functions of resolved layers: no torch, no numpy. Element sizes come from ``--dtype``
(:data:`DTYPE_BYTES`): at float32 and float16 every tensor is held at that size (weights and
biases included); int8 is ONNX Runtime's QDQ static quantization (:mod:`.int8`: int32 biases,
quantization parameters, float32 where ORT runs a layer in float: :func:`.int8.precisions`,
Quantize / Dequantize copies in the naive schedule).

Conventions:

* **Input / output bytes** of a layer: the elements it reads and writes, batch 1. A layer reads
  its ``in_shape`` (an ``add`` reads two such maps; a squeeze-excite ``scale`` reads the map
  and the 1x1xC gate).
* **Weight bytes** (``inference`` convention): conv / fc weights plus one bias per output
  channel when the layer has a bias or a batch norm, because inference folds batch norm into
  the conv (its scale into the weights, its shift into a bias).
* **Bytes moved** (``compulsory`` convention): every input and weight read once and the output
  written once, as if caches were infinite within a layer and empty between layers. Real
  traffic is higher when a working set does not fit in cache, lower when a producer's output
  is still in cache for its consumer.
* **Arithmetic intensity**: MACs per byte moved (0 for MAC-free layers).
* **Peak activation memory**: :data:`SCHEDULES`. A kind's workspace (an attention layer's
  score matrix, :attr:`mncost.costs.kinds.Kind.workspace`) is alive during its layer's step
  under every schedule, and is not bytes moved.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..errors import InputError
from ..network.layers import INPUT, Network, ResolvedLayer
from . import int8
from .analytic import layer_macs
from .kinds import REGISTRY

#: Bytes per element of each ``--dtype``.
DTYPE_BYTES: Mapping[str, int] = OrderedDict(float32=4, float16=2, int8=1)
DEFAULT_DTYPE = "float32"

#: Peak-memory schedules: name -> what is alive (docs/memory.md, "Schedules").
SCHEDULES: Mapping[str, str] = OrderedDict(
    naive="eager framework: layers run one at a time in order; while a layer runs, its "
          "inputs, its output and every earlier output still needed later (a residual input "
          "until its add) are alive; a tensor is freed after its last consumer; the network "
          "input is held by the caller for the whole pass (forward(x) keeps x); the expanded "
          "tensors of a bottleneck are materialized whole",
    streamed="memory-efficient inference (v2 paper Sec. 5.1): an inverted residual block "
             "runs as one step holding its input (also the residual), its output (the "
             "projection accumulates into it; the add is done in place) and one piece: the "
             "expanded channels are processed in --split groups of ceil(hidden / split) "
             "channels, and a piece is that group's slice of the expand output (H_in x W_in) "
             "plus its slice of the depthwise output (H_out x W_out). A block with "
             "squeeze-excite needs every channel's mean before any channel is projected, so "
             "its depthwise output is materialized whole (only the expansion is streamed) "
             "and the rest runs as naive. Other layers run as naive, except that the network "
             "input is freed after its last consumer",
)
DEFAULT_SCHEDULE = "naive"
#: Default number of pieces of the streamed schedule: the v2 paper's t = 6, so a piece of a
#: t = 6 block is as wide as the block's input.
DEFAULT_SPLIT = 6


def dtype_bytes(dtype: str) -> int:
    try:
        return DTYPE_BYTES[dtype]
    except KeyError:
        raise InputError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPE_BYTES)}"
                         ) from None


def check_split(split: object) -> int:
    if isinstance(split, bool) or not isinstance(split, int) or split < 1:
        raise InputError(f"split must be an integer >= 1, got {split!r}")
    return split


@dataclass(frozen=True)
class Traffic:
    """Bytes of one layer (or a sum of layers) at one element size, and its MACs.

    Attributes:
        input_bytes, weight_bytes, output_bytes: see the module docstring.
        macs: the layer's MACs (:func:`mncost.costs.analytic.layer_macs`).
    """

    input_bytes: int = 0
    weight_bytes: int = 0
    output_bytes: int = 0
    macs: int = 0

    @property
    def bytes_moved(self) -> int:
        """Compulsory traffic: inputs and weights read once, output written once."""
        return self.input_bytes + self.weight_bytes + self.output_bytes

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, MACs per byte moved."""
        return self.macs / self.bytes_moved if self.bytes_moved else 0.0

    def __add__(self, other: "Traffic") -> "Traffic":
        return Traffic(self.input_bytes + other.input_bytes,
                       self.weight_bytes + other.weight_bytes,
                       self.output_bytes + other.output_bytes, self.macs + other.macs)


def layer_elements(layer: ResolvedLayer) -> tuple[int, int, int]:
    """Elements ``layer`` reads, writes and holds as inference weights, batch 1: the element
    formulas of its kind (:class:`mncost.costs.kinds.Kind`: an ``add`` reads two maps, an SE
    ``scale`` the map and the ``C x 1 x 1`` gate; weights include one bias per channel where
    batch norm folds)."""
    kind = REGISTRY[layer.kind]
    return kind.input_elements(layer), layer.out_shape.numel, kind.weight_elements(layer)


def traffic(layer: ResolvedLayer, size: int) -> Traffic:
    """Input, weight and output bytes and MACs of one layer at ``size`` bytes per element: the
    one definition of bytes moved, which the latency model's features read too."""
    read, written, weights = layer_elements(layer)
    return Traffic(input_bytes=size * read, weight_bytes=size * weights,
                   output_bytes=size * written, macs=layer_macs(layer))


def layer_traffic(layer: ResolvedLayer, dtype: str = DEFAULT_DTYPE) -> Traffic:
    """Input, weight and output bytes and MACs of one layer at a float ``dtype`` (pure; int8
    depends on the layer's producers: :func:`network_traffic`)."""
    if dtype == "int8":
        raise InputError("int8 traffic depends on the producers: use network_traffic")
    return traffic(layer, dtype_bytes(dtype))


def check_per_channel(dtype: str, per_channel: bool) -> None:
    if per_channel and dtype != "int8":
        raise InputError(f"--per-channel quantizes weights: it needs --dtype int8, not {dtype}")


def network_traffic(network: Network, dtype: str = DEFAULT_DTYPE, per_channel: bool = False
                    ) -> tuple[Traffic, ...]:
    """:class:`Traffic` of every layer of ``network`` at ``dtype``; at int8 each input at the
    size its producer leaves it and the weights as :func:`.int8.weight_bytes` counts them
    (``per_channel``: one scale and zero point per output channel)."""
    dtype_bytes(dtype)   # an unknown dtype is one line
    check_per_channel(dtype, per_channel)
    if dtype != "int8":
        return tuple(layer_traffic(layer, dtype) for layer in network.layers)
    precision = int8.precisions(network)
    size = int8.sizes(network, precision)
    numel = {INPUT: network.input_shape.numel}
    numel.update((la.name, la.out_shape.numel) for la in network.layers)
    out = []
    for layer in network.layers:
        p = precision[layer.name]
        read, written = int8.io_bytes(layer, p, size, numel)
        out.append(Traffic(read, int8.weight_bytes(layer, p, per_channel), written,
                           layer_macs(layer)))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Schedules

@dataclass(frozen=True)
class Step:
    """One step of a schedule: the layers it runs and the activation bytes alive meanwhile.

    Attributes:
        name: the layer name, or a block's name (``layers.3.1``) for a streamed block.
        layers: the layers run in this step.
        live_bytes: every activation alive during the step (inputs, output, held tensors,
            for a streamed block its piece, and the workspace of a kind that has one).
        piece_bytes: what is alive only during the step: the streamed piece and the
            layers' workspace (:attr:`mncost.costs.kinds.Kind.workspace`; 0 otherwise).
    """

    name: str
    layers: tuple[str, ...]
    live_bytes: int
    piece_bytes: int = 0


@dataclass(frozen=True)
class Peak:
    """Peak activation memory of a network under one schedule."""

    schedule: str
    dtype: str
    split: int
    steps: tuple[Step, ...]

    @property
    def step(self) -> Step:
        """The first step where the peak occurs."""
        return max(self.steps, key=lambda s: s.live_bytes)

    @property
    def bytes(self) -> int:
        return self.step.live_bytes


@dataclass(frozen=True)
class _Plan:
    name: str
    layers: tuple[ResolvedLayer, ...]
    #: Tensors this step materializes (layer names whose outputs outlive the step).
    outputs: tuple[str, ...]
    #: Extra elements alive only during this step: (the layer sliced, elements of its slice).
    piece: tuple[tuple[str, int], ...] = ()


#: The parts a block needs to run streamed (:data:`SCHEDULES`): an inverted residual's
#: depthwise conv and projection (:attr:`mncost.network.layers.ResolvedLayer.role`; a UIB's
#: middle depthwise is its ``dw``, so its ConvNeXt-like and FFN instances, and FusedIB, which
#: have none, run layer by layer).
STREAMED_ROLES = frozenset({"dw", "project"})


def bottleneck_blocks(network: Network
                      ) -> list[tuple[str | None, list[ResolvedLayer]]]:
    """Consecutive layers grouped by the block the resolver built them as
    (:attr:`~mncost.network.layers.ResolvedLayer.block`). A block without the parts of
    :data:`STREAMED_ROLES` (a v1 separable pair) is split back into single layers, as is every
    layer outside a block (``None``)."""
    groups: list[tuple[str | None, list[ResolvedLayer]]] = []
    for layer in network.layers:
        name = layer.block
        if name is not None and groups and groups[-1][0] == name:
            groups[-1][1].append(layer)
        else:
            groups.append((name, [layer]))
    out: list[tuple[str | None, list[ResolvedLayer]]] = []
    for name, members in groups:
        if name is not None and STREAMED_ROLES <= {m.role for m in members}:
            out.append((name, members))
        else:
            out.extend((None, [m]) for m in members)
    return out


def _naive_plans(network: Network) -> list[_Plan]:
    return [_Plan(layer.name, (layer,), (layer.name,)) for layer in network.layers]


def _streamed_plans(network: Network, split: int) -> list[_Plan]:
    plans: list[_Plan] = []
    for name, members in bottleneck_blocks(network):
        if name is None:
            plans.append(_Plan(members[0].name, (members[0],), (members[0].name,)))
            continue
        # A depthwise conv on the block's input (a UIB's ``dw_start``) runs before the
        # expansion, on the whole input: a step of its own, whose output the expansion reads.
        lead = [m for m in members if m.role == "dw_start"]
        plans += [_Plan(m.name, (m,), (m.name,)) for m in lead]
        members = [m for m in members if m not in lead]
        part = {m.role: m for m in members}
        dw, expand = part["dw"], part.get("expand")
        width = math.ceil(dw.out_shape.c / split)
        expand_piece = (((expand.name, width * dw.in_shape.h * dw.in_shape.w),)
                        if expand is not None else ())
        if "se_pool" in part:
            # SE: the gate needs every channel's mean, so the dw output is made whole.
            head = (expand, dw) if expand is not None else (dw,)
            plans.append(_Plan(f"{name} (expand+dw)", head, (dw.name,), expand_piece))
            plans += [_Plan(m.name, (m,), (m.name,)) for m in members if m not in head]
        else:
            dw_piece = ((dw.name, width * dw.out_shape.h * dw.out_shape.w),)
            plans.append(_Plan(name, tuple(members), (members[-1].name,),
                               expand_piece + dw_piece))
    return plans


def peak_memory(network: Network, schedule: str = DEFAULT_SCHEDULE,
                dtype: str = DEFAULT_DTYPE, split: int = DEFAULT_SPLIT) -> Peak:
    """Peak live activation memory of ``network`` under ``schedule`` (:data:`SCHEDULES`).

    Liveness: a tensor is alive from the step that produces it through the last step that
    reads it; the network output is alive at its own step. Weights are not counted.

    At int8 (:mod:`.int8`) every tensor is held at the size ORT leaves it (int8, or float32
    after a layer ORT runs in float, :func:`.int8.precisions`; the image is float32);
    ``naive`` follows ORT's nodes one by one, Quantize / Dequantize copies included (a
    layer's step: the most alive during any of its nodes); ``streamed``, a hand-written
    runtime, converts inside its kernels (no copies).
    """
    dtype_bytes(dtype)
    split = check_split(split)
    if dtype == "int8" and schedule == "naive":
        return Peak(schedule=schedule, dtype=dtype, split=split, steps=tuple(
            Step(name, (name,), live) for name, live in int8.naive_live_bytes(network)))
    precision = int8.precisions(network) if dtype == "int8" else None
    size_of = (int8.sizes(network, precision) if precision is not None
               else dict.fromkeys([INPUT, *(la.name for la in network.layers)],
                                  dtype_bytes(dtype)))
    scratch = {la.name: (int8.workspace_bytes(la, precision[la.name]) if precision is not None
                         else size_of[la.name] * REGISTRY[la.kind].workspace(la))
               for la in network.layers}
    if schedule == "naive":
        plans = _naive_plans(network)
    elif schedule == "streamed":
        plans = _streamed_plans(network, split)
    else:
        raise InputError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
    elements = {INPUT: network.input_shape.numel}
    elements.update((layer.name, layer.out_shape.numel) for layer in network.layers)
    produced = {INPUT: 0}
    last_read: dict[str, int] = {}
    for i, plan in enumerate(plans):
        inside = {m.name for m in plan.layers}
        for member in plan.layers:
            for source in member.inputs:
                if source not in inside:
                    last_read[source] = i
        for out in plan.outputs:
            produced[out] = i
    if schedule == "naive":
        last_read[INPUT] = len(plans) - 1
    steps = []
    for i, plan in enumerate(plans):
        live = sum(size_of[t] * elements[t] for t, p in produced.items()
                   if p <= i and (p == i or last_read.get(t, p) >= i))
        # What a layer holds only while it runs (an attention's scores), under any schedule
        # (at int8, at the size ORT holds it: :func:`.int8.workspace_bytes`).
        held = sum(size_of[t] * n for t, n in plan.piece) + sum(
            scratch[m.name] for m in plan.layers)
        steps.append(Step(plan.name, tuple(m.name for m in plan.layers), live + held, held))
    return Peak(schedule=schedule, dtype=dtype, split=split, steps=tuple(steps))


# ---------------------------------------------------------------------------------------------
# A network's memory report

@dataclass(frozen=True)
class MemoryReport:
    """Per-layer traffic, totals, by kind, and the peak under every schedule."""

    network: Network
    dtype: str
    split: int
    layers: tuple[tuple[ResolvedLayer, Traffic], ...]
    total: Traffic
    by_kind: Mapping[str, Traffic]
    peaks: Mapping[str, Peak]
    per_channel: bool = False


def _sum(items: Iterable[Traffic]) -> Traffic:
    total = Traffic()
    for t in items:
        total = total + t
    return total


def memory_report(network: Network, dtype: str = DEFAULT_DTYPE,
                  split: int = DEFAULT_SPLIT, per_channel: bool = False) -> MemoryReport:
    """Traffic of every layer at ``dtype`` and the peak activation memory of every schedule
    (``per_channel``: int8 weights quantized per output channel)."""
    rows = tuple(zip(network.layers, network_traffic(network, dtype, per_channel)))
    by_kind: dict[str, Traffic] = OrderedDict()
    for layer, traffic in rows:
        by_kind[layer.kind] = by_kind.get(layer.kind, Traffic()) + traffic
    peaks = OrderedDict((s, peak_memory(network, s, dtype, split)) for s in SCHEDULES)
    return MemoryReport(network=network, dtype=dtype, split=check_split(split), layers=rows,
                        total=_sum(t for _, t in rows), by_kind=by_kind, peaks=peaks,
                        per_channel=per_channel)


def memory_totals(network: Network, dtype: str = DEFAULT_DTYPE, per_channel: bool = False
                  ) -> dict[str, int]:
    """The memory metrics of a network (``mncost.check.results.MEMORY_METRICS``), the naive
    schedule: float32 in baselines, ``dtype`` in budgets and ``sweep --memory --dtype``."""
    return {"peak_activation_bytes": peak_memory(network, dtype=dtype).bytes,
            "bytes_moved": sum(t.bytes_moved
                               for t in network_traffic(network, dtype, per_channel))}
