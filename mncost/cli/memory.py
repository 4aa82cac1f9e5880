"""``mncost memory`` (analytic, no torch unless --measure) and ``mncost roofline-measure``."""

from __future__ import annotations

import click

from .. import render
from ..costs.int8 import INT8_HELP
from ..costs.memory import (
    DEFAULT_DTYPE,
    DEFAULT_SPLIT,
    DTYPE_BYTES,
    check_per_channel,
    memory_report,
)
from ..costs.memory_document import attach_measured, memory_dict
from ..costs.roofline import Device, load_device, make_device
from ..costs.table3 import TENSOR_SETS
from ..errors import InputError, MissingDependency
from ..network.catalog import resolve_model
from ..render import memory as view
from ..render.output import emit
from .common import (
    DEVICE,
    DEVICE_METAVAR,
    RUNS,
    THREADS,
    Count,
    deprecated_option,
    format_from_output,
    format_option,
    merge_deprecated,
    network_options,
    output_option,
    output_path_option,
)


def dtype_option(f):
    return click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default=DEFAULT_DTYPE,
                        show_default=True,
                        help="Element type of activations and weights (4, 2, 1 bytes); "
                             f"{INT8_HELP} (docs/memory.md).")(f)


def per_channel_option(f):
    return click.option("--per-channel", is_flag=True,
                        help="int8 weights quantized per output channel (a scale and a zero "
                             "point each), not per tensor.")(f)


def roofline_options(f):
    f = click.option("--bandwidth-gbs", type=float, default=None, metavar="GB/S",
                     help="Memory bandwidth, 1e9 bytes/s (with --peak-gmacs).")(f)
    f = click.option("--peak-gmacs", type=float, default=None, metavar="GMAC/S",
                     help="Peak MAC rate, 1e9 MAC/s (with --bandwidth-gbs).")(f)
    f = click.option("--roofline", "device_file", default=None, metavar="FILE",
                     help="Roofline file (mncost roofline-measure -o FILE): per layer time "
                          "bound, compute- or memory-bound.")(f)
    return f


def device_from(device_file: str | None, peak_gmacs: float | None,
                bandwidth_gbs: float | None) -> Device | None:
    """The roofline the user gave: a device file, or both numbers, or none."""
    if device_file is not None:
        if peak_gmacs is not None or bandwidth_gbs is not None:
            raise InputError("give either --roofline FILE or --peak-gmacs and "
                             "--bandwidth-gbs, not both")
        return load_device(device_file)
    if (peak_gmacs is None) != (bandwidth_gbs is None):
        raise InputError("--peak-gmacs and --bandwidth-gbs go together")
    if peak_gmacs is None:
        return None
    return make_device(peak_gmacs, bandwidth_gbs)


@click.command()
@click.argument("model")
@network_options
@dtype_option
@per_channel_option
@click.option("--split", type=Count(min=1, max=1_000_000), default=DEFAULT_SPLIT,
              show_default=True,
              help="Pieces the streamed schedule cuts each expanded tensor into.")
@click.option("--per-layer", is_flag=True, help="Add the per-layer table.")
@click.option("--per-resolution", type=click.Choice(list(TENSOR_SETS)), default=None,
              help="Add the max channels / memory at each spatial size under this tensor "
                   "set, and for v1 / v2 the v2 paper's Table 3 beside every tensor set.")
@roofline_options
@click.option("--measure", is_flag=True,
              help="Also measure the built model's peak live tensor memory with torch.")
@click.option("--device", "measure_device", type=DEVICE, default="cpu", show_default=True,
              metavar=DEVICE_METAVAR,
              help="Where --measure runs (CUDA: torch.cuda.max_memory_allocated).")
@deprecated_option("--measure-device", "old_measure_device", type=DEVICE)
@format_option(render.FORMATS)
@output_option
@format_from_output
def memory(model: str, alpha: float | None, depth: float | None,
           resolution: str | None, classes: int | None,
           dtype: str, per_channel: bool, split: int, per_layer: bool, per_resolution: str | None,
           device_file: str | None, peak_gmacs: float | None,
           bandwidth_gbs: float | None, measure: bool, measure_device: str | None,
           old_measure_device: str | None, fmt: str, output: str | None) -> None:
    """Activation memory, bytes moved, arithmetic intensity and the roofline of MODEL.

    \b
    Examples:
      mncost memory v2 --dtype float16 --per-resolution block-io
      mncost memory v1 --per-layer --roofline device.json
      mncost memory v3-large --measure -f json

    Peaks under both schedules (naive, streamed; docs/memory.md "Memory and the roofline"); bytes
    moved is the compulsory traffic. Without --measure no torch is imported.
    """
    given = click.get_current_context().get_parameter_source("measure_device")
    measure_device = merge_deprecated(
        measure_device if given is click.core.ParameterSource.COMMANDLINE else None,
        old_measure_device, "--device", "--measure-device") or measure_device
    if fmt == "csv" and (per_resolution or measure):
        raise InputError(f"-f csv holds the {'per-layer' if per_layer else 'by-kind'} table, "
                         f"not {'--per-resolution' if per_resolution else '--measure'}: use "
                         "-f json, markdown or table for it")
    check_per_channel(dtype, per_channel)
    network = resolve_model(model, alpha, resolution, classes, depth)
    device = device_from(device_file, peak_gmacs, bandwidth_gbs)
    report = memory_report(network, dtype, split, per_channel)
    data = memory_dict(report, model, device, per_resolution)
    if measure:
        try:
            from ..torch_backend.memory import measured_dict
        except ImportError:
            raise MissingDependency("torch", "torch") from None
        data = attach_measured(data, measured_dict(network, dtype, report, measure_device))
    emit(view.render(fmt, data, per_layer), output)


@click.command("roofline-measure")
@click.option("--threads", "-t", type=THREADS, default=1, show_default=True,
              help="CPU threads for both benchmarks (use profile's --threads to compare).")
@click.option("--dtype", type=click.Choice(["float32", "int8"]), default="float32",
              show_default=True,
              help="GEMM element type: int8 runs ONNX Runtime's integer GEMM (MatMulInteger, "
                   "VNNI where present; needs the onnx extra), for memory --dtype int8.")
@click.option("--size", type=Count(min=64, max=8192), default=1024, show_default=True,
              help="GEMM size N (N x N times N x N).")
@click.option("--copy-mib", type=Count(min=1, max=4096), default=256, show_default=True,
              help="Size of the copied buffer in MiB (well above the caches).")
@click.option("--repeats", "-n", type=RUNS, default=50, show_default=True)
@output_path_option("--output", "-o", fmt="json",
                    help="Write the roofline file (JSON, for --roofline) to FILE (whole or not "
                         "at all) instead of stdout; - is stdout.")
def roofline_measure(threads: int, dtype: str, size: int, copy_mib: int, repeats: int,
                     output: str | None) -> None:
    """Measure this CPU's roofline (torch): peak GMAC/s from a float32 GEMM (--dtype int8:
    ONNX Runtime's int8 GEMM) and bandwidth from a large copy, both with --threads threads;
    best of --repeats. Writes a device file for --roofline (JSON)."""
    try:
        from ..torch_backend.roofline import measure_device
    except ImportError:
        raise MissingDependency("torch", "torch") from None
    device = measure_device(threads=threads, size=size, copy_mib=copy_mib, repeats=repeats,
                            dtype=dtype)
    click.echo(f"peak {device.peak_gmacs:.1f} {'int8 ' if dtype == 'int8' else ''}GMAC/s, "
               f"bandwidth {device.bandwidth_gbs:.1f} "
               f"GB/s, ridge {device.ridge:.2f} MAC/B ({threads} thread(s))", err=True)
    emit(render.to_json(device.to_dict()), output)
