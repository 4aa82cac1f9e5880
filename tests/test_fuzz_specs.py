"""Specs nobody wrote down: random networks and random damage to real spec files.

* Any random spec the engine accepts builds in torch with exactly the analytic parameters and
  MACs (FlopCounterMode = 2 x MACs).
* Any damaged spec text either loads or fails with a one-line mncost error: never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mncost import analyze
from mncost.errors import MncostError, SpecError
from mncost.network.catalog import find_spec
from mncost.network.resolve import resolve
from mncost.spec.load import load_spec

ACTS = ["relu", "relu6", "hswish", "hsigmoid", "sigmoid", "swish", "none", "RE", "HS"]
odd_kernels = st.sampled_from([1, 3, 5, 7])
widths = st.integers(min_value=1, max_value=24)


def _row(draw_op, draw) -> dict:
    op = draw_op
    if op == "conv":
        row = {"op": "conv", "k": draw(odd_kernels), "s": draw(st.integers(1, 2))}
        if draw(st.booleans()):
            row["c"] = draw(widths)
        else:
            row["t"] = draw(st.sampled_from([0.5, 1, 2, 6]))
        if draw(st.booleans()):
            row["bn"] = draw(st.booleans())
    elif op == "dw":
        row = {"op": "dw", "k": draw(odd_kernels), "s": draw(st.integers(1, 2))}
    elif op == "separable":
        row = {"op": "separable", "c": draw(widths), "s": draw(st.integers(1, 2))}
    else:
        row = {"op": "bottleneck", "c": draw(widths), "k": draw(odd_kernels),
               "s": draw(st.integers(1, 2)), "se": draw(st.booleans()),
               "n": draw(st.integers(1, 3))}
        if draw(st.booleans()):
            row["t"] = draw(st.sampled_from([1, 3, 4.5, 6]))
        else:
            row["exp"] = draw(widths)
    row["act"] = draw(st.sampled_from(ACTS))
    return row


@st.composite
def random_spec(draw) -> dict:
    ops = draw(st.lists(st.sampled_from(["conv", "dw", "separable", "bottleneck"]),
                        min_size=1, max_size=6))
    width = draw(st.sampled_from([
        {"rounding": "floor", "min": 1}, {"rounding": "floor", "min": 8},
        {"rounding": "make_divisible", "divisor": 8},
        {"rounding": "make_divisible", "divisor": 4}]))
    se = draw(st.sampled_from([
        {"ratio": 0.25, "of": "expanded", "divisor": 8},
        {"ratio": 0.25, "of": "input", "divisor": None, "act": "swish", "gate": "sigmoid"}]))
    rows = [{"op": "conv", "k": 3, "c": draw(widths), "s": 2}]
    rows += [_row(op, draw) for op in ops]
    head = draw(st.sampled_from(["pool_fc", "pool_fc_fc", "local_pool", "none"]))
    if head == "local_pool":
        rows.append({"op": "pool", "type": draw(st.sampled_from(["avg", "max"])), "k": 3,
                     "s": 2})
    if head in ("pool_fc", "pool_fc_fc"):
        rows.append({"op": "pool", "type": draw(st.sampled_from(["avg", "max"]))})
        if head == "pool_fc_fc":
            rows.append({"op": "fc", "c": draw(widths), "act": "hswish"})
        rows.append({"op": "fc", "c": "classes"})
    return {"name": "random", "width": width, "se": se,
            "expansion_size": draw(st.sampled_from(["width", "factor"])), "layers": rows}


def _load(tmp_path: Path, doc: dict):
    path = tmp_path / "random.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_spec(path, find_spec)


@pytest.mark.torch
@settings(max_examples=examples(25),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=random_spec(), alpha=st.sampled_from([0.35, 0.5, 1.0, 1.3]),
       res=st.integers(min_value=8, max_value=40), classes=st.integers(1, 20))
def test_random_specs_build_with_the_analytic_counts(tmp_path, doc, alpha, res, classes):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mncost.torch_backend import build

    try:
        network = resolve(_load(tmp_path, doc), alpha, res, classes)
    except SpecError as exc:        # e.g. t: 0.5 of one channel: rejected, naming the row
        assert "must be at least 1" in str(exc) and "\n" not in str(exc)
        return
    report = analyze(network)
    model = build(network)
    assert sum(p.numel() for p in model.parameters()) == report.total.params("trainable")
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        out = model(torch.randn(1, 3, res, res))
    assert counter.get_total_flops() == 2 * report.total.macs
    last = network.layers[-1].out_shape
    expected = (1, last.c) if (last.h, last.w) == (1, 1) else (1, last.c, last.h, last.w)
    assert tuple(out.shape) == expected


SPEC_TEXTS = [p.read_text() for p in sorted((ROOT / "configs").glob("mobilenet_v*.yaml"))
              if "extends" not in p.read_text()]


@settings(max_examples=examples(150),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(SPEC_TEXTS) - 1), data=st.data())
def test_damaged_specs_fail_cleanly(tmp_path, which, data):
    text = SPEC_TEXTS[which]
    at = data.draw(st.integers(0, len(text) - 1))
    cut = data.draw(st.integers(0, 12))
    insert = data.draw(st.sampled_from(["", ":", "{", "}", "-", " ", "\n", "x", "0", "-1",
                                        "'", "[", "]", "#", "\t", "classes", "op: x"]))
    path = tmp_path / "damaged.yaml"
    path.write_text(text[:at] + insert + text[at + cut:])
    try:
        spec = load_spec(path, find_spec)
        resolve(spec, 0.5, 64)
    except MncostError as exc:
        message = str(exc)
        assert "\n" not in message and message
