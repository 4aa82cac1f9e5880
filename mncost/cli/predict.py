"""``mncost predict`` (no torch: a dot product with a device profile) and ``mncost calibrate``
(torch, imported on use: measures this machine and writes the device profile)."""

from __future__ import annotations

from typing import Any

import click

from ..errors import InputError, MissingDependency
from ..files.outputfile import OutputPath
from ..latency.device_profile import load_device
from ..latency.model import PRECISIONS as CALIBRATION_DTYPES
from ..measure.profile_options import RUNTIMES
from ..network.catalog import resolve_model
from ..render import FORMATS
from ..render import evaluation as evaluation_view
from ..render import predict as view
from ..render.evaluation import EVALUATION_FORMATS
from ..render.output import emit
from ..render.text import visible
from .common import (
    BUDGET_SECONDS,
    THREADS,
    check_fixed_format,
    checked_path,
    device_profile_option,
    format_from_output,
    format_option,
    given_flags,
    is_device_name,
    merge_deprecated,
    network_options,
    output_option,
)
from .progress import LineProgress

#: Default seconds of measuring for ``calibrate``, and with ``--evaluate`` (its held-out
#: configurations, 42 more than the calibration's 63, share the same rounds).
BUDGET_S, EVALUATE_BUDGET_S = 180.0, 300.0
#: Default seconds of measuring for ``calibrate --refresh``.
REFRESH_BUDGET_S = 15.0


def warn(lines: list[str]) -> None:
    for line in lines:
        click.echo(f"mncost: warning: {visible(line)}", err=True)


def _old_device_file(value: str) -> None:
    """``predict --device FILE`` (the old spelling of ``--device-profile FILE``): a value that
    is a device name (cpu, cuda, cuda:N) is what ``--device`` means everywhere else, which
    ``predict`` has no use for: refused. Any other value is the old spelling's file."""
    if is_device_name(value):
        raise click.UsageError(f"predict takes no --device {value}: it predicts for the "
                               "device its profile was calibrated on; give the profile as "
                               "--device-profile FILE")


@click.command()
@click.argument("model")
@network_options
@device_profile_option("Device profile written by `mncost calibrate` (or give "
                       "--published-device).",
                       old="--device", check=_old_device_file)
@click.option("--published-device", "published_device", default=None, metavar="NAME",
              help="Predict on a published device instead (pixel1): the profile `calibrate "
                   "--from-published NAME` writes, built from the papers' figures.")
@click.option("--per-layer", is_flag=True, help="Tables: also one row per layer (JSON and CSV "
                                                "always have them).")
@format_option(FORMATS)
@output_option
@format_from_output
def predict(model: str, alpha: float | None, depth: float | None,
            resolution: str | None, classes: int | None, device_profile: str | None,
            old_device_profile: str | None, published_device: str | None, per_layer: bool,
            fmt: str, output: str | None) -> None:
    """Predicted latency of MODEL on a calibrated device: end to end, by kind, by stage and
    per layer. No torch, no measurement: the device profile's fitted model.

    \b
    Examples:
      mncost calibrate -o laptop.json --threads 1
      mncost predict v2 --alpha 0.6 --res 176 --device-profile laptop.json
      mncost predict my_net.yaml --device-profile laptop.json -f json
    """
    from ..latency.predict import predict_network

    device_file = merge_deprecated(device_profile, old_device_profile,
                                   "--device-profile FILE", "--device FILE")
    if device_file is not None and published_device is not None:
        raise click.UsageError("give --device-profile FILE or --published-device NAME, not "
                               "both")
    if published_device is not None:
        from ..zoo.published_fit import published_profile

        device = published_profile(published_device)
    elif device_file is None:
        raise click.UsageError("give --device-profile FILE (written by `mncost calibrate`) "
                               "or --published-device NAME")
    else:
        device = load_device(device_file)
    network = resolve_model(model, alpha, resolution, classes, depth)
    result = predict_network(model, network, device)
    warn(list(result.warnings))
    emit(view.render(fmt, result.to_dict(), per_layer), output)


@click.command()
@click.option("--output", "-o", required=True, callback=checked_path,
              metavar="PROFILE.json", help="Where to write the device profile (whole, at the "
                                          "end; Ctrl-C writes nothing).")
@click.option("--from-published", "from_published", default=None, metavar="DEVICE",
              help="Measure nothing: fit the profile on the latencies the papers publish for "
                   "DEVICE (pixel1), choosing the model by leave-one-out error.")
@click.option("--threads", "-t", type=THREADS, default=1, show_default=True,
              help="Threads to calibrate (and so to predict) for; fewer than idle cores.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="eager", show_default=True,
              help="eager: PyTorch eager; onnxruntime: the exported model in ONNX Runtime "
                   "(extra 'onnx').")
@click.option("--dtype", type=click.Choice(CALIBRATION_DTYPES), default="float32",
              show_default=True,
              help="int8: each network quantized by ONNX Runtime's own tools (QDQ, static, "
                   "signed int8; needs --runtime onnxruntime), and the profile predicts int8 "
                   "latency, pricing the layers ORT leaves float32 apart.")
@click.option("--per-channel", "per_channel", is_flag=True,
              help="With --dtype int8: weight scales per output channel (per tensor by "
                   "default).")
@click.option("--budget-s", "budget_s", type=BUDGET_SECONDS,
              default=None, metavar="S",
              help=f"Seconds of measuring (default {BUDGET_S:g}; {EVALUATE_BUDGET_S:g} with "
                   "--evaluate, whose held-out configurations share the rounds), counted "
                   "once the networks are built; at least 3 rounds are always done.")
@click.option("--steady-malloc/--no-steady-malloc", default=True, show_default=True,
              help="Keep freed memory mapped (glibc mallopt), as `profile` does.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the interleaved measuring order.")
@click.option("--allow-unstable", is_flag=True,
              help="Fit even when most measurements are unstable (a busy machine); the "
                   "profile is marked so and `predict` warns.")
@click.option("--statistic", type=click.Choice(("quiet", "median")), default="quiet",
              show_default=True,
              help="What to fit: quiet = the 5th percentile of each configuration's runs (the "
                   "latency when nothing competes: contention only adds time); median = the "
                   "median under the conditions of the run.")
@click.option("--refit", "refit_file", default=None, metavar="PROFILE.json",
              help="Measure nothing: fit again the measurements a profile (or a refused "
                   "calibration's PROFILE.measurements.json) keeps, e.g. with another "
                   "--statistic or --allow-unstable.")
@click.option("--refresh", "refresh_file", default=None, metavar="PROFILE.json",
              help=f"Re-check in seconds: re-measure 8 of PROFILE's own calibration "
                   f"configurations (--budget-s, default {REFRESH_BUDGET_S:g}) and scale its "
                   "model by how much faster or slower this machine runs now (a CI runner "
                   "whose speed changes from job to job).")
@click.option("--evaluate", is_flag=True,
              help="Also measure, in the same rounds, configurations the fit never sees "
                   "(alpha and resolution off its grid, other built-ins, user specs), and "
                   "print their prediction error, and that of latency ∝ MACs, on stdout.")
@format_option(EVALUATION_FORMATS, help="Format of the --evaluate report (json: the "
                                        "profile's evaluation section).")
def calibrate(output: OutputPath, from_published: str | None, threads: int, runtime: str,
              dtype: str, per_channel: bool,
              budget_s: float | None, steady_malloc: bool, seed: int, allow_unstable: bool,
              statistic: str, refit_file: str | None, refresh_file: str | None,
              evaluate: bool, fmt: str) -> None:
    """Measure a calibration set on this machine and write a device profile for `predict`,
    `sweep` and `check` (--device-profile FILE; budgets on max_predicted_latency_ms).

    \b
    Examples:
      mncost calibrate -o laptop.json --threads 1
      mncost calibrate -o laptop-ort.json --runtime onnxruntime --budget-s 300
      mncost calibrate -o laptop-int8.json --runtime onnxruntime --dtype int8
      mncost calibrate -o laptop.json --evaluate -f markdown > evaluation.md
      mncost calibrate --from-published pixel1 -o pixel1.json
      mncost calibrate --refit laptop.json --statistic median -o laptop-median.json
      mncost calibrate --refresh laptop.json -o laptop-now.json

    Progress goes to stderr. The profile holds the environment, the fitted coefficients, every
    configuration's measured and predicted time and the residuals (and, with --evaluate, the
    held-out evaluation), the noise it saw (median / quiet), and the raw measurements.

    On a busy machine: the fit reads the quiet estimate, which contention moves little. A
    configuration is unstable when its quiet estimate moves by more than 15% between
    alternate rounds; with more than half unstable (or projected to stay so: the measuring
    then stops early) calibrate refuses, exit 2, and keeps what it measured in
    PROFILE.measurements.json for --refit.
    """
    check_fixed_format(output.given, "json", "-o")   # the profile is JSON whatever -f says
    if from_published is not None:
        calibrate_published(from_published, output)
        return
    if refit_file is not None and refresh_file is not None:
        raise click.UsageError("give --refit or --refresh, not both")
    if refit_file is not None:
        refit_profile(refit_file, output, allow_unstable, statistic, evaluate, fmt)
        return
    if refresh_file is not None:
        refresh_profile(refresh_file, output, budget_s, steady_malloc, seed)
        return
    check_format_use(evaluate)
    try:
        from ..torch_backend.calibrate import calibrate as run
    except ImportError:
        raise MissingDependency("torch", "torch") from None
    from ..files.outputfile import write_atomic
    from ..latency.calibration import CalibrationRefused
    from ..measure.threads import available_cpus, thread_warning
    from ..render.text import to_json

    if (line := thread_warning(threads, available_cpus())) is not None:
        warn([line])
    if budget_s is None:
        budget_s = EVALUATE_BUDGET_S if evaluate else BUDGET_S
    try:
        with LineProgress() as progress:   # rounds as a bar on a terminal, sparse lines in a log
            doc = run(runtime=runtime, threads=threads, budget_s=budget_s,
                      steady=steady_malloc, progress=progress, seed=seed,
                      allow_unstable=allow_unstable, evaluate=evaluate, statistic=statistic,
                      dtype=dtype, per_channel=per_channel)
    except CalibrationRefused as refused:
        keep_measurements(refused, output)
    write_atomic(output, to_json(doc))
    report(output, doc, evaluate, fmt)


def report(output: OutputPath, doc: dict, evaluate: bool, fmt: str) -> None:
    """The one summary line on stderr, and the ``--evaluate`` report on stdout."""
    train, base = doc["fit"]["training_error"], doc["fit"]["macs_baseline_error"]
    measurement = doc["measurement"]
    noise = measurement["noise"]["median_over_quiet"]
    click.echo(f"wrote {visible(str(output))}: {len(doc['training'])} configurations, "
               f"{measurement['rounds']} rounds, {measurement['unstable']} unstable, fitted "
               f"on the {measurement['statistic']} (median / quiet: {noise['median']:.2f}, p90 "
               f"{noise['p90']:.2f}); training error: {train['within_10pct']:.0%} within "
               f"±10%, median {train['median_abs_error']:.1%} (latency ∝ MACs: "
               f"{base['within_10pct']:.0%}, {base['median_abs_error']:.1%})"
               f"{uncached_note(doc['fit'].get('uncached_weights'))}", err=True)
    if evaluate:
        emit(evaluation_view.render(fmt, doc["evaluation"]), None)


def uncached_note(choice: Any) -> str:
    """The summary line's clause for the uncached-weights term a calibration kept
    (:class:`mncost.latency.model.CacheChoice`): nothing when it kept none."""
    if not isinstance(choice, dict) or not choice.get("cache_bytes"):
        return ""
    return (f"; weights re-read from memory beyond a {choice['cache_bytes'] / 2 ** 20:.1f} MiB "
            f"run footprint (training error RMS {choice['training_rms_without']:.1%} -> "
            f"{choice['training_rms']:.1%})")


def measurements_path(output: OutputPath) -> str | None:
    """Where a refused calibration keeps its measurements: ``PROFILE.measurements.json``
    beside the profile (``None`` when the profile goes to a stream)."""
    import os

    if not output.is_file:
        return None
    base, ext = os.path.splitext(output.given)
    return f"{base}.measurements{ext or '.json'}"


def keep_measurements(refused: Any, output: OutputPath) -> None:
    """Write what a refused calibration measured (whole, beside the profile, or to the
    profile's stream), then fail with the refusal and the refit that needs no measuring."""
    from ..files.outputfile import check_output, write_atomic
    from ..render.text import to_json

    path = measurements_path(output)
    target = check_output(path, "-o") if path is not None else output
    write_atomic(target, to_json(refused.measurements))
    shown = visible(path if path is not None else str(output))
    raise InputError(f"{refused}; the measurements are kept in {shown}: `mncost calibrate "
                     f"--refit {shown} --allow-unstable -o {visible(str(output))}` fits them "
                     "without measuring again")


def refresh_profile(path: str, output: OutputPath, budget_s: float | None, steady: bool,
                    seed: int) -> None:
    """``calibrate --refresh FILE``: re-measure a few configurations, rescale the model."""
    given = given_flags(MEASURING_OPTIONS, ("budget_s", "steady_malloc", "seed", "refresh_file"))
    if given:
        raise click.UsageError(f"--refresh re-measures with the profile's own runtime, dtype "
                               f"and threads: {', '.join(given)} does not apply")
    try:
        from ..torch_backend.calibrate import refresh
    except ImportError:
        raise MissingDependency("torch", "torch") from None
    from ..files.outputfile import write_atomic
    from ..latency.calibration import REFRESH_MIN_CHANGE
    from ..render.text import to_json

    profile = load_device(path)
    with LineProgress() as progress:
        out = refresh(profile, budget_s or REFRESH_BUDGET_S, progress, steady, seed)
    write_atomic(output, to_json(out))
    r = out["measurement"]["refresh"]
    verdict = ("the model is scaled by it" if r["applied"] else
               f"within the host's drift (under {REFRESH_MIN_CHANGE:.0%}, or not every "
               "configuration agreeing): the model is the calibration's")
    click.echo(f"wrote {visible(str(output))}: the machine runs {r['factor']:.3f}x the time of "
               f"the calibration of {out['created']} (median of {len(r['configurations'])} "
               f"configurations, {r['ratios']['min']:.3f}-{r['ratios']['max']:.3f}); {verdict}",
               err=True)


def refit_profile(path: str, output: OutputPath, allow_unstable: bool, statistic: str,
                  evaluate: bool, fmt: str) -> None:
    """``calibrate --refit FILE``: fit the measurements FILE keeps (no torch, no measuring)."""
    given = given_flags(MEASURING_OPTIONS, ("allow_unstable", "evaluate", "fmt", "statistic",
                                            "refit_file", "refresh_file"))
    if given:
        raise click.UsageError(f"--refit measures nothing: {', '.join(given)} does not apply")
    from ..files.outputfile import write_atomic
    from ..latency.calibration import refit
    from ..latency.device_profile import read_profile
    from ..render.text import to_json

    with LineProgress() as progress:
        profile = refit(read_profile(path), path, progress, allow_unstable, statistic)
    out = profile.to_dict()
    if evaluate and "evaluation" not in out:
        raise InputError(f"{path}: --evaluate needs held-out measurements; this calibration "
                         "ran without --evaluate")
    write_atomic(output, to_json(out))
    report(output, out, evaluate, fmt)


def check_format_use(evaluate: bool) -> None:
    """``--format`` shapes the ``--evaluate`` report only: refused without it."""
    source = click.get_current_context().get_parameter_source("fmt")
    if not evaluate and source is click.core.ParameterSource.COMMANDLINE:
        raise InputError("--format applies to the --evaluate report; the device profile is "
                         "always JSON")


#: Options of ``calibrate`` that measure: meaningless with ``--from-published``.
MEASURING_OPTIONS = {"threads": "--threads", "runtime": "--runtime", "dtype": "--dtype",
                     "per_channel": "--per-channel", "budget_s": "--budget-s",
                     "steady_malloc": "--steady-malloc", "seed": "--seed",
                     "allow_unstable": "--allow-unstable", "evaluate": "--evaluate",
                     "fmt": "--format", "statistic": "--statistic", "refit_file": "--refit",
                     "refresh_file": "--refresh"}


def calibrate_published(device: str, output: OutputPath) -> None:
    """``calibrate --from-published DEVICE``: the analytic fit of
    :mod:`mncost.zoo.published_fit` (no torch, no measuring), written as a device profile."""
    given = given_flags(MEASURING_OPTIONS)
    if given:
        raise click.UsageError(f"--from-published measures nothing: {', '.join(given)} "
                               "does not apply")
    from ..files.outputfile import write_atomic
    from ..render.text import to_json
    from ..zoo.published_fit import fit_published

    result = fit_published(device)
    doc = result.profile.to_dict()
    write_atomic(output, to_json(doc))
    cands = result.candidates
    chosen = cands[result.chosen]

    def figures(name: str) -> str:
        loo = cands[name]["leave_one_out"]
        out = cands[name]["leave_one_source_out"]
        return (f"{loo['within_10pct']:.0%} within ±10% leave-one-out (median "
                f"{loo['median_abs_error']:.1%}), {out['within_10pct']:.0%} "
                "leave-one-source-out")

    click.echo(f"wrote {visible(str(output))}: {result.chosen} ({chosen['description']}) "
               f"fitted on {len(result.points)} published figures of "
               f"{doc['environment']['device_name']}: {figures(result.chosen)}; latency ∝ "
               f"MACs: {figures('macs')}", err=True)
