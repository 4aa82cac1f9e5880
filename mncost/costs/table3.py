"""The per-resolution view of v2 paper Table 3: the most channels, and the memory, that must be
materialized at each spatial size (docs/memory.md, "v2 paper Table 3").

A *tensor set* names which tensors count at each size (:data:`TENSOR_SETS`); memory at a size
is ``H * W * max_channels * element size``. The paper's printed figures use 16-bit activations
and K = 1000 bytes, rounded down to two significant figures (:func:`paper_k`). Pure: no torch.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Mapping

from ..errors import InputError
from ..network.layers import Network
from .memory import bottleneck_blocks, dtype_bytes

TENSOR_SETS: Mapping[str, str] = OrderedDict([
    ("layer-outputs", "every layer's output, at its own size (the V1 column's reading)"),
    ("block-io", "the inputs and outputs of the bottleneck blocks, at their own size; the "
                 "expanded tensors are streamed (Sec. 5.1), the stem conv's output is fused "
                 "into the first block (the caption's first-layer trick) and a conv whose "
                 "output only feeds a global pool is pooled as it is produced"),
    ("row-input", "as block-io, but a block's output is counted at the block's input size, "
                  "as Table 2 prints a row's c beside its input size"),
])

#: v2 paper Table 3 (arXiv 1801.04381 v4): size -> (max channels, memory in K), 16-bit.
PAPER_TABLE3: Mapping[str, Mapping[int, tuple[int, int]]] = {
    "mobilenet-v1": OrderedDict([(112, (64, 1600)), (56, (128, 800)), (28, (256, 400)),
                                 (14, (512, 200)), (7, (1024, 199)), (1, (1024, 2))]),
    "mobilenet-v2": OrderedDict([(112, (16, 400)), (56, (32, 200)), (28, (64, 100)),
                                 (14, (160, 62)), (7, (320, 32)), (1, (1280, 2))]),
}
#: The paper's "max" row, in K.
PAPER_MAX = {"mobilenet-v1": 1600, "mobilenet-v2": 400}
#: The tensor set each paper column is compared under first.
PAPER_SETS = {"mobilenet-v1": ("layer-outputs",), "mobilenet-v2": ("block-io", "row-input")}


def paper_k(nbytes: int) -> int:
    """Bytes as the paper prints them: K = 1000 bytes, rounded down, and to two significant
    figures (1,605,632 B -> 1600; 62,720 B -> 62; 2,560 B -> 2)."""
    k = nbytes // 1000
    digits = len(str(k))
    if digits > 2:
        unit = 10 ** (digits - 2)
        k = k // unit * unit
    return k


@dataclass(frozen=True)
class SizeRow:
    """One spatial size: the widest tensor that counts there and its bytes."""

    h: int
    w: int
    channels: int
    bytes: int
    tensor: str


def _tensors(network: Network, tensor_set: str) -> list[tuple[int, int, int, str]]:
    """(h, w, channels, name) of every tensor that counts under ``tensor_set``."""
    if tensor_set == "layer-outputs":
        return [(la.out_shape.h, la.out_shape.w, la.out_shape.c, la.name)
                for la in network.layers]
    if tensor_set not in TENSOR_SETS:
        raise InputError(f"unknown tensor set {tensor_set!r}; use one of "
                         f"{', '.join(TENSOR_SETS)}")
    groups = bottleneck_blocks(network)
    consumers: dict[str, list] = {}
    for layer in network.layers:
        for source in layer.inputs:
            consumers.setdefault(source, []).append(layer)
    out = []
    for i, (block, members) in enumerate(groups):
        last = members[-1]
        size = last.out_shape
        if block is not None:
            if tensor_set == "row-input":
                first = members[0].in_shape
                out.append((first.h, first.w, size.c, last.name))
            else:
                out.append((size.h, size.w, size.c, last.name))
            continue
        users = consumers.get(last.name, [])
        if i == 0 and len(groups) > 1 and groups[1][0] is not None:
            continue                               # the stem, fused into the first block
        if users and all(u.global_pool for u in users):
            continue                               # pooled as it is produced
        out.append((size.h, size.w, size.c, last.name))
    return out


def per_resolution(network: Network, tensor_set: str = "layer-outputs",
                   dtype: str = "float16") -> list[SizeRow]:
    """The widest counted tensor at each spatial size, largest size first."""
    size = dtype_bytes(dtype)
    best: dict[tuple[int, int], tuple[int, str]] = {}
    for h, w, c, name in _tensors(network, tensor_set):
        if (h, w) not in best or c > best[(h, w)][0]:
            best[(h, w)] = (c, name)
    return [SizeRow(h, w, c, h * w * c * size, name)
            for (h, w), (c, name) in sorted(best.items(), key=lambda kv: -kv[0][0] * kv[0][1])]


@dataclass(frozen=True)
class PaperEntry:
    """One paper entry beside what each tensor set gives."""

    size: int
    paper_channels: int
    paper_k: int
    computed: Mapping[str, tuple[int, int, int]]     # set -> (channels, bytes, K as printed)

    @property
    def matched_by(self) -> tuple[str, ...]:
        return tuple(s for s, (c, _, k) in self.computed.items()
                     if (c, k) == (self.paper_channels, self.paper_k))


def paper_comparison(network: Network) -> list[PaperEntry] | None:
    """Each Table 3 entry of ``network``'s column beside every tensor set (16-bit), or None
    when the network is not the paper's (v1 / v2 at alpha 1, 224 x 224)."""
    paper = PAPER_TABLE3.get(network.spec_name)
    if paper is None or network.alpha != 1.0 or network.resolution != (224, 224):
        return None
    rows = {s: {r.h: r for r in per_resolution(network, s, "float16")} for s in TENSOR_SETS}
    entries = []
    for size, (c, k) in paper.items():
        computed = OrderedDict()
        for s, by_size in rows.items():
            r = by_size.get(size)
            computed[s] = (r.channels, r.bytes, paper_k(r.bytes)) if r else (0, 0, 0)
        entries.append(PaperEntry(size, c, k, computed))
    return entries


def outlier_notes(network: Network) -> list[str]:
    """The arithmetic behind each entry that no tensor set reproduces."""
    entries = paper_comparison(network)
    if not entries:
        return []
    notes = []
    for e in entries:
        if e.matched_by:
            continue
        s = e.size
        cells = s * s
        exact = cells * e.paper_channels * 2
        line = (f"{s}x{s}: the paper prints {e.paper_channels}/{e.paper_k}; "
                f"{s}*{s}*{e.paper_channels}*2 B = {exact:,} B = {exact / 1000:.2f} K "
                f"({exact / 1024:.2f} KiB)")
        if network.spec_name == "mobilenet-v1" and s == 7:
            line += (f"; two such tensors (the input and output of the last 7x7 1024->1024 "
                     f"pointwise) = {2 * exact:,} B = {2 * exact / 1000:.2f} K "
                     f"({2 * exact / 1024:.0f} KiB): 199 follows from neither")
        elif exact / 1000 < e.paper_k:
            line += (f"; only rounding up gives {e.paper_k}, while every other entry is "
                     f"rounded down (62.72 -> 62, 2.56 -> 2)")
        notes.append(line)
    return notes
