"""The alpha x resolution split of a grid, the one implementation that sweeps
(:mod:`mncost.sweep.run`) and predicted sweeps (:class:`mncost.latency.predict.SweepPredictor`)
both use.

A layer's costs split into a part fixed by the multipliers (channels, kernel, groups,
parameters: per output pixel) and a part fixed by the resolution (each layer's input and
output pixels, which depend only on the resolution and the strides). So each (alpha, depth) is
resolved once, at the spec's own resolution (:meth:`Split.base`), and each resolution once per
layer layout (:meth:`Split.at`): a configuration is then a dot product of the two.

The split is checked, not assumed: :meth:`Split.at` resolves the configuration once per layout
and resolution, compares its layout with the alpha's, and asks the caller's ``check`` whether
its own per-pixel figures hold there (the registry's MACs for a sweep, the full prediction
for a predicted one). Where they do not, it answers ``None`` and the caller resolves that
configuration itself.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Callable, Sequence

from ..network.layers import Network, spatial_key
from ..network.resolve import resolve
from ..spec.load import Spec

#: Layer entries of resolved spatial sizes kept for the whole of a model's sweep (8 bytes
#: each, 16 with input pixels, 40 with per-layer sizes); beyond, resolutions are resolved
#: again for each alpha, so memory stays bounded whatever the grid.
CACHE_LAYERS = 2_000_000


def layout(network: Network) -> tuple:
    """What fixes every layer's spatial size besides the input's (names, kinds, inputs,
    kernels, strides...: :func:`mncost.network.layers.spatial_key`)."""
    return tuple(map(spatial_key, network.layers))


def pack(values: list[int]) -> Sequence[int]:
    """64-bit integers in an array (8 bytes each); Python's integers beyond that."""
    try:
        return array("q", values)
    except OverflowError:
        return values


def pixels(network: Network) -> tuple[list[int], list[int]]:
    """Each layer's output pixels and input pixels."""
    return ([l.out_shape.h * l.out_shape.w for l in network.layers],
            [l.in_shape.h * l.in_shape.w for l in network.layers])


def flat_sizes(network: Network) -> Sequence[int]:
    """(in H, in W, out H, out W) of each layer, flattened."""
    return pack([v for l in network.layers
                 for v in (l.in_shape.h, l.in_shape.w, l.out_shape.h, l.out_shape.w)])


@dataclass(frozen=True)
class ResolutionMap:
    """One resolution of one layer layout, kept compact (a sweep may hold thousands).

    Attributes:
        resolution: the network's ``(H, W)``.
        out_pixels: each layer's output pixels.
        in_pixels: each layer's input pixels (when asked for, else empty).
        sizes: :func:`flat_sizes` (when asked for, else empty).
    """

    resolution: tuple[int, int]
    out_pixels: Sequence[int]
    in_pixels: Sequence[int] = ()
    sizes: Sequence[int] = ()


class Split:
    """The split of one spec's grid (module docstring), with its cache of resolutions.

    Args:
        spec: the spec.
        classes: the classifier width (``None``: the spec's).
        in_pixels, sizes: also keep each layer's input pixels / its spatial sizes.
        cache_layers: at most this many layer entries are cached (default
            :data:`CACHE_LAYERS`).
        done: called with every network resolved (a sweep counts its work with it, and stops
            past a bound); returns it.
    """

    def __init__(self, spec: Spec, classes: int | None, in_pixels: bool = False,
                 sizes: bool = False, cache_layers: int | None = None,
                 done: Callable[[Network], Network] = lambda network: network) -> None:
        self.spec = spec
        self.done = done
        self.classes = classes
        self.in_pixels = in_pixels
        self.sizes = sizes
        self.cache_layers = CACHE_LAYERS if cache_layers is None else cache_layers
        # Alphas with one layout share one resolve per resolution (usually every alpha does).
        self._maps: dict[tuple, dict[tuple[int, int], ResolutionMap | None]] = {}
        self._cached = 0

    def base(self, alpha: float | None, depth: float | None) -> Network:
        """The network of one (alpha, depth) at the spec's own resolution."""
        return self.done(resolve(self.spec, alpha, None, self.classes, depth))

    def resolve(self, alpha: float | None, depth: float | None,
                resolution: tuple[int, int]) -> Network:
        """One configuration resolved whole (where the split does not hold)."""
        return self.done(resolve(self.spec, alpha, resolution, self.classes, depth))

    def at(self, base: Network, resolution: tuple[int, int],
           check: Callable[[Network], bool]) -> ResolutionMap | None:
        """Each layer's pixels of ``base``'s layout at ``resolution``, or ``None`` where the
        split does not hold there: the configuration resolves to another layout, or
        ``check(network)`` (the configuration resolved whole) is False. Answered once per
        layout and resolution, within :attr:`cache_layers`."""
        cache = self._maps.setdefault(layout(base), {})
        if resolution in cache:
            return cache[resolution]
        network = self.resolve(base.alpha, base.depth, resolution)
        spatial = None
        if layout(network) == layout(base) and check(network):
            out_pixels, in_pixels = pixels(network)
            spatial = ResolutionMap(tuple(network.resolution), pack(out_pixels),
                                    pack(in_pixels) if self.in_pixels else (),
                                    flat_sizes(network) if self.sizes else ())
        if self._cached + len(base.layers) <= self.cache_layers:
            cache[resolution] = spatial
            self._cached += len(base.layers)
        return spatial
