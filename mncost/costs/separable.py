"""Standard vs depthwise separable convolution: the comparison at the heart of the v1 paper.

For each depthwise layer followed by a pointwise (1x1) layer, the cost of the one standard
convolution the pair replaces (v1 paper Eq. 2 vs Eq. 5):

    standard  = D_K^2 * M * N * D_F^2
    separable = D_K^2 * M * D_F^2 + M * N * D_F^2
    separable / standard = 1/N + 1/D_K^2

(v1 paper Sec. 3.1; Table 3 evaluates it for D_K=3, M=N=512, D_F=14.)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..network.layers import Network, ResolvedLayer
from .kinds import conv_macs, conv_weights


@dataclass(frozen=True)
class SeparablePair:
    """One depthwise + pointwise pair and the standard convolution it replaces.

    Attributes:
        depthwise, pointwise: the two layers.
        kernel: D_K; m: input channels M; n: output channels N; out_h, out_w: D_F.
        separable_macs, standard_macs: mult-adds of the pair and of the standard conv.
        separable_weights, standard_weights: weights of the pair and of the standard conv.
    """

    depthwise: ResolvedLayer
    pointwise: ResolvedLayer
    kernel: int
    m: int
    n: int
    out_h: int
    out_w: int
    separable_macs: int
    standard_macs: int
    separable_weights: int
    standard_weights: int

    @property
    def ratio(self) -> Fraction:
        """Measured ratio separable / standard (exact)."""
        return Fraction(self.separable_macs, self.standard_macs)

    @property
    def formula_ratio(self) -> Fraction:
        """The paper's closed form 1/N + 1/D_K^2."""
        return Fraction(1, self.n) + Fraction(1, self.kernel ** 2)


def _consumer(network: Network, name: str) -> ResolvedLayer | None:
    """The pointwise layer that reads ``name`` (through an SE scale if there is one)."""
    for layer in network.layers:
        if layer.inputs and layer.inputs[0] == name:
            if layer.kind == "scale":
                return _consumer(network, layer.name)
            if layer.kind == "pointwise":
                return layer
    return None


def separable_pairs(network: Network) -> list[SeparablePair]:
    """Every depthwise (channel multiplier 1) + pointwise pair of ``network``, in order."""
    pairs = []
    for dw in network.layers:
        if dw.kind != "depthwise" or dw.out_shape.c != dw.in_shape.c:
            continue
        pw = _consumer(network, dw.name)
        if pw is None:
            continue
        m, n, k = dw.in_shape.c, pw.out_shape.c, dw.kernel
        h, w = pw.out_shape.h, pw.out_shape.w
        standard = ResolvedLayer(name=f"{dw.name}+{pw.name}", kind="conv", stage=dw.stage,
                                 inputs=dw.inputs, in_shape=dw.in_shape,
                                 out_shape=pw.out_shape, kernel=k, stride=dw.stride)
        pairs.append(SeparablePair(
            depthwise=dw, pointwise=pw, kernel=k, m=m, n=n, out_h=h, out_w=w,
            separable_macs=conv_macs(dw) + conv_macs(pw), standard_macs=conv_macs(standard),
            separable_weights=conv_weights(dw) + conv_weights(pw),
            standard_weights=conv_weights(standard)))
    return pairs
