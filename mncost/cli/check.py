"""``mncost baseline write`` and ``mncost check``: CI regression reports (analytic; no torch
unless ``--latency``)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Sequence

import click

from ..check import baseline as core
from ..check.budgets import Budget, load_budgets
from ..check.results import CheckResult
from ..check.units import Tolerance
from ..costs.analytic import DEFAULT_PARAMS
from ..costs.analytic import analyze as analyze_network
from ..errors import CheckFailed, InputError
from ..files.outputfile import OutputPath, check_outputs, write_atomic
from ..network.catalog import BUILTINS, resolve_model
from ..network.layers import Network
from ..render import check as view
from ..render import to_json
from ..render.output import emit
from ..render.text import visible
from ..sweep.grid import parse_alphas, parse_depths, parse_resolutions
from .common import (
    check_latency_options,
    device_profile_option,
    grid_options,
    latency_options,
    merge_deprecated,
    output_path_option,
    params_option,
    profiler_options,
)

if TYPE_CHECKING:
    from ..latency.predict import BudgetPredictor


class LatencyMeter:
    """``meter(network) -> Latency`` (the quiet estimate and the median, ms) through the torch
    profiler (imported on first use); ``environment`` is the profiler's record of the last
    measurement."""

    def __init__(self, options: Any) -> None:
        self.options = options
        self.environment: dict[str, Any] = {}

    def __call__(self, network: Network) -> core.Latency:
        from ..torch_backend.profile import profile_network

        click.echo(visible(f"measuring {network.spec_name} alpha={network.alpha:g} "
                           f"res={network.resolution[0]}x{network.resolution[1]} ..."), err=True)
        result = profile_network(network, self.options)
        self.environment = dict(getattr(result, "environment", None) or {})
        stats = result.end_to_end
        return core.Latency(round(stats.quiet_ms, 4), round(stats.median_ms, 4))


def _latency_meter(latency: bool, device: str, threads: int | None, batch: int,
                   repeats: int | None, warmup: int | None, min_time: float | None
                   ) -> LatencyMeter | None:
    """The latency meter of ``--latency``'s options, or None without ``--latency``."""
    if not latency:
        return None
    return LatencyMeter(profiler_options(device, threads, batch, repeats, warmup, min_time))


def _latency_settings(measure: LatencyMeter, device: str, threads: int | None,
                      batch: int) -> dict[str, Any]:
    """What the latencies were measured with: the profiler's own record where there is one
    (``--threads`` left out still records the thread count used)."""
    from ..measure.timing import QUIET_STATISTIC  # only with --latency: ctypes stays out

    env = measure.environment
    return {"device": env.get("device", device), "threads": env.get("threads", threads),
            "batch": env.get("batch", batch),
            "note": f"ms per batch: the quiet estimate ({QUIET_STATISTIC} of the timed runs, "
                    "what check --latency compares) and the median; noisy, machine-dependent"}


def _warn_if_unlike(doc: dict[str, Any] | None, measure: LatencyMeter | None,
                    device: str, threads: int | None, batch: int) -> None:
    """Latency compared under other settings than the baseline's is not like for like."""
    recorded = (doc or {}).get("latency")
    if measure is None or not isinstance(recorded, dict):
        return
    now = _latency_settings(measure, device, threads, batch)
    differ = [f"{key} {recorded.get(key)} -> {now[key]}" for key in ("device", "threads",
                                                                      "batch")
              if recorded.get(key) is not None and now[key] is not None
              and recorded.get(key) != now[key]]
    if differ:
        click.echo(visible("mncost: warning: latency measured with other settings than the "
                           f"baseline's ({', '.join(differ)}): not like for like"), err=True)


@click.group()
def baseline() -> None:
    """Write the baseline that `mncost check` compares against."""


@baseline.command("write")
@click.argument("models", nargs=-1)
@grid_options(alpha_help="Width multipliers: 0.5,1.0 or start:stop:step (default: the spec's).",
              depth_help="Depth multipliers: 1.0,1.4 or start:stop:step (default: the spec's).",
              res_help="Resolutions: 160,224, 224x160 or start:stop:step (default: the "
                       "spec's).")
@params_option
@output_path_option("--output", "-o", default="mncost-baseline.json", fmt="json",
                    help="Baseline file (written whole or not at all; - is stdout).")
@latency_options
def write(models: tuple[str, ...], alphas: str | None, depths: str | None,
          resolutions: str | None, classes: int | None,
          params: str, output: OutputPath, latency: bool, device: str, threads: int | None,
          batch: int, repeats: int | None, warmup: int | None, min_time: float | None) -> None:
    """Record totals and per-layer counts of MODELS (default: every built-in) at each
    alpha x resolution x depth, for `mncost check`.

    \b
    Example:
      mncost baseline write v2 v3-large --alpha 0.75,1.0 -o mncost-baseline.json
    """
    check_latency_options(latency)
    models = models or tuple(BUILTINS)
    configs = itertools.product(models, parse_alphas(alphas) if alphas else (None,),
                                parse_resolutions(resolutions) if resolutions else (None,),
                                parse_depths(depths) if depths else (None,))
    measure = _latency_meter(latency, device, threads, batch, repeats, warmup, min_time)
    entries = core.write_entries(configs, classes, params, resolve_model, analyze_network,
                                 measure)
    doc = core.baseline_dict(entries, params, _latency_settings(measure, device, threads,
                                                                batch) if measure else None)
    write_atomic(output, to_json(doc))
    if output.is_file:
        click.echo(visible(f"wrote {output} ({len(entries)} configurations)"), err=True)


@click.command()
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Baseline written by `mncost baseline write`.")
@click.option("--tolerance", default="0", show_default=True, metavar="T",
              help="How far MACs, params and the memory metrics (peak_activation_bytes, "
                   "bytes_moved, when the baseline has them) may move: 0.5% (relative) or "
                   "1000 / 10k (absolute). The edge passes.")
@click.option("--budget", "budget_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Budgets YAML (max_macs, max_params, max_latency_ms, "
                                   "max_peak_activation_bytes, max_bytes_moved).")
@params_option(default=None, help="Parameter convention for budgets (default: the "
                                  f"baseline's, else {DEFAULT_PARAMS}).")
@output_path_option("--report-md", fmt="markdown",
                    help="Write the report as Markdown (append it to $GITHUB_STEP_SUMMARY "
                         "for a job summary).")
@output_path_option("--junit", fmt="xml",
                    help="Write the report as JUnit XML (one test case per configuration).")
@click.option("--latency-tolerance", default="10%", show_default=True, metavar="T",
              help="With --latency: how much slower than the baseline passes.")
@latency_options
@device_profile_option("Device profile (`mncost calibrate`) for budgets on "
                       "max_predicted_latency_ms: deterministic, no torch.", old="--predict")
def check(baseline_file: str | None, tolerance: str, budget_file: str | None,
          params: str | None, report_md: str | None, junit: str | None,
          latency_tolerance: str, latency: bool, device: str, threads: int | None,
          batch: int, repeats: int | None, warmup: int | None, min_time: float | None,
          device_profile: str | None, old_device_profile: str | None) -> None:
    """Recompute the baseline's configurations and the budgets from the current specs.

    Exit 0 when nothing moved beyond --tolerance and every budget holds, 1 on a regression or
    a broken budget (after writing the reports), 2 on bad input. Latency (--latency) is noisy
    and off by default; it fails only when slower beyond --latency-tolerance.

    \b
    Example:
      mncost check --baseline mncost-baseline.json --tolerance 0.5% --budget budgets.yaml \\
        --report-md mncost-report.md --junit mncost-junit.xml
    """
    predict_file = merge_deprecated(device_profile, old_device_profile,
                                    "--device-profile FILE", "--predict FILE")
    if not baseline_file and not budget_file:
        raise click.UsageError("give --baseline FILE, --budget FILE or both")
    check_outputs(("--report-md", report_md), ("--junit", junit))
    tol = Tolerance.parse(tolerance)
    check_latency_options(latency)
    lat_tol = Tolerance.parse(latency_tolerance)
    doc = core.load_baseline(baseline_file) if baseline_file else None
    convention = _convention(doc, baseline_file, params)
    budgets = load_budgets(budget_file) if budget_file else ()
    predict = _predict(predict_file, budgets, budget_file)
    measure = _latency_meter(latency, device, threads, batch, repeats, warmup, min_time)
    result = core.run_check(doc, baseline_file or "", budgets, tol, convention, resolve_model,
                            analyze_network, measure, lat_tol, predict)
    for line in predict.warnings if predict is not None else ():
        click.echo(f"mncost: warning: {line}", err=True)
    _warn_if_unlike(doc, measure, device, threads, batch)
    _report(result, report_md, junit, baseline_file)
    if not result.ok:
        raise CheckFailed(result.summary())


def _predict(predict_file: str | None, budgets: Sequence[Budget],
             budget_file: str | None) -> BudgetPredictor | None:
    """``network -> predicted ms`` from the device profile, gathering predict's warnings
    (:class:`mncost.latency.predict.BudgetPredictor`); budgets on predicted latency without
    one are an input error (a budget is never dropped silently)."""
    wanted = [b for b in budgets if any(m == "predicted_latency_ms" for m, _ in b.limits)]
    if wanted and predict_file is None:
        raise InputError(f"{wanted[0].where}: max_predicted_latency_ms needs a device profile: "
                         "give --device-profile FILE (written by `mncost calibrate`)")
    if predict_file is None:
        return None
    from ..latency.device_profile import load_device
    from ..latency.predict import BudgetPredictor

    return BudgetPredictor(load_device(predict_file))


def _convention(doc: dict[str, Any] | None, baseline_file: str | None,
                params: str | None) -> str:
    if doc is None:
        return params or DEFAULT_PARAMS
    if params and params != doc["param_convention"]:
        raise InputError(f"{baseline_file}: the baseline counts params as "
                         f"{doc['param_convention']!r}, not {params!r}; drop --params or "
                         "rewrite the baseline")
    return doc["param_convention"]


def _report(result: CheckResult, report_md: OutputPath | None,
            junit: OutputPath | None, baseline_file: str | None = None) -> None:
    """The report files, and the terminal table on stdout."""
    if report_md:
        emit(view.check_markdown(result, baseline_file), report_md)
    if junit:
        emit(view.check_junit(result), junit)
    emit(lambda console: view.print_check(console, result), None)
