"""Trust benchmark for ``mncost profile`` on this machine's CPU (issue 4, "Trust").

For each model (default v1, v2, v3-large at alpha 1.0, 224 x 224) it reports:

* the end-to-end median and spread (p10 / p90, IQR, std) of ``profile_network``;
* repeatability: the medians of two consecutive mncost runs;
* agreement with ``torch.utils.benchmark.Timer`` (``blocked_autorange``) timing an identical
  build (same seed, same input, same threads) in the same process: rounds of mncost and Timer
  alternate, so a change of load on the machine hits both sides alike;
* agreement of the CLI (``mncost profile`` in a fresh process, as a user runs it) with the same
  Timer, interleaved round by round: the fresh process sets the steady allocator itself
  (``mallopt``), so the two are expected within +-5% on a quiet machine (before that setting
  the CLI read 12-19% above Timer on v3-large);
* with per-layer timing: MAC share vs time share per layer kind, the sum of per-layer medians
  vs the end-to-end median, and the overhead of the timing wrappers.

Run as ``python benchmarks/profile_cpu.py`` (about 1-2 minutes); ``--json FILE`` keeps the raw
results. Numbers are only as quiet as the machine: run it with nothing else busy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

import torch
import torch.utils.benchmark as benchmark

from mncost import resolve_model
from mncost.measure.profile_options import ProfileOptions
from mncost.render import pct
from mncost.torch_backend.prepare import prepare
from mncost.torch_backend.profile import profile_network

MODELS = ("v1", "v2", "v3-large")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="intra-op threads (default: torch's current setting)")
    parser.add_argument("--min-time", type=float, default=3.0,
                        help="seconds of timed runs per end-to-end measurement")
    parser.add_argument("--rounds", type=int, default=6,
                        help="interleaved mncost / Timer rounds for the agreement check")
    parser.add_argument("--round-time", type=float, default=0.75,
                        help="seconds of timed runs per side per round")
    parser.add_argument("--layer-min-time", type=float, default=2.0,
                        help="seconds of timed runs for the per-layer measurement")
    parser.add_argument("--json", metavar="FILE", help="also write the raw results here")
    return parser.parse_args(argv)


def timer_median_ms(model: Any, x: Any, threads: int, min_time: float) -> float:
    """``torch.utils.benchmark.Timer`` (``blocked_autorange``) median, under inference mode."""
    timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x},
                            num_threads=threads)
    with torch.inference_mode():
        return timer.blocked_autorange(min_run_time=min_time).median * 1e3


def agreement(network: Any, options: ProfileOptions, rounds: int, min_time: float
              ) -> list[tuple[float, float]]:
    """(mncost median, Timer median) pairs from interleaved rounds, so that a change of load
    on the machine hits both sides alike. The Timer times an identical build (same seed, same
    input, same options), warmed up as mncost warms up."""
    model, x = prepare(network, options, torch.device("cpu"), torch.float32)
    with torch.inference_mode():
        for _ in range(options.warmup):
            model(x)
    pairs = []
    short = replace(options, min_time_s=min_time)
    for _ in range(rounds):
        ours = profile_network(network, short).end_to_end.median_ms
        pairs.append((ours, timer_median_ms(model, x, options.threads, min_time)))
    return pairs


def cli_agreement(name: str, network: Any, options: ProfileOptions, rounds: int,
                  min_time: float) -> list[tuple[float, float]]:
    """(CLI median, Timer median) pairs: ``mncost profile`` in a fresh process each round,
    then Timer on an identical build in this process."""
    model, x = prepare(network, options, torch.device("cpu"), torch.float32)
    pairs = []
    for _ in range(rounds):
        proc = subprocess.run(
            [sys.executable, "-m", "mncost", "profile", name, "--threads",
             str(options.threads), "--min-time", str(min_time), "-f", "json"],
            capture_output=True, text=True, check=True)
        cli = json.loads(proc.stdout)["end_to_end"]["median_ms"]
        pairs.append((cli, timer_median_ms(model, x, options.threads, min_time)))
    return pairs


def bench_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Two consecutive end-to-end runs, interleaved mncost / Timer rounds, one per-layer run."""
    network = resolve_model(name, 1.0, 224)
    e2e = ProfileOptions(threads=args.threads, warmup=10, repeats=30, min_time_s=args.min_time)
    first = profile_network(network, e2e)
    second = profile_network(network, e2e)
    pairs = agreement(network, e2e, args.rounds, args.round_time)
    cli_pairs = cli_agreement(name, network, e2e, args.rounds, args.round_time)
    layered = profile_network(network, ProfileOptions(
        threads=args.threads, warmup=5, repeats=30, min_time_s=args.layer_min_time,
        per_layer=True))
    return {"model": name, "first": first.to_dict(name), "second": second.to_dict(name),
            "agreement_rounds_ms": pairs, "cli_agreement_rounds_ms": cli_pairs,
            "per_layer": layered.to_dict(name)}


def report(row: dict[str, Any]) -> str:
    """Plain-text summary of one model's benchmark."""
    a, b = row["first"]["end_to_end"], row["second"]["end_to_end"]
    pairs = row["agreement_rounds_ms"]
    ours = statistics.median(p[0] for p in pairs)
    theirs = statistics.median(p[1] for p in pairs)
    ratios = [p[0] / p[1] - 1 for p in pairs]
    per_round = ", ".join(f"{r:+.1%}" for r in ratios)
    pl = row["per_layer"]["per_layer"]
    pl_e2e = row["per_layer"]["end_to_end"]["median_ms"]
    inst = pl["instrumented_end_to_end"]["median_ms"]
    lines = [
        f"== {row['model']} 1.0/224, {row['first']['environment']['threads']} threads, "
        f"{row['first']['environment']['device_name']}",
        f"end to end, run 1: median {a['median_ms']:.3f} ms  p10/p90 {a['p10_ms']:.3f}/"
        f"{a['p90_ms']:.3f}  IQR {a['iqr_ms']:.3f}  std {a['std_ms']:.3f}  ({a['runs']} runs)"
        f"  {a['images_per_s']:.1f} img/s  {a['gmacs_per_s']:.2f} GMAC/s",
        f"end to end, run 2: median {b['median_ms']:.3f} ms  p10/p90 {b['p10_ms']:.3f}/"
        f"{b['p90_ms']:.3f}  IQR {b['iqr_ms']:.3f}  std {b['std_ms']:.3f}  ({b['runs']} runs)",
        f"repeatability: run 2 vs run 1 median {b['median_ms'] / a['median_ms'] - 1:+.2%}",
        f"vs torch.utils.benchmark.Timer ({len(pairs)} interleaved rounds): median of the "
        f"per-round differences {statistics.median(ratios):+.2%}; medians mncost "
        f"{ours:.3f} ms, Timer {theirs:.3f} ms (per round: {per_round}); expected within "
        f"+-5% on a quiet machine (both run in this process, after the profiler's steady "
        f"allocator setting: {row['first']['environment'].get('malloc')}); "
        f"{'OK' if abs(statistics.median(ratios)) <= 0.05 else 'OUTSIDE +-5%: a busy machine?'}",
        _cli_line(row["cli_agreement_rounds_ms"]),
        f"page faults per run: {a.get('page_faults_per_run')}",
        f"per-layer run: sum of layer medians {pl['layers_sum_ms']:.3f} ms = "
        f"{pct(pl['coverage'])} of its plain end-to-end median {pl_e2e:.3f} ms and "
        f"{pct(pl['instrumented_coverage'])} of the instrumented runs' median {inst:.3f} ms; "
        f"instrumented vs plain {pl['instrumentation_overhead']:+.2%}",
        f"  {'kind':<22}{'MAC share':>10}{'time share':>11}{'time/MAC':>10}{'GMAC/s':>9}",
    ]
    for k in pl["by_kind"]:
        ratio = f"{k['share_ratio']:.2f}x" if k["share_ratio"] is not None else "-"
        lines.append(f"  {k['label']:<22}{pct(k['mac_share']):>10}{pct(k['time_share']):>11}"
                     f"{ratio:>10}{k['gmacs_per_s'] or 0:>9.2f}")
    return "\n".join(lines)


def _cli_line(pairs: list[tuple[float, float]]) -> str:
    ratios = [p[0] / p[1] - 1 for p in pairs]
    middle = statistics.median(ratios)
    return (f"CLI (fresh process) vs Timer ({len(pairs)} interleaved rounds): median of the "
            f"per-round differences {middle:+.2%} (per round: "
            f"{', '.join(f'{r:+.1%}' for r in ratios)}); expected within +-5% on a quiet "
            f"machine: {'OK' if abs(middle) <= 0.05 else 'OUTSIDE +-5%: a busy machine?'}")


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    print(f"load average at start: {_load()} (a busy machine makes every figure noisy)")
    rows = []
    for name in args.models:
        rows.append(bench_model(name, args))
        print(report(rows[-1]), flush=True)
    print(f"load average at end: {_load()}; benchmark took "
          f"{time.perf_counter() - start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
