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

This module runs the measurement and records the environment; the pieces have their own
modules: the options (:mod:`mncost.profile_options`) and results (:mod:`mncost.profile_results`),
both torch-free; device / dtype / clock / threads (:mod:`.device`), the model as measured
(:mod:`.prepare`), run-time error translation (:mod:`.run_errors`) and the per-layer timer
(:mod:`.layer_timer`).
"""

from __future__ import annotations

from typing import Callable

import torch

from ..measure.profile_options import ProfileOptions
from ..measure.profile_results import ProfileResult
from ..measure.timing import Clock, ProgressFn, malloc_env, measure, steady_malloc
from ..network.layers import Network
from .builder import MobileNet
from .device import check_dtype, clock_for, describe_environment, fixed_threads, resolve_device
from .layer_timer import LayerTimer
from .prepare import compiled, prepare
from .run_errors import _run_errors

__all__ = ["profile_network"]


# ---------------------------------------------------------------------------------------------
# The measurement


def profile_network(network: Network, options: ProfileOptions = ProfileOptions(),
                    progress: ProgressFn | None = None) -> ProfileResult:
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
    return ProfileResult.measured(network, options, environment, plain, faults, per_layer)


def _measure(network: Network, options: ProfileOptions, device: torch.device,
             dtype: torch.dtype, clock: Clock, progress: ProgressFn | None,
             faults: list[int] | None = None
             ) -> tuple[list[int], tuple[dict[str, list[int]], list[int]] | None]:
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
               progress: ProgressFn | None) -> None:
    """One untimed run that surfaces dtype, memory and compile failures as one-line errors
    (and, with compile, compiles)."""
    if progress is not None:
        progress("first run", 0.0, 0)
    with _run_errors(device, options, first_run=True):
        run(x)
    if progress is not None:
        progress("first run", 1.0, 1)


def _per_layer(model: MobileNet, x: torch.Tensor, clock: Clock, options: ProfileOptions,
               progress: ProgressFn | None) -> tuple[dict[str, list[int]], list[int]]:
    """Instrumented runs: per-layer samples and the instrumented end-to-end samples."""
    with LayerTimer(model, model.layer_names, clock) as timer:
        instrumented = measure(lambda: model(x), clock, warmup=options.warmup,
                               repeats=options.repeats, min_time_s=options.min_time_s,
                               label="per-layer", progress=progress)
    return timer.last(len(instrumented)), instrumented


# ---------------------------------------------------------------------------------------------
# Environment
