"""One record per layer kind (mncost.costs.kinds), read by every consumer; sweep and analyze
agree.

``tests/data/every_kind.yaml`` has a layer of every kind, so a kind missing from one side, or a
consumer that keeps its own kind list, shows up here. A toy attention kind, registered here and
nowhere in the package, runs through analyze, memory, sweep, predict and the builder: a kind is
its record (and its torch module), and no consumer branches on kind names.
"""

from __future__ import annotations

import pytest
from conftest import ROOT

import mncost.sweep.run as sweep_module
from mncost import analyze
from mncost.costs.analytic import layer_cost
from mncost.costs.conventions import conventions
from mncost.costs.kinds import KINDS, REGISTRY, mac_kinds
from mncost.errors import SpecError
from mncost.network.catalog import find_spec, load_model, resolve_model
from mncost.network.resolve import resolve
from mncost.spec.load import load_spec
from mncost.sweep.run import Grid, config_columns, sweep

EVERY_KIND = str(ROOT / "tests" / "data" / "every_kind.yaml")


def every_kind_spec():
    return load_spec(find_spec(EVERY_KIND), find_spec)


def test_one_record_per_kind():
    # the order of every by-kind table and of sweep's MAC columns, written out
    assert tuple(KINDS) == ("conv", "pointwise", "depthwise", "grouped", "fc", "se_fc", "pool",
                            "add", "scale", "norm", "attention", "layer_scale")
    assert all(name == kind.name and kind.label for name, kind in REGISTRY.items())
    assert mac_kinds() == ("conv", "pointwise", "depthwise", "grouped", "fc", "se_fc",
                           "attention")
    assert [c for c in config_columns() if c.startswith("macs_") and c != "macs_ratio"] == [
        f"macs_{k}" for k in mac_kinds()]


def test_the_named_facts_of_the_built_in_kinds():
    """The three things the old ``conv`` flag meant, each its own fact, written out."""
    def having(fact):
        return [name for name, kind in REGISTRY.items() if getattr(kind, fact)]

    convs = ["conv", "pointwise", "depthwise", "grouped", "fc", "se_fc"]
    assert having("has_macs") == [*convs, "attention"]
    assert having("conv_module") == convs
    assert having("channel_layout") == ["conv", "pointwise", "depthwise", "grouped", "se_fc"]
    assert having("stem_kernel") == ["conv"]
    assert {name: (kind.input_maps, kind.side_input.__name__)
            for name, kind in REGISTRY.items() if name in ("add", "scale", "pool",
                                                          "attention")} == {
        "add": (2, "zero"), "scale": (1, "se_gate_elements"), "pool": (1, "zero"),
        "attention": (1, "attention_kv_elements")}
    assert [name for name, kind in REGISTRY.items() if kind.workspace.__name__ != "zero"] == [
        "attention"]
    assert [name for name, kind in REGISTRY.items() if kind.biases.__name__ not in (
        "zero", "conv_biases")] == ["layer_scale"]


def test_the_spec_uses_every_kind():
    network = resolve(every_kind_spec(), 1.0)
    assert {layer.kind for layer in network.layers} == set(KINDS)
    for layer in network.layers:
        cost = layer_cost(layer)
        # the kinds with MACs, and only they, have MACs here; the conv kinds, and only they,
        # weights (the attention's are its projections, layers of their own)
        assert (cost.macs > 0) == REGISTRY[layer.kind].has_macs
        assert (cost.weights > 0) == REGISTRY[layer.kind].conv_module


@pytest.mark.torch
def test_every_kind_has_a_torch_module():
    from mncost.torch_backend import build
    from mncost.torch_backend.builder import MODULES

    assert set(MODULES) == set(REGISTRY)
    model = build(resolve(every_kind_spec(), 1.0))
    modules = dict(model.named_modules())
    network = model.network
    assert all(layer.name in modules for layer in network.layers)


def test_every_layer_field_is_written_or_said_not_to_be():
    """A field added to ResolvedLayer must be placed: in the records (RECORD_FIELDS, which the
    JSON layer record and the per-layer CSV both read) or in the fields left out of them."""
    from dataclasses import fields

    from mncost.costs.schema import ANALYZE_LAYER_COLUMNS, layer_fields
    from mncost.network.layers import RECORD_FIELDS, ResolvedLayer

    identity = ["name", "kind", "stage", "inputs", "in_shape", "out_shape"]
    unwritten = ["pool", "attrs", "block", "role"]
    assert [f.name for f in fields(ResolvedLayer)] == [*identity, *RECORD_FIELDS, *unwritten]
    layer = resolve(every_kind_spec(), 1.0).layers[0]
    assert list(layer_fields(layer)) == [*identity, *RECORD_FIELDS]
    start = ANALYZE_LAYER_COLUMNS.index("out_shape") + 1
    assert ANALYZE_LAYER_COLUMNS[start:start + len(RECORD_FIELDS)] == RECORD_FIELDS


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
        assert {k: row[f"macs_{k}"] for k in mac_kinds()} == {
            k: by_kind[k] for k in mac_kinds()}
        mine = [r for r in layers if (r["alpha"], r["resolution"]) ==
                (row["alpha"], row["resolution"])]
        assert [(r["layer"], r["kind"], r["macs"], r["params"]) for r in mine] == [
            (x.layer.name, x.layer.kind, x.cost.macs, x.cost.params("checkpoint"))
            for x in report.layers]


def test_sweep_total_does_not_depend_on_the_column_list(monkeypatch):
    """Dropping a kind from the MAC columns drops its column, never MACs from the total
    (it used to: v3-small 56,051,648 instead of analyze's 56,510,400)."""
    kept = tuple(k for k in mac_kinds() if k != "se_fc")
    monkeypatch.setattr(sweep_module, "mac_kinds", lambda: kept)
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
    bn += 1024 + 2 * 256                       # MQA: its norm, the key and value depthwise
    gap = 8 * 8 * 32 + 4 * 4 * 16              # SE squeeze + head: global average pools
    scores = 2 * 64 * 16                       # 2 heads x 8x8 queries x 4x4 keys
    assert [(t.name, t.count, t.elements) for t in conv.count("ops").terms[1:]] == [
        ("batch_norm", 2 * bn, bn), ("relu", 1032, 1032),      # grouped 1024 + SE fc1 8
        ("relu6", 2 * 4096, 4096), ("hsigmoid", 4 * 32, 32), ("hswish", 5 * 1024, 1024),
        ("se_scale", 2048, 2048), ("layer_scale", 1024, 1024),
        ("residual_add", 2048, 2048),          # the bottleneck's and the MQA's
        ("global_avg_pool", gap, gap), ("max_pool", 8 * 8 * 16, 8 * 8 * 16),
        ("softmax", 4 * scores, scores)]
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


def test_a_row_op_record_is_all_it_takes(tmp_path):
    """A new op is one record (and one builder): the validator, the defaults block and the
    depth rule read nothing else."""
    from dataclasses import replace

    from mncost.network.resolve import _ROW_BUILDERS, registered_row_op
    from mncost.spec.load import ROW_OPS

    twin = replace(ROW_OPS["dw"], name="dw2", aliases=("dwtwin",),
                   defaults={"k": 5, "s": 1, "act": "relu", "bn": True}, fixed_depth=True)
    path = tmp_path / "twin.yaml"
    path.write_text("name: twin\ndefaults: {act: relu6}\nlayers:\n"
                    "  - {op: conv, k: 3, c: 8, s: 2}\n"
                    "  - {op: dwtwin, n: 2}\n")
    with registered_row_op(twin, _ROW_BUILDERS["dw"]):
        net = resolve(load_spec(path, find_spec), depth=2.0)
    dws = [layer for layer in net.layers if layer.kind == "depthwise"]
    # fixed_depth: n stays 2 at depth 2; the record's default k=5; defaults: act applies.
    assert [layer.kernel for layer in dws] == [5, 5]
    assert {layer.act for layer in dws} == {"relu6"}
    # gone again with the with block
    assert "dw2" not in ROW_OPS and "dw2" not in _ROW_BUILDERS
    with pytest.raises(SpecError, match="unknown layer kind 'dwtwin'"):
        load_spec(path, find_spec)


def test_registration_refuses_what_it_cannot_undo():
    from dataclasses import replace

    from mncost.costs.kinds import Kind, register_kind, unregister_kind
    from mncost.network.resolve import _ROW_BUILDERS, register_row_op, unregister_row_op
    from mncost.spec.load import ROW_OPS

    with pytest.raises(ValueError, match="already registered"):
        register_kind(Kind("add", "another add"))
    with pytest.raises(ValueError, match="without '@'"):
        register_kind(Kind("conv@x", "a variant"))
    with pytest.raises(ValueError, match="built in"):
        unregister_kind("pool")
    with pytest.raises(ValueError, match="'bneck' is already taken"):
        register_row_op(replace(ROW_OPS["dw"], name="dw3", aliases=("bneck",)),
                        _ROW_BUILDERS["dw"])
    with pytest.raises(ValueError, match="built in"):
        unregister_row_op("dw")
    assert tuple(KINDS)[-1] == "layer_scale" and "dw3" not in ROW_OPS


# ---------------------------------------------------------------------------------------------
# A toy kind, registered here: a multi-query attention layer (MobileNetV4's MQA, simplified):
# MACs from matmuls, weights in sub-projections, no Conv2d of its own, no ORT layout rule.
# Every consumer must take it from its record alone.

TOY = "toy_attention"


def toy_macs(layer):
    """q: N C hd, k and v: N C d each, q k^T and attn v: h N^2 d each, out: N hd C'."""
    h, d = layer.attr("heads"), layer.attr("key_dim")
    n, c, c_out = layer.in_shape.h * layer.in_shape.w, layer.in_shape.c, layer.out_shape.c
    return n * c * h * d + 2 * n * c * d + 2 * h * n * n * d + n * h * d * c_out


def toy_weights(layer):
    h, d = layer.attr("heads"), layer.attr("key_dim")
    return layer.in_shape.c * (h * d + 2 * d) + h * d * layer.out_shape.c


def toy_softmax_elements(layer):
    n = layer.in_shape.h * layer.in_shape.w
    return layer.attr("heads") * n * n


def toy_kind():
    from mncost.costs.kinds import ElementwiseOp, Kind

    return Kind(TOY, "toy multi-query attention", macs=toy_macs, weights=toy_weights,
                weight_elements=toy_weights, workspace=toy_softmax_elements,
                ops=ElementwiseOp(lambda layer: "softmax", "3 per attention score", 3,
                                  toy_softmax_elements))


def toy_module(layer):
    import torch
    from torch import nn

    h, d = layer.attr("heads"), layer.attr("key_dim")

    class ToyAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Conv2d(layer.in_shape.c, h * d, 1, bias=False)
            self.kv = nn.Conv2d(layer.in_shape.c, 2 * d, 1, bias=False)
            self.out = nn.Conv2d(h * d, layer.out_shape.c, 1, bias=False)

        def forward(self, x):
            b, _, hh, ww = x.shape
            q = self.q(x).flatten(2).reshape(b, h, d, -1).transpose(2, 3)     # b h N d
            k, v = self.kv(x).flatten(2).split(d, dim=1)                      # b d N
            attn = torch.softmax(torch.matmul(q, k[:, None]) * d ** -0.5, -1)  # b h N N
            o = torch.matmul(attn, v[:, None].transpose(2, 3))                # b h N d
            return self.out(o.transpose(2, 3).reshape(b, h * d, hh, ww))

    return ToyAttention()


def toy_row(w, row, name, stride):
    """The row op that emits the toy kind: one layer, the map's size kept."""
    from mncost.network.layers import ResolvedLayer, Shape

    out = Shape(w.width(row, row["c"]), w.shape.h, w.shape.w)
    w.last = w.emit(ResolvedLayer(name=name, kind=TOY, stage=row.name, inputs=(w.last,),
                                  in_shape=w.shape, out_shape=out,
                                  attrs=(("heads", row["heads"]), ("key_dim", row["key_dim"]))))
    w.shape = out


def _count(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"must be a positive integer, got {value!r}")
    return value


TOY_SPEC = """\
name: toy
resolution: 16
classes: 10
se: {ratio: 0.25, of: expanded, divisor: 8, act: relu, gate: hsigmoid}
layers:
  - {op: conv, k: 3, c: 16, s: 2, act: hswish}          # 16x16x3 -> 8x8x16
  - {op: bottleneck, exp: 32, c: 16, se: true}           # 8x8x16, residual
  - {op: toy_mqa, heads: 2, key_dim: 8, c: 24}          # the toy kind: 8x8x16 -> 8x8x24
  - {op: bottleneck, exp: 48, c: 24}                     # 8x8x24, residual
  - {op: pool}
  - {op: fc, c: classes}
"""


@pytest.fixture
def toy(tmp_path):
    """The toy kind and its row op (``op: toy_mqa``) registered for one test; the spec's
    path."""
    from mncost.costs.kinds import registered_kind
    from mncost.network.resolve import registered_row_op
    from mncost.spec.load import RowOp

    op = RowOp(TOY, fields={"heads": _count, "key_dim": _count, "c": _count}, defaults={},
               one_of=(("heads",), ("key_dim",), ("c",)), aliases=("toy_mqa",),
               takes_defaults=False)
    path = tmp_path / "toy.yaml"
    path.write_text(TOY_SPEC)
    with registered_kind(toy_kind(), toy_module), registered_row_op(op, toy_row):
        yield path
    assert TOY not in REGISTRY


def _toy_network(path, alpha=1.0, resolution=None):
    return resolve(load_spec(path, find_spec), alpha, resolution)


def test_a_toy_kind_is_analyzed_from_its_record(toy):
    from mncost.costs.schema import report_dict

    net = _toy_network(toy)
    report = analyze(net)
    layer = net.layer("layers.2")
    assert (layer.kind, layer.attrs) == (TOY, (("heads", 2), ("key_dim", 8)))
    n = 8 * 8
    macs = n * 16 * 16 + 2 * n * 16 * 8 + 2 * 2 * n * n * 8 + n * 16 * 24
    weights = 16 * (16 + 16) + 16 * 24
    row = next(r for r in report.layers if r.layer is layer)
    assert (row.cost.macs, row.cost.weights, row.cost.params(), row.cost.elementwise.own) == (
        macs, weights, weights, 3 * 2 * n * n)
    assert report.by_kind[TOY].macs == macs
    ops = conventions(report).count("ops")
    assert ops.term("softmax").count == 3 * 2 * n * n and ops.total == report.total.ops
    assert conventions(report).count("macs").term("macs").layers == sum(
        1 for r in report.layers if r.cost.macs)
    doc = report_dict(report, "toy")
    record = next(r for r in doc["layers"] if r["name"] == "layers.2")
    assert record["attrs"] == {"heads": 2, "key_dim": 8} and record["macs"] == macs
    assert "attrs" not in doc["layers"][0]
    assert next(k for k in doc["by_kind"] if k["kind"] == TOY)["label"] == (
        "toy multi-query attention")


def test_a_toy_kind_has_memory_and_its_blocks_stay_blocks(toy):
    from mncost.costs.memory import bottleneck_blocks, memory_report

    net = _toy_network(toy)
    report = memory_report(net)
    traffic = dict(report.layers)[net.layer("layers.2")]
    weights = 16 * (16 + 16) + 16 * 24
    assert (traffic.input_bytes, traffic.weight_bytes, traffic.output_bytes) == (
        4 * 8 * 8 * 16, 4 * weights, 4 * 8 * 8 * 24)
    # the blocks are the resolver's, the toy layer between them is a single step
    blocks = [(name, [m.role for m in members]) for name, members in bottleneck_blocks(net)
              if name is not None]
    assert blocks == [
        ("layers.1", ["expand", "dw", "se_pool", "se_fc1", "se_fc2", "se_scale", "project",
                      "add"]),
        ("layers.3", ["expand", "dw", "project", "add"])]
    assert report.peaks["streamed"].bytes < report.peaks["naive"].bytes
    # its step holds, besides its input (8x8x16) and output (8x8x24), its scores (workspace:
    # 2 heads x 64 x 64) under both schedules; naive also holds the 16x16x3 image
    steps = {s: {step.name: step for step in report.peaks[s].steps} for s in report.peaks}
    scores = 2 * 64 * 64
    assert [(steps[s]["layers.2"].live_bytes // 4, steps[s]["layers.2"].piece_bytes // 4)
            for s in ("naive", "streamed")] == [(768 + 1024 + 1536 + scores, scores),
                                                (1024 + 1536 + scores, scores)]
    assert (traffic.input_bytes + traffic.output_bytes) // 4 == 1024 + 1536   # not moved


def test_a_toy_kind_gets_a_sweep_column(toy):
    spec = load_spec(toy, find_spec)
    grid = Grid(("toy",), (spec,), (0.5, 1.0), ((16, 16), (24, 24)))
    assert f"macs_{TOY}" in config_columns()
    for fast in (True, False):
        for row in sweep(grid, fast=fast):
            report = analyze(resolve(spec, row["alpha"], row["resolution"]))
            assert row["macs"] == report.total.macs
            assert row[f"macs_{TOY}"] == report.by_kind[TOY].macs > 0


def test_a_toy_kind_is_predicted(toy, tmp_path):
    import json

    from _helpers import profile_doc

    from mncost.latency.device_profile import load_device
    from mncost.latency.model import ChannelLayout, LatencyModel
    from mncost.latency.predict import SweepPredictor, predict_network

    doc = profile_doc()
    coefs = {"ms_per_mac": 1e-8, "ms_per_byte": 2e-9, "ms_per_call": 0.02}
    doc["model"]["kinds"][TOY] = coefs
    path = tmp_path / "device.json"
    path.write_text(json.dumps(doc))
    device = load_device(str(path))           # the profile's validator knows the kind
    net = _toy_network(toy)
    layer = net.layer("layers.2")
    assert device.model.kernel(layer) == TOY  # no stem variant
    blocked = LatencyModel(device.model.kinds, 0.0, 0.0, layout=ChannelLayout(8, 16))
    assert blocked.kernel(layer) == TOY and blocked.effective_channels(layer) == (16, 24)
    data = predict_network("toy", net, device).to_dict()
    row = next(r for r in data["layers"] if r["name"] == "layers.2")
    n = 8 * 8
    macs = n * 16 * 16 + 2 * n * 16 * 8 + 2 * 2 * n * n * 8 + n * 16 * 24
    nbytes = 4 * (n * 16 + 16 * (16 + 16) + 16 * 24 + n * 24)
    assert (row["macs"], row["bytes"]) == (macs, nbytes)
    assert row["ms"] == pytest.approx(1e-8 * macs + 2e-9 * nbytes + 0.02, rel=1e-12)
    assert not [w for w in data["warnings"] if "never calibrated" in w]
    predictor = SweepPredictor(device, {"toy": load_spec(toy, find_spec)})
    for alpha in (0.5, 1.0):
        for res in ((16, 16), (32, 32)):
            full = device.model.predict(_toy_network(toy, alpha, res)).total_ms
            assert predictor.predict("toy", alpha, res, None) == pytest.approx(full, rel=1e-9)


def test_a_block_is_what_the_resolver_recorded_not_its_names(tmp_path):
    """A block whose parts are named otherwise (an inverted residual as a new row op would
    build it) streams exactly as the same bottleneck does: the schedule reads the roles the
    resolver recorded, not name suffixes."""
    from mncost.costs.memory import bottleneck_blocks, peak_memory
    from mncost.network.resolve import registered_row_op
    from mncost.spec.load import RowOp

    def ib_row(w, row, name, stride):
        x, shape = w.conv(row, f"{name}.widen", w.last, w.shape, 4 * w.shape.c, k=1, s=1,
                          act="relu", bn=True, block=name, role="expand")
        x, shape = w.conv(row, f"{name}.spatial", x, shape, shape.c, k=3, s=stride,
                          groups=shape.c, act="relu", bn=True, kind="depthwise", block=name,
                          role="dw")
        w.last, w.shape = w.conv(row, f"{name}.narrow", x, shape, w.width(row, row["c"]), k=1,
                                 s=1, act="none", bn=True, block=name, role="project")

    head = "name: {}\nresolution: 32\nclasses: 10\nlayers:\n  - {{op: conv, c: 16, s: 2}}\n"
    tail = "  - {op: pool}\n  - {op: fc, c: classes}\n"
    ib, bneck = tmp_path / "ib.yaml", tmp_path / "bneck.yaml"
    ib.write_text(head.format("ib") + "  - {op: ib, c: 16}\n  - {op: ib, c: 24, s: 2}\n" + tail)
    bneck.write_text(head.format("bneck")
                     + "  - {op: bottleneck, exp: 64, c: 16, act: relu, residual: false}\n"
                     + "  - {op: bottleneck, exp: 64, c: 24, s: 2, act: relu}\n" + tail)
    op = RowOp("ib", fields={"c": _count, "s": _count}, defaults={"s": 1}, one_of=(("c",),),
               takes_defaults=False)
    with registered_row_op(op, ib_row):
        renamed = resolve(load_spec(ib, find_spec))
    same = resolve(load_spec(bneck, find_spec))
    assert [la.name for la in renamed.layers][1:4] == [
        "layers.1.widen", "layers.1.spatial", "layers.1.narrow"]
    assert [(b, len(m)) for b, m in bottleneck_blocks(renamed)] == [
        (b, len(m)) for b, m in bottleneck_blocks(same)] == [
        (None, 1), ("layers.1", 3), ("layers.2", 3), (None, 1), (None, 1)]
    streamed = peak_memory(renamed, "streamed")
    assert streamed.bytes == peak_memory(same, "streamed").bytes
    assert streamed.bytes < peak_memory(renamed, "naive").bytes


@pytest.mark.torch
def test_a_toy_kind_is_built(toy):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from mncost.torch_backend import build

    net = _toy_network(toy)
    model = build(net)
    report = analyze(net)
    assert type(model.get_submodule("layers.2")).__name__ == "ToyAttention"
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        out = model(torch.zeros(1, 3, 16, 16))
    assert tuple(out.shape) == (1, 10)
    assert sum(p.numel() for p in model.parameters()) == report.total.params("trainable")
    assert counter.get_total_flops() == 2 * report.total.macs
