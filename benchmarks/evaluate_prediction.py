"""How good is ``mncost predict``? Two ``mncost calibrate --evaluate`` runs in a row, compared.

    python benchmarks/evaluate_prediction.py                 # about 8-9 minutes on 2 cores
    python benchmarks/evaluate_prediction.py --budget-s 240 --runtimes eager --json eval.json
    python benchmarks/evaluate_prediction.py --load-a --each-s 300    # issue 23's figures
    python benchmarks/evaluate_prediction.py --load-a --each-s 300 --runtimes onnxruntime \
        --dtype int8                                                   # the same at int8

For each runtime (``eager``, and ``onnxruntime`` when installed), with ``--threads`` (1), it
calibrates twice (A, then B with the next seed), each with ``evaluate=True``: the held-out set
of :mod:`mncost.latency.evaluation` is measured in the same interleaved rounds as the calibration
set, never fitted. It prints, per runtime:

1. A's and B's same-run figures: the share of held-out configurations within +-5% and +-10%,
   median and largest absolute error, for the model and for the naive baseline latency ∝ MACs
   fitted on the same calibration data (all configurations, and the stable ones);
2. how far A and B predict apart on the held-out set (the target: within +-5%);
3. the *cross-run* figure: A's model against B's measurements of the held-out set, what a
   user who calibrates once and measures later sees, the machine's drift between included;
4. A's per-layer time shares (v1, v2, v3-large at 1.0/192) and every held-out configuration.

With ``--load-a``, calibration A runs under the busy-machine load of ``benchmarks/load.py``
(two neighbours, 20 ms busy / 20 ms asleep: one spinning, one copying 256 MB) and B without
it: B's same-run figure is "calibrated on the machine as it is", the cross-run figure
"calibrated under load, evaluated afterwards without it", and the A-vs-B agreement "two
calibrations, one with the load and one without". Calibrations are fitted with
``allow_unstable`` so that the figures always come out; each reports whether it would have
refused (``fitted_unstable``). The budget is split 55% eager, 45% ONNX Runtime (its exports
take part of it) when both run, and evenly between A and B; ``--each-s`` gives every
calibration its own budget instead (300 s is ``calibrate --evaluate``'s default). The figures
and their layout are the package's (``mncost.latency.evaluation``,
``mncost.render.evaluation``); this script only drives and compares.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from load import neighbours  # noqa: E402

from mncost.latency.evaluation import agreement, cross_run  # noqa: E402
from mncost.render import evaluation as view  # noqa: E402
from mncost.render.tables import Section, sections_markdown  # noqa: E402
from mncost.torch_backend.calibrate import calibrate  # noqa: E402


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def evaluate_runtime(runtime: str, threads: int, budget_s: float, seed: int,
                     load_a: bool = False, statistic: str = "quiet", save: str | None = None,
                     dtype: str = "float32") -> dict[str, Any]:
    docs = {}
    for name, offset in (("a", 0), ("b", 1)):
        loaded = load_a and name == "a"
        log(f"== {runtime}: calibration {name.upper()} with the held-out set "
            f"({budget_s / 2:.0f} s){' under load' if loaded else ''}")
        with neighbours() if loaded else contextlib.nullcontext():
            docs[name] = calibrate(runtime, threads, budget_s / 2, progress=log,
                                   seed=seed + offset, allow_unstable=True, evaluate=True,
                                   statistic=statistic, dtype=dtype)
    log(f"== {runtime}: calibrate --refresh of A, right after B (a process of its own)")
    refreshed = refresh_apart(docs["a"], seed + 2)
    factor = refreshed["measurement"]["refresh"]["factor_applied"]
    if save:
        stem = runtime if dtype == "float32" else f"{runtime}-{dtype}"
        for name, doc in (*docs.items(), ("a-refreshed", refreshed)):
            Path(save, f"{stem}-{name}.json").write_text(json.dumps(doc) + "\n")
    rows_a, rows_b = docs["a"]["evaluation"]["rows"], docs["b"]["evaluation"]["rows"]
    rows_r = [{**r, "predicted_ms": r["predicted_ms"] * factor} for r in rows_a]
    return {"runtime": runtime, "dtype": dtype, "threads": threads, "load_a": load_a,
            "statistic": statistic,
            "evaluation_a": docs["a"]["evaluation"], "evaluation_b": docs["b"]["evaluation"],
            "agreement": agreement(rows_a, rows_b), "cross_run": cross_run(rows_a, rows_b),
            "refresh_factor": factor, "cross_run_refreshed": cross_run(rows_r, rows_b),
            "agreement_refreshed": agreement(rows_r, rows_b),
            "calibration_a": summary(docs["a"]), "calibration_b": summary(docs["b"])}


def refresh_apart(doc: dict[str, Any], seed: int) -> dict[str, Any]:
    """``mncost calibrate --refresh`` of ``doc`` in a fresh process, as a user runs it. In
    this process, after two calibrations, the same configurations read 7-17% slower than in a
    fresh one (docs/evaluation-record.md): a refresh here measured that, not the machine."""
    with tempfile.TemporaryDirectory(prefix="mncost-refresh-") as tmp:
        before, after = Path(tmp, "a.json"), Path(tmp, "a-now.json")
        before.write_text(json.dumps(doc))
        subprocess.run([sys.executable, "-m", "mncost", "calibrate", "--refresh", str(before),
                        "-o", str(after), "--seed", str(seed)], check=True)
        return json.loads(after.read_text())


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {"fit": doc["fit"], "measurement": doc["measurement"], "model": doc["model"],
            "environment": doc["environment"]}


def _cells(label: str, e: dict[str, Any]) -> tuple[str, ...]:
    return (label, f"{e['within_5pct']:.0%}", f"{e['within_10pct']:.0%}",
            f"{e['median_abs_error']:.1%}", f"{e['max_abs_error']:.1%}",
            f"{e['median_error']:+.1%}")


def comparison(result: dict[str, Any]) -> Section:
    """Same-run figures of A and B, and the cross-run figure, in one table."""
    a, b, cross = result["evaluation_a"], result["evaluation_b"], result["cross_run"]
    rows = []
    for key, label in (("model", "mncost model"), ("macs_baseline", "latency ∝ MACs")):
        rows += [_cells(f"{label}, same run A", a["error"][key]["all"]),
                 _cells(f"{label}, same run B", b["error"][key]["all"]),
                 _cells(f"{label}, same run A, stable", a["error"][key]["stable"]),
                 _cells(f"{label}, A predicts B's measurements", cross[key]),
                 _cells(f"{label}, A refreshed predicts B's", result["cross_run_refreshed"][key])]
    return Section("Held-out error: same run and cross run",
                   ("predictor", "±5%", "±10%", "median abs.", "max abs.", "bias"), rows)


def _noise(summary: dict[str, Any]) -> str:
    ratios = summary["measurement"].get("noise", {}).get("median_over_quiet")
    return f"median {ratios['median']:.2f}, p90 {ratios['p90']:.2f}" if ratios else "-"


def report(result: dict[str, Any]) -> str:
    a, b, agree = result["evaluation_a"], result["evaluation_b"], result["agreement"]
    train = result["calibration_a"]["fit"]["training_error"]
    refused = {k: result[f"calibration_{k}"]["measurement"]["fitted_unstable"] for k in "ab"}
    notes = [f"A {'under the load of benchmarks/load.py' if result['load_a'] else 'as is'}, "
             f"B as is; fitted on the {a.get('statistic', 'median')}. Would have refused "
             f"(more than half unstable): A {refused['a']}, B {refused['b']}.",
             f"Noise (median / quiet): A {_noise(result['calibration_a'])}, B "
             f"{_noise(result['calibration_b'])}.",
             f"Calibration A vs B on the held-out set: {agree['within_5pct']:.0%} of "
             f"{agree['count']} within ±5% of each other, largest difference "
             f"{agree['max_abs_difference']:.1%}; after `calibrate --refresh` of A (factor "
             f"{result['refresh_factor']:.3f}): {result['agreement_refreshed']['within_5pct']:.0%}"
             f", largest {result['agreement_refreshed']['max_abs_difference']:.1%}.",
             f"Rounds: A {a['rounds']}, B {b['rounds']}; unstable held-out configurations: "
             f"A {a['unstable']}, B {b['unstable']}. Calibration A training error: "
             f"{train['within_10pct']:.0%} within ±10%, median {train['median_abs_error']:.1%}."]
    text = sections_markdown(f"{result['runtime']} ({result.get('dtype', 'float32')}), "
                             f"{result['threads']} thread(s): "
                             f"{a['configurations']} held-out configurations",
                             [comparison(result)], notes)
    return text + "\n" + sections_markdown(f"Calibration A: {view.title(a)}",
                                           view.sections(a), view.notes(a))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=480.0,
                        help="total seconds of measuring (default 480)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runtimes", default=None,
                        help="comma-separated: eager,onnxruntime (default: eager, plus "
                             "onnxruntime when installed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--load-a", action="store_true",
                        help="calibrate A under the load of benchmarks/load.py")
    parser.add_argument("--each-s", type=float, default=None,
                        help="seconds of measuring for every calibration (instead of a "
                             "split of --budget-s)")
    parser.add_argument("--statistic", default="quiet", choices=("quiet", "median"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "int8"),
                        help="int8: ONNX Runtime's QDQ int8 graph (--runtimes onnxruntime)")
    parser.add_argument("--save", default=None, metavar="DIR",
                        help="also write the device profiles (A, B, A refreshed) to DIR")
    parser.add_argument("--json", default=None, help="also write every figure to this file")
    args = parser.parse_args()
    if args.save:       # made before measuring: a missing folder must not lose the run
        Path(args.save).mkdir(parents=True, exist_ok=True)
    runtimes = args.runtimes.split(",") if args.runtimes else (
        ["eager"] + (["onnxruntime"] if importlib.util.find_spec("onnxruntime") else []))
    if args.dtype == "int8" and runtimes != ["onnxruntime"]:
        parser.error("--dtype int8 measures ONNX Runtime's int8 graph: give --runtimes "
                     "onnxruntime")
    shares = {"eager": 0.55, "onnxruntime": 0.45} if len(runtimes) == 2 else \
        {r: 1.0 / len(runtimes) for r in runtimes}
    start = time.monotonic()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    log(f"load average at start: {load}; budget {args.budget_s:.0f} s over {runtimes}")
    results = [evaluate_runtime(r, args.threads, 2 * args.each_s if args.each_s
                                else args.budget_s * shares[r], args.seed, args.load_a,
                                args.statistic, args.save, args.dtype) for r in runtimes]
    cpu = results[0]["calibration_a"]["environment"]["device_name"]
    print(f"# Predicted vs measured latency (benchmarks/evaluate_prediction.py, "
          f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores, load average at "
          f"start {load})\n")
    for result in results:
        print(report(result))
    log(f"took {time.monotonic() - start:.0f} s; load average at end "
        f"{os.getloadavg() if hasattr(os, 'getloadavg') else None}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        log(f"wrote {args.json}")


if __name__ == "__main__":
    main()
