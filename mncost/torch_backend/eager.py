"""``--runtime eager``: the built network in PyTorch's eager mode (a :class:`.runners.Runner`).

* **Run state.** Every call runs under ``torch.inference_mode()`` with a fixed thread count
  (``torch.set_num_threads``; the previous setting is restored afterwards); ``with runner:``
  holds both across a whole profile, so the count never changes between its phases.
* **The model** is built from the resolved layers (:func:`.prepare.prepare`: device, dtype,
  memory format, batch norm folded or not), put in eval mode, and with ``compile`` run through
  ``torch.compile`` (compiled at the first run).
* **CUDA.** The clock (:func:`.device.clock_for`) calls ``torch.cuda.synchronize`` before every
  read, so an interval never ends at an asynchronous launch: it covers the finished kernels.
* **Per layer.** Each leaf module (one per resolved layer, at the engine's layer name) gets a
  thin timing wrapper around its ``forward`` (:class:`.layer_timer.LayerTimer`) that reads the
  same clock before and after it, so each layer is timed in its real context: its real input,
  the caches left by the layer before it, the same thread pool. On CUDA the clock synchronizes
  before each read, so around every layer.
* **Errors** while preparing or running (no kernel for a dtype, out of memory, compile not
  working here) are one-line ``InputError`` s (:mod:`.run_errors`).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch

from ..latency.model import OneDnnPaths
from ..measure.profile_options import ProfileOptions
from ..measure.timing import ProgressFn, measure
from ..network.layers import Network
from .device import check_dtype, clock_for, describe_environment, fixed_threads, resolve_device
from .layer_timer import LayerTimer
from .onednn_probe import probe_onednn
from .prepare import compiled, prepare
from .run_errors import _run_errors


class EagerRunner:
    """PyTorch eager mode on ``options.device`` in ``options.dtype`` (module docstring)."""

    name = "eager"
    batch_layer_runs = False

    def __init__(self, network: Network, options: ProfileOptions) -> None:
        self.network = network
        self.options = options
        self.device = resolve_device(options.device)
        self.dtype = check_dtype(options.dtype, self.device)
        self.clock = clock_for(self.device)
        with self._held(), _run_errors(self.device, options):
            self.model, self.x = prepare(network, options, self.device, self.dtype)
        with self._held():
            self._forward = compiled(self.model) if options.compile else self.model

    @classmethod
    def versions(cls) -> dict[str, str]:
        return {"torch": torch.__version__}

    @classmethod
    def layout(cls, threads: int, progress: Callable[[str], None]) -> OneDnnPaths | None:
        """Which convs oneDNN runs on padded blocks, probed at ``threads`` threads
        (:func:`.onednn_probe.probe_onednn`); ``None`` (one kernel per kind) when no rule
        explains the probes or they cannot run, with a line to ``progress`` saying why."""
        try:
            rule, observed = probe_onednn(threads)
        except RuntimeError as exc:
            progress(f"oneDNN probe: {exc}; one kernel per layer kind")
            return None
        if rule is None:
            ran = sum(1 for *_, through, _ in observed if through)
            why = ("no conv ran through oneDNN" if not ran else
                   f"no rule explains the {len(observed)} probes")
            progress(f"oneDNN probe: {why}; one kernel per layer kind")
        else:
            pointwise = "all convs" if rule.pointwise else "all but 1x1 stride-1 convs"
            progress(f"oneDNN probe: PyTorch runs {pointwise} through oneDNN, on padded "
                     f"blocks when their channels are not multiples of {rule.block}")
        return rule

    @contextlib.contextmanager
    def _held(self) -> Iterator[int]:
        """Fixed threads and inference mode; yields the thread count in effect."""
        with fixed_threads(self.options.threads) as threads, torch.inference_mode():
            yield threads

    def __enter__(self) -> EagerRunner:
        self._holding = contextlib.ExitStack()
        self._holding.enter_context(self._held())
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        return self._holding.__exit__(*exc)

    def first_run(self) -> None:
        """One untimed run (with compile: the compilation); a dtype, memory or compile failure
        is a one-line error."""
        with self._held(), _run_errors(self.device, self.options, first_run=True):
            self._forward(self.x)

    def timed(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
              progress: ProgressFn | None = None, faults: list[int] | None = None
              ) -> list[int]:
        with self._held(), _run_errors(self.device, self.options):
            return measure(lambda: self._forward(self.x), self.clock, warmup=warmup,
                           repeats=repeats, min_time_s=min_time_s, label="end-to-end",
                           progress=progress, faults=faults)

    def layer_runs(self, warmup: int, repeats: int, *, min_time_s: float = 0.0,
                   progress: ProgressFn | None = None
                   ) -> tuple[dict[str, list[int]], list[int]]:
        """Wrapped-forward runs of the plain (never compiled) model, separate from
        :meth:`timed`, so the wrappers never inflate the end-to-end figures."""
        with self._held(), _run_errors(self.device, self.options), \
                LayerTimer(self.model, self.model.layer_names, self.clock) as timer:
            instrumented = measure(lambda: self.model(self.x), self.clock, warmup=warmup,
                                   repeats=repeats, min_time_s=min_time_s, label="per-layer",
                                   progress=progress)
        return timer.last(len(instrumented)), instrumented

    def profiled_nodes(self) -> None:
        """Each layer is one timed module: no node counts."""
        return None

    def describe(self) -> dict[str, Any]:
        with self._held() as threads:
            return describe_environment(self.device, threads, self.options, self.clock)
