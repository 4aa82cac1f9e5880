"""``mncost profile``: measured latency beside the analytic MACs (torch, imported on use).

The command parses options, calls :func:`mncost.torch_backend.profile.profile_network` and
renders its plain data (:meth:`ProfileResult.to_dict`) with :mod:`mncost.render.profile`.
This module never imports torch at import time, so ``mncost --help`` stays torch-free.
"""

from __future__ import annotations

import click

from ..costs.roofline import join_profile
from ..errors import InputError, MissingDependency
from ..files.outputfile import OutputPath, check_outputs
from ..measure.profile_options import COMPARE_DTYPES, DTYPE_NAMES, QUANTIZED_DTYPES, RUNTIMES
from ..measure.threads import available_cpus, thread_warning
from ..network.catalog import resolve_model
from ..render import FORMATS
from ..render import profile as view
from ..render.output import emit
from ..render.text import visible
from .common import (
    BATCH,
    DEVICE,
    DEVICE_METAVAR,
    MIN_TIME,
    RUNS,
    THREADS,
    WARMUP,
    format_from_output,
    format_option,
    network_options,
    output_option,
    output_path_option,
)
from .memory import device_from, roofline_options
from .progress import ProgressDisplay

DTYPE_CHOICES = DTYPE_NAMES + QUANTIZED_DTYPES


def warn_if_threads_compete(device: str, threads: int) -> None:
    """One warning line on stderr, before measuring, when the CPU threads leave no core free
    (:func:`mncost.measure.threads.thread_warning`); on a GPU the thread count matters little."""
    if device == "cpu":
        message = thread_warning(threads, available_cpus())
        if message is not None:
            click.echo("mncost: warning: " + message, err=True)


def warn_if_unstable(reason: str | None, environment: dict) -> None:
    """One warning line on stderr when a measurement's spread says it is not to be trusted."""
    if reason is not None:
        from ..measure.timing import instability_advice

        click.echo("mncost: warning: " + instability_advice(
            reason, environment.get("threads"), environment.get("cpu_count")), err=True)


@click.command()
@click.argument("model")
@network_options
@click.option("--device", "-d", type=DEVICE, default="cpu", show_default=True,
              metavar=DEVICE_METAVAR, help="Device to run on.")
@click.option("--batch", "-b", type=BATCH, default=1, show_default=True,
              help="Images per forward pass.")
@click.option("--threads", "-t", type=THREADS, default=1, show_default=True,
              help="CPU threads (torch.set_num_threads; ONNX Runtime's intra-op threads). 1 "
                   "gives the steadiest timings: with as many threads as cores another "
                   "process makes the runs bimodal (a warning says so). Reported, and "
                   "restored afterwards.")
@click.option("--dtype", type=click.Choice(DTYPE_CHOICES), default="float32",
              show_default=True,
              help="Weights and input dtype, where the device runs it. int8 (--runtime "
                   "onnxruntime only): ONNX Runtime's static QDQ quantization, signed int8 "
                   "activations and weights, calibrated on 8 random inputs (latency does not "
                   "depend on the values); says per layer what ran int8.")
@click.option("--per-channel", is_flag=True,
              help="With --dtype int8: one weight scale per output channel (default: per "
                   "tensor).")
@click.option("--compare", type=click.Choice(COMPARE_DTYPES), default=None,
              help="With --dtype int8: also time the float32 model, runs interleaved, and "
                   "show the speed-up end to end, by layer kind and (--per-layer) per layer.")
@click.option("--warmup", type=WARMUP, default=10, show_default=True,
              help="Untimed runs before timing.")
@click.option("--repeats", "-n", type=RUNS, default=30, show_default=True,
              help="At least this many timed runs...")
@click.option("--min-time", "min_time_s", type=MIN_TIME, default=1.0,
              show_default=True, metavar="S", help="...and at least S seconds of timed runs.")
@click.option("--per-layer", is_flag=True,
              help="Also time every layer (separate runs): MAC share vs time share per layer "
                   "and per layer kind.")
@click.option("--channels-last", is_flag=True, help="NHWC memory format (input and weights).")
@click.option("--fuse-bn", is_flag=True,
              help="Fold batch norm into the preceding conv, as inference deployments do.")
@click.option("--compile", "compile_", is_flag=True,
              help="Run through torch.compile (the first run compiles; not with --per-layer).")
@click.option("--steady-malloc/--no-steady-malloc", default=True, show_default=True,
              help="Keep freed memory mapped (glibc mallopt: mmap threshold 64 MiB, trim "
                   "threshold 128 MiB) so runs do not pay page faults; recorded in the "
                   "environment. A no-op, noted, on other C libraries.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="eager",
              show_default=True, help="eager: PyTorch eager mode; onnxruntime: export to ONNX "
                                      "and time it in ONNX Runtime (extra 'onnx'), per layer "
                                      "too.")
@roofline_options
@output_path_option("--plot", "plot_file", metavar="FILE.png", fmt="png",
                    help="With --per-layer and a roofline: write the log-log roofline plot "
                         "(matplotlib).")
@format_option(FORMATS)
@output_option
@format_from_output
def profile(model: str, alpha: float | None, depth: float | None,
            resolution: str | None, classes: int | None,
            device: str, batch: int, threads: int, dtype: str, per_channel: bool,
            compare: str | None, warmup: int,
            repeats: int, min_time_s: float, per_layer: bool, channels_last: bool,
            fuse_bn: bool, compile_: bool, steady_malloc: bool, runtime: str,
            device_file: str | None, peak_gmacs: float | None,
            bandwidth_gbs: float | None, plot_file: OutputPath | None, fmt: str,
            output: OutputPath | None) -> None:
    """Measure the latency of MODEL on this machine, end to end and (--per-layer) per layer,
    beside its analytic MACs.

    \b
    Examples:
      mncost profile v1
      mncost profile v2 --per-layer --alpha 0.5 --res 160
      mncost profile v3-large --device cuda --batch 32 --dtype float16 --format json -o v3.json

    Timed under torch.inference_mode() after warm-up runs; each run is timed alone with
    perf_counter_ns (after torch.cuda.synchronize on CUDA). Reports the quiet estimate (p5 of
    the timed runs: contention only adds time) beside the median under the run's conditions.
    Progress goes to stderr.
    """
    check_outputs(("--output", output), ("--plot", plot_file))
    network = resolve_model(model, alpha, resolution, classes, depth)
    roof = device_from(device_file, peak_gmacs, bandwidth_gbs)
    if roof is not None and not per_layer:
        raise InputError("--roofline / --peak-gmacs need --per-layer (measured time per layer)")
    if roof is not None and fmt == "csv":   # refused before minutes of measuring
        raise InputError("-f csv holds the timings, not the roofline: use -f json, markdown "
                         "or table with --roofline / --peak-gmacs")
    if plot_file is not None and roof is None:
        raise InputError("--plot needs a roofline (--roofline FILE or --peak-gmacs and "
                         "--bandwidth-gbs) and --per-layer")
    if plot_file is not None:
        from ..render.sweep import require_matplotlib

        require_matplotlib()                  # before minutes of measuring, not after
    try:
        from ..torch_backend.profile import ProfileOptions, profile_network
    except ImportError:
        raise MissingDependency("torch", "torch") from None
    options = ProfileOptions(device=device, threads=threads, batch=batch, dtype=dtype,
                             warmup=warmup, repeats=repeats, min_time_s=min_time_s,
                             per_layer=per_layer, channels_last=channels_last,
                             fuse_bn=fuse_bn, compile=compile_, steady_malloc=steady_malloc,
                             runtime=runtime, per_channel=per_channel, compare=compare)
    warn_if_threads_compete(device, threads)
    with ProgressDisplay() as progress:
        result = profile_network(network, options, progress=progress)
    warn_if_unstable(result.unstable, result.environment)
    data = result.to_dict(model)
    if roof is not None:
        data = join_profile(data, network, roof)
        if plot_file is not None:
            from ..render.roofline_plot import roofline_plot
            roofline_plot(data, plot_file)
            if plot_file.is_file:
                click.echo(visible(f"wrote {plot_file}"), err=True)
    emit(view.render(fmt, data), output)
