"""``mncost predict`` (no torch: a dot product with a device profile) and ``mncost calibrate``
(torch, imported on use: measures this machine and writes the device profile)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import InputError, MissingDependency
from ..device_profile import RUNTIMES, load_device
from ..catalog import resolve_model
from ..render import FORMATS
from ..render import predict as view
from ..render.output import emit
from .common import format_option, network_options, output_option


def warn(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"mncost: warning: {line}", err=True)


def device_option(required: bool = True):
    return click.option("--device", "device_file", required=required, metavar="DEVICE.json",
                        type=click.Path(dir_okay=False),
                        help="Device profile written by `mncost calibrate`.")


@click.command()
@click.argument("model")
@network_options
@device_option()
@click.option("--per-layer", is_flag=True, help="Tables: also one row per layer (JSON and CSV "
                                                "always have them).")
@format_option(FORMATS)
@output_option
def predict(model: str, alpha: float | None, depth: float | None,
            resolution: str | None, classes: int | None, device_file: str, per_layer: bool,
            fmt: str, output: str | None) -> None:
    """Predicted latency of MODEL on a calibrated device: end to end, by kind, by stage and
    per layer. No torch, no measurement: the device profile's fitted model.

    \b
    Examples:
      mncost calibrate -o laptop.json --threads 1
      mncost predict v2 --alpha 0.6 --res 176 --device laptop.json
      mncost predict my_net.yaml --device laptop.json -f json
    """
    from ..predict import predict_network

    device = load_device(device_file)
    network = resolve_model(model, alpha, resolution, classes, depth)
    data = predict_network(model, network, device)
    warn(data["warnings"])
    emit(view.render(fmt, data, per_layer), output)


def check_writable(output: str) -> None:
    """Refuse, before minutes of measuring, an output that cannot be written."""
    path = Path(output)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"cannot write {output}: it is a directory")
    if not parent.is_dir():
        raise InputError(f"cannot write {output}: no directory {parent}")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {output}: directory {parent} is not writable")


@click.command()
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              metavar="DEVICE.json", help="Where to write the device profile (whole, at the "
                                          "end; Ctrl-C writes nothing).")
@click.option("--threads", "-t", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads to calibrate (and so to predict) for; fewer than idle cores.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="eager", show_default=True,
              help="eager: PyTorch eager; onnxruntime: the exported model in ONNX Runtime "
                   "(extra 'onnx').")
@click.option("--budget-s", "budget_s", type=click.FloatRange(min=0, min_open=True),
              default=180.0, show_default=True, metavar="S",
              help="Seconds of measuring (at least 3 rounds are always done).")
@click.option("--steady-malloc/--no-steady-malloc", default=True, show_default=True,
              help="Keep freed memory mapped (glibc mallopt), as `profile` does.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the interleaved measuring order.")
@click.option("--allow-unstable", is_flag=True,
              help="Fit even when most measurements are unstable (a busy machine); the "
                   "profile is marked so and `predict` warns.")
def calibrate(output: str, threads: int, runtime: str, budget_s: float, steady_malloc: bool,
              seed: int, allow_unstable: bool) -> None:
    """Measure a calibration set on this machine and write a device profile for `predict`,
    `sweep --predict` and `check` (budgets on max_predicted_latency_ms).

    \b
    Examples:
      mncost calibrate -o laptop.json --threads 1
      mncost calibrate -o laptop-ort.json --runtime onnxruntime --budget-s 300

    Progress goes to stderr. The profile holds the environment, the fitted coefficients, every
    configuration's measured and predicted time and the residuals.
    """
    check_writable(output)
    try:
        from ..torch_backend.calibrate import calibrate as run
    except ImportError:
        raise MissingDependency("torch", "torch") from None
    from ..fileio import write_atomic
    from ..render.text import to_json

    doc = run(runtime=runtime, threads=threads, budget_s=budget_s, steady=steady_malloc,
              progress=lambda line: click.echo(f"mncost: {line}", err=True), seed=seed,
              allow_unstable=allow_unstable)
    write_atomic(output, to_json(doc))
    train, base = doc["fit"]["training_error"], doc["fit"]["macs_baseline_error"]
    click.echo(f"wrote {output}: {len(doc['training'])} configurations, "
               f"{doc['measurement']['rounds']} rounds, {doc['measurement']['unstable']} "
               f"unstable; training error: {train['within_10pct']:.0%} within ±10%, median "
               f"{train['median_abs_error']:.1%} (latency ∝ MACs: "
               f"{base['within_10pct']:.0%}, {base['median_abs_error']:.1%})", err=True)
