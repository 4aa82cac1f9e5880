"""A latency model per device: fitted once (``mncost calibrate``), evaluated as a dot product.

The model works at the level the runtime executes. Each resolved layer is one kernel call (a
conv with its batch norm folded in) followed by its activation, and its time is linear in
features of its resolved shape::

    t(layer) = a[kernel] * MACs + b[kernel] * map bytes + w[kernel] * weight bytes
             + c[kernel] * calls + p[act] * output bytes + q[act]

* ``kernel``: the layer's kind (:data:`mncost.costs.kinds.REGISTRY`), with two refinements
  (:meth:`LatencyModel.kernel`): the stem, a standard conv on the input image, is
  ``conv@stem`` (:data:`STEM`); and for a runtime with a blocked channel layout (ONNX
  Runtime's NCHWc, :class:`ChannelLayout`) a conv it runs unblocked is ``kind@nchw``, for
  eager PyTorch a conv oneDNN runs on padded channel blocks ``kind@padded``
  (:class:`OneDnnPaths`);
* ``MACs``: the registry's count (0 for pooling, adds and SE scales), over channels padded to
  whole blocks for a blocked conv;
* ``map bytes`` and ``weight bytes``: the layer's compulsory bytes moved
  (:func:`mncost.costs.memory.traffic`) at the dtype's size, in two parts priced apart: its
  input and output maps (padded likewise) and its inference weights (batch norm folded into a
  bias). A kernel re-reads its input map (a conv's im2col reads it k x k times) but reads its
  weights once: one rate for both made v1-conv's 3x3 convs at 9x9, whose bytes are 94% weights,
  1.7x too slow in eager PyTorch when the kind was fitted on convs whose bytes are mostly maps;
* ``calls``: 1, or the groups of a grouped conv run plain (one GEMM per group,
  :meth:`ChannelLayout.calls`); ``c`` is the fixed cost of one call (dispatch, set-up);
* ``p``, ``q``: the activation's cost per byte of the output map and per call (fused into the
  conv by ONNX Runtime for ReLU, a separate module in eager PyTorch).

A layer's weights were last read one run earlier; when everything a run touches (every
layer's weights and output map, :func:`run_footprint`) exceeds what the caches keep, they come
back from memory. The share of weight bytes a run re-reads from memory is taken as
``max(0, 1 - C / footprint)`` (a cache of ``C`` bytes holding a random share of a footprint
larger than itself), and every layer pays for its uncached weight bytes at one rate ``u``
shared by all kernels (the memory bus is shared)::

    t(layer) += u * weight bytes * max(0, 1 - C / footprint(network))

``C`` is chosen by the calibration (:data:`CACHE_CAPACITIES`, :func:`fit`), and the term is
kept only where it explains part of the end-to-end error (:data:`CACHE_MIN_GAIN`): measured on
this project's VM (docs/evaluation-record.md), ONNX Runtime's fc and late-stage layers of
networks with over about 10 MB of weights and maps run 1.5-2.5x slower per byte than the same
layers of smaller networks, and without the term the wide held-out networks (v3-large 0.85-1.0,
EfficientNet-B0, MobileNetV4-Medium) read 9-15% low.

An int8 model (ONNX Runtime's QDQ graph, ``precision="int8"``) adds the Quantize and
Dequantize copies its runtime makes between int8 and float32 layers, at one rate per element
copied, to the layer each copy is made for (:meth:`LatencyModel.conversions`)::

    t(layer) += r * elements of the layer's copies

A network's end-to-end time adds the time between layers and a fixed cost::

    T(network) = sum of max(0, t(layer) + between) + fixed

Every coefficient is >= 0 except ``between``, so no layer is predicted below zero: ``between``
may be negative (timing a layer in place costs more than the gap a plain run leaves), but a
layer with its share of it takes no less than nothing (:meth:`LatencyModel.predict` counts
the layers it clamps, and ``predict`` warns). Kernels get their own coefficients because they
are different code and are memory-bound at different sizes (depthwise and SE scale move bytes,
a pointwise conv does MACs).

**Fitting** (:func:`fit`), in two stages, both weighted least squares on *relative* errors
(each row divided by its measured time, so a 0.02 ms layer counts as much as a 5 ms one) with
non-negative coefficients (``scipy.optimize.nnls``; without scipy, ``numpy.linalg.lstsq`` with
the negative columns removed and refitted):

1. every layer's median measured in place (the profiler's per-layer mode) against its kernel's
   ``[MACs, bytes, calls]``, its activation's ``[output bytes, 1]`` and its uncached weight
   bytes, in one fit (:func:`fit_layers`): every layer of every calibration network is a data
   point (at int8 each relative error weighted by the square root of the layer's share of its
   network's time, :data:`SHARE_WEIGHTED`);
2. the end-to-end medians against ``[sum of stage-1 layer times, layers, 1]``: a scale ``s``
   (per-layer timing has its own cost), the time between layers (negative where timing a
   layer costs more than the gaps of a plain run) and the fixed cost. The final coefficients
   are ``s`` times stage 1's.

So per-layer data decides how time splits between layers (shares), end-to-end data decides the
total. Prediction (:meth:`LatencyModel.predict`) is pure Python: no numpy, no torch. The file
a calibration writes (a device profile) is read and validated by
:mod:`mncost.latency.device_profile`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Iterable, Mapping, NamedTuple, Sequence, Union

from ..costs.analytic import network_macs
from ..costs.int8 import FLOAT_RUN, conversions, precisions
from ..costs.kinds import REGISTRY
from ..costs.memory import layer_elements, traffic
from ..errors import InputError
from ..network.layers import INPUT, Network, ResolvedLayer
from ..network.resolve import ceil_div

FEATURES = ("macs", "bytes", "calls")
#: The suffix of a conv kernel's variant in the plain (unblocked) layout, when the runtime
#: has a blocked one (:class:`ChannelLayout`): ``depthwise@nchw``.
PLAIN = "@nchw"
#: The suffix of the stem's kernel: a standard conv that reads the network's input image.
#: Its few input channels (3) cannot be blocked or vectorized along channels, so runtimes run
#: it with another algorithm (ONNX Runtime reads the NCHW image directly; oneDNN likewise), at
#: a fraction of a body conv's MACs per second: one ``conv`` kernel for both put v1-conv
#: (full 3x3 convs) at 1.0/224 12% over in eager PyTorch, +7.5% with this.
STEM = "@stem"
#: The suffix of a layer's kernel in an int8 model (``precision="int8"``) when ONNX Runtime
#: runs the layer in float32 (:func:`mncost.costs.int8.precisions`: a tensor with two readers
#: keeps its writer and readers float32): ``pointwise@float32``. Its int8 kernel is the kind.
FLOAT_VARIANT = "@float32"
#: The suffix of an int8 conv's kernel when ONNX Runtime's MLAS runs it outside its symmetric
#: int8 conv kernels (:class:`Int8ConvPaths`): ``depthwise@generic``.
GENERIC = "@generic"
#: The suffix of a conv's kernel when eager PyTorch runs it through oneDNN with its channels
#: padded to whole blocks (:class:`OneDnnPaths`): ``depthwise@padded``.
PADDED = "@padded"
VARIANTS = (PLAIN, STEM, FLOAT_VARIANT, GENERIC, PADDED)
#: The precisions a model is fitted for: float32, or int8 as ORT's QDQ quantization runs it.
PRECISIONS = ("float32", "int8")
#: The runtimes whose weights have a rate of their own (:func:`fit_selected`): ONNX Runtime
#: lays each conv's weights out for its kernel once, when the session is made, so a run reads
#: them once. Eager PyTorch hands oneDNN its plain weights on every call, to be reordered
#: for the kernel (read and written again, like a map), and on this project's VM a rate apart
#: did no better there held out (a fresh run: 90% within ±10% either way, 67% within ±5%
#: against 76%; ONNX Runtime: 98% against 95%, largest error 10.3% against 18.3%).
WEIGHTS_APART = ("onnxruntime",)
#: The precisions whose stage-1 fit weights each layer's relative error by the square root of
#: its share of its network's time (:func:`fit_layers`): int8, whose per-layer timings of ONNX
#: Runtime's QDQ graph are up to half the profiler's own cost per node (v3-small 0.35/96: 2.06
#: ms of layer timings for a 0.86 ms run), so that the many small float32 layers' readings
#: decided the kernels' terms as much as the large layers' that make the time. Measured on four
#: stored int8 calibrations, refitted (docs/evaluation-record.md): training configurations
#: within ±10% 70-75% -> 79-84%. ONNX Runtime float32 (about one node a layer) did no better.
SHARE_WEIGHTED = ("int8",)
#: Coefficient names in a device profile, per kind (units: ms per MAC, per byte of the maps,
#: per call, per byte of the weights). A kind fitted without a weight rate of its own (eager
#: PyTorch, :data:`WEIGHTS_APART`; a profile written before the rate existed) has three, and
#: is written with three: its weights are priced at ``ms_per_byte`` (:func:`full_coefficients`).
COEFFICIENTS = ("ms_per_mac", "ms_per_byte", "ms_per_call", "ms_per_weight_byte")
#: Coefficient names of an activation (units: ms per byte of the output map, per call).
ACTIVATION_COEFFICIENTS = ("ms_per_byte", "ms_per_call")


# ---------------------------------------------------------------------------------------------
# Features: the memory module's per-layer traffic (pure; one definition of bytes moved)


def full_coefficients(coefs: Sequence[float]) -> tuple[float, float, float, float]:
    """``(a, b, c, w)`` of a kernel (:data:`COEFFICIENTS`); three given (a model or profile
    from before the weights had a rate of their own): ``w = b``, the same prediction."""
    if len(coefs) == 3:
        a, b, c = coefs
        return a, b, c, b
    a, b, c, w = coefs
    return a, b, c, w

def layer_features(layer: ResolvedLayer, dtype_bytes: int = 4) -> tuple[int, int, int]:
    """``(MACs, bytes moved, 1)`` of one layer (module docstring): its compulsory traffic
    (:func:`mncost.costs.memory.traffic`) at ``dtype_bytes`` per element."""
    t = traffic(layer, dtype_bytes)
    return t.macs, t.bytes_moved, 1


def network_features(network: Network, dtype_bytes: int = 4) -> list[tuple[str, int, int]]:
    """``(kind, MACs, bytes)`` per layer, in order."""
    return [(layer.kind, *layer_features(layer, dtype_bytes)[:2]) for layer in network.layers]


# ---------------------------------------------------------------------------------------------
# Weights a run re-reads from memory

#: The cache capacities a calibration tries (bytes): 1 MiB to 64 MiB in steps of sqrt(2),
#: around the caches of the CPUs mncost is run on (this project's VM: 1 MiB of L2 per core and
#: a 32 MiB L3 shared with the host's other tenants; the fit chose 8-11 MiB there).
CACHE_CAPACITIES = tuple(round(2 ** 20 * 2 ** (k / 2)) for k in range(13))
#: The uncached-weights term is kept only where the best capacity cuts the root mean square
#: of the end-to-end training errors by at least this share (and is not the smallest tried,
#: :func:`fit_selected`); otherwise a calibration fits without it. On this project's VM it
#: cut ONNX Runtime's by 27-28% in three calibrations (7.2% -> 5.2%), at 8-11 MiB; eager
#: PyTorch's best was always the smallest capacity while a depthwise conv was one kernel
#: (with :class:`OneDnnPaths`, three of five sets kept 2 MiB, cutting it by 11-12%), and
#: int8's gain was nil (its weights are a quarter of the bytes).
CACHE_MIN_GAIN = 0.10


def run_footprint(network: Network, dtype_bytes: int = 4) -> int:
    """Bytes one forward pass touches: every layer's weights and output map
    (:func:`mncost.costs.memory.traffic`). Inputs are the maps of the layers before."""
    return sum(t.weight_bytes + t.output_bytes
               for t in (traffic(layer, dtype_bytes) for layer in network.layers))


def uncached_share(footprint: int, cache_bytes: int) -> float:
    """The share of weight bytes a run re-reads from memory: ``max(0, 1 - C / footprint)``
    (module docstring); 0 without a cache capacity (``cache_bytes`` 0: no such term)."""
    if cache_bytes <= 0 or footprint <= cache_bytes:
        return 0.0
    return 1.0 - cache_bytes / footprint


# ---------------------------------------------------------------------------------------------
# Kernel variants: which layout a runtime runs a conv in


@dataclass(frozen=True)
class ChannelLayout:
    """Which convs a runtime runs in a blocked channel layout, and which in plain NCHW.

    ONNX Runtime's CPU provider rewrites a conv into NCHWc (channels in blocks of ``block``,
    MLAS's vector width) only when its channel counts allow it, and runs the rest through its
    generic NCHW path: im2col and a GEMM per group, ten times slower per MAC for a depthwise
    conv on this project's machine (v1 at alpha 0.9: 57, 115, 230 and 921 channels). The rule,
    from ORT's ``NchwcTransformer``, with ``alignment`` the channel multiple it pads to a block:

    * a standard conv (groups 1) is blocked when it reads fewer than ``block`` input channels
      (the stem reads the NCHW image directly) or a multiple of ``alignment``;
    * a depthwise conv (one input channel per group, as many groups as outputs) when its
      channels are a multiple of ``alignment``;
    * another grouped conv when its output channels are a multiple of ``alignment`` and its
      input and output channels per group are multiples of ``block``.

    The two numbers differ between ORT versions and CPUs, so ``mncost calibrate`` does not
    assume them: it probes the installed runtime with single convs and keeps the values that
    explain every probe (:func:`infer_layout`). ``fc`` (a GEMM) has no layout.
    """

    alignment: int
    block: int
    name: str = "nchwc"
    #: The suffix of the kernel of a conv the rule sets apart.
    suffix: ClassVar[str] = PLAIN

    @staticmethod
    def applies(layer: ResolvedLayer) -> bool:
        """Whether the rule concerns ``layer``: a conv (not ``fc``, a GEMM), as its kind says
        (:attr:`mncost.costs.kinds.Kind.channel_layout`)."""
        return REGISTRY[layer.kind].channel_layout

    def blocked(self, layer: ResolvedLayer) -> bool:
        """Whether the runtime runs ``layer`` in the blocked layout (True for non-convs:
        they have one variant)."""
        if not self.applies(layer):
            return True
        return self.blocked_conv(layer.in_shape.c, layer.out_shape.c, layer.groups)

    def blocked_conv(self, cin: int, cout: int, groups: int) -> bool:
        if groups == 1:
            return cin < self.block or cin % self.alignment == 0
        if cin == groups and cout == groups:
            return cout % self.alignment == 0
        return (cout % self.alignment == 0 and (cin // groups) % self.block == 0
                and (cout // groups) % self.block == 0)

    def kernel(self, layer: ResolvedLayer) -> str:
        """The layer's kernel: its kind, or ``kind@nchw`` when it runs unblocked."""
        return layer.kind if self.blocked(layer) else layer.kind + PLAIN

    def calls(self, layer: ResolvedLayer) -> int:
        """Kernel calls the layer makes: one, except a grouped or depthwise conv that runs
        plain, which ORT's generic NCHW conv runs as an im2col and a GEMM *per group* (a
        57-channel depthwise conv: 57 calls). Its per-call term then counts per group: on the
        same measurements, v1 held out at alpha 0.6-0.9 went from 11-14% under to 2-5%."""
        if layer.groups > 1 and not self.blocked(layer):
            return layer.groups
        return 1

    @staticmethod
    def small_input_limit(layer: ResolvedLayer) -> None:
        """None: the size of a conv's input map never decides its kernel here."""
        return None

    @staticmethod
    def row_block(layer: ResolvedLayer) -> int:
        """1: MACs count the layer's own output pixels (:meth:`Int8ConvPaths.row_block`)."""
        return 1

    def effective_channels(self, layer: ResolvedLayer) -> tuple[int, int]:
        """``(input, output)`` channels as the kernel computes them: a blocked conv pads its
        output channels, and its input channels unless it reads the NCHW image directly (fewer
        than ``block``), up to whole blocks (28 -> 32 at block 16). Unpadded otherwise."""
        cin, cout = layer.in_shape.c, layer.out_shape.c
        if not self.applies(layer) or not self.blocked(layer):
            return cin, cout
        direct = layer.groups == 1 and cin < self.block
        return (cin if direct else round_up(cin, self.block)), round_up(cout, self.block)

    def features(self, layer: ResolvedLayer, dtype_bytes: int) -> tuple[int, int]:
        """``(MACs, bytes)`` of :func:`layer_features` over the :meth:`effective_channels`:
        the work and the maps of a blocked conv include its padding channels."""
        return padded_features(layer, self.effective_channels(layer), dtype_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "alignment": self.alignment, "block": self.block}


@dataclass(frozen=True)
class Int8ConvPaths:
    """Which int8 convs ONNX Runtime's MLAS runs on its fast symmetric kernels, and which on its
    generic paths (the int8 counterpart of :class:`ChannelLayout`).

    ``QLinearConv`` with signed int8 weights and zero weight zero points (ORT's QDQ default)
    packs its weights for MLAS's symmetric conv kernels (``MlasConvSymPackWSize``) only when
    the channels fit them, and otherwise runs a generic path: the reference depthwise kernel
    (``MlasConvDepthwise``) or an im2col and integer GEMM (one per group for a grouped conv).
    The rule, from MLAS's x86 dispatch tables:

    * a depthwise conv is fast when its channels are a multiple of ``depthwise_alignment``
      (16 on x86);
    * a standard conv when it writes at least ``min_outputs`` (16) channels, reads a multiple
      of ``input_alignment`` (4) and writes a multiple of ``output_alignment`` (4 with
      AVX-512, 8 with AVX2 and AVX-VNNI);
    * another grouped conv never is.

    Measured on this project's AMD EPYC (AVX-512 VNNI), ORT 1.32, v1 at 160: a depthwise conv
    of 19 channels took 374 us, one of 24 (16 + 8: generic too) 313 us, one of 16 97 us; of 307
    channels at 10 x 10, 43 us against 15 us for 256. The int8 calibration records the rule it
    chose from the CPU's flags (``model.layout``, name ``mlas-int8``).

    What each path computes (:meth:`features`: the MACs over it), from MLAS's kernels:

    * the symmetric kernels compute a fixed block (``MLAS_CONV_SYM_DISPATCH``): ``rows`` output
      pixels per call (``KernelOutputCount``; ``depthwise_rows`` for the depthwise kernel), the
      first row duplicated into the unused ones when fewer are left, and output channels in
      whole packs of ``channel_pack`` (``FilterOutputChannelPackCount``): a pointwise conv of
      152 -> 600 channels at 5 x 5 computes 30 rows of 608;
    * the generic depthwise kernel (``MlasConvDepthwiseKernelAvx2``) steps through a pixel's
      channels ``depthwise_vector`` (16) at a time, then 8, then one by one: a channel of the
      one-by-one tail counts as half a vector step's lanes (:data:`TAIL_LANES`), so 11 channels
      (8 + 3) count 16 + 3 x 8 = 40 (:meth:`depthwise_lanes`);
    * a generic standard or grouped conv is an im2col and MLAS's integer GEMM per group, whose
      packed weights hold each group's reduction (``k x k x`` input channels) in multiples of
      ``gemm_depth_pack`` (4) and its output channels in packs of ``channel_pack``.

    A rule read from a profile written before these fields has them at 1 (MACs as the layer
    counts them), the prediction it was fitted for."""

    depthwise_alignment: int = 16
    input_alignment: int = 4
    output_alignment: int = 4
    min_outputs: int = 16
    rows: int = 6
    depthwise_rows: int = 6
    channel_pack: int = 16
    depthwise_vector: int = 16
    gemm_depth_pack: int = 4
    name: str = "mlas-int8"
    suffix: ClassVar[str] = GENERIC

    @staticmethod
    def applies(layer: ResolvedLayer) -> bool:
        """Whether the rule concerns ``layer``: a conv, as its kind says."""
        return REGISTRY[layer.kind].channel_layout

    def fast(self, layer: ResolvedLayer) -> bool:
        """Whether MLAS runs the int8 ``layer`` on its symmetric kernels (True for non-convs)."""
        if not self.applies(layer):
            return True
        cin, cout, groups = layer.in_shape.c, layer.out_shape.c, layer.groups
        if groups == 1:
            return (cout >= self.min_outputs and cin % self.input_alignment == 0
                    and cout % self.output_alignment == 0)
        if cin == groups and cout == groups:
            return cout % self.depthwise_alignment == 0
        return False

    def kernel(self, layer: ResolvedLayer) -> str:
        """The layer's kernel: its kind, or ``kind@generic`` off the fast kernels."""
        return layer.kind if self.fast(layer) else layer.kind + GENERIC

    def calls(self, layer: ResolvedLayer) -> int:
        """Kernel calls: one, except a grouped (not depthwise) int8 conv, an im2col and an
        integer GEMM per group."""
        depthwise = layer.in_shape.c == layer.groups == layer.out_shape.c
        return layer.groups if self.applies(layer) and layer.groups > 1 and not depthwise \
            else 1

    @staticmethod
    def small_input_limit(layer: ResolvedLayer) -> None:
        """None: the size of a conv's input map never decides its kernel here."""
        return None

    @staticmethod
    def effective_channels(layer: ResolvedLayer) -> tuple[int, int]:
        return layer.in_shape.c, layer.out_shape.c

    def row_block(self, layer: ResolvedLayer) -> int:
        """The output pixels the layer's kernel computes per call, its MACs counting whole
        blocks of them (:meth:`features`): ``rows`` (``depthwise_rows``) for a conv on the
        symmetric kernels, 1 otherwise."""
        if not self.applies(layer) or not self.fast(layer):
            return 1
        return self.depthwise_rows if layer.groups > 1 else self.rows

    def work_channels(self, layer: ResolvedLayer) -> int:
        """The output channels the layer's kernel computes: a standard conv on the symmetric
        kernels rounds them up to whole packs of ``channel_pack`` (a fast depthwise conv's
        channels are a multiple of ``depthwise_alignment`` already); others its own."""
        cout = layer.out_shape.c
        if not self.applies(layer) or not self.fast(layer) or layer.groups > 1:
            return cout
        return round_up(cout, self.channel_pack)

    def depthwise_lanes(self, channels: int) -> int:
        """The lanes the generic depthwise kernel computes per pixel and tap for ``channels``
        (class docstring): whole vector steps of ``depthwise_vector``, one of half that width,
        then :data:`TAIL_LANES` per channel of the tail; ``channels`` itself without a vector
        width (1)."""
        vector = self.depthwise_vector
        if vector == 1:
            return channels
        steps, rest = divmod(channels, vector)
        half = rest >= vector // 2
        return vector * (steps + half) + TAIL_LANES * (rest - half * (vector // 2))

    def features(self, layer: ResolvedLayer, dtype_bytes: int) -> tuple[int, int]:
        """``(MACs, bytes)`` of :func:`layer_features`, the MACs over what the layer's path
        computes (class docstring): whole row blocks and channel packs on the symmetric
        kernels (:meth:`row_block`, :meth:`work_channels`), the generic depthwise kernel's
        lanes (:meth:`depthwise_lanes`), the generic GEMM's packed reduction and output
        channels; the bytes the layer's own."""
        macs, nbytes, _ = layer_features(layer, dtype_bytes)
        if not self.applies(layer):
            return macs, nbytes
        pixels, cout, groups = layer.out_shape.h * layer.out_shape.w, layer.out_shape.c, \
            layer.groups
        taps = macs // (pixels * cout)          # MACs per output: k x k x inputs per group
        if self.fast(layer):
            return round_up(pixels, self.row_block(layer)) * taps * self.work_channels(layer), \
                nbytes
        if layer.in_shape.c == groups == cout:
            return pixels * taps * self.depthwise_lanes(cout), nbytes
        return (pixels * groups * round_up(taps, self.gemm_depth_pack)
                * round_up(cout // groups, self.channel_pack)), nbytes

    @classmethod
    def for_cpu(cls, flags: Iterable[str]) -> "Int8ConvPaths":
        """The rule for a CPU with these ``/proc/cpuinfo`` flags, from MLAS's x86 dispatch
        tables: with AVX-512 (Avx512Core, Avx512Vnni) output channels aligned to 4 and 6 rows
        for both kernels; with AVX-VNNI alignment 8, 6 rows, 4 for the depthwise kernel; with
        AVX2 alignment 8, 4 rows. Channels in packs of 16 on all."""
        flags = set(flags)
        if "avx512f" in flags:
            return cls(output_alignment=4, rows=6, depthwise_rows=6)
        if "avx_vnni" in flags:
            return cls(output_alignment=8, rows=6, depthwise_rows=4)
        return cls(output_alignment=8, rows=4, depthwise_rows=4)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "depthwise_alignment": self.depthwise_alignment,
                "input_alignment": self.input_alignment,
                "output_alignment": self.output_alignment, "min_outputs": self.min_outputs,
                "rows": self.rows, "depthwise_rows": self.depthwise_rows,
                "channel_pack": self.channel_pack, "depthwise_vector": self.depthwise_vector,
                "gemm_depth_pack": self.gemm_depth_pack}


#: PyTorch keeps a standard conv of at most 3 x 3 on an input of at most this many elements
#: (``use_mkldnn`` in ATen's ``Convolution.cpp``): :class:`OneDnnPaths`.
_PYTORCH_SMALL_INPUT = 20480


@dataclass(frozen=True)
class OneDnnPaths:
    """Which convs eager PyTorch runs through oneDNN with their channels padded to whole
    blocks (the eager counterpart of :class:`ChannelLayout`).

    On the CPU, PyTorch hands a conv to oneDNN (``aten::mkldnn_convolution``) or runs its own
    (``slow_conv2d``: an im2col and a GEMM). oneDNN gets plain NCHW maps and weights on every
    call and reorders them into its blocked layout (``aBcd16b``: channels in blocks of
    ``block``, 16 with AVX-512) and the output back. When a blocked tensor's channels are not
    whole blocks, the blocks are padded and the reorders take oneDNN's generic path
    (``jit:uni`` for ``jit:blk``): measured on this project's VM, torch 2.13, a depthwise 3x3
    of 72 channels at 72 x 72 took 1.54 ms against 0.27 ms for 80 channels (the reorder back
    to NCHW alone 4.6x slower), 88 channels 0.61 ms against 0.30 ms for 96. The rule:

    * a depthwise conv runs through oneDNN, padded when its channels are not a multiple of
      ``block``;
    * a standard conv runs through oneDNN unless it is 1 x 1 with stride 1 and ``pointwise``
      is False (PyTorch's own kernel is faster there at 1 thread, so it keeps those; at more
      threads it hands them over too); padded when its output channels are not a multiple of
      ``block``, or its input channels are not and either are at least ``block`` or the conv
      is 1 x 1 (a k x k conv reads fewer channels from the NCHW map as they are, the stem's
      3; a 1 x 1 conv pads them too);
    * another grouped conv is never padded: oneDNN picks a block that divides a group's
      channels (24 per group: blocks of 8).

    PyTorch also keeps a standard conv of at most 3 x 3 whose input map has at most 20,480
    elements (:meth:`small_input_limit`): an SE block's convs on their 1 x 1 maps, the last
    3 x 3 convs of v1-conv at small alphas and resolutions, at more threads the pointwise
    convs of late stages. Such a conv's kernel depends on the resolution too, which the
    sweep's alpha x resolution split checks for (:mod:`mncost.latency.predict`).

    ``mncost calibrate`` does not assume ``block`` and ``pointwise``: it runs single convs
    with oneDNN's verbose log on and keeps the rule that explains every one
    (:func:`infer_onednn`), or none."""

    block: int = 16
    pointwise: bool = False
    name: str = "onednn"
    suffix: ClassVar[str] = PADDED

    @staticmethod
    def applies(layer: ResolvedLayer) -> bool:
        """Whether the rule concerns ``layer``: a conv, as its kind says."""
        return REGISTRY[layer.kind].channel_layout

    def onednn_conv(self, cin: int, cout: int, groups: int, kernel: int, stride: int) -> bool:
        """Whether PyTorch hands this conv to oneDNN."""
        return groups > 1 or kernel != 1 or stride != 1 or self.pointwise

    def padded_conv(self, cin: int, cout: int, groups: int, kernel: int, stride: int) -> bool:
        """Whether oneDNN runs this conv on padded blocks (class docstring)."""
        if not self.onednn_conv(cin, cout, groups, kernel, stride):
            return False
        if groups == 1:
            return cout % self.block != 0 or (
                cin % self.block != 0 and (cin >= self.block or kernel == 1))
        if cin == groups == cout:
            return cout % self.block != 0
        return False

    @staticmethod
    def _conv(layer: ResolvedLayer) -> tuple[int, int, int, int, int]:
        return (layer.in_shape.c, layer.out_shape.c, layer.groups, layer.kernel, layer.stride)

    def small_input_limit(self, layer: ResolvedLayer) -> int | None:
        """The input pixels at or below which PyTorch keeps ``layer``, a conv
        :meth:`onednn_conv` hands to oneDNN on a large map (a standard conv of at most 3 x 3
        whose input has at most 20,480 elements); ``None`` where the map's size decides
        nothing."""
        if (not self.applies(layer) or layer.groups != 1 or layer.kernel > 3
                or not self.onednn_conv(*self._conv(layer))):
            return None
        return _PYTORCH_SMALL_INPUT // layer.in_shape.c

    def onednn(self, layer: ResolvedLayer) -> bool:
        """Whether PyTorch hands the conv ``layer`` to oneDNN: :meth:`onednn_conv`, unless
        its input map is small enough to keep (:meth:`small_input_limit`)."""
        limit = self.small_input_limit(layer)
        if limit is not None:
            return layer.in_shape.h * layer.in_shape.w > limit
        return self.applies(layer) and self.onednn_conv(*self._conv(layer))

    def padded(self, layer: ResolvedLayer) -> bool:
        return self.onednn(layer) and self.padded_conv(*self._conv(layer))

    def kernel(self, layer: ResolvedLayer) -> str:
        """The layer's kernel: its kind, or ``kind@padded`` on padded blocks."""
        return layer.kind + PADDED if self.padded(layer) else layer.kind

    @staticmethod
    def calls(layer: ResolvedLayer) -> int:
        return 1

    @staticmethod
    def row_block(layer: ResolvedLayer) -> int:
        """1: MACs count the layer's own output pixels (:meth:`Int8ConvPaths.row_block`)."""
        return 1

    def effective_channels(self, layer: ResolvedLayer) -> tuple[int, int]:
        """``(input, output)`` channels as oneDNN computes them: a depthwise or standard conv
        it runs pads them to whole blocks (the input of a k x k standard conv only from
        ``block`` channels up); unpadded otherwise."""
        cin, cout = layer.in_shape.c, layer.out_shape.c
        if not self.onednn(layer):
            return cin, cout
        if layer.groups == 1:
            direct = cin < self.block and layer.kernel > 1
            return (cin if direct else round_up(cin, self.block)), round_up(cout, self.block)
        if cin == layer.groups == cout:
            return round_up(cin, self.block), round_up(cout, self.block)
        return cin, cout

    def features(self, layer: ResolvedLayer, dtype_bytes: int) -> tuple[int, int]:
        """``(MACs, bytes)`` over the :meth:`effective_channels` (:func:`padded_features`)."""
        return padded_features(layer, self.effective_channels(layer), dtype_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "block": self.block, "pointwise": self.pointwise}


def padded_features(layer: ResolvedLayer, channels: tuple[int, int], dtype_bytes: int
                    ) -> tuple[int, int]:
    """``(MACs, bytes)`` of :func:`layer_features` with the input and output channels
    ``channels``: the work and the maps of a conv that computes padding channels too (the
    weights stay the layer's own)."""
    macs, nbytes, _ = layer_features(layer, dtype_bytes)
    cin_e, cout_e = channels
    cin, cout = layer.in_shape.c, layer.out_shape.c
    if (cin_e, cout_e) == (cin, cout):
        return macs, nbytes
    read, written, weights = layer_elements(layer)
    macs = macs // cout * cout_e
    if layer.groups == 1:
        macs = macs // cin * cin_e
    return macs, (read // cin * cin_e + written // cout * cout_e + weights) * dtype_bytes


#: The lanes a channel of the generic int8 depthwise kernel's one-by-one tail counts for
#: (:meth:`Int8ConvPaths.depthwise_lanes`): half a 16-lane vector step. Measured on the
#: calibration set's generic depthwise convs (v1 at 0.35, the ragged spec; ORT 1.32, AVX-512
#: VNNI), per output pixel of a 3 x 3 conv: a 16- or 8-channel step 13.6-14 ns, a tail channel
#: 5.6-8.9 ns.
TAIL_LANES = 8


#: Any rule of kernel variants by channel count.
KernelRule = Union[ChannelLayout, Int8ConvPaths, OneDnnPaths]


#: Single convs ``(cin, cout, groups)`` whose layout in the optimized graph pins the rule of
#: :class:`mncost.latency.model.ChannelLayout`: standard convs around every candidate
#: alignment and block, depthwise convs, grouped convs with 4 to 64 channels per group.
LAYOUT_PROBES = tuple(
    [(c, 32, 1) for c in (3, 6, 8, 12, 14, 16, 17, 18, 20, 24, 28, 30, 32, 34, 40, 48, 64, 96)]
    + [(c, c, c) for c in (4, 6, 8, 12, 16, 18, 20, 24, 28, 30, 32, 36, 40, 48, 64, 96)]
    + [(32, 64, 2), (32, 64, 4), (64, 64, 4), (64, 64, 8), (64, 128, 2), (128, 128, 2),
       (128, 128, 4), (96, 96, 3)])
def round_up(n: int, multiple: int) -> int:
    """``n`` rounded up to a whole number of ``multiple`` (channels to blocks, pixels to a
    kernel's row blocks)."""
    return ceil_div(n, multiple) * multiple


#: Channel multiples :func:`infer_layout` considers.
_POWERS = (1, 2, 4, 8, 16, 32, 64)


def infer_layout(observed: Iterable[tuple[int, int, int, bool]]) -> ChannelLayout | None:
    """The :class:`ChannelLayout` that explains every observed ``(cin, cout, groups,
    blocked)`` conv, or ``None`` when nothing was blocked (the runtime has no blocked layout)
    or no rule explains them all. Among rules that do, the largest alignment, then the largest
    block (the probes decide; with too few of them this is the conservative choice)."""
    observed = list(observed)
    if not any(b for *_, b in observed):
        return None
    fits = [ChannelLayout(a, k) for a in _POWERS for k in _POWERS if a <= k
            and all(ChannelLayout(a, k).blocked_conv(ci, co, g) == b
                    for ci, co, g, b in observed)]
    return max(fits, key=lambda r: (r.alignment, r.block)) if fits else None


#: Single convs ``(cin, cout, groups, kernel, stride)`` whose path through eager PyTorch pins
#: the rule of :class:`OneDnnPaths`: depthwise convs at multiples of 8 and 16, standard 3 x 3
#: convs reading fewer and more channels than a block, pointwise convs at stride 1 and 2. Run
#: on a map of :data:`ONEDNN_PROBE_SIZE` pixels a side, large enough that PyTorch's small-map
#: exception (class docstring) never applies.
ONEDNN_PROBES = tuple(
    [(c, c, c, 3, 1) for c in (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 96)]
    + [(c, c, c, 5, 2) for c in (24, 32)]
    + [(c, 32, 1, 3, 1) for c in (3, 4, 8, 12, 16, 20, 24, 32, 48)]
    + [(32, c, 1, 3, 2) for c in (24, 40, 48)]
    + [(ci, co, 1, 1, s) for ci, co in ((32, 64), (40, 40), (24, 40), (8, 32)) for s in (1, 2)])
ONEDNN_PROBE_SIZE = 96


def infer_onednn(observed: Iterable[tuple[int, int, int, int, int, bool, bool]]
                 ) -> OneDnnPaths | None:
    """The :class:`OneDnnPaths` that explains every observed ``(cin, cout, groups, kernel,
    stride, ran through oneDNN, padded)`` conv, or ``None`` when none ran through oneDNN (a
    PyTorch without it) or no rule explains them all. Among rules that do, the largest block."""
    observed = list(observed)
    if not any(ran for *_, ran, _ in observed):
        return None
    fits = [rule for rule in (OneDnnPaths(k, p) for k in _POWERS for p in (False, True))
            if all(rule.onednn_conv(*conv) == ran and rule.padded_conv(*conv) == padded
                   for *conv, ran, padded in observed)]
    return max(fits, key=lambda r: r.block) if fits else None


# ---------------------------------------------------------------------------------------------
# The model and its prediction


@dataclass(frozen=True)
class LayerPrediction:
    name: str
    kind: str
    stage: str
    macs: int
    bytes: int
    ms: float
    kernel: str = ""


@dataclass(frozen=True)
class Prediction:
    """A predicted latency: per layer, the time between layers, the fixed cost, the total."""

    layers: tuple[LayerPrediction, ...]
    between_ms: float
    fixed_ms: float
    #: Layers whose time plus the (negative) time between layers fell below zero: each counts
    #: as 0 ms, the time between layers taking only what the layer had.
    clamped: int = 0
    #: The uncached-weights term (:meth:`LatencyModel.uncached`): the share of weight bytes a
    #: run re-reads from memory and the ms the layers' times include for it.
    uncached_share: float = 0.0
    uncached_ms: float = 0.0

    @property
    def layers_ms(self) -> float:
        return math.fsum(p.ms for p in self.layers)

    @property
    def total_ms(self) -> float:
        return self.layers_ms + self.between_ms + self.fixed_ms

    def by(self, key: str) -> dict[str, float]:
        """Predicted ms summed by ``kind`` or ``stage``, in order of first appearance."""
        sums: dict[str, float] = {}
        for p in self.layers:
            k = getattr(p, key)
            sums[k] = sums.get(k, 0.0) + p.ms
        return sums

    def shares(self) -> dict[str, float]:
        """Each layer's share of the sum of layer times (as the profiler's time shares)."""
        total = self.layers_ms
        return {p.name: (p.ms / total if total else 0.0) for p in self.layers}


@dataclass(frozen=True)
class LatencyModel:
    """Fitted coefficients (module docstring). ``kinds`` maps a kernel (a kind, or with a
    ``layout`` a conv kind's plain variant ``kind@nchw``) to ``(ms_per_mac, ms_per_byte,
    ms_per_call, ms_per_weight_byte)`` (:data:`COEFFICIENTS`; three: weights at
    ``ms_per_byte``, :func:`full_coefficients`); kernels never calibrated are absent."""

    kinds: Mapping[str, tuple[float, ...]]
    between_ms: float
    fixed_ms: float
    dtype_bytes: int = 4
    layout: KernelRule | None = None
    #: Activation -> ``(ms_per_byte, ms_per_call)`` of applying it to a layer's output.
    activations: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    #: ``int8``: a model of ONNX Runtime's QDQ int8 graph, whose float32 layers
    #: (:meth:`runs`) have kernels of their own (``kind@float32``).
    precision: str = "float32"
    #: An int8 model's time between layers beyond ``between_ms`` for a layer its runtime runs
    #: in float32: the Quantize, Dequantize and layout Transpose nodes around it, each a node
    #: of its own (ORT's profiler times every node, so per-layer timings of such a layer
    #: carry more of its cost than those of a fused int8 one).
    between_float_ms: float = 0.0
    #: The cache capacity ``C`` of the uncached-weights term (bytes; 0: no such term) and its
    #: rate ``u`` (ms per uncached weight byte), module docstring.
    cache_bytes: int = 0
    ms_per_uncached_byte: float = 0.0
    #: An int8 model's rate per element of the Quantize and Dequantize copies its runtime
    #: makes between int8 and float32 layers (:func:`mncost.costs.int8.conversions`), ms.
    ms_per_converted_element: float = 0.0

    def scaled(self, factor: float) -> "LatencyModel":
        """Every coefficient times ``factor``: the same machine, uniformly faster or slower
        (``calibrate --refresh``)."""
        return replace(self, kinds={k: tuple(factor * c for c in v)
                                    for k, v in self.kinds.items()},
                       between_ms=factor * self.between_ms, fixed_ms=factor * self.fixed_ms,
                       between_float_ms=factor * self.between_float_ms,
                       ms_per_uncached_byte=factor * self.ms_per_uncached_byte,
                       ms_per_converted_element=factor * self.ms_per_converted_element,
                       activations={k: tuple(factor * c for c in v)
                                    for k, v in self.activations.items()})

    def runs(self, network: Network) -> Mapping[str, str] | None:
        """Layer -> what an int8 model's runtime runs it in (:func:`.costs.int8.precisions`);
        ``None`` for a float32 model. Pass a layer's entry to the per-layer methods."""
        return precisions(network) if self.precision == "int8" else None

    def kernel(self, layer: ResolvedLayer, run: str | None = None) -> str:
        """The kernel ``layer`` runs as: ``conv@stem`` for a standard conv on the input image
        (:data:`STEM`), else its kind, or its plain variant (:class:`ChannelLayout`); in an
        int8 model, with ``@float32`` appended where ``run`` (the layer's entry of
        :meth:`runs`) is float32."""
        if REGISTRY[layer.kind].stem_kernel and layer.inputs == (INPUT,):
            base = layer.kind + STEM
        elif run == FLOAT_RUN:        # a plain float32 conv between int8 ones: no int8 rule
            base = layer.kind
        else:
            base = self.layout.kernel(layer) if self.layout is not None else layer.kind
        return base + FLOAT_VARIANT if run == FLOAT_RUN else base

    def coefficients(self, layer: ResolvedLayer, run: str | None = None
                     ) -> tuple[float, float, float, float]:
        """``(a, b, c)`` of the layer's kernel; a variant never calibrated falls back to its
        kind's (``predict`` warns), a kind never calibrated to 0."""
        kernel = self.kernel(layer, run)
        if kernel in self.kinds:
            return full_coefficients(self.kinds[kernel])
        return full_coefficients(self.kinds.get(layer.kind, (0.0, 0.0, 0.0)))

    def features(self, layer: ResolvedLayer, run: str | None = None) -> tuple[int, int]:
        """``(MACs, bytes)`` the layer's kernel works on: :func:`layer_features`, over padded
        channels for a blocked conv (:meth:`ChannelLayout.features`), over whole row blocks
        for an int8 conv on MLAS's symmetric kernels (:meth:`Int8ConvPaths.features`; not a
        layer an int8 model's runtime runs in float32, ``run``)."""
        if self.layout is not None and run != FLOAT_RUN:
            return self.layout.features(layer, self.dtype_bytes)
        return layer_features(layer, self.dtype_bytes)[:2]

    def row_block(self, layer: ResolvedLayer, run: str | None = None) -> int:
        """The output pixels per call the layer's kernel computes whole
        (:meth:`Int8ConvPaths.row_block`); 1 where MACs count the layer's own pixels."""
        if self.layout is None or run == FLOAT_RUN:
            return 1
        return self.layout.row_block(layer)

    def effective_channels(self, layer: ResolvedLayer) -> tuple[int, int]:
        """``(input, output)`` channels as the layer's kernel computes them
        (:meth:`ChannelLayout.effective_channels`; the layer's own without a layout)."""
        if self.layout is not None:
            return self.layout.effective_channels(layer)
        return layer.in_shape.c, layer.out_shape.c

    def small_input_limit(self, layer: ResolvedLayer) -> int | None:
        """The input pixels at or below which ``layer`` runs another kernel (its rule's
        :meth:`OneDnnPaths.small_input_limit`); ``None`` where the map's size decides nothing."""
        return self.layout.small_input_limit(layer) if self.layout is not None else None

    def calls(self, layer: ResolvedLayer, run: str | None = None) -> int:
        """How many times the kernel's per-call term counts (:meth:`ChannelLayout.calls`,
        :meth:`Int8ConvPaths.calls`). A grouped or depthwise conv an int8 model's runtime
        runs in float32 runs ORT's plain NCHW conv (no blocked layout in the int8 graph): an
        im2col and a GEMM per group."""
        if run == FLOAT_RUN and REGISTRY[layer.kind].channel_layout and layer.groups > 1:
            return layer.groups
        return self.layout.calls(layer) if self.layout is not None else 1

    def output_bytes(self, layer: ResolvedLayer) -> int:
        """Bytes of the layer's output map as its kernel writes it (padded channels for a
        blocked conv): what its activation reads and writes in place."""
        cout_e = self.effective_channels(layer)[1]
        return layer.out_shape.numel // layer.out_shape.c * cout_e * self.dtype_bytes

    def uncached(self, network: Network) -> float:
        """The share of ``network``'s weight bytes a run re-reads from memory
        (:func:`uncached_share` of its :func:`run_footprint`); 0 without the term."""
        if not self.cache_bytes:
            return 0.0
        return uncached_share(run_footprint(network, self.dtype_bytes), self.cache_bytes)

    def weight_bytes(self, layer: ResolvedLayer) -> int:
        """The layer's inference weight bytes (:func:`mncost.costs.memory.traffic`; never
        padded: a blocked conv pads its maps, :meth:`ChannelLayout.features`)."""
        return traffic(layer, self.dtype_bytes).weight_bytes

    def uncached_bytes(self, layer: ResolvedLayer, share: float) -> float:
        """The layer's weight bytes a run re-reads from memory at ``share``
        (:meth:`uncached`)."""
        return share * self.weight_bytes(layer) if share else 0.0

    def conversions(self, network: Network) -> Mapping[str, int]:
        """Layer -> elements of the Quantize and Dequantize copies the runtime makes for it
        (:func:`mncost.costs.int8.conversions`: the image's Quantize included); empty for a
        model without the term."""
        if not self.ms_per_converted_element or self.precision != "int8":
            return {}
        return {name: sum(n for _, n in pairs) for name, pairs in conversions(network).items()}

    def layer_ms(self, layer: ResolvedLayer, run: str | None = None,
                 uncached: float = 0.0, converted: int = 0) -> float:
        """``a * MACs + b * bytes + c`` of the layer's kernel, plus its activation's
        ``p * output bytes + q``, plus ``u`` per weight byte re-read from memory at the
        network's ``uncached`` share (:meth:`uncached`; module docstring), plus the rate per
        element of the ``converted`` elements its Quantize and Dequantize copies move
        (:meth:`conversions`)."""
        macs, nbytes = self.features(layer, run)
        weights = self.weight_bytes(layer)
        a, b, c, w = self.coefficients(layer, run)
        p, q = self.activations.get(layer.act, (0.0, 0.0))
        act = p * self.output_bytes(layer) + q if p or q else 0.0
        far = self.ms_per_uncached_byte * self.uncached_bytes(layer, uncached) \
            if self.ms_per_uncached_byte else 0.0
        return (a * macs + b * (nbytes - weights) + w * weights + c * self.calls(layer, run)
                + act + far + self.ms_per_converted_element * converted)

    def between(self, run: str | None = None) -> float:
        """The time between layers after a layer run as ``run`` says (:meth:`runs`)."""
        return self.between_ms + (self.between_float_ms if run == FLOAT_RUN else 0.0)

    def predict(self, network: Network) -> Prediction:
        """Predicted milliseconds of one forward pass (batch 1) of ``network``."""
        layers, gaps = [], []
        runs = self.runs(network) or {}
        share = self.uncached(network)
        converted = self.conversions(network)
        for layer in network.layers:
            macs, nbytes, _ = layer_features(layer, self.dtype_bytes)
            run = runs.get(layer.name)
            ms = self.layer_ms(layer, run, share, converted.get(layer.name, 0))
            layers.append(LayerPrediction(layer.name, layer.kind, layer.stage, macs, nbytes,
                                          ms, self.kernel(layer, run)))
            gaps.append(self.between(run))
        # A layer whose time the (negative) time between layers takes below 0 ms takes 0 ms:
        # the time between layers cancels its own time.
        low = [p.ms for p, gap in zip(layers, gaps) if p.ms + gap < 0]
        between = math.fsum(gap if p.ms + gap >= 0 else -p.ms for p, gap in zip(layers, gaps))
        uncached_ms = self.ms_per_uncached_byte * math.fsum(
            self.uncached_bytes(layer, share) for layer in network.layers) if share else 0.0
        return Prediction(tuple(layers), between, self.fixed_ms, len(low), share, uncached_ms)

    def uncalibrated(self, network: Network) -> list[str]:
        """Kernels of ``network`` the calibration never measured, sorted."""
        runs = self.runs(network) or {}
        return sorted({self.kernel(la, runs.get(la.name)) for la in network.layers}
                      - set(self.kinds))

    def to_dict(self) -> dict[str, Any]:
        return {"dtype_bytes": self.dtype_bytes, "precision": self.precision,
                # three coefficients (weights at the maps' rate) are written as three
                "kinds": {k: dict(zip(COEFFICIENTS, v)) for k, v in self.kinds.items()},
                "activations": {k: dict(zip(ACTIVATION_COEFFICIENTS, v))
                                for k, v in self.activations.items()},
                "between_layers_ms": self.between_ms, "fixed_ms": self.fixed_ms,
                **({"between_float_layers_ms": self.between_float_ms}
                   if self.precision != "float32" else {}),
                **({"uncached_weights": {"cache_bytes": self.cache_bytes,
                                         "ms_per_byte": self.ms_per_uncached_byte}}
                   if self.cache_bytes else {}),
                **({"conversions": {"ms_per_element": self.ms_per_converted_element}}
                   if self.ms_per_converted_element else {}),
                "layout": self.layout.to_dict() if self.layout is not None else None}


# ---------------------------------------------------------------------------------------------
# Fitting (numpy, and scipy when present, imported here only)

@dataclass(frozen=True)
class Measured:
    """One calibration configuration as measured: what the fit reads.

    Attributes:
        network: the resolved network.
        end_to_end_ms: median of the plain end-to-end runs.
        layer_ms: layer name -> median of its in-place timings (per-layer runs), or ``None``.
        layer_nodes: layer name -> how many nodes the runtime's profiler timed for it (ONNX
            Runtime), or ``None``: stage 1 then takes a per-node profiling cost out.
    """

    network: Network
    end_to_end_ms: float
    layer_ms: Mapping[str, float] | None = None
    layer_nodes: Mapping[str, int] | None = None


def nnls(a: Any, b: Any) -> Any:
    """Non-negative least squares ``min |a x - b|, x >= 0`` (columns scaled to unit max first).

    ``scipy.optimize.nnls`` when scipy is installed; otherwise ``numpy.linalg.lstsq`` refitted
    without the columns whose coefficient came out negative until none is (the active set
    rarely needs more than one pass here).
    """
    import numpy as np

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    scaled = a / scale
    try:
        from scipy.optimize import nnls as scipy_nnls
    except ImportError:
        x = _clipped_lstsq(scaled, b)
    else:
        x, _ = scipy_nnls(scaled, b, maxiter=50 * a.shape[1])
    return x / scale


def _clipped_lstsq(a: Any, b: Any) -> Any:
    import numpy as np

    active = np.ones(a.shape[1], dtype=bool)
    x = np.zeros(a.shape[1])
    while active.any():
        sol, *_ = np.linalg.lstsq(a[:, active], b, rcond=None)
        if (sol >= 0).all():
            x[active] = sol
            break
        idx = np.flatnonzero(active)
        active[idx[sol < 0]] = False
    return x


@dataclass(frozen=True)
class LayerPoint:
    """One measured layer, as stage 1 reads it."""

    kernel: str
    act: str
    macs: int
    bytes: int
    output_bytes: int
    ms: float
    calls: int = 1
    #: Nodes the runtime's profiler timed for the layer (0: not counted).
    nodes: int = 0
    #: Weight bytes a run re-reads from memory (:meth:`LatencyModel.uncached_bytes`).
    uncached_bytes: float = 0.0
    #: The layer's weight bytes, part of ``bytes`` (:meth:`LatencyModel.weight_bytes`).
    weight_bytes: int = 0
    #: Elements of the Quantize and Dequantize copies timed with the layer
    #: (:meth:`LatencyModel.conversions`, less the image's: the profiler times it apart).
    converted: int = 0
    #: The end-to-end time of the layer's network, ms: with ``share_weighted`` fits
    #: (:func:`fit_layers`), the layer's relative error counts by its share of it.
    network_ms: float = 0.0


class Stage1(NamedTuple):
    """What stage 1 fits (:func:`fit_layers`)."""

    kernels: dict[str, tuple[float, float, float, float]]
    activations: dict[str, tuple[float, float]]
    #: The profiler's own cost per node, ms (0 without node counts).
    node_ms: float
    #: ``u``: ms per uncached weight byte (0 where no point has any).
    ms_per_uncached_byte: float
    #: ms per element of the Quantize and Dequantize copies (0 where no point has any).
    ms_per_converted_element: float = 0.0


def fit_layers(points: Sequence[LayerPoint], weights_apart: bool = True,
               share_weighted: bool = False) -> Stage1:
    """Stage 1: every measured layer against ``[MACs, map bytes, calls, weight bytes]`` of its
    kernel,
    ``[output bytes, 1]`` of its activation and its uncached weight bytes (one column shared
    by every layer, where the points have any), one non-negative least squares on relative
    errors. Returns the kernels' ``(a, b, c, w)`` (``(a, b, c)`` without ``weights_apart``:
    weights at the maps' rate, :data:`WEIGHTS_APART`), the activations' ``(p, q)`` and the shared
    terms (:class:`Stage1`).

    One fit, not one per kind: an activation's terms are shared by every kind it follows
    (ONNX Runtime fuses ReLU into the conv's kernel but runs swish as two more nodes; eager
    PyTorch calls every activation as a module of its own), and they are told apart from the
    kernels' own terms because each kind is measured with several activations (a pointwise
    conv with none, ReLU, ReLU6, hard swish and swish).

    Where the points count their profiled nodes (ONNX Runtime), one more column, shared by
    every layer, takes the profiler's own cost per node (returned third, in ms; 0 without
    counts) out of the kernels' terms: ORT's profiler costs each node a few microseconds more
    than a plain run spends on it, and an int8 graph's float32 layers are 2-4 nodes each (their
    Quantize, Dequantize and layout Transpose), so without it those layers' kernels carry that
    cost into every prediction. Where they count Quantize and Dequantize elements (an int8
    graph), one more shared column prices them.

    With ``share_weighted`` each layer's relative error counts by the square root of its share
    of its network's end-to-end time (``network_ms``): the fit of an int8 graph
    (:data:`SHARE_WEIGHTED`), whose many small float32 layers read mostly the profiler's cost
    per node."""
    import numpy as np

    kernels = sorted({p.kernel for p in points})
    acts = sorted({p.act for p in points if p.act != "none"})
    timed = [p for p in points if p.ms > 0]
    width = len(COEFFICIENTS) if weights_apart else 3
    k_col = {k: width * i for i, k in enumerate(kernels)}
    a_col = {a: width * len(kernels) + 2 * i for i, a in enumerate(acts)}
    counted = any(p.nodes for p in timed)
    uncached = any(p.uncached_bytes for p in timed)
    converted = any(p.converted for p in timed)
    shared = width * len(kernels) + 2 * len(acts)
    x = np.zeros((len(timed), shared + counted + uncached + converted))
    for row, p in enumerate(timed):
        j = k_col[p.kernel]
        x[row, j:j + width] = ((p.macs, p.bytes - p.weight_bytes, p.calls, p.weight_bytes)
                               if weights_apart else (p.macs, p.bytes, p.calls))
        if p.act != "none":
            j = a_col[p.act]
            x[row, j:j + 2] = (p.output_bytes, 1.0)
        if counted:
            x[row, shared] = p.nodes
        if uncached:
            x[row, shared + counted] = p.uncached_bytes
        if converted:
            x[row, shared + counted + uncached] = p.converted
    y = np.array([p.ms for p in timed])
    # Relative errors: each row divided by its measured time; share-weighted, by
    # sqrt(measured x network) instead (row weight sqrt(measured / network) on the relative
    # error).
    scale = np.sqrt(y * np.array([p.network_ms for p in timed])) if share_weighted else y
    solution = nnls(x / scale[:, None], y / scale) if len(timed) else np.zeros(x.shape[1])
    # A kernel measured but never timed (ONNX Runtime folds residual adds into the conv
    # before them, so they read 0): calibrated as free.
    coefs = {k: tuple(float(v) for v in solution[j:j + width]) for k, j in k_col.items()}
    act_coefs = {a: tuple(float(v) for v in solution[j:j + 2]) for a, j in a_col.items()}
    return Stage1(coefs, act_coefs, float(solution[shared]) if counted else 0.0,
                  float(solution[shared + counted]) if uncached else 0.0,
                  float(solution[shared + counted + uncached]) if converted else 0.0)


@dataclass(frozen=True)
class CacheChoice:
    """How a calibration chose the uncached-weights term (:func:`fit_selected`): the cache
    capacity kept (0: none), and the root mean square of the end-to-end training errors with
    the best capacity and without the term."""

    cache_bytes: int
    training_rms: float
    training_rms_without: float

    def to_dict(self) -> dict[str, Any]:
        return {"cache_bytes": self.cache_bytes, "training_rms": self.training_rms,
                "training_rms_without": self.training_rms_without,
                "capacities_tried": [CACHE_CAPACITIES[0], CACHE_CAPACITIES[-1]],
                "min_gain": CACHE_MIN_GAIN}


def fit(measured: Sequence[Measured], dtype_bytes: int = 4,
        layout: KernelRule | None = None, precision: str = "float32",
        weights_apart: bool = True) -> LatencyModel:
    """The two-stage fit of the module docstring (:func:`fit_selected`, its model)."""
    return fit_selected(measured, dtype_bytes, layout, precision, weights_apart)[0]


def fit_selected(measured: Sequence[Measured], dtype_bytes: int = 4,
                 layout: KernelRule | None = None, precision: str = "float32",
                 weights_apart: bool = True) -> tuple[LatencyModel, CacheChoice]:
    """The two-stage fit of the module docstring, without the uncached-weights term and with
    it at each of :data:`CACHE_CAPACITIES` that some calibration network's footprint exceeds;
    the capacity whose model has the smallest root mean square end-to-end training error is
    kept if that is at least :data:`CACHE_MIN_GAIN` below the model without the term. With a
    ``layout``, each conv kind's blocked and plain kernels are fitted apart; at
    ``precision="int8"`` each kind's int8 and float32 kernels (:meth:`LatencyModel.runs`).
    Without ``weights_apart`` (a runtime that re-lays its weights out on every call,
    :data:`WEIGHTS_APART`) a kernel's weight bytes are priced at its maps' rate.

    Raises:
        InputError: without per-layer data, or with fewer than 3 configurations.
    """
    if len(measured) < 3:
        raise InputError(f"a fit needs at least 3 measured configurations, got {len(measured)}")
    shape = LatencyModel({}, 0.0, 0.0, dtype_bytes, layout, precision=precision)
    points = [(LayerPoint(shape.kernel(layer, run), layer.act,
                          *shape.features(layer, run), shape.output_bytes(layer),
                          m.layer_ms[layer.name], shape.calls(layer, run),
                          (m.layer_nodes or {}).get(layer.name, 0),
                          weight_bytes=shape.weight_bytes(layer),
                          converted=copies.get(layer.name, 0),
                          network_ms=m.end_to_end_ms), footprint)
              for m in measured if m.layer_ms is not None
              for runs in (shape.runs(m.network) or {},)
              for copies in (timed_conversions(m.network) if runs else {},)
              for footprint in (run_footprint(m.network, dtype_bytes),)
              for layer in m.network.layers
              for run in (runs.get(layer.name),)]
    if not points:
        raise InputError("a fit needs per-layer measurements")
    largest = max(footprint for _, footprint in points)
    best = without = _fit_at(points, measured, shape, 0, weights_apart)
    for capacity in CACHE_CAPACITIES:
        if capacity < largest:
            model = _fit_at(points, measured, shape, capacity, weights_apart)
            best = min(best, model, key=lambda m: _training_rms(m, measured))
    rms, rms_without = _training_rms(best, measured), _training_rms(without, measured)
    # A best capacity at the bottom of the range tried is no capacity found: the term then
    # charges nearly every weight byte alike, as the kernels' own byte terms do (eager PyTorch
    # on this project's VM, every calibration: 1 MiB, and no better held out).
    # Timings the model fits exactly (synthetic ones) leave nothing to explain: a gain below
    # a millionth of the relative error is none.
    if rms_without - rms < max(CACHE_MIN_GAIN * rms_without, 1e-6) \
            or best.cache_bytes == CACHE_CAPACITIES[0]:
        best, rms = without, rms_without
    return best, CacheChoice(best.cache_bytes, rms, rms_without)


def timed_conversions(network: Network) -> dict[str, int]:
    """Layer -> elements of the Quantize and Dequantize copies ONNX Runtime's profiler times
    with it: :func:`mncost.costs.int8.conversions` less the image's Quantize, which the
    profiler times apart (a graph edge, no layer's); a run pays it, and
    :meth:`LatencyModel.conversions` prices it at the same rate."""
    return {name: n for name, pairs in conversions(network).items()
            for n in (sum(k for source, k in pairs if source != INPUT),) if n}


def _training_rms(model: LatencyModel, measured: Sequence[Measured]) -> float:
    """Root mean square of ``predicted / measured - 1`` over ``measured``."""
    errors = [model.predict(m.network).total_ms / m.end_to_end_ms - 1.0 for m in measured]
    return math.sqrt(math.fsum(e * e for e in errors) / len(errors))


def _fit_at(points: Sequence[tuple[LayerPoint, int]], measured: Sequence[Measured],
            shape: LatencyModel, cache_bytes: int, weights_apart: bool = True) -> LatencyModel:
    """Stages 1 and 2 with the uncached-weights term at ``cache_bytes`` (0: without it)."""
    import numpy as np

    stage = fit_layers([replace(p, uncached_bytes=p.weight_bytes * uncached_share(fp, cache_bytes))
                        if cache_bytes else p for p, fp in points], weights_apart,
                       shape.precision in SHARE_WEIGHTED)
    rate = stage.ms_per_uncached_byte
    stage1 = replace(shape, kinds=stage.kernels, activations=stage.activations,
                     cache_bytes=cache_bytes if rate else 0, ms_per_uncached_byte=rate,
                     ms_per_converted_element=stage.ms_per_converted_element)
    # Stage 2. The time between layers may come out negative: it is what a plain run spends
    # per layer beyond the per-layer timings, and timing a layer can cost more than that gap
    # (ONNX Runtime's profiler: v3-small 0.45/112 sums to 0.29 ms of node times in a 0.18 ms
    # run). Its column enters twice, with both signs, to keep nnls.
    # An int8 model's float32 layers get a time between layers of their own
    # (:attr:`LatencyModel.between_float_ms`), entered the same way.
    rows = []
    for m in measured:
        floats = sum(r == FLOAT_RUN for r in (stage1.runs(m.network) or {}).values())
        n = len(m.network.layers)
        rows.append((stage1.predict(m.network).layers_ms, n, -n, floats, -floats, 1.0))
    x = np.array(rows)
    if shape.precision == "float32":
        x = x[:, [0, 1, 2, 5]]
    y = np.array([m.end_to_end_ms for m in measured])
    solution = nnls(x / y[:, None], np.ones(len(y)))
    s, more, less, fixed = solution[0], solution[1], solution[2], solution[-1]
    floats = float(solution[3] - solution[4]) if shape.precision != "float32" else 0.0
    return replace(stage1.scaled(float(s)), between_ms=float(more - less),
                   fixed_ms=float(fixed), between_float_ms=floats)


def fit_macs_baseline(measured: Sequence[Measured]) -> float:
    """The naive baseline ``latency = k * MACs`` fitted on the same data (relative errors):
    ms per MAC."""
    import numpy as np

    macs = np.array([network_macs(m.network) for m in measured], dtype=float)
    y = np.array([m.end_to_end_ms for m in measured])
    return float(nnls((macs / y)[:, None], np.ones(len(y)))[0])


# ---------------------------------------------------------------------------------------------
# Errors: the figures the evaluation record reports


@dataclass(frozen=True)
class ErrorSummary:
    """Relative errors ``predicted / measured - 1`` of a set of configurations: the share
    within 5% and 10%, the median and largest absolute error, and the median signed error
    (above 0: the predictions read high)."""

    count: int
    within_5: float
    within_10: float
    median_abs: float
    max_abs: float
    median_signed: float = 0.0

    @classmethod
    def of(cls, pairs: Iterable[tuple[float, float]]) -> "ErrorSummary":
        """``(predicted, measured)`` pairs."""
        signed = [p / m - 1 for p, m in pairs if m > 0]
        if not signed:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        errors = [abs(e) for e in signed]
        n = len(errors)
        return cls(n, sum(e <= 0.05 for e in errors) / n, sum(e <= 0.10 for e in errors) / n,
                   statistics.median(errors), max(errors), statistics.median(signed))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "within_5pct": self.within_5,
                "within_10pct": self.within_10, "median_abs_error": self.median_abs,
                "max_abs_error": self.max_abs, "median_error": self.median_signed}
