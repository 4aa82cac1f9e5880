"""Runtimes that run a built network: one :class:`Runner` surface, one registry.

``mncost profile`` (:func:`.profile.profile_network`) and ``mncost calibrate``
(:func:`.calibrate.measure_set`, whose rounds also measure the held-out evaluation set) pick
a runner once, from ``--runtime``, in :data:`RUNNERS`, and then use only the surface below;
neither tests a runtime's name. A new runtime is one class with that surface and one entry
in :data:`RUNNERS` (the ``--runtime`` choices of the CLI must name the same keys; a test holds
them to it). A quantized dtype is run by its own runner class, registered under
``(runtime, dtype)`` in :data:`QUANTIZED_RUNNERS` (``--dtype int8``): no runner casts weights
to an integer type.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from ..errors import InputError
from ..latency.model import KernelRule
from ..measure.profile_options import QUANTIZED_DTYPES, ProfileOptions
from ..measure.timing import ProgressFn
from ..network.layers import Network
from .eager import EagerRunner
from .onnx_runtime import OrtRunner
from .ort_int8 import OrtInt8Runner


class Runner(Protocol):
    """One prepared network in one runtime, and how to time it.

    Attributes:
        name: the ``--runtime`` name (the key in :data:`RUNNERS`).
        batch_layer_runs: per-layer runs cost a session of their own, so the calibration
            asks for them once per configuration after its rounds, not in every round.
    """

    name: str
    batch_layer_runs: bool

    def __init__(self, network: Network, options: ProfileOptions) -> None:
        """Prepare: refuse the options this runtime cannot honour (``InputError``), then
        build the model and its input (``MissingDependency`` for a missing extra)."""

    @classmethod
    def versions(cls) -> dict[str, str]:
        """The library versions a result of this runtime records."""

    @classmethod
    def layout(cls, threads: int, progress: Callable[[str], None]
               ) -> KernelRule | None:
        """The runtime's rule of conv kernels by channel count (probed where it has one:
        ONNX Runtime's blocked layout, eager PyTorch's oneDNN paths), for the fit."""

    def __enter__(self) -> Runner:
        """Hold the runtime's run state (threads, inference mode) across the calls below; each
        call also holds it on its own, so a runner works outside ``with`` too."""

    def __exit__(self, *exc: object) -> bool | None: ...

    def first_run(self) -> None:
        """One untimed pass that surfaces a failure as a one-line ``InputError``."""

    def timed(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
              progress: ProgressFn | None = None, faults: list[int] | None = None
              ) -> list[int]:
        """The whole network end to end: per-run ns (:func:`mncost.measure.timing.measure`,
        label ``"end-to-end"``)."""

    def layer_runs(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
                   progress: ProgressFn | None = None
                   ) -> tuple[dict[str, list[int]], list[int]]:
        """Per-layer runs: layer name -> per-run ns for every layer of the network, and the
        instrumented end-to-end per-run ns (phase ``"per-layer"``)."""

    def profiled_nodes(self) -> dict[str, int] | None:
        """Layer -> the nodes the runtime's per-layer profile times for it (the calibration's
        fit takes the profiler's cost per node out), or ``None`` where each layer is timed
        once (eager PyTorch)."""

    def describe(self) -> dict[str, Any]:
        """The environment record of a profile measured by this runner."""

    # A runner that accepts ``options.compare`` (the quantized ones) also has
    #   baseline() -> (dtype, end-to-end runs in ns, per-layer runs or None)
    # with the comparison dtype's runs, measured interleaved with its own.


#: ``--runtime`` name -> its runner.
RUNNERS: dict[str, type[Runner]] = {EagerRunner.name: EagerRunner,
                                    OrtRunner.name: OrtRunner}


#: ``(--runtime, --dtype)`` -> the runner of a quantized dtype in that runtime.
QUANTIZED_RUNNERS: dict[tuple[str, str], type[Runner]] = {
    (OrtInt8Runner.name, OrtInt8Runner.dtype): OrtInt8Runner}


def runner_for(runtime: str, dtype: str = "float32") -> type[Runner]:
    """The runner class of ``runtime`` (for a quantized ``dtype``: of that pair).

    Raises:
        InputError: for a name :data:`RUNNERS` does not hold, or a quantized dtype the
            runtime has no runner for (the message names the runtimes that have one).
    """
    if runtime not in RUNNERS:
        raise InputError(f"unknown runtime {runtime!r}; use one of "
                         f"{', '.join(RUNNERS)}")
    if dtype not in QUANTIZED_DTYPES:
        return RUNNERS[runtime]
    try:
        return QUANTIZED_RUNNERS[runtime, dtype]
    except KeyError:
        able = [r for r, d in QUANTIZED_RUNNERS if d == dtype]
        raise InputError(f"--dtype {dtype} is quantized by a runtime's own tools: use "
                         f"--runtime {' or '.join(able)} (not {runtime})") from None
