"""Measured latency of a built network, end to end and per layer, beside its analytic MACs.

The Python API of ``mncost profile``::

    from mncost import resolve_model
    from mncost.torch_backend.profile import ProfileOptions, profile_network

    result = profile_network(resolve_model("v1"), ProfileOptions(threads=1, per_layer=True))
    result.end_to_end.median_ms, result.images_per_s, result.by_kind

How it measures (README, "Profiling"):

* **End to end.** The model is built from the resolved layers (:func:`.builder.build`), put in
  eval mode and run under ``torch.inference_mode()`` with a fixed thread count
  (``torch.set_num_threads``; the previous setting is restored afterwards). One untimed first
  run surfaces dtype, compile and memory errors; then ``warmup`` untimed runs, then timed runs
  until at least ``repeats`` runs and ``min_time_s`` seconds are done
  (:func:`mncost.timing.measure`). Every run is timed alone with ``time.perf_counter_ns``.
* **CUDA.** The clock (:func:`clock_for`) calls ``torch.cuda.synchronize`` before every read,
  so an interval never ends at an asynchronous launch: it covers the finished kernels.
* **Per layer.** Each leaf module (one per resolved layer, at the engine's layer name) gets a
  thin timing wrapper around its ``forward`` (:class:`LayerTimer`) that reads the same clock
  before and after it, so each layer is timed in its real context: its real input, the caches
  left by the layer before it, the same thread pool. These runs are separate from the
  end-to-end runs, so the wrappers never inflate the end-to-end figures; their own end-to-end
  time (``instrumented``) is kept so the overhead is stated, not guessed. On CUDA the clock
  synchronizes before each read, so around every layer.
"""

from __future__ import annotations

import contextlib
import os
import platform
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .. import __version__
from ..costs import REGISTRY, analyze
from ..errors import InputError
from ..layers import Network
from ..timing import (CPU_CLOCK, Clock, ProgressFn, TimingStats, instability, malloc_env,
                      measure, steady_malloc)
from .builder import MobileNet, build

PROFILE_SCHEMA = "mncost.profile/1"

#: ``--dtype`` names -> torch dtypes. Whether the device runs one is found by running it.
DTYPES: Mapping[str, torch.dtype] = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
}

__all__ = ["ProfileOptions", "ProfileResult", "LayerTiming", "KindTiming", "TimingStats",
           "profile_network", "prepare", "fuse_batch_norm", "clock_for", "resolve_device",
           "LayerTimer", "DTYPES", "PROFILE_SCHEMA"]


@dataclass(frozen=True)
class ProfileOptions:
    """What to measure and how.

    Attributes:
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        threads: intra-op CPU threads (``torch.set_num_threads``); ``None`` keeps torch's
            current setting. Either way the count used is reported.
        batch: images per forward pass.
        dtype: ``float32``, ``float16`` or ``bfloat16`` (weights and input).
        warmup: untimed runs before each measurement.
        repeats: at least this many timed runs...
        min_time_s: ...and at least this many seconds of timed runs.
        per_layer: also time every layer (wrapped forwards; separate runs).
        channels_last: NHWC memory format for the input and the conv weights.
        fuse_bn: fold each batch norm into the conv before it (inference folding).
        compile: run the model through ``torch.compile`` (not with ``per_layer``).
        steady_malloc: keep freed memory mapped (:func:`mncost.timing.steady_malloc`) so runs
            measure a steady allocator state; ``False`` leaves glibc's defaults.
        runtime: ``eager`` (PyTorch) or ``onnxruntime`` (the exported model in ONNX Runtime,
            :mod:`.onnx_runtime`; CPU, float32, no compile or channels-last).
    """

    device: str = "cpu"
    threads: Optional[int] = None
    batch: int = 1
    dtype: str = "float32"
    warmup: int = 10
    repeats: int = 30
    min_time_s: float = 1.0
    per_layer: bool = False
    channels_last: bool = False
    fuse_bn: bool = False
    compile: bool = False
    steady_malloc: bool = True
    runtime: str = "eager"

    def check(self) -> None:
        """Raise :class:`~mncost.errors.InputError` for a value no measurement can use."""
        if self.batch < 1:
            raise InputError(f"batch must be >= 1, got {self.batch}")
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be >= 1, got {self.threads}")
        if self.warmup < 0:
            raise InputError(f"warmup must be >= 0, got {self.warmup}")
        if self.repeats < 1:
            raise InputError(f"repeats must be >= 1, got {self.repeats}")
        if self.min_time_s < 0:
            raise InputError(f"min time must be >= 0 s, got {self.min_time_s}")
        if self.dtype not in DTYPES:
            raise InputError(f"unknown dtype {self.dtype!r}; use one of {', '.join(DTYPES)}")
        if self.runtime not in ("eager", "onnxruntime"):
            raise InputError(f"unknown runtime {self.runtime!r}; use eager or onnxruntime")
        if self.runtime == "onnxruntime":
            bad = [flag for flag, on in (("--device cuda", self.device != "cpu"),
                                         (f"--dtype {self.dtype}", self.dtype != "float32"),
                                         ("--compile", self.compile),
                                         ("--channels-last", self.channels_last)) if on]
            if bad:
                raise InputError(f"--runtime onnxruntime runs float32 on the CPU with its own "
                                 f"layout and fusions; drop {', '.join(bad)}")
        if self.per_layer and self.compile:
            raise InputError("per-layer timing wraps the eager modules; it cannot be combined "
                             "with compile (a compiled graph has no per-layer boundaries)")


@dataclass(frozen=True)
class LayerTiming:
    """One layer's measured time beside its analytic MACs.

    Attributes:
        name, kind, stage: the engine's layer (``mncost.layers.ResolvedLayer``).
        macs: analytic MACs per image.
        stats: the layer's time over the instrumented runs.
        mac_share: its share (0..1) of the network's MACs.
        time_share: its median's share of the sum of all layers' medians.
        gmacs_per_s: achieved GMAC/s (``macs * batch / median``); 0 for MAC-free layers.
        share_ratio: ``time_share / mac_share`` (> 1: slower than its MACs suggest); ``None``
            for MAC-free layers.
    """

    name: str
    kind: str
    stage: str
    macs: int
    stats: TimingStats
    mac_share: float
    time_share: float
    gmacs_per_s: Optional[float]
    share_ratio: Optional[float]


@dataclass(frozen=True)
class KindTiming:
    """Per-layer times summed over one layer kind (``time_ms`` = sum of the layers' medians)."""

    kind: str
    label: str
    layers: int
    macs: int
    time_ms: float
    mac_share: float
    time_share: float
    gmacs_per_s: Optional[float]
    share_ratio: Optional[float]


@dataclass(frozen=True)
class ProfileResult:
    """What :func:`profile_network` measured.

    Attributes:
        network: the resolved network that was built and timed.
        options: the options used.
        environment: torch version, device and its name, threads, dtype, batch, memory format,
            fuse_bn, compile, the clock, ... (everything needed to compare results later).
        macs: analytic MACs per image.
        end_to_end: the plain (unwrapped) forward passes.
        samples_ms: their per-run times, in run order.
        layers, by_kind: per-layer results (``None`` without ``per_layer``).
        instrumented: end-to-end time of the per-layer (instrumented) runs, for the overhead
            statement.
        page_faults_per_run: minor page faults per timed end-to-end run (``None`` where the
            OS does not count them).
    """

    network: Network
    options: ProfileOptions
    environment: Mapping[str, Any]
    macs: int
    end_to_end: TimingStats
    samples_ms: tuple[float, ...]
    layers: Optional[tuple[LayerTiming, ...]] = None
    by_kind: Optional[tuple[KindTiming, ...]] = None
    instrumented: Optional[TimingStats] = None
    page_faults_per_run: Optional[float] = None

    @property
    def unstable(self) -> Optional[str]:
        """Why the end-to-end figures should not be trusted (:func:`mncost.timing.instability`),
        or ``None``."""
        return instability(self.end_to_end)

    @property
    def images_per_s(self) -> float:
        """Throughput at the median: ``batch / median``."""
        return self.options.batch / (self.end_to_end.median_ms / 1e3)

    @property
    def gmacs_per_s(self) -> float:
        """Achieved GMAC/s: analytic MACs of the batch / median time."""
        return gmacs_per_s(self.macs * self.options.batch, self.end_to_end.median_ms) or 0.0

    @property
    def layers_sum_ms(self) -> Optional[float]:
        """Sum of the per-layer medians."""
        return sum(t.stats.median_ms for t in self.layers) if self.layers is not None else None

    @property
    def coverage(self) -> Optional[float]:
        """Sum of per-layer medians / end-to-end median. Below 1 by the time spent outside
        the leaf modules (the network's own bookkeeping between layers)."""
        total = self.layers_sum_ms
        return total / self.end_to_end.median_ms if total is not None else None

    @property
    def instrumented_coverage(self) -> Optional[float]:
        """Sum of per-layer medians / median of the same (instrumented) runs: the share of a
        forward pass spent inside the layers, free of drift between the two phases."""
        total = self.layers_sum_ms
        if total is None or self.instrumented is None:
            return None
        return total / self.instrumented.median_ms

    @property
    def instrumentation_overhead(self) -> Optional[float]:
        """Instrumented end-to-end median / plain end-to-end median - 1: what the per-layer
        timing wrappers cost."""
        if self.instrumented is None:
            return None
        return self.instrumented.median_ms / self.end_to_end.median_ms - 1

    def to_dict(self, model: Optional[str] = None) -> dict[str, Any]:
        """Every figure and the environment as JSON-ready data (README: "Profile fields")."""
        net = self.network
        data: dict[str, Any] = {
            "schema": PROFILE_SCHEMA,
            "model": model or net.spec_name,
            "spec": {"name": net.spec_name, "file": net.spec_file},
            "alpha": net.alpha, "depth": net.depth, "resolution": list(net.resolution), "classes": net.classes,
            "environment": dict(self.environment),
            "options": asdict(self.options),
            "macs": self.macs,
            "end_to_end": {**self.end_to_end.to_dict(), "images_per_s": self.images_per_s,
                           "gmacs_per_s": self.gmacs_per_s,
                           "page_faults_per_run": self.page_faults_per_run,
                           "unstable": self.unstable,
                           "samples_ms": list(self.samples_ms)},
            "per_layer": None,
        }
        if self.layers is not None and self.instrumented is not None:
            data["per_layer"] = {
                "runs": self.instrumented.runs,
                "instrumented_end_to_end": self.instrumented.to_dict(),
                "layers_sum_ms": self.layers_sum_ms, "coverage": self.coverage,
                "instrumented_coverage": self.instrumented_coverage,
                "instrumentation_overhead": self.instrumentation_overhead,
                "by_kind": [asdict(k) for k in self.by_kind or ()],
                "layers": [_layer_dict(t) for t in self.layers],
            }
        return data


def _layer_dict(timing: LayerTiming) -> dict[str, Any]:
    """A layer's fields with its timing statistics flattened in (``median_ms``...)."""
    data = {f.name: getattr(timing, f.name) for f in fields(LayerTiming) if f.name != "stats"}
    return {**data, **timing.stats.to_dict()}


def gmacs_per_s(macs: int, median_ms: float) -> Optional[float]:
    """``macs`` per ``median_ms`` in GMAC/s (``None`` for a zero time)."""
    return macs / (median_ms * 1e6) if median_ms > 0 else None


# ---------------------------------------------------------------------------------------------
# Device, clock, threads


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a usable device.

    Raises:
        InputError: for another name, or CUDA where no GPU (or no such GPU) is available.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise InputError(f"unsupported device {name!r}; use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is available to torch "
                         f"{torch.__version__}")
    index = device.index if device.index is not None else torch.cuda.current_device()
    count = torch.cuda.device_count()
    if index >= count:
        raise InputError(f"--device {name}: there are only {count} CUDA device(s)")
    return torch.device("cuda", index)


def check_dtype(name: str, device: torch.device) -> torch.dtype:
    """The torch dtype of ``name``, rejecting what the device is known not to run (bfloat16 on
    a GPU without it); other gaps show up at the first run (:func:`_translate`)."""
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}")
    if device.type == "cuda" and name == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise InputError(f"dtype bfloat16 is not supported on {_device_name(device)}")
    return DTYPES[name]


def clock_for(device: torch.device) -> Clock:
    """The clock for ``device``: plain ``perf_counter_ns`` on a CPU; on CUDA the same clock
    read only after ``torch.cuda.synchronize(device)``, so no interval ends at an
    asynchronous kernel launch."""
    if device.type == "cuda":
        return Clock("time.perf_counter_ns after torch.cuda.synchronize",
                     sync=lambda: torch.cuda.synchronize(device))
    return CPU_CLOCK


@contextlib.contextmanager
def fixed_threads(threads: Optional[int]) -> Iterator[int]:
    """Set torch's intra-op thread count (``None``: keep it) and restore it on exit.

    Yields:
        The thread count in effect.
    """
    previous = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------------------------------
# Model preparation


def fuse_batch_norm(model: MobileNet) -> int:
    """Fold every batch norm into the conv before it (``fuse_conv_bn_eval``), in place.

    The leaf modules keep their names, so per-layer results still join the engine's layers.

    Returns:
        The number of batch norms folded.
    """
    folded = 0
    for name in model.layer_names:
        module = model.get_submodule(name)
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(conv, bn)
            module.bn = None
            folded += 1
    return folded


def memory_format(options: ProfileOptions) -> torch.memory_format:
    """NHWC (``channels_last``) or the default NCHW layout."""
    return torch.channels_last if options.channels_last else torch.contiguous_format


def prepare(network: Network, options: ProfileOptions, device: torch.device,
            dtype: torch.dtype) -> tuple[MobileNet, torch.Tensor]:
    """Build the eval-mode model and a random input batch, with the options applied (fused
    batch norm first, in float32, then device, dtype and memory format)."""
    model = build(network, batch=options.batch)
    if options.fuse_bn:
        fuse_batch_norm(model)
    fmt = memory_format(options)
    model = model.to(device=device, dtype=dtype, memory_format=fmt)
    generator = torch.Generator().manual_seed(0)
    shape = (options.batch, *_chw(network))
    x = torch.randn(shape, generator=generator).to(device=device, dtype=dtype,
                                                   memory_format=fmt)
    return model, x


def _chw(network: Network) -> tuple[int, int, int]:
    s = network.input_shape
    return s.c, s.h, s.w


def compiled(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile(model)``; compilation itself happens at the first run."""
    try:
        return torch.compile(model)
    except Exception as exc:  # noqa: BLE001 - any failure means compile is unusable here
        raise InputError(f"--compile is not available here: {_one_line(exc)}") from None


# ---------------------------------------------------------------------------------------------
# Errors at run time


def _one_line(exc: BaseException, limit: int = 200) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def _translate(exc: BaseException, device: torch.device, options: ProfileOptions,
               first_run: bool) -> Optional[InputError]:
    """The one-line error for a failure while preparing or running, or ``None`` to re-raise.

    Out of memory -> a batch that does not fit; "not implemented for 'Half'" and the like
    with a non-default dtype -> a dtype the device does not run; anything else during the
    first compiled run -> compile does not work here.
    """
    if _is_oom(exc):
        return InputError(f"batch {options.batch} does not fit in {device} memory "
                          f"({_one_line(exc, 120)}); try a smaller --batch")
    text = str(exc)
    if (options.dtype != "float32" and isinstance(exc, (RuntimeError, TypeError))
            and ("not implemented for" in text or "not supported" in text)):
        return InputError(f"dtype {options.dtype} is not supported on {device}: "
                          f"{_one_line(exc, 120)}")
    if options.compile and first_run:
        return InputError(f"--compile failed on this machine: {type(exc).__name__}: "
                          f"{_one_line(exc, 160)}")
    return None


@contextlib.contextmanager
def _run_errors(device: torch.device, options: ProfileOptions, first_run: bool = False
                ) -> Iterator[None]:
    """Turn the known run-time failures into one-line :class:`InputError` (exit 2)."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - classified, unknown ones re-raised
        error = _translate(exc, device, options, first_run)
        if error is None:
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise error from None


# ---------------------------------------------------------------------------------------------
# Per-layer timing


class LayerTimer:
    """Times named leaf modules in their real context by wrapping each one's ``forward``.

    The wrapper is set on the module instance, so ``nn.Module.__call__`` keeps its hook-free
    fast path and calls it instead of the class's ``forward``: it reads the clock, runs the
    real forward on the real input, reads the clock again. Forward pre/post hooks would do the
    same job but send every call down ``__call__``'s slow path: on this repo's 2-core CPU
    (1 thread, interleaved runs) hooks cost +18% end to end on v3-small 0.35/64 and +1.0% on
    v1 1.0/224, these wrappers -3% and +0.2% (within noise). Use as a context manager: on exit
    every module gets its class ``forward`` back.

    Attributes:
        samples: layer name -> its per-run times in ns, in run order.
    """

    def __init__(self, model: nn.Module, names: Sequence[str], clock: Clock) -> None:
        self._modules = [(name, model.get_submodule(name)) for name in names]
        self._clock = clock
        self.samples: dict[str, list[int]] = {name: [] for name in names}

    def __enter__(self) -> "LayerTimer":
        for name, module in self._modules:
            if "forward" in vars(module):
                raise RuntimeError(f"layer {name}: forward is already wrapped")
        for name, module in self._modules:
            module.forward = self._timed(name, module.forward)
        return self

    def __exit__(self, *exc: object) -> None:
        for _, module in self._modules:
            vars(module).pop("forward", None)

    def _timed(self, name: str, forward: Callable[..., Any]) -> Callable[..., Any]:
        samples, now = self.samples[name], self._clock.now_ns

        def timed_forward(*args: Any, **kwargs: Any) -> Any:
            start = now()
            out = forward(*args, **kwargs)
            samples.append(now() - start)
            return out
        return timed_forward

    def last(self, runs: int) -> dict[str, list[int]]:
        """Each layer's samples of the last ``runs`` forward passes (drops the warm-up)."""
        short = [n for n, s in self.samples.items() if len(s) < runs]
        if short:
            raise RuntimeError(f"layer {short[0]} ran fewer than {runs} times")
        return {name: s[len(s) - runs:] for name, s in self.samples.items()}


def layer_results(network: Network, samples_ns: Mapping[str, Sequence[int]], batch: int
                  ) -> tuple[tuple[LayerTiming, ...], tuple[KindTiming, ...]]:
    """Join per-layer samples to the engine's layers and costs; shares of MACs and of time.

    Time shares are of the sum of per-layer medians, so they add up to 100%.
    """
    report = analyze(network)
    stats = {name: TimingStats.from_ns(samples_ns[name]) for name in samples_ns}
    total_ms = sum(s.median_ms for s in stats.values())
    total_macs = report.total.macs
    layers = []
    for row in report.layers:
        layer, s = row.layer, stats[row.layer.name]
        layers.append(_timing(LayerTiming, dict(name=layer.name, kind=layer.kind,
                                                stage=layer.stage, stats=s),
                              row.cost.macs, s.median_ms, total_macs, total_ms, batch))
    kinds = []
    for kind, cost in report.by_kind.items():
        members = [t for t in layers if t.kind == kind]
        time_ms = sum(t.stats.median_ms for t in members)
        kinds.append(_timing(KindTiming, dict(kind=kind, label=REGISTRY[kind].label,
                                              layers=len(members), time_ms=time_ms),
                             cost.macs, time_ms, total_macs, total_ms, batch))
    return tuple(layers), tuple(kinds)


def _timing(cls: type, named: dict[str, Any], macs: int, time_ms: float, total_macs: int,
            total_ms: float, batch: int) -> Any:
    mac_share = macs / total_macs if total_macs else 0.0
    time_share = time_ms / total_ms if total_ms else 0.0
    return cls(**named, macs=macs, mac_share=mac_share, time_share=time_share,
               gmacs_per_s=gmacs_per_s(macs * batch, time_ms),
               share_ratio=time_share / mac_share if mac_share else None)


# ---------------------------------------------------------------------------------------------
# The measurement


def profile_network(network: Network, options: ProfileOptions = ProfileOptions(),
                    progress: Optional[ProgressFn] = None) -> ProfileResult:
    """Measure ``network``'s latency under ``options`` (module docstring: how).

    Args:
        network: resolved layers (:func:`mncost.resolve_model`).
        options: what to measure and how.
        progress: ``progress(phase, fraction, runs)`` between runs (outside timed intervals);
            phases ``"first run"``, ``"warm-up"``, ``"end-to-end"``, ``"per-layer"``.

    Raises:
        InputError: bad options, no such device, a dtype the device does not run, a batch that
            does not fit in memory, compile not working here (all exit 2 on the CLI).
    """
    options.check()
    if options.runtime == "onnxruntime":
        from .onnx_runtime import profile_ort

        return profile_ort(network, options, progress)
    device = resolve_device(options.device)
    dtype = check_dtype(options.dtype, device)
    clock = clock_for(device)
    malloc = steady_malloc(options.steady_malloc)
    faults: list[int] = []
    with fixed_threads(options.threads) as threads, torch.inference_mode():
        plain, per_layer = _measure(network, options, device, dtype, clock, progress, faults)
        environment = describe_environment(device, threads, options, clock)
    environment["malloc"] = malloc
    environment["malloc_env"] = malloc_env()
    layers = kinds = instrumented = None
    if per_layer is not None:
        samples, instrumented_ns = per_layer
        layers, kinds = layer_results(network, samples, options.batch)
        instrumented = TimingStats.from_ns(instrumented_ns)
    return ProfileResult(network=network, options=options, environment=environment,
                         macs=analyze(network).total.macs,
                         end_to_end=TimingStats.from_ns(plain),
                         samples_ms=tuple(s / 1e6 for s in plain), layers=layers,
                         by_kind=kinds, instrumented=instrumented,
                         page_faults_per_run=faults[0] / len(plain) if faults and faults[0] >= 0
                         else None)


def _measure(network: Network, options: ProfileOptions, device: torch.device,
             dtype: torch.dtype, clock: Clock, progress: Optional[ProgressFn],
             faults: Optional[list[int]] = None
             ) -> tuple[list[int], Optional[tuple[dict[str, list[int]], list[int]]]]:
    """Prepare, run once, time end to end, then (``per_layer``) time the layers."""
    with _run_errors(device, options):
        model, x = prepare(network, options, device, dtype)
    run = compiled(model) if options.compile else model
    _first_run(run, x, device, options, progress)
    with _run_errors(device, options):
        plain = measure(lambda: run(x), clock, warmup=options.warmup, repeats=options.repeats,
                        min_time_s=options.min_time_s, label="end-to-end", progress=progress,
                        faults=faults)
        per_layer = _per_layer(model, x, clock, options, progress) if options.per_layer \
            else None
    return plain, per_layer


def _first_run(run: Callable, x: torch.Tensor, device: torch.device, options: ProfileOptions,
               progress: Optional[ProgressFn]) -> None:
    """One untimed run that surfaces dtype, memory and compile failures as one-line errors
    (and, with compile, compiles)."""
    if progress is not None:
        progress("first run", 0.0, 0)
    with _run_errors(device, options, first_run=True):
        run(x)
    if progress is not None:
        progress("first run", 1.0, 1)


def _per_layer(model: MobileNet, x: torch.Tensor, clock: Clock, options: ProfileOptions,
               progress: Optional[ProgressFn]) -> tuple[dict[str, list[int]], list[int]]:
    """Instrumented runs: per-layer samples and the instrumented end-to-end samples."""
    with LayerTimer(model, model.layer_names, clock) as timer:
        instrumented = measure(lambda: model(x), clock, warmup=options.warmup,
                               repeats=options.repeats, min_time_s=options.min_time_s,
                               label="per-layer", progress=progress)
    return timer.last(len(instrumented)), instrumented


# ---------------------------------------------------------------------------------------------
# Environment


def describe_environment(device: torch.device, threads: int, options: ProfileOptions,
                         clock: Clock) -> dict[str, Any]:
    """What a result needs beside it to be compared later."""
    env: dict[str, Any] = {
        "mncost": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": _device_name(device),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "dtype": options.dtype,
        "batch": options.batch,
        "channels_last": options.channels_last,
        "fuse_bn": options.fuse_bn,
        "compile": options.compile,
        "warmup": options.warmup,
        "repeats": options.repeats,
        "min_time_s": options.min_time_s,
        "clock": clock.name,
        "inference_mode": True,
        "runtime": options.runtime,
    }
    if device.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        env["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    return env


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return _cpu_name()


def _cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"
