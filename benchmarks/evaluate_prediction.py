"""How good is ``mncost predict``? Calibrate twice, then measure configurations the calibration
never saw, in the same run, and print the README's table.

    python benchmarks/evaluate_prediction.py                 # about 8 minutes on 2 cores
    python benchmarks/evaluate_prediction.py --budget-s 240 --runtimes eager --json eval.json

For each runtime (``eager``, and ``onnxruntime`` when installed), with ``--threads`` (1):

1. ``mncost calibrate`` twice in a row (A and B, the same set, different measuring orders);
2. a held-out set, measured after both: v1, v2, v3-large, v3-small at alpha / resolution off
   the calibration grid; the built-ins the calibration never uses (v1-conv, v1-shallow,
   v3-large-tf, v3-small-tf); and user specs written in the README's format,
   ``benchmarks/specs/mnasnet_a1.yaml`` and ``benchmarks/specs/efficientnet_b0.yaml``;
3. per-layer timings of v1, v2 and v3-large at 1.0/224.

It prints, per runtime: the share of held-out configurations within +-5% and +-10% and the
median absolute error, for the model (calibration A) and for the naive baseline latency ∝ MACs
fitted on the same calibration data; how far calibrations A and B predict apart on the
held-out set (the target: within +-5%); and per-layer predicted vs measured time shares on
v1, v2 and v3-large (largest difference in percentage points, and by layer kind).

Run it on a quiet machine: every other process competes for the cores. Unstable
measurements are counted and listed. The budget is split: 55% eager, 45% ONNX Runtime (its
exports take part of it) when both run; within a runtime 35% calibration A, 30% B, 35% the
held-out set.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mncost import resolve_model  # noqa: E402
from mncost.device_profile import device_from_dict  # noqa: E402
from mncost.latency_model import ErrorSummary, network_macs  # noqa: E402
from mncost.torch_backend.calibrate import Config, calibrate, measure_set  # noqa: E402

SPECS = ROOT / "benchmarks" / "specs"
#: Off the calibration grid (alphas 0.35/0.5/0.75/1.0 x resolutions 96/160/224).
OFF_GRID = ((0.45, 112), (0.6, 144), (0.85, 192), (0.9, 208), (1.0, 192))
UNSEEN_BUILTINS = ("v1-conv", "v1-shallow", "v3-large-tf", "v3-small-tf")
USER_SPECS = ("mnasnet_a1.yaml", "efficientnet_b0.yaml")
SHARE_MODELS = ("v1", "v2", "v3-large")


def held_out() -> list[Config]:
    configs = [Config(m, resolve_model(m, a, r)) for m in ("v1", "v2", "v3-large", "v3-small")
               for a, r in OFF_GRID]
    configs += [Config(m, resolve_model(m, a, r)) for m in UNSEEN_BUILTINS
                for a, r in ((1.0, 224), (0.6, 144))]
    for name in USER_SPECS:
        path = str(SPECS / name)
        configs += [Config(f"specs/{name}", resolve_model(path, a, r))
                    for a, r in ((1.0, 224), (0.5, 160), (0.75, 192))]
    return configs


def share_configs() -> list[Config]:
    return [Config(f"{m} (per layer)", resolve_model(m, 1.0, 224)) for m in SHARE_MODELS]


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def evaluate_runtime(runtime: str, threads: int, budget_s: float, seed: int) -> dict[str, Any]:
    log(f"== {runtime}: calibration A ({0.35 * budget_s:.0f} s)")
    doc_a = calibrate(runtime, threads, 0.35 * budget_s, progress=log, seed=seed,
                      allow_unstable=True)
    log(f"== {runtime}: calibration B ({0.30 * budget_s:.0f} s)")
    doc_b = calibrate(runtime, threads, 0.30 * budget_s, progress=log, seed=seed + 1,
                      allow_unstable=True)
    model_a = device_from_dict(doc_a, "A").model
    model_b = device_from_dict(doc_b, "B").model
    macs_k = doc_a["macs_baseline"]["ms_per_mac"]
    configs = held_out()
    shares = share_configs()
    log(f"== {runtime}: {len(configs)} held-out configurations + per-layer v1, v2, v3-large "
        f"({0.35 * budget_s:.0f} s)")
    sampled = measure_set(configs + shares, runtime, threads, 0.35 * budget_s, log,
                          per_layer=lambda c: c in shares, seed=seed + 2)
    rows = []
    for s in sampled[:len(configs)]:
        net = s.config.network
        measured = s.stats.median_ms
        rows.append({**s.config.key(), "macs": network_macs(net), "measured_ms": measured,
                     "predicted_ms": model_a.predict(net).total_ms,
                     "predicted_b_ms": model_b.predict(net).total_ms,
                     "macs_baseline_ms": macs_k * network_macs(net),
                     "unstable": s.unstable()})
    share_rows = [layer_shares(s, model_a) for s in sampled[len(configs):]]
    return {"runtime": runtime, "threads": threads, "rows": rows, "shares": share_rows,
            "calibration_a": summary(doc_a), "calibration_b": summary(doc_b)}


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {"fit": doc["fit"], "measurement": doc["measurement"], "model": doc["model"],
            "environment": doc["environment"]}


def layer_shares(s: Any, model: Any) -> dict[str, Any]:
    """Measured (median per layer / sum) vs predicted time shares, per layer and per kind."""
    measured_ms = s.layer_ms()
    total = sum(measured_ms.values())
    measured = {k: v / total for k, v in measured_ms.items()}
    prediction = model.predict(s.config.network)
    predicted = prediction.shares()
    diffs = {k: predicted[k] - measured[k] for k in measured}
    worst = max(diffs, key=lambda k: abs(diffs[k]))
    kinds: dict[str, list[float]] = {}
    for layer in s.config.network.layers:
        m = kinds.setdefault(layer.kind, [0.0, 0.0])
        m[0] += measured[layer.name]
        m[1] += predicted[layer.name]
    return {"model": s.config.model, "layers": len(measured),
            "max_abs_points": 100 * abs(diffs[worst]), "worst_layer": worst,
            "mean_abs_points": 100 * statistics.fmean(abs(d) for d in diffs.values()),
            "within_5_points": sum(abs(d) <= 0.05 for d in diffs.values()) / len(diffs),
            "by_kind": {k: {"measured": v[0], "predicted": v[1]} for k, v in kinds.items()},
            "unstable": s.unstable()}


def table(result: dict[str, Any]) -> str:
    rows = result["rows"]
    stable = [r for r in rows if r["unstable"] is None]
    lines = [f"### {result['runtime']}, {result['threads']} thread(s): "
             f"{len(rows)} held-out configurations ({len(rows) - len(stable)} unstable)", "",
             "| predictor | within ±5% | within ±10% | median abs. error | max abs. error |",
             "|---|---:|---:|---:|---:|"]
    for label, key, subset in (("mncost model (calibration A)", "predicted_ms", rows),
                               ("latency ∝ MACs, same data", "macs_baseline_ms", rows),
                               ("mncost model, stable ones only", "predicted_ms", stable)):
        e = ErrorSummary.of((r[key], r["measured_ms"]) for r in subset)
        lines.append(f"| {label} | {e.within_5:.0%} | {e.within_10:.0%} | "
                     f"{e.median_abs:.1%} | {e.max_abs:.1%} |")
    ab = [abs(r["predicted_ms"] / r["predicted_b_ms"] - 1) for r in rows]
    lines += ["", f"Calibration A vs B on the held-out set: {sum(d <= 0.05 for d in ab)}"
                  f"/{len(ab)} within ±5%, largest difference {max(ab):.1%}.", ""]
    train = result["calibration_a"]["fit"]["training_error"]
    lines.append(f"Calibration A training error: {train['within_10pct']:.0%} within ±10%, "
                 f"median {train['median_abs_error']:.1%} "
                 f"({result['calibration_a']['measurement']['rounds']} rounds, "
                 f"{result['calibration_a']['measurement']['unstable']} unstable).")
    lines += ["", "| per-layer shares | layers | within 5 points | largest difference | "
                  "mean abs. difference |", "|---|---:|---:|---|---:|"]
    for s in result["shares"]:
        lines.append(f"| {s['model']} | {s['layers']} | {s['within_5_points']:.0%} | "
                     f"{s['max_abs_points']:.1f} points ({s['worst_layer']}) | "
                     f"{s['mean_abs_points']:.2f} points |")
    lines += ["", "| model | kind | measured share | predicted share |", "|---|---|---:|---:|"]
    for s in result["shares"]:
        for kind, v in s["by_kind"].items():
            lines.append(f"| {s['model']} | {kind} | {v['measured']:.1%} | "
                         f"{v['predicted']:.1%} |")
    lines += ["", "| configuration | MACs | measured ms | predicted ms | error | "
                  "∝ MACs error | unstable |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        res = "x".join(str(v) for v in r["resolution"]) if r["resolution"][0] != \
            r["resolution"][1] else str(r["resolution"][0])
        lines.append(f"| {r['model']} {r['alpha']:g}/{res} | {r['macs'] / 1e6:.1f}M | "
                     f"{r['measured_ms']:.3f} | {r['predicted_ms']:.3f} | "
                     f"{r['predicted_ms'] / r['measured_ms'] - 1:+.1%} | "
                     f"{r['macs_baseline_ms'] / r['measured_ms'] - 1:+.1%} | "
                     f"{'yes' if r['unstable'] else ''} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="total seconds of measuring (default 480)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtimes", default=None,
                        help="comma-separated: eager,onnxruntime (default: eager, plus "
                             "onnxruntime when installed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write every figure to this file")
    args = parser.parse_args()
    runtimes = args.runtimes.split(",") if args.runtimes else (
        ["eager"] + (["onnxruntime"] if importlib.util.find_spec("onnxruntime") else []))
    shares = {"eager": 0.55, "onnxruntime": 0.45} if len(runtimes) == 2 else \
        {r: 1.0 / len(runtimes) for r in runtimes}
    start = time.monotonic()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    log(f"load average at start: {load}; budget {args.budget_s:.0f} s over {runtimes}")
    results = [evaluate_runtime(r, args.threads, args.budget_s * shares[r], args.seed)
               for r in runtimes]
    cpu = results[0]["calibration_a"]["environment"]["device_name"]
    print(f"## Predicted vs measured latency (benchmarks/evaluate_prediction.py, "
          f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, load average at "
          f"start {load})\n")
    for result in results:
        print(table(result) + "\n")
    log(f"took {time.monotonic() - start:.0f} s; load average at end "
        f"{os.getloadavg() if hasattr(os, 'getloadavg') else None}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
