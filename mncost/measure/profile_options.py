"""What the torch profiler measures and how: :class:`ProfileOptions`, plain data.

Torch-free, so the CLI, ``sweep --latency`` and the tests (their fake profiler) build and check
options without importing torch; :mod:`mncost.torch_backend.profile` does the measuring.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError

#: ``--dtype`` names; :data:`mncost.torch_backend.profile.DTYPES` maps them to torch dtypes.
DTYPE_NAMES = ("float32", "float16", "bfloat16")
#: Quantized ``--dtype`` names: run only by a runner registered for them
#: (:data:`mncost.torch_backend.runners.QUANTIZED_RUNNERS`), never by casting the weights.
QUANTIZED_DTYPES = ("int8",)
#: What a quantized profile can be compared with (``--compare``).
COMPARE_DTYPES = ("float32",)
#: The runtimes a network is measured in, the one list: ``--runtime`` of ``profile`` and
#: ``calibrate``, a device profile's ``runtime`` and the runners of the torch back end.
#: ``eager``: PyTorch eager mode; ``onnxruntime``: the exported model in ONNX Runtime.
RUNTIMES = ("eager", "onnxruntime")


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
        steady_malloc: keep freed memory mapped (:func:`mncost.measure.timing.steady_malloc`) so
        runs
            measure a steady allocator state; ``False`` leaves glibc's defaults.
        runtime: the runner that measures, a key of
            :data:`mncost.torch_backend.runners.RUNNERS`: ``eager`` (PyTorch) or
            ``onnxruntime`` (the exported model in ONNX Runtime; CPU, float32 or int8, no
            compile or channels-last). The runner checks the name and refuses options it
            cannot honour.
        per_channel: int8 only: weight scales per output channel (per tensor otherwise).
        compare: int8 only: also time the model in this dtype (``float32``), interleaved with
            the int8 runs, for a side-by-side speed-up.
    """

    device: str = "cpu"
    threads: int | None = None
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
    per_channel: bool = False
    compare: str | None = None

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
        if self.dtype not in DTYPE_NAMES + QUANTIZED_DTYPES:
            raise InputError(f"unknown dtype {self.dtype!r}; use one of "
                             f"{', '.join(DTYPE_NAMES + QUANTIZED_DTYPES)}")
        quantized = self.dtype in QUANTIZED_DTYPES
        if self.per_channel and not quantized:
            raise InputError(f"--per-channel sets int8 weight scales; it needs --dtype "
                             f"{' or '.join(QUANTIZED_DTYPES)}")
        if self.compare is not None and not quantized:
            raise InputError(f"--compare times a quantized model beside {self.compare}; it "
                             f"needs --dtype {' or '.join(QUANTIZED_DTYPES)}")
        if self.compare is not None and self.compare not in COMPARE_DTYPES:
            raise InputError(f"unknown --compare dtype {self.compare!r}; use "
                             f"{', '.join(COMPARE_DTYPES)}")
        if self.per_layer and self.compile:
            raise InputError("per-layer timing wraps the eager modules; it cannot be combined "
                             "with compile (a compiled graph has no per-layer boundaries)")
