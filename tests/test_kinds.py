"""One record per layer kind (mncost.kinds), read by every consumer; sweep and analyze agree.

``tests/data/every_kind.yaml`` has a layer of every kind, so a kind missing from one side, or a
consumer that keeps its own kind list, shows up here.
"""

from __future__ import annotations

import pytest
from conftest import ROOT

import mncost.sweep.run as sweep_module
from mncost import analyze
from mncost.costs.analytic import layer_cost
from mncost.costs.conventions import conventions
from mncost.costs.kinds import KINDS, MAC_KINDS, REGISTRY
from mncost.network.catalog import find_spec, load_model, resolve_model
from mncost.network.resolve import resolve
from mncost.spec.load import load_spec
from mncost.sweep.run import COLUMNS, Grid, sweep

EVERY_KIND = str(ROOT / "tests" / "data" / "every_kind.yaml")


def every_kind_spec():
    return load_spec(find_spec(EVERY_KIND), find_spec)


def test_one_record_per_kind():
    # the order of every by-kind table and of sweep's MAC columns, written out
    assert KINDS == ("conv", "pointwise", "depthwise", "grouped", "fc", "se_fc", "pool", "add",
                     "scale")
    assert all(name == kind.name and kind.label for name, kind in REGISTRY.items())
    assert MAC_KINDS == ("conv", "pointwise", "depthwise", "grouped", "fc", "se_fc")
    assert [c for c in COLUMNS if c.startswith("macs_") and c != "macs_ratio"] == [
        f"macs_{k}" for k in MAC_KINDS]


def test_the_spec_uses_every_kind():
    network = resolve(every_kind_spec(), 1.0)
    assert {layer.kind for layer in network.layers} == set(KINDS)
    for layer in network.layers:
        cost = layer_cost(layer)
        # conv-like kinds and only they have MACs and weights
        assert (cost.macs > 0) == (cost.weights > 0) == REGISTRY[layer.kind].conv


@pytest.mark.torch
def test_every_kind_has_a_torch_module():
    from mncost.torch_backend import build
    from mncost.torch_backend.builder import MODULES

    assert set(MODULES) == set(REGISTRY)
    model = build(resolve(every_kind_spec(), 1.0))
    modules = dict(model.named_modules())
    network = model.network
    assert all(layer.name in modules for layer in network.layers)


@pytest.mark.parametrize("fast", [True, False])
def test_sweep_takes_the_totals_of_analyze(fast):
    """Over every kind, several alphas and resolutions, both sweep paths: each row is
    analyze's totals and by-kind MACs, and each per-layer row is analyze's layer."""
    spec = every_kind_spec()
    alphas, resolutions = (0.5, 1.0, 1.5), ((16, 16), (24, 16), (32, 32))
    grid = Grid(("every",), (spec,), alphas, resolutions, classes=7, params="checkpoint")
    rows = sweep(grid, fast=fast)
    layers = sweep(grid, per_layer=True, fast=fast)
    assert len(rows) == 9
    for row in rows:
        report = analyze(resolve(spec, row["alpha"], row["resolution"], 7))
        assert row["macs"] == report.total.macs > 0
        assert row["params"] == report.total.params("checkpoint")
        by_kind = {k: c.macs for k, c in report.by_kind.items()}
        assert {k: row[f"macs_{k}"] for k in MAC_KINDS} == {k: by_kind[k] for k in MAC_KINDS}
        mine = [r for r in layers if (r["alpha"], r["resolution"]) ==
                (row["alpha"], row["resolution"])]
        assert [(r["layer"], r["kind"], r["macs"], r["params"]) for r in mine] == [
            (x.layer.name, x.layer.kind, x.cost.macs, x.cost.params("checkpoint"))
            for x in report.layers]


def test_sweep_total_does_not_depend_on_the_column_list(monkeypatch):
    """Dropping a kind from the MAC columns drops its column, never MACs from the total
    (it used to: v3-small 56,051,648 instead of analyze's 56,510,400)."""
    monkeypatch.setattr(sweep_module, "MAC_KINDS", tuple(k for k in MAC_KINDS if k != "se_fc"))
    grid = Grid(("v3-small",), (load_model("v3-small"),), (1.0,), ())
    for fast in (True, False):
        row = sweep(grid, fast=fast)[0]
        assert row["macs"] == analyze(resolve_model("v3-small")).total.macs == 56_510_400
        assert "macs_se_fc" not in row


def test_conventions_add_up_over_every_kind():
    """The fvcore and ops conventions, built term by term from the kinds' records, against
    hand counts of every_kind.yaml (8x8 maps after the stem)."""
    report = analyze(resolve(every_kind_spec(), 1.0))
    conv = conventions(report)
    bn = 1024 + 1024 + 2048 + 2048 + 1024      # stem, grouped, expand, dw, project outputs
    gap = 8 * 8 * 32 + 4 * 4 * 16              # SE squeeze + head: global average pools
    assert [(t.name, t.count, t.elements) for t in conv.count("ops").terms[1:]] == [
        ("batch_norm", 2 * bn, bn), ("relu", 1032, 1032),      # grouped 1024 + SE fc1 8
        ("relu6", 2 * 4096, 4096), ("hsigmoid", 4 * 32, 32), ("hswish", 5 * 1024, 1024),
        ("se_scale", 2048, 2048), ("residual_add", 1024, 1024),
        ("global_avg_pool", gap, gap), ("max_pool", 8 * 8 * 16, 8 * 8 * 16)]
    assert [(t.name, t.count) for t in conv.count("fvcore").terms] == [
        ("macs", report.total.macs), ("batch_norm", 2 * bn), ("adaptive_avg_pool2d", gap)]
    assert conv.count("fvcore").total == report.total.fvcore
    assert conv.count("ops").total == report.total.ops


# ---------------------------------------------------------------------------------------------
# Spec row ops: one record each (mncost.spec.ROW_OPS), one builder each in the resolver


def test_every_row_op_has_one_builder():
    from mncost.network.resolve import _ROW_BUILDERS
    from mncost.spec.load import ROW_OPS

    assert set(_ROW_BUILDERS) == set(ROW_OPS)


def test_row_op_aliases_name_one_op_each():
    from mncost.spec.load import ROW_OPS

    aliases = [alias for op in ROW_OPS.values() for alias in op.aliases]
    assert len(aliases) == len(set(aliases))
    assert not set(aliases) & set(ROW_OPS)


def test_a_row_op_record_is_all_it_takes(tmp_path, monkeypatch):
    """A new op is one record (and one builder): the validator, the defaults block and the
    depth rule read nothing else."""
    from dataclasses import replace

    import mncost.network.resolve as resolve_module
    import mncost.spec.load as spec_module

    twin = replace(spec_module.ROW_OPS["dw"], name="dw2", aliases=("dwtwin",),
                   defaults={"k": 5, "s": 1, "act": "relu", "bn": True}, fixed_depth=True)
    monkeypatch.setitem(spec_module.ROW_OPS, "dw2", twin)
    monkeypatch.setitem(spec_module._OP_ALIASES, "dwtwin", "dw2")
    monkeypatch.setitem(resolve_module._ROW_BUILDERS, "dw2", resolve_module._ROW_BUILDERS["dw"])
    path = tmp_path / "twin.yaml"
    path.write_text("name: twin\ndefaults: {act: relu6}\nlayers:\n"
                    "  - {op: conv, k: 3, c: 8, s: 2}\n"
                    "  - {op: dwtwin, n: 2}\n")
    net = resolve(load_spec(path, find_spec), depth=2.0)
    dws = [layer for layer in net.layers if layer.kind == "depthwise"]
    # fixed_depth: n stays 2 at depth 2; the record's default k=5; defaults: act applies.
    assert [layer.kernel for layer in dws] == [5, 5]
    assert {layer.act for layer in dws} == {"relu6"}
