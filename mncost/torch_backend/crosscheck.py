"""Cross-check the analytic engine against counters that run the built model.

One resolved network is counted twice: analytically (:func:`mncost.costs.analyze`) and by
running the module :func:`mncost.torch_backend.build` makes from the same resolved layers, under

* fvcore ``FlopCountAnalysis`` (traces the model; counts one fused multiply-add as one flop, plus
  batch norm and adaptive pooling by default), read ``by_module_and_operator()``;
* ``torch.utils.flop_counter.FlopCounterMode`` (dispatch-level; reports 2 x MACs), read per
  module from ``get_flop_counts()``, whose keys are ``<RootClass>.<module path>``;
* the module's parameters, and its buffers (running mean and variance, not the
  ``num_batches_tracked`` scalars) for the checkpoint convention.

Leaf modules sit at the engine's layer names, so every layer is compared one-to-one, and the
totals are compared whole-model (so counts outside any layer would show too). The fvcore total
is also rebuilt term by term from the analytic side
(:func:`mncost.costs.conventions.fvcore_convention`) and set beside ``by_operator()``.

Results are plain dataclasses; ``mncost.render.crosscheck`` turns them into text.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Mapping

import torch
from torch import nn

from ..costs.analytic import Cost, Report, analyze
from ..costs.conventions import Conventions, conventions
from ..errors import MissingDependency
from ..measure.crosscheck_results import COMPARISONS, Check, CrossCheck, LayerCheck
from ..network.catalog import resolve_model
from ..network.layers import Network
from .builder import build

#: fvcore operator names whose count is MACs (fvcore: "one fused multiply-add = one flop").
FVCORE_MAC_OPS = frozenset({"conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum"})


# ---------------------------------------------------------------------------------------------
# Counters. Each returns plain integers keyed by our layer names.

def fvcore_analysis(model: nn.Module, x: torch.Tensor):
    """fvcore's ``FlopCountAnalysis`` with its warnings (unsupported ops, uncalled modules,
    tracer) switched off: what it skips is reported in :attr:`CrossCheck.fvcore_skipped`."""
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        raise MissingDependency("fvcore", "torch") from None
    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    return analysis


def torch_flops_by_module(model: nn.Module, x: torch.Tensor
                          ) -> tuple[dict[str, int], int, torch.Tensor]:
    """FlopCounterMode's flops per module (keys: our module paths, root ``""``), the total,
    and the model output."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        out = model(x)
    prefix = type(model).__name__
    per_module = {}
    for key, ops in counter.get_flop_counts().items():
        if key == prefix:
            per_module[""] = sum(ops.values())
        elif key.startswith(prefix + "."):
            per_module[key[len(prefix) + 1:]] = sum(ops.values())
    return per_module, counter.get_total_flops(), out


def weight_count(module: nn.Module) -> int:
    """Conv and fc weights (not batch norm's scale, which torch also calls ``weight``)."""
    return sum(m.weight.numel() for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)))


def checkpoint_count(module: nn.Module) -> int:
    """Parameters + buffers except the ``num_batches_tracked`` counters: a checkpoint's
    variables (TF's moving_mean / moving_variance)."""
    buffers = sum(b.numel() for name, b in module.named_buffers()
                  if not name.endswith("num_batches_tracked"))
    return sum(p.numel() for p in module.parameters()) + buffers


def param_counts(module: nn.Module) -> dict[str, int]:
    return {"weights": weight_count(module),
            "trainable": sum(p.numel() for p in module.parameters()),
            "checkpoint": checkpoint_count(module)}


# ---------------------------------------------------------------------------------------------
# Comparison

def _checks(cost: Cost, fv_ops: Mapping[str, int], torch_flops: int,
            params: Mapping[str, int]) -> tuple[Check, ...]:
    """The :data:`COMPARISONS` comparisons of one layer (or the whole model)."""
    fv_macs = sum(n for op, n in fv_ops.items() if op in FVCORE_MAC_OPS)
    measured = {("macs", "fvcore"): fv_macs, ("flops", "torch"): torch_flops,
                ("fvcore", "fvcore"): sum(fv_ops.values()), **{
                    (name, "torch"): n for name, n in params.items()}}
    analytic = {"macs": cost.macs, "flops": cost.flops, "fvcore": cost.fvcore,
                **{name: cost.params(name) for name in params}}
    return tuple(Check(metric, counter, analytic[metric], measured[(metric, counter)])
                 for metric, counter, _ in COMPARISONS)


def fvcore_term_checks(conv: Conventions, by_operator: Mapping[str, int]) -> tuple[Check, ...]:
    """The analytic fvcore terms against fvcore's ``by_operator()``, and the total."""
    measured = {"macs": sum(n for op, n in by_operator.items() if op in FVCORE_MAC_OPS)}
    measured.update((op, n) for op, n in by_operator.items() if op not in FVCORE_MAC_OPS)
    fv = conv.count("fvcore")
    analytic = {t.name: t.count for t in fv.terms}
    names = list(analytic) + [op for op in measured if op not in analytic]
    checks = [Check(name, "fvcore", analytic.get(name, 0), measured.get(name, 0))
              for name in names]
    checks.append(Check("total", "fvcore", fv.total, sum(by_operator.values())))
    return tuple(checks)


def _problems(network: Network, modules: Mapping[str, nn.Module], output_shape: tuple
              ) -> tuple[str, ...]:
    problems = [f"{layer.name}: no module at this name in the built model"
                for layer in network.layers if layer.name not in modules]
    if output_shape != (1, network.classes):
        problems.append(f"output shape {output_shape} != (1, {network.classes})")
    return tuple(problems)


@dataclass
class _Counts:
    """What the counters measured for one model (batch 1)."""

    fv_by_module: dict = field(default_factory=dict)
    fv_by_operator: dict = field(default_factory=dict)
    fv_skipped: dict = field(default_factory=dict)
    torch_by_module: dict = field(default_factory=dict)
    torch_total: int = 0
    output_shape: tuple = ()


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Python warnings (torch.jit TracerWarning...) and fvcore's log warnings."""
    loggers = [logging.getLogger(n) for n in ("fvcore", "torch.jit")]
    levels = [logger.level for logger in loggers]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for logger in loggers:
                logger.setLevel(logging.ERROR)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one intra-op thread: the counters need shapes, not speed, and at batch 1 a
    second OpenMP thread only adds contention (on a loaded 2-core machine a grid point took
    0.1-7 s with two threads, a steady 0.1 s with one)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_counters(model: nn.Module, x: torch.Tensor) -> _Counts:
    """Run fvcore and FlopCounterMode on ``model`` in inference mode, quietly."""
    with _quiet(), _one_thread(), torch.inference_mode():
        analysis = fvcore_analysis(model, x)
        by_module = analysis.by_module_and_operator()
        by_operator = analysis.by_operator()
        skipped = analysis.unsupported_ops()
        torch_by_module, torch_total, out = torch_flops_by_module(model, x)
    return _Counts(fv_by_module={k: dict(v) for k, v in by_module.items()},
                   fv_by_operator=dict(by_operator), fv_skipped=dict(skipped),
                   torch_by_module=torch_by_module, torch_total=torch_total,
                   output_shape=tuple(out.shape))


def crosscheck_network(network: Network, model_name: str = "", report: Report | None = None
                       ) -> CrossCheck:
    """Build ``network``, count it with fvcore and FlopCounterMode (batch 1), and compare every
    layer and the totals with the engine.

    Args:
        network: the resolved network.
        model_name: the model argument, for display.
        report: the analytic report to check (default :func:`mncost.costs.analyze`); tests pass
            a doctored one to prove that a wrong count fails.
    """
    start = time.perf_counter()
    report = report or analyze(network)
    model = build(network)
    counts = run_counters(model, torch.zeros(1, 3, *network.resolution))
    modules = dict(model.named_modules())
    layers = tuple(_layer_check(row.layer.name, row.layer.kind, row.cost, modules[row.layer.name],
                                counts)
                   for row in report.layers if row.layer.name in modules)
    conv = conventions(report)
    return CrossCheck(
        model=model_name or network.spec_name, network=network, layers=layers,
        totals=_checks(report.total, counts.fv_by_operator, counts.torch_total,
                       param_counts(model)),
        fvcore_terms=fvcore_term_checks(conv, counts.fv_by_operator),
        fvcore_skipped=counts.fv_skipped, conventions=conv,
        problems=_problems(network, modules, counts.output_shape),
        seconds=time.perf_counter() - start)


def _layer_check(name: str, kind: str, cost: Cost, module: nn.Module, counts: _Counts
                 ) -> LayerCheck:
    return LayerCheck(name, kind, _checks(cost, counts.fv_by_module.get(name, {}),
                                          counts.torch_by_module.get(name, 0),
                                          param_counts(module)))


def crosscheck(model: str, alpha: float | None = None, resolution: object = None,
               classes: int | None = None, depth: float | None = None) -> CrossCheck:
    """Resolve ``model`` (built-in name or spec path) and cross-check it."""
    return crosscheck_network(resolve_model(model, alpha, resolution, classes, depth), model)


# ---------------------------------------------------------------------------------------------
# --all

def crosscheck_grid(points: Iterable[tuple], classes: int | None = None,
                    progress: Callable[[CrossCheck], None] | None = None,
                    jobs: int | None = None) -> tuple[CrossCheck, ...]:
    """Cross-check every ``(model, alpha, resolution[, depth])``, in that order; ``progress``
    is called after each, in order.

    Args:
        jobs: worker processes (default: one per CPU; 1 runs here, in this process). Each
            configuration is independent and single-threaded (:func:`_one_thread`), so the
            grid spreads over the cores. The pool *spawns* its workers: a forked child that
            inherits torch's OpenMP thread pool can deadlock on its first parallel op.
    """
    points = [tuple(p) + (None,) * (4 - len(p)) for p in points]
    jobs = min(len(points), jobs or os.cpu_count() or 1)
    results = []
    if jobs <= 1:
        for model, alpha, resolution, depth in points:
            results.append(crosscheck(model, alpha, resolution, classes, depth))
            if progress:
                progress(results[-1])
        return tuple(results)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init) as pool:
        futures = [pool.submit(crosscheck, model, alpha, resolution, classes, depth)
                   for model, alpha, resolution, depth in points]
        try:
            for future in futures:
                results.append(future.result())
                if progress:
                    progress(results[-1])
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return tuple(results)



def _worker_init() -> None:
    """A pool worker counts on one thread (the pool is the parallelism)."""
    torch.set_num_threads(1)
