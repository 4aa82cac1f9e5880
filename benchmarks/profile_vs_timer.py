"""``mncost profile`` against ``torch.utils.benchmark.Timer``, end to end, under both allocator
settings (issue 23).

For each model (default v1, v2, v3-large at 1.0/224, 1 thread, batch 1, float32) and each
allocator setting it compares the profiler's quiet estimate (p5, the same statistic on both
sides) and median with Timer's:

* **steady**: the profiler's default (``mallopt`` in its own process) against Timer in a process
  started with ``MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=134217728`` (the same
  thresholds, set at start-up);
* **plain**: the profiler with ``steady_malloc=False`` (``--no-steady-malloc``) against Timer in
  a plain process; neither sees a ``MALLOC_*`` variable.

Only the timer differs: both sides build the model with the profiler's own runner
(:class:`mncost.torch_backend.eager.EagerRunner`: the resolved layers, seed 0, eval mode, built
and run under ``torch.inference_mode()`` with 1 thread), run it once and ``warmup`` times
untimed, then time it; Timer's statement is ``with torch.inference_mode(): model(x)`` with
``num_threads=1``. Every measurement runs in a fresh process (a ``mallopt`` setting cannot be
undone, and glibc's dynamic mmap threshold remembers what a process freed before), and the
rounds interleave models, settings and sides (the side that goes first alternates by round), so
a change of load hits every pair alike.

Printed per model and setting: each side's median, quiet estimate, mean and minor page faults
per run, and the ratio profile / Timer of the medians and of the quiet estimates (the median
over rounds, and each round's). Timer's "times" are block means (``number_per_run`` runs each,
its own choice), so a third ratio re-blocks the profiler's per-run samples the same way before
taking the median: a gap that closes there comes from the statistic (a per-run median ignores
the occasional slow run that a block mean includes), not from the timer. ``--with-grad`` adds a
Timer in grad mode on a model built outside inference mode (``stmt="model(x)"``, no
``inference_mode``): how a Timer comparison that keeps autograd state alive reads.

Run as ``python benchmarks/profile_vs_timer.py`` (about 3 minutes: 3 rounds x 3 models x 2
settings x 2 sides, 2 s of timed runs each plus a process start); ``--quick`` is a smoke run
(1 round, 0.2 s each, under a minute); ``--json FILE`` keeps the raw results. Numbers are only
as quiet as the machine: run the full one with nothing else busy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("v1", "v2", "v3-large")
SETTINGS = ("steady", "plain")
#: The profiler's steady thresholds (mncost.measure.timing), as start-up variables for Timer.
STEADY_ENV = {"MALLOC_MMAP_THRESHOLD_": "67108864", "MALLOC_TRIM_THRESHOLD_": "134217728"}
#: Full run and ``--quick`` smoke run: rounds, seconds of timed runs per side, runs, warm-ups.
FULL = {"rounds": 3, "min_time": 2.0, "repeats": 30, "warmup": 10}
QUICK = {"rounds": 1, "min_time": 0.2, "repeats": 10, "warmup": 3}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 round, 0.2 s of timed runs per side, 10 runs")
    parser.add_argument("--rounds", type=int, help=f"default {FULL['rounds']}")
    parser.add_argument("--min-time", type=float,
                        help=f"seconds of timed runs per side (default {FULL['min_time']})")
    parser.add_argument("--with-grad", action="store_true",
                        help="also time a Timer in grad mode (no inference_mode)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results here")
    parser.add_argument("--child", choices=("profile", "timer", "timer-grad"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--setting", choices=SETTINGS, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    for key in ("rounds", "min_time", "repeats", "warmup"):
        if getattr(args, key) is None:
            setattr(args, key, plan[key])
    return args


# ---------------------------------------------------------------------------------------------
# One measurement, in a fresh process (``--child``): prints one JSON object


def child(args: argparse.Namespace) -> dict[str, Any]:
    from mncost import resolve_model
    from mncost.measure.profile_options import ProfileOptions
    from mncost.measure.timing import malloc_env

    network = resolve_model(args.model, 1.0, 224)
    options = ProfileOptions(threads=1, warmup=args.warmup, repeats=args.repeats,
                             min_time_s=args.min_time, steady_malloc=args.setting == "steady")
    out = {"side": args.child, "model": args.model, "setting": args.setting,
           "malloc_env": malloc_env()}
    if args.child == "profile":
        out.update(_profile(network, options))
    else:
        out.update(_timer(network, options, grad=args.child == "timer-grad"))
    return out


def _profile(network: Any, options: Any) -> dict[str, Any]:
    """``profile_network`` as ``mncost profile --threads 1`` runs it (the steady setting calls
    mallopt in this process; plain leaves glibc's defaults)."""
    from mncost.torch_backend.profile import profile_network

    result = profile_network(network, options)
    e2e = result.end_to_end
    return {"median_ms": e2e.median_ms, "quiet_ms": result.quiet_ms, "mean_ms": e2e.mean_ms,
            "samples_ms": list(result.samples_ms), "faults_per_run": result.page_faults_per_run,
            "malloc": result.environment["malloc"]}


def _timer(network: Any, options: Any, grad: bool) -> dict[str, Any]:
    """``Timer.blocked_autorange`` on the profiler's own build; ``grad``: a model built outside
    inference mode, timed in grad mode (the autograd state a plain ``model(x)`` keeps)."""
    import torch
    import torch.utils.benchmark as benchmark

    from mncost.measure.timing import minor_faults
    from mncost.torch_backend.eager import EagerRunner
    from mncost.torch_backend.prepare import prepare

    torch.set_num_threads(1)                        # warm-up too, as the profiler's runner
    if grad:
        model, x = prepare(network, options, torch.device("cpu"), torch.float32)
        stmt = "model(x)"
    else:
        runner = EagerRunner(network, options)       # exactly the profiler's build
        model, x = runner.model, runner.x
        stmt = "with torch.inference_mode(): model(x)"
    timer = benchmark.Timer(stmt=stmt, globals={"model": model, "x": x, "torch": torch},
                            num_threads=1)
    for _ in range(1 + options.warmup):             # the profiler's first run and warm-up
        _once(model, x, grad)
    before = minor_faults()
    measurement = timer.blocked_autorange(min_run_time=options.min_time_s)
    faults = minor_faults() - before
    number = measurement.number_per_run
    times_ms = [t * 1e3 for t in measurement.times]
    estimate_runs = sum(10 ** k for k in range(len(str(number))))   # 1 + 10 + ... + number
    return {"median_ms": measurement.median * 1e3, "quiet_ms": _quiet(times_ms),
            "mean_ms": statistics.fmean(times_ms), "times_ms": times_ms,
            "number_per_run": number, "grad_enabled": grad,
            "faults_per_run": faults / (number * len(times_ms) + estimate_runs)}


def _once(model: Any, x: Any, grad: bool) -> None:
    import torch

    if grad:
        model(x)
    else:
        with torch.inference_mode():
            model(x)


def _quiet(samples: list[float]) -> float:
    """The quiet estimate of Timer's times, the same statistic as the profiler's."""
    from mncost.measure.timing import quiet

    return quiet(samples)


# ---------------------------------------------------------------------------------------------
# The interleaved rounds, in this process


def run_child(side: str, model: str, setting: str, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a fresh process with the allocator variables of its setting."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("MALLOC_") or k == "GLIBC_TUNABLES")}
    if side != "profile" and setting == "steady":
        env.update(STEADY_ENV)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--model", model,
               "--setting", setting, "--min-time", str(args.min_time), "--repeats",
               str(args.repeats), "--warmup", str(args.warmup)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{side} {model} {setting} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def rounds(args: argparse.Namespace) -> list[dict[str, Any]]:
    sides = ["profile", "timer"] + (["timer-grad"] if args.with_grad else [])
    results = []
    for r in range(args.rounds):
        order = sides if r % 2 == 0 else sides[::-1]
        for model in args.models:
            for setting in SETTINGS:
                for side in order:
                    row = run_child(side, model, setting, args)
                    row["round"] = r
                    results.append(row)
                    print(f"  round {r + 1} {model:<9}{setting:<7}{side:<11}"
                          f"median {row['median_ms']:8.3f} ms  quiet {row['quiet_ms']:8.3f} ms",
                          file=sys.stderr, flush=True)
    return results


def reblocked(samples_ms: list[float], number: int) -> list[float]:
    """Per-run samples as means of consecutive blocks of ``number`` runs (Timer's "times")."""
    whole = len(samples_ms) // number * number or len(samples_ms)
    size = min(number, whole)
    return [statistics.fmean(samples_ms[i:i + size]) for i in range(0, whole, size)]


def summary(results: list[dict[str, Any]], models: list[str], with_grad: bool) -> str:
    """Per model and setting: each side, and the ratios profile / Timer."""
    lines = []
    table = [f"{'model':<10}{'setting':<8}{'median':>8}{'quiet':>8}{'reblocked':>11}"
             + (f"{'grad med':>10}" if with_grad else "")]
    for model in models:
        for setting in SETTINGS:
            pick = {side: [r for r in results if (r["model"], r["setting"], r["side"])
                           == (model, setting, side)]
                    for side in ("profile", "timer", "timer-grad")}
            pairs = list(zip(pick["profile"], pick["timer"]))
            med = [p["median_ms"] / t["median_ms"] for p, t in pairs]
            quiet = [p["quiet_ms"] / t["quiet_ms"] for p, t in pairs]
            blocked = [statistics.median(reblocked(p["samples_ms"], t["number_per_run"]))
                       / t["median_ms"] for p, t in pairs]
            lines.append(f"== {model} 1.0/224, 1 thread, {setting} allocator")
            for side in ("profile", "timer", "timer-grad"):
                for r in pick[side]:
                    lines.append(_side_line(r))
            lines.append(f"   profile/Timer  median {_ratios(med)}  quiet {_ratios(quiet)}  "
                         f"profile re-blocked as Timer {_ratios(blocked)}")
            row = (f"{model:<10}{setting:<8}{statistics.median(med):>8.3f}"
                   f"{statistics.median(quiet):>8.3f}{statistics.median(blocked):>11.3f}")
            if with_grad:
                grad = [p["median_ms"] / g["median_ms"]
                        for p, g in zip(pick["profile"], pick["timer-grad"])]
                lines.append(f"   profile/Timer in grad mode  median {_ratios(grad)}")
                row += f"{statistics.median(grad):>10.3f}"
            table.append(row)
    return "\n".join(lines + ["", "profile / Timer (median over rounds):", *table])


def _side_line(r: dict[str, Any]) -> str:
    faults = r.get("faults_per_run")
    extra = (f"blocks of {r['number_per_run']} runs" if "number_per_run" in r
             else f"{len(r['samples_ms'])} runs, {r['malloc']}")
    return (f"   round {r['round'] + 1} {r['side']:<11}median {r['median_ms']:8.3f}  quiet "
            f"{r['quiet_ms']:8.3f}  mean {r['mean_ms']:8.3f} ms  faults/run "
            f"{'-' if faults is None else f'{faults:,.0f}'}  ({extra}; env "
            f"{' '.join(r['malloc_env']) or 'none'})")


def _ratios(values: list[float]) -> str:
    rounds_ = " ".join(f"{v:.3f}" for v in values)
    return f"{statistics.median(values):.3f}" + (f" ({rounds_})" if len(values) > 1 else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    start = time.perf_counter()
    print(f"load average at start: {_load()}; {args.rounds} round(s), {args.min_time} s of "
          f"timed runs per side{' (quick smoke run)' if args.quick else ''}", flush=True)
    results = rounds(args)
    print(summary(results, args.models, args.with_grad))
    print(f"load average at end: {_load()}; took {time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 0


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
