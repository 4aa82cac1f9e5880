"""What ``mncost crosscheck`` found, as typed records with their JSON shape (schema
``mncost.crosscheck/1``).

Torch-free: :mod:`mncost.torch_backend.crosscheck` runs the counters and fills these in;
:mod:`mncost.render.crosscheck` turns them into text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..costs.conventions import Conventions
from ..costs.schema import conventions_dict
from ..network.layers import Network

CROSSCHECK_SCHEMA = "mncost.crosscheck/1"


@dataclass(frozen=True)
class Check:
    """One comparison: what the engine computed against what a counter measured."""

    metric: str
    counter: str
    analytic: int
    measured: int

    @property
    def delta(self) -> int:
        return self.measured - self.analytic

    @property
    def ok(self) -> bool:
        return self.delta == 0

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "counter": self.counter, "analytic": self.analytic,
                "measured": self.measured, "delta": self.delta}


#: (metric, counter, description) of every per-layer and total comparison, in display order.
COMPARISONS: tuple[tuple[str, str, str], ...] = (
    ("macs", "fvcore", "MACs vs fvcore's conv/linear ops"),
    ("flops", "torch", "2 x MACs vs torch FlopCounterMode"),
    ("fvcore", "fvcore", "fvcore default (MACs + batch norm + adaptive avg pool)"),
    ("weights", "torch", "conv/fc weights vs Conv2d/Linear .weight"),
    ("trainable", "torch", "trainable params vs sum(p.numel())"),
    ("checkpoint", "torch", "checkpoint params vs params + running mean/var buffers"),
)


@dataclass(frozen=True)
class LayerCheck:
    """The comparisons of one layer (``checks`` follow :data:`COMPARISONS`)."""

    name: str
    kind: str
    checks: tuple[Check, ...]

    def get(self, metric: str, counter: str | None = None) -> Check:
        return _find(self.checks, metric, counter)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass(frozen=True)
class CrossCheck:
    """The cross-check of one network.

    Attributes:
        model: the model argument (built-in name or spec path).
        network: the resolved network that was counted and built.
        layers: per-layer comparisons, in execution order.
        totals: whole-model comparisons (:data:`COMPARISONS` order).
        fvcore_terms: the fvcore total rebuilt from the analytic side, term by term (``macs``,
            ``batch_norm``, ``adaptive_avg_pool2d``) against ``by_operator()``; an operator
            fvcore counted that the engine has no term for appears with analytic 0.
        fvcore_skipped: operators fvcore saw but does not count, with their call counts.
        conventions: every counting and parameter convention of the network.
        problems: structural failures (a layer with no module, a wrong output shape).
        seconds: wall time of the build and both counters.
    """

    model: str
    network: Network
    layers: tuple[LayerCheck, ...]
    totals: tuple[Check, ...]
    fvcore_terms: tuple[Check, ...]
    fvcore_skipped: Mapping[str, int]
    conventions: Conventions
    problems: tuple[str, ...] = ()
    seconds: float = 0.0

    def total(self, metric: str, counter: str | None = None) -> Check:
        return _find(self.totals, metric, counter)

    @property
    def checks(self) -> int:
        """How many integer comparisons were made."""
        return (sum(len(layer.checks) for layer in self.layers) + len(self.totals)
                + len(self.fvcore_terms))

    @property
    def failures(self) -> tuple[tuple[str, Check], ...]:
        """(where, check) of every failed comparison: a layer name, ``total`` or
        ``fvcore term``."""
        found = [(layer.name, c) for layer in self.layers for c in layer.checks if not c.ok]
        found += [("total", c) for c in self.totals if not c.ok]
        found += [("fvcore term", c) for c in self.fvcore_terms if not c.ok]
        return tuple(found)

    @property
    def mismatches(self) -> tuple[str, ...]:
        """One line per structural problem or failed comparison (empty when all agree)."""
        return self.problems + tuple(_mismatch(where, c) for where, c in self.failures)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary_dict(self) -> dict[str, Any]:
        """One line of ``--all``: the configuration, its totals and its verdict."""
        net = self.network
        return {"model": self.model, "spec": net.spec_name, "alpha": net.alpha,
                "depth": net.depth, "resolution": list(net.resolution), "classes": net.classes,
                "layers": len(net.layers), "macs": self.total("macs").analytic,
                "params": self.total("trainable").analytic,
                "fvcore": self.total("fvcore").measured, "checks": self.checks,
                "mismatches": len(self.mismatches), "ok": self.ok,
                "seconds": round(self.seconds, 3)}

    def to_dict(self) -> dict[str, Any]:
        """Everything one cross-check found (docs: "mncost crosscheck")."""
        return {
            "schema": CROSSCHECK_SCHEMA, **self.summary_dict(),
            "mismatch_lines": list(self.mismatches),
            "totals": [c.to_dict() for c in self.totals],
            "fvcore_terms": [c.to_dict() for c in self.fvcore_terms],
            "fvcore_skipped": dict(self.fvcore_skipped),
            "conventions": conventions_dict(self.conventions),
            "layers": [{"name": layer.name, "kind": layer.kind, "ok": layer.ok,
                        "checks": [c.to_dict() for c in layer.checks]}
                       for layer in self.layers],
        }


def _find(checks: Iterable[Check], metric: str, counter: str | None) -> Check:
    for c in checks:
        if c.metric == metric and (counter is None or c.counter == counter):
            return c
    raise KeyError((metric, counter))


def _mismatch(where: str, c: Check) -> str:
    return (f"{where}: {c.metric} analytic {c.analytic:,} != {c.counter} {c.measured:,} "
            f"(delta {c.delta:+,})")
