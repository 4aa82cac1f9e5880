"""Counts in the terms the reference implementations are compared in (no torch needed).

A network is its layers that do multiply-accumulates (``Kind.has_macs``,
:mod:`mncost.costs.kinds`) in execution order, each with its MACs, its own parameters (weight
+ bias, not the batch norm after it) and its output C x H x W, and the totals: MACs,
parameters (``sum(p.numel())``, batch norm included) and the output shape. A layer that is one
``Conv2d`` or ``Linear`` in every implementation (``Kind.conv_module``) is that module on the
other side; an attention layer (its ``Q K^T`` and ``A V``, no parameters) is the matmuls the
implementation runs between two such modules.
:mod:`mncost.torch_backend.reference` counts a torchvision or timm model in the same terms;
``tests/data/reference_counts.json`` stores such counts, so the tests hold the engine to them
without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..network.layers import Network
from .analytic import analyze
from .kinds import REGISTRY


@dataclass(frozen=True)
class LayerCount:
    """One Conv2d / Linear, or attention matmuls (an engine layer with MACs): MACs, own
    params, output C,H,W."""

    name: str
    macs: int
    params: int
    shape: tuple[int, int, int]


@dataclass(frozen=True)
class Counts:
    """A whole model: its layers with MACs in execution order and its totals."""

    layers: tuple[LayerCount, ...]
    macs: int
    params: int
    output: tuple[int, ...]


def count_network(network: Network) -> Counts:
    """The engine's side, in the same terms (no torch needed to compute it)."""
    report = analyze(network)
    layers = tuple(LayerCount(r.layer.name, r.cost.macs, r.cost.weights + r.cost.biases,
                              (r.layer.out_shape.c, r.layer.out_shape.h, r.layer.out_shape.w))
                   for r in report.layers if REGISTRY[r.layer.kind].has_macs)
    return Counts(layers, report.total.macs, report.total.params("trainable"),
                  (1, network.classes))


def compare(ours: Counts, theirs: Counts) -> tuple[str, ...]:
    """One line per difference: layer count, each layer's MACs/params/shape, the totals."""
    lines = []
    if len(ours.layers) != len(theirs.layers):
        lines.append(f"conv/linear layers: ours {len(ours.layers)} != reference "
                     f"{len(theirs.layers)}")
    for i, (a, b) in enumerate(zip(ours.layers, theirs.layers)):
        for what in ("macs", "params", "shape"):
            x, y = getattr(a, what), getattr(b, what)
            if x != y:
                lines.append(f"layer {i} {a.name} / {b.name}: {what} ours {_fmt(x)} != "
                             f"reference {_fmt(y)}")
    for what in ("macs", "params", "output"):
        x, y = getattr(ours, what), getattr(theirs, what)
        if x != y:
            lines.append(f"total {what}: ours {_fmt(x)} != reference {_fmt(y)}")
    return tuple(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return "x".join(map(str, value))


@dataclass(frozen=True)
class ReferenceCheck:
    """Our counts against a reference implementation's, layer by layer and in total."""

    model: str
    library: str
    network: Network
    ours: Counts
    theirs: Counts
    seconds: float = 0.0

    @property
    def checks(self) -> int:
        """Integer comparisons: the layer count, 3 per layer, 3 totals."""
        return 1 + 3 * min(len(self.ours.layers), len(self.theirs.layers)) + 3

    @property
    def mismatches(self) -> tuple[str, ...]:
        return compare(self.ours, self.theirs)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the configuration, totals of both sides, and every per-layer triple."""
        net = self.network
        return {
            "schema": "mncost.crosscheck-reference/1", "model": self.model,
            "reference": self.library, "spec": net.spec_name, "alpha": net.alpha,
            "depth": net.depth, "resolution": list(net.resolution), "classes": net.classes,
            "ok": self.ok, "mismatch_lines": list(self.mismatches),
            "totals": {"macs": [self.ours.macs, self.theirs.macs],
                       "params": [self.ours.params, self.theirs.params]},
            "layers": [{"name": a.name, "reference_name": b.name, "macs": [a.macs, b.macs],
                        "params": [a.params, b.params], "shape": [list(a.shape), list(b.shape)]}
                       for a, b in zip(self.ours.layers, self.theirs.layers)],
            "seconds": round(self.seconds, 3),
        }
