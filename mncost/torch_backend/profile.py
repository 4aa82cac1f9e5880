"""Measured latency of a built network, end to end and per layer, beside its analytic MACs.

The Python API of ``mncost profile``::

    from mncost import resolve_model
    from mncost.torch_backend.profile import ProfileOptions, profile_network

    result = profile_network(resolve_model("v1"), ProfileOptions(threads=1, per_layer=True))
    result.quiet_ms, result.end_to_end.median_ms, result.images_per_s, result.by_kind

How it measures (docs/profiling.md), in every runtime: the runtime is chosen once, from
``options.runtime``, in :data:`.runners.RUNNERS`, and driven through the
:class:`.runners.Runner` surface only (this module never tests a runtime's name):

* **Prepare.** The runner refuses the options it cannot honour and builds the model from the
  resolved layers (:func:`.builder.build`), in eval mode, with its input batch.
* **End to end.** One untimed first run surfaces dtype, compile and memory errors; then
  ``warmup`` untimed runs, then timed runs until at least ``repeats`` runs and ``min_time_s``
  seconds are done (:func:`mncost.measure.timing.measure`). Every run is timed alone with
  ``time.perf_counter_ns`` (on CUDA after a synchronize).
* **Per layer.** Separate runs (so the instrumentation never inflates the end-to-end figures)
  that time every layer at the engine's layer name; their own end-to-end time
  (``instrumented``) is kept so the overhead is stated, not guessed.
* **Environment.** The runner describes itself; the allocator setting (and its one-line note
  for the reader, :func:`mncost.measure.profile_results.allocator_note`) and the CPUs this
  process may run on are added here.

The runtimes: PyTorch eager mode (:mod:`.eager`: threads, ``inference_mode``, CUDA
synchronisation, the per-layer forward wrappers of :mod:`.layer_timer`) and ONNX Runtime
(:mod:`.onnx_runtime`; ``dtype="int8"``: the export quantized by ORT's tools, :mod:`.ort_int8`,
which with ``options.compare`` also times the float32 export, interleaved, returned by its
``baseline()`` and kept as :attr:`ProfileResult.baseline`). The options
(:mod:`mncost.measure.profile_options`) and results (:mod:`mncost.measure.profile_results`) are
torch-free.
"""

from __future__ import annotations

from dataclasses import replace

from ..measure.profile_options import ProfileOptions
from ..measure.profile_results import ProfileResult, allocator_note
from ..measure.threads import available_cpus
from ..measure.timing import ProgressFn, malloc_env, steady_malloc
from ..network.layers import Network
from .runners import runner_for

__all__ = ["profile_network"]


def profile_network(network: Network, options: ProfileOptions = ProfileOptions(),
                    progress: ProgressFn | None = None) -> ProfileResult:
    """Measure ``network``'s latency under ``options`` (module docstring: how).

    Args:
        network: resolved layers (:func:`mncost.resolve_model`).
        options: what to measure and how.
        progress: ``progress(phase, fraction, runs)`` between runs (outside timed intervals);
            phases ``"first run"``, ``"warm-up"``, ``"end-to-end"``, ``"per-layer"``.

    Raises:
        InputError: bad options, an unknown runtime or options it refuses, no such device, a
            dtype the device does not run, a batch that does not fit in memory, compile not
            working here (all exit 2 on the CLI).
    """
    options.check()
    runner_class = runner_for(options.runtime, options.dtype)
    malloc = steady_malloc(options.steady_malloc)
    faults: list[int] = []
    with runner_class(network, options) as runner:
        if progress is not None:
            progress("first run", 0.0, 0)
        runner.first_run()
        if progress is not None:
            progress("first run", 1.0, 1)
        plain = runner.timed(options.warmup, options.repeats, min_time_s=options.min_time_s,
                             progress=progress, faults=faults)
        per_layer = runner.layer_runs(options.warmup, options.repeats,
                                      min_time_s=options.min_time_s, progress=progress) \
            if options.per_layer else None
        baseline = runner.baseline() if options.compare is not None else None
        environment = runner.describe()
    environment["malloc"] = malloc
    environment["malloc_env"] = malloc_env()
    environment["malloc_note"] = allocator_note(malloc, environment["malloc_env"])
    environment["cpus_available"] = available_cpus()
    result = ProfileResult.measured(network, options, environment, plain, faults, per_layer)
    if baseline is not None:
        dtype, plain_ns, layers = baseline
        result = result.with_baseline(ProfileResult.measured(
            network, replace(options, dtype=dtype, compare=None, per_channel=False),
            {**environment, "dtype": dtype}, plain_ns, [], layers))
    return result
