"""The int8 latency model (``calibrate --runtime onnxruntime --dtype int8``): kernels split by
what ONNX Runtime runs each layer in (mncost.costs.int8.precisions), fitting them apart, the
device profile's ``model.precision``, predict naming it, and the calibrate options. No torch
here except the marked end-to-end test at the bottom."""

from __future__ import annotations

import json

import pytest
from _helpers import one_error_line, run

from mncost import resolve_model
from mncost.costs.int8 import precisions
from mncost.latency import device_profile as dp
from mncost.latency import model as lm

#: Known coefficients with int8 and float32 kernels far apart (a float32 pointwise conv 4x
#: slower per MAC than QLinearConv, as ORT's int8 graph runs it on VNNI).
TRUTH = {"conv@stem": (2.0e-8, 1.0e-8, 0.010),
         "pointwise": (3.0e-9, 1.0e-9, 0.004), "pointwise@float32": (1.2e-8, 2.0e-9, 0.009),
         "depthwise": (2.0e-8, 3.0e-9, 0.006), "depthwise@float32": (5.0e-8, 4.0e-9, 0.008),
         "add@float32": (0.0, 4.0e-9, 0.005),
         "fc": (1.0e-9, 4.0e-10, 0.004), "pool": (0.0, 3.0e-9, 0.005)}


def int8_model(kinds=TRUTH, between=0.002, fixed=0.3):
    return lm.LatencyModel(kinds, between, fixed, 1, None, {}, "int8")


def test_kernels_follow_the_runtime_precision_of_each_layer():
    net = resolve_model("v2", 1.0, 224)
    model = int8_model()
    ran = precisions(net)
    pred = {p.name: p.kernel for p in model.predict(net).layers}
    # v2: the residual's skip tensor keeps its writer and readers float32 (ORT's own graph)
    assert ran["layers.2.0.project"] == "float32" and ran["layers.2.0.dw"] == "int8"
    assert pred["layers.2.0.project"] == "pointwise@float32"
    assert pred["layers.2.0.dw"] == "depthwise"
    assert pred["layers.2.1.add"] == "add@float32"
    assert pred["layers.0"] == "conv@stem"                  # the stem runs int8 in v2
    # the same network under a float32 model: no variant at all
    flat = lm.LatencyModel(TRUTH, 0.0, 0.0)
    assert flat.runs(net) is None
    assert all("@float32" not in p.kernel for p in flat.predict(net).layers)


def test_a_float32_stem_is_a_variant_of_the_stem():
    net = resolve_model("v3-small", 1.0, 224)                # hswish stem: float32
    layer = net.layers[0]
    assert int8_model().kernel(layer, precisions(net)[layer.name]) == "conv@stem@float32"


def test_fit_separates_int8_and_float32_kernels():
    truth = int8_model()
    measured = []
    for alpha in (0.35, 0.5, 0.75, 1.0):
        for res in (96, 160, 224):
            net = resolve_model("v2", alpha, res)
            pred = truth.predict(net)
            measured.append(lm.Measured(net, pred.total_ms, {p.name: p.ms for p in pred.layers}))
    model = lm.fit(measured, 1, None, "int8")
    assert model.precision == "int8"
    assert {"pointwise", "pointwise@float32", "add@float32"} <= set(model.kinds)
    # v2 has relu6 on most convs: per-call and activation terms trade off; the per-MAC
    # terms of the int8 and the float32 pointwise kernel must come back apart, and every
    # layer's time on a network the fit never saw
    for kernel in ("pointwise", "pointwise@float32"):
        assert model.kinds[kernel][0] == pytest.approx(TRUTH[kernel][0], rel=1e-6), kernel
    net = resolve_model("v2", 0.6, 144)
    assert model.predict(net).total_ms == pytest.approx(truth.predict(net).total_ms, rel=1e-6)
    # one kernel per kind (a float32 model of the same data) has to average them: the
    # float32 projection before a residual is priced like an int8 one, 40% and more off
    flat = lm.fit(measured, 1)
    assert "pointwise@float32" not in flat.kinds
    skip = net.layer("layers.2.0.project")
    assert flat.layer_ms(skip) < 0.6 * truth.layer_ms(skip, "float32")
    assert model.layer_ms(skip, "float32") == pytest.approx(truth.layer_ms(skip, "float32"),
                                                          rel=1e-6)


def _doc(model):
    return {"schema": "mncost.device/1", "runtime": "onnxruntime", "threads": 1,
            "environment": {"dtype": "int8"}, "model": model.to_dict(),
            "coverage": {"alpha": [0.35, 1.0], "resolution": [96, 224],
                         "macs": [1, 10 ** 10]}}


def test_device_profile_keeps_the_precision_and_its_variants(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(int8_model())))
    dev = dp.load_device(str(path))
    assert dev.model.precision == "int8"
    assert dev.model.kinds["pointwise@float32"] == TRUTH["pointwise@float32"]
    net = resolve_model("v2", 0.5, 160)
    assert dev.model.predict(net).total_ms == int8_model().predict(net).total_ms


def test_an_uncalibrated_float32_kernel_falls_back_to_its_kind_and_is_named(tmp_path):
    kinds = {k: v for k, v in TRUTH.items() if k != "depthwise@float32"}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(int8_model(kinds))))
    net = resolve_model("v3-large", 0.5, 160)          # hswish depthwise convs: float32
    notes = dp.load_device(str(path)).outside(net)
    assert any(n.startswith("kernels never calibrated, predicted with their kind's "
                            "coefficients: ") and "depthwise@float32" in n for n in notes)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(precision="int4"), "model.precision: must be one of float32, int8"),
    (lambda m: m.update(precision="float32"),
     "model.kinds.pointwise@float32: unknown layer kind"),   # only an int8 model has it
])
def test_bad_precisions_are_one_line(tmp_path, edit, message):
    doc = _doc(int8_model())
    edit(doc["model"])
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(doc))
    result = run("predict", "v2", "--device-profile", str(path))
    assert result.exit_code == 2
    assert message in one_error_line(result)


def test_a_profile_without_a_precision_is_float32(tmp_path):
    doc = _doc(lm.LatencyModel({"pointwise": (1e-8, 0.0, 0.0)}, 0.0, 0.0))
    del doc["model"]["precision"]
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(doc))
    assert dp.load_device(str(path)).model.precision == "float32"


def test_predict_names_the_precision(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(int8_model())))
    out = run("predict", "v2", "--device-profile", str(path), "-f", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["device"]["precision"] == "int8"
    variants = {la["name"]: la["variant"] for la in data["layers"]}
    assert variants["layers.2.0.project"] == "pointwise@float32"
    table = run("predict", "v2", "--device-profile", str(path))
    assert "onnxruntime / 1 (int8)" in table.stdout
    csv = run("predict", "v2", "--device-profile", str(path), "-f", "csv")
    header, first = csv.stdout.splitlines()[:2]
    assert header.split(",")[-1] == "precision" and first.split(",")[-1] == "int8"


@pytest.mark.parametrize("args, message", [
    (("--per-channel",), "--per-channel sets int8 weight scales: give it with --dtype int8"),
    (("--dtype", "int8"), "--dtype int8 is quantized by a runtime's own tools: use "
                          "--runtime onnxruntime (not eager)"),
    (("--refit", "x.json", "--dtype", "int8"), "--refit measures nothing: --dtype does not "
                                              "apply"),
    (("--from-published", "pixel1", "--per-channel"),
     "--from-published measures nothing: --per-channel does not apply"),
])
def test_calibrate_dtype_errors_are_one_line(tmp_path, args, message):
    pytest.importorskip("torch")
    result = run("calibrate", "-o", str(tmp_path / "p.json"), *args)
    assert result.exit_code == 2
    assert message in one_error_line(result)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.torch
def test_an_int8_calibration_end_to_end(tmp_path):
    """A small int8 calibration measured here: the profile records int8 and its quantization,
    fits float32 variants, refits without measuring, and predicts."""
    pytest.importorskip("onnxruntime")
    from mncost.latency.calibration import Config, refit
    from mncost.torch_backend.calibrate import calibrate

    configs = [Config(m, resolve_model(m, a, r), m) for m in ("v2", "v3-small")
               for a in (0.35, 0.5) for r in (64, 96)]
    lines = []
    doc = calibrate(runtime="onnxruntime", dtype="int8", budget_s=2, configs=configs,
                    progress=lines.append, allow_unstable=True)
    assert doc["model"]["precision"] == "int8" and doc["model"]["dtype_bytes"] == 1
    assert doc["environment"]["dtype"] == "int8"
    assert doc["environment"]["quantization"]["per_channel"] is False
    assert "pointwise@float32" in doc["model"]["kinds"]
    assert any(line.startswith("int8 probe: ONNX Runtime runs all ") for line in lines)
    path = tmp_path / "int8.json"
    path.write_text(json.dumps(doc))
    again = refit(json.loads(path.read_text()), str(path), lambda m: None, True)
    assert again.model.precision == "int8"
    out = run("predict", "v2", "--alpha", "0.4", "--res", "80", "--device-profile", str(path),
              "-f", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["device"]["precision"] == "int8"


def test_zoo_predicts_the_int8_rows_on_an_int8_profile(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(int8_model())))
    out = run("zoo", "v1", "v2", "--device-profile", str(path), "-f", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    int8_rows = [r for r in data["rows"] if r["precision"] == "int8"]
    float_rows = [r for r in data["rows"] if r["precision"] == "float32"]
    assert int8_rows and float_rows
    assert all(r["predicted_ms"] is not None for r in int8_rows)
    assert all(r["predicted_ms"] is None for r in float_rows)
    assert any(f"float32 rows are not predicted, {path} was calibrated at int8" in n
               for n in data["notes"])


# ---------------------------------------------------------------------------------------------
# MLAS's int8 conv paths (Int8ConvPaths) and the float32 layers' time between layers

AVX512 = lm.Int8ConvPaths()


def test_mlas_int8_conv_paths_by_hand():
    # v1 at 0.6/144: 19, 38, 76, 153, 307, 614 channels
    net = resolve_model("v1", 0.6, 144)
    layer = {la.name: la for la in net.layers}
    assert AVX512.kernel(layer["layers.1.dw"]) == "depthwise@generic"     # 19: not 16k
    assert AVX512.kernel(layer["layers.1.pw"]) == "pointwise@generic"     # reads 19
    assert AVX512.kernel(layer["layers.2.pw"]) == "pointwise@generic"     # reads 38
    assert AVX512.kernel(layer["layers.3.pw"]) == "pointwise"             # 76 -> 76: 4k, 4k
    assert AVX512.kernel(layer["layers.11"]) == "fc"                      # a GEMM: no rule
    net = resolve_model("v1", 0.75, 160)                                  # 24, 48, 96, ...
    layer = {la.name: la for la in net.layers}
    assert AVX512.kernel(layer["layers.1.dw"]) == "depthwise@generic"     # 24 = 16 + 8
    assert AVX512.kernel(layer["layers.2.dw"]) == "depthwise"             # 48
    # AVX2 aligns output channels to 8: 76 outputs leave the fast kernel
    avx2 = lm.Int8ConvPaths.for_cpu(["sse4_2", "avx2"])
    assert avx2.output_alignment == 8
    assert lm.Int8ConvPaths.for_cpu(["avx2", "avx512f", "avx512_vnni"]) == AVX512
    net = resolve_model("v1", 0.6, 144)
    assert avx2.kernel(net.layer("layers.3.pw")) == "pointwise@generic"


def test_a_grouped_int8_conv_is_generic_and_called_per_group():
    from mncost.network.catalog import configs_dir

    net = resolve_model(str(configs_dir() / "calibration" / "grouped.yaml"), 1.0, 160)
    grouped = net.layer("layers.1")                       # 32 -> 64, 4 groups
    assert grouped.groups == 4
    assert AVX512.kernel(grouped) == "grouped@generic" and AVX512.calls(grouped) == 4
    model = int8_model({**TRUTH, "grouped@generic": (1e-8, 0.0, 0.01)})
    model = lm.LatencyModel(model.kinds, 0.0, 0.0, 1, AVX512, {}, "int8")
    assert model.calls(grouped, "int8") == 4


def test_a_float32_depthwise_conv_of_an_int8_graph_is_called_per_group():
    net = resolve_model("v3-large", 1.0, 224)
    ran = precisions(net)
    dw = next(la for la in net.layers if la.kind == "depthwise" and ran[la.name] == "float32")
    model = lm.LatencyModel(TRUTH, 0.0, 0.0, 1, AVX512, {}, "int8")
    assert model.calls(dw, "float32") == dw.groups
    assert model.kernel(dw, "float32") == "depthwise@float32"   # no int8 rule for it


def test_the_float32_layers_time_between_layers():
    net = resolve_model("v2", 1.0, 224)                          # 25 float32 layers of 64
    base = int8_model(between=0.002)
    more = lm.LatencyModel(TRUTH, 0.002, 0.3, 1, None, {}, "int8", 0.004)
    assert more.predict(net).total_ms == pytest.approx(base.predict(net).total_ms + 25 * 0.004)
    assert more.scaled(2.0).between_float_ms == 0.008
    doc = _doc(more)
    assert doc["model"]["between_float_layers_ms"] == 0.004
    assert "between_float_layers_ms" not in lm.LatencyModel(TRUTH, 0.0, 0.0).to_dict()


def test_fit_recovers_the_float32_layers_time_between_layers():
    truth = lm.LatencyModel(TRUTH, 0.001, 0.3, 1, None, {}, "int8", 0.006)
    measured = []
    for model in ("v1", "v2", "v3-small"):
        for alpha in (0.35, 0.5, 1.0):
            for res in (96, 160, 224):
                net = resolve_model(model, alpha, res)
                pred = truth.predict(net)
                # per-layer timings carry none of the time between layers
                measured.append(lm.Measured(net, pred.total_ms,
                                            {p.name: p.ms for p in pred.layers}))
    model = lm.fit(measured, 1, None, "int8")
    assert model.between_float_ms == pytest.approx(0.006, rel=1e-3)
    net = resolve_model("v3-large", 0.6, 144)
    assert model.predict(net).total_ms == pytest.approx(truth.predict(net).total_ms, rel=1e-3)


def test_device_profile_keeps_the_int8_conv_paths(tmp_path):
    model = lm.LatencyModel({**TRUTH, "depthwise@generic": (1e-7, 0.0, 0.01)}, 0.0, 0.0, 1,
                            AVX512, {}, "int8", 0.003)
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(model)))
    dev = dp.load_device(str(path))
    assert dev.model.layout == AVX512 and dev.model.between_float_ms == 0.003
    doc = _doc(model)
    doc["model"]["kinds"]["depthwise@nchw"] = doc["model"]["kinds"]["depthwise"]
    path.write_text(json.dumps(doc))
    result = run("predict", "v2", "--device-profile", str(path))
    assert "model.kinds.depthwise@nchw: unknown layer kind" in one_error_line(result)
    doc = _doc(model)
    doc["model"]["layout"]["depthwise_alignment"] = 0
    path.write_text(json.dumps(doc))
    result = run("predict", "v2", "--device-profile", str(path))
    assert "model.layout.depthwise_alignment: must be an integer 1-1024" in \
        one_error_line(result)


# ---------------------------------------------------------------------------------------------
# The profiler's cost per node, taken out of the per-layer times


def test_stage_one_takes_the_profilers_cost_per_node_out():
    # Per-layer times as ORT's profiler reports them: the layer's own time plus 4 us per node
    # it times; a float32 layer of the int8 graph is 3 nodes, an int8 one 1.
    truth = int8_model(between=0.001)
    per_node = 0.004
    measured = []
    for model in ("v2", "v3-small"):
        for alpha in (0.35, 0.5, 1.0):
            for res in (96, 160, 224):
                net = resolve_model(model, alpha, res)
                ran = precisions(net)
                nodes = {la.name: 3 if ran[la.name] == "float32" else 1 for la in net.layers}
                pred = truth.predict(net)
                measured.append(lm.Measured(
                    net, pred.total_ms,
                    {p.name: p.ms + per_node * nodes[p.name] for p in pred.layers}, nodes))
    points = [lm.LayerPoint(truth.kernel(la, r.get(la.name)), la.act, *truth.features(la),
                            truth.output_bytes(la), m.layer_ms[la.name],
                            truth.calls(la, r.get(la.name)), m.layer_nodes[la.name])
              for m in measured for r in (truth.runs(m.network),) for la in m.network.layers]
    stage = lm.fit_layers(points)
    kernels, node_ms = stage.kernels, stage.node_ms
    assert node_ms == pytest.approx(per_node, rel=1e-6)
    for kernel in ("pointwise", "pointwise@float32", "depthwise"):
        assert kernels[kernel][0] == pytest.approx(TRUTH[kernel][0], rel=1e-6), kernel
    model = lm.fit(measured, 1, None, "int8")
    net = resolve_model("v2", 0.6, 144)
    assert model.predict(net).total_ms == pytest.approx(truth.predict(net).total_ms, rel=1e-6)
    # without the counts, the float32 kernels carry the profiler's cost: a worse prediction
    blind = lm.fit([lm.Measured(m.network, m.end_to_end_ms, m.layer_ms) for m in measured],
                   1, None, "int8")
    skip = net.layer("layers.2.0.project")
    assert blind.layer_ms(skip, "float32") > 1.2 * truth.layer_ms(skip, "float32")


def test_node_counts_by_hand():
    from onnx import helper

    from mncost.torch_backend.onnx_runtime import count_nodes

    nodes = [helper.make_node("QLinearConv", ["x"], ["a"], name="/La/conv/Conv_token_1"),
             helper.make_node("Transpose", ["a"], ["t"], name="Transpose_token_9"),
             helper.make_node("DequantizeLinear", ["t"], ["d"], name="/Lb/x_DequantizeLinear"),
             helper.make_node("Conv", ["d"], ["b"], name="/Ls/Mul_output_0_nchwc"),
             helper.make_node("Constant", [], ["k"], name="/Lb/Constant"),
             helper.make_node("Transpose", ["b"], ["y"], name="Transpose_out")]
    graph = helper.make_graph(nodes, "g", [], [])
    names = {"La": "a", "Lb": "b", "Ls": "b.scale"}
    # the unscoped Transpose goes where the node map puts it; the layer scale's fused conv
    # is its conv's; constants and nodes of no layer are not counted
    assert count_nodes(graph, names, {"Transpose_token_9": "b"}, {"b.scale": "b"}) == \
        {"a": 1, "b": 3}


def test_node_counts_are_kept_for_refit(tmp_path):
    from mncost.latency.calibration import (
        Config,
        Sampled,
        measurements_document,
        sampled_from_document,
    )

    net = resolve_model("v2", 0.35, 96)
    s = Sampled(Config("v2", net, "v2"), [[1_000_000, 1_100_000]],
                {la.name: [10_000, 12_000] for la in net.layers},
                layer_nodes={la.name: 2 for la in net.layers})
    doc = {"measurements": measurements_document([s], [])}
    back, _ = sampled_from_document(json.loads(json.dumps(doc)), "p.json")
    assert back[0].layer_nodes == s.layer_nodes
    assert back[0].measured().layer_nodes == s.layer_nodes
    doc["measurements"]["configurations"][0]["layer_nodes"] = [1, 2]
    with pytest.raises(Exception, match="layer_nodes: must be one node count >= 0 per layer"):
        sampled_from_document(doc, "p.json")


@pytest.mark.torch
def test_ort_runners_count_their_nodes():
    pytest.importorskip("onnxruntime")
    from mncost.measure.profile_options import ProfileOptions
    from mncost.torch_backend.runners import runner_for

    net = resolve_model("v2", 0.35, 64)
    int8 = runner_for("onnxruntime", "int8")(net, ProfileOptions(threads=1, dtype="int8",
                                                                 runtime="onnxruntime"))
    counts = int8.profiled_nodes()
    ran = precisions(net)
    # an int8 layer is one fused node; a float32 conv reads through Dequantize nodes
    assert counts["layers.1.dw"] == 1 and ran["layers.1.dw"] == "int8"
    assert counts["layers.2.0.project"] > 1 and ran["layers.2.0.project"] == "float32"
    flat = runner_for("onnxruntime")(net, ProfileOptions(threads=1, runtime="onnxruntime"))
    assert set(flat.profiled_nodes()) <= {la.name for la in net.layers}


# ---------------------------------------------------------------------------------------------
# MLAS's symmetric kernels compute whole blocks; the Quantize / Dequantize copies; the
# share-weighted stage 1


def test_symmetric_kernels_compute_whole_row_blocks_and_channel_packs_by_hand(tmp_path):
    # MLAS's AVX-512 symmetric kernels compute 6 output pixels a call (the first duplicated
    # into the unused rows) and output channels in packs of 16.
    spec = tmp_path / "t.yaml"
    spec.write_text("name: t\nresolution: 10\nclasses: 4\nlayers:\n"
                    "  - {op: conv, k: 1, c: 152, s: 2}\n"      # 5x5: the stem, 3 in: generic
                    "  - {op: conv, k: 1, c: 600}\n"            # 152 -> 600 at 5x5: fast
                    "  - {op: dw, k: 3}\n"                      # 600 at 5x5: not 16k, generic
                    "  - {op: conv, k: 1, c: 608}\n"            # 600 -> 608 at 5x5: fast
                    "  - {op: dw, k: 3}\n"                      # 608 = 16 x 38 at 5x5: fast
                    "  - {op: pool}\n  - {op: fc, c: classes}\n")
    net = resolve_model(str(spec), 1.0, 10)
    layer = {la.name: la for la in net.layers}
    pw, dw_generic, pw2, dw = (layer[f"layers.{i}"] for i in (1, 2, 3, 4))
    # 25 pixels -> 30 rows; 600 channels -> 608 (38 packs of 16)
    assert AVX512.features(pw, 1)[0] == 30 * 152 * 608
    assert AVX512.features(pw2, 1)[0] == 30 * 600 * 608             # 608: whole packs
    assert AVX512.features(dw, 1)[0] == 30 * 9 * 608                # 6 rows, no channel pad
    # the generic depthwise kernel: 600 = 37 x 16 + 8 channels, 38 vector steps of 16 lanes
    assert AVX512.features(dw_generic, 1)[0] == 25 * 9 * 608
    assert AVX512.features(pw, 1)[1] == lm.layer_features(pw, 1)[1]  # bytes: the layer's own
    assert [AVX512.row_block(la) for la in (pw, dw_generic, dw, layer["layers.6"])] == [6, 1, 6, 1]
    # a layer the int8 graph runs in float32 is ORT's float conv: no blocks
    model = int8_model()
    model = lm.LatencyModel(model.kinds, 0.0, 0.0, 1, AVX512, {}, "int8")
    assert model.features(pw, "float32")[0] == 25 * 152 * 600
    assert model.row_block(pw, "float32") == 1 and model.row_block(pw, "int8") == 6
    # AVX2 computes 4 rows a call (both kernels), AVX-VNNI 6 and 4 for the depthwise one
    avx2 = lm.Int8ConvPaths.for_cpu(["avx2"])
    vnni = lm.Int8ConvPaths.for_cpu(["avx2", "avx_vnni"])
    assert (avx2.rows, avx2.depthwise_rows, avx2.output_alignment) == (4, 4, 8)
    assert (vnni.rows, vnni.depthwise_rows, vnni.output_alignment) == (6, 4, 8)
    assert avx2.features(dw, 1)[0] == 28 * 9 * 608                  # 25 -> 28 rows


def test_a_profile_without_row_blocks_predicts_as_written(tmp_path):
    model = lm.LatencyModel(TRUTH, 0.0, 0.0, 1, AVX512, {}, "int8")
    doc = _doc(model)
    assert doc["model"]["layout"]["rows"] == 6 and doc["model"]["layout"]["channel_pack"] == 16
    for key in ("rows", "depthwise_rows", "channel_pack", "depthwise_vector", "gemm_depth_pack"):
        del doc["model"]["layout"][key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    old = dp.load_device(str(path)).model.layout
    assert (old.rows, old.depthwise_rows, old.channel_pack, old.depthwise_vector,
            old.gemm_depth_pack) == (1, 1, 1, 1, 1)
    net = resolve_model("v2", 0.6, 144)
    assert all(old.features(la, 1) == lm.layer_features(la, 1)[:2] for la in net.layers)
    doc["model"]["layout"]["rows"] = 0
    path.write_text(json.dumps(doc))
    assert "model.layout.rows: must be an integer 1-1024" in one_error_line(
        run("predict", "v2", "--device-profile", str(path)))


def test_conversions_are_priced_per_element_and_kept_in_the_profile(tmp_path):
    rate = 2e-7
    model = lm.LatencyModel(TRUTH, 0.0, 0.0, 1, None, {}, "int8",
                            ms_per_converted_element=rate)
    net = resolve_model("v2", 1.0, 224)
    without = lm.LatencyModel(TRUTH, 0.0, 0.0, 1, None, {}, "int8")
    pred, base = model.predict(net), without.predict(net)
    # v2 1.0/224: the image's Quantize (3 x 224 x 224) is the stem's; layers.2.1.dw
    # dequantizes the float32 expand output (144 x 56 x 56) it reads
    copies = model.conversions(net)
    assert copies["layers.0"] == 3 * 224 * 224
    assert copies["layers.2.1.dw"] == 144 * 56 * 56
    for p, q in zip(pred.layers, base.layers):
        assert p.ms == pytest.approx(q.ms + rate * copies.get(p.name, 0), rel=1e-12)
    # a float32 model has no copies, whatever its rate
    assert lm.LatencyModel(TRUTH, 0.0, 0.0, ms_per_converted_element=rate).conversions(net) == {}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_doc(model)))
    assert dp.load_device(str(path)).model.ms_per_converted_element == rate
    doc = _doc(model)
    doc["model"]["conversions"]["per_byte"] = 1
    path.write_text(json.dumps(doc))
    assert "model.conversions.per_byte: unknown field" in one_error_line(
        run("predict", "v2", "--device-profile", str(path)))
    doc = _doc(model)
    doc["model"]["precision"] = "float32"
    doc["model"]["kinds"] = {k: v for k, v in doc["model"]["kinds"].items() if "@" not in k}
    path.write_text(json.dumps(doc))
    assert "model.conversions: Quantize and Dequantize copies are an int8 model's" in \
        one_error_line(run("predict", "v2", "--device-profile", str(path)))


def test_fit_recovers_the_rate_of_the_conversions():
    # Per-layer times with the copies ORT's profiler times with each layer (not the image's
    # Quantize, a graph edge): stage 1 recovers the rate, and the fitted model predicts the
    # end-to-end times, the image's Quantize priced at the same rate.
    rate = 3e-7
    truth = lm.LatencyModel(TRUTH, 0.001, 0.3, 1, None, {}, "int8",
                            ms_per_converted_element=rate)
    measured = []
    for model in ("v2", "v3-small"):
        for alpha in (0.35, 0.5, 1.0):
            for res in (96, 160, 224):
                net = resolve_model(model, alpha, res)
                image = 3 * res * res
                pred = truth.predict(net)
                layer_ms = {p.name: p.ms - (rate * image if p.name == "layers.0" else 0.0)
                            for p in pred.layers}
                measured.append(lm.Measured(net, pred.total_ms, layer_ms))
    fitted = lm.fit(measured, 1, None, "int8")
    assert fitted.ms_per_converted_element == pytest.approx(rate, rel=1e-6)
    net = resolve_model("v2", 0.6, 144)
    assert fitted.predict(net).total_ms == pytest.approx(truth.predict(net).total_ms, rel=1e-6)


def test_share_weighted_stage_one_by_hand():
    # One kernel, one feature (map bytes), two readings of the same layer: relative errors give
    # b = (1/1 + 1/2) / (1/1 + 1/4) = 1.2; weighted by sqrt(reading x network),
    # min sum (b - y)^2 / (y T) with T = 10 for both: b = (2 / 10) / ((1 + 1/2) / 10) = 4/3.
    points = [lm.LayerPoint("add", "none", 0, 1, 0, ms, calls=0, network_ms=10.0)
              for ms in (1.0, 2.0)]
    assert lm.fit_layers(points).kernels["add"][1] == pytest.approx(1.2)
    assert lm.fit_layers(points, share_weighted=True).kernels["add"][1] == pytest.approx(4 / 3)
    # the reading that is the larger share of its network counts more: T = 1 and 100 ->
    # b = (1/1 + 1/100) / (1/1 + 1/200) = 1.005 (relative errors alone: 1.2)
    points = [lm.LayerPoint("add", "none", 0, 1, 0, 1.0, calls=0, network_ms=1.0),
              lm.LayerPoint("add", "none", 0, 1, 0, 2.0, calls=0, network_ms=100.0)]
    assert lm.fit_layers(points, share_weighted=True).kernels["add"][1] == \
        pytest.approx((1 + 2 / 200) / (1 + 1 / 200))
    assert lm.SHARE_WEIGHTED == ("int8",)


def test_generic_depthwise_lanes_by_hand():
    # MlasConvDepthwiseKernelAvx2: 16 channels a step, then 8, then one at a time; a tail
    # channel counts 8 lanes (TAIL_LANES, half a step)
    lanes = AVX512.depthwise_lanes
    assert lm.TAIL_LANES == 8
    assert lanes(16) == 16 and lanes(48) == 48                      # whole steps
    assert lanes(24) == 32                                          # 16 + 8: two steps
    assert lanes(11) == 16 + 3 * 8                                  # 8 + 3
    assert lanes(19) == 16 + 3 * 8                                  # 16 + 3
    assert lanes(22) == 16 + 6 * 8                                  # 16 + 6
    assert lanes(44) == 32 + 16 + 4 * 8                             # 16 + 16 + 8 + 4
    assert lanes(302) == 18 * 16 + 16 + 6 * 8                       # 288 + 8 + 6
    assert lanes(5) == 5 * 8                                        # a tail only
    # v1 at 0.35/96: layers.1.dw has 11 channels at 48 x 48, 3 x 3
    net = resolve_model("v1", 0.35, 96)
    dw = net.layer("layers.1.dw")
    assert dw.in_shape.c == 11 and AVX512.kernel(dw) == "depthwise@generic"
    assert AVX512.features(dw, 1)[0] == 48 * 48 * 9 * 40
    # a profile written before the field: the layer's own channels
    assert lm.Int8ConvPaths(depthwise_vector=1).depthwise_lanes(11) == 11


def test_generic_gemm_packs_by_hand():
    # ragged.yaml at 1.0/160: layers.1 is a full 3x3 conv 30 -> 38 at 80 x 80, off the fast
    # kernels (30 inputs: not 4k): im2col and MLAS's integer GEMM, its reduction 9 x 30 = 270
    # packed to 272, its 38 outputs to 48
    from mncost.network.catalog import configs_dir

    net = resolve_model(str(configs_dir() / "calibration" / "ragged.yaml"), 1.0, 160)
    conv = net.layer("layers.1")
    assert (conv.in_shape.c, conv.out_shape.c, conv.kernel) == (30, 38, 3)
    assert AVX512.kernel(conv) == "conv@generic"
    assert AVX512.features(conv, 1)[0] == 80 * 80 * 272 * 48
    # a grouped conv, per group: grouped.yaml layers.1, 32 -> 64 in 4 groups at 80 x 80:
    # 9 x 8 = 72 (whole packs of 4) by 16 outputs a group
    net = resolve_model(str(configs_dir() / "calibration" / "grouped.yaml"), 1.0, 160)
    grouped = net.layer("layers.1")
    assert AVX512.features(grouped, 1)[0] == 80 * 80 * 4 * 72 * 16 == \
        lm.layer_features(grouped, 1)[0]
    old = lm.Int8ConvPaths(rows=1, depthwise_rows=1, channel_pack=1, depthwise_vector=1,
                           gemm_depth_pack=1)
    assert old.features(conv, 1) == lm.layer_features(conv, 1)[:2]
