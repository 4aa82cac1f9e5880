"""``profile --runtime onnxruntime --dtype int8``: ORT's QDQ quantization of the export, the
layer map of the quantized graph (nodes ORT names itself included), what ran int8, the
interleaved ``--compare float32`` and its outputs, and the one-line errors (the ORT parts are
skipped without the ``onnx`` extra)."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics

import pytest
from _helpers import assert_readable, one_error_line, record_sections, run

from mncost import resolve_model
from mncost.costs.kinds import REGISTRY
from mncost.errors import InputError
from mncost.measure.profile_options import ProfileOptions

pytestmark = pytest.mark.torch

INT8 = dict(runtime="onnxruntime", dtype="int8", threads=1)
QUICK = ("--warmup", "1", "--repeats", "3", "--min-time", "0", "--threads", "1")
CONV_KINDS = {k for k, kind in REGISTRY.items() if "conv" in kind.label}


@pytest.fixture(scope="module")
def int8():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from mncost.torch_backend import ort_int8

    return ort_int8


@pytest.fixture(scope="module")
def v2(int8):
    return int8.OrtInt8Runner(resolve_model("v2", 0.35, 64), ProfileOptions(**INT8))


@pytest.fixture(scope="module")
def v3(int8):
    return int8.OrtInt8Runner(resolve_model("v3-small", 0.5, 64),
                              ProfileOptions(**INT8, per_channel=True))


def graph(model: bytes):
    import onnx

    return onnx.load_from_string(model).graph


# ---------------------------------------------------------------------------------------------
# The layer map and the precision, on hand-made graphs


def _node(op, name, inputs, outputs, domain=""):
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=name, domain=domain)


@pytest.fixture
def hand_graph(int8):
    """input -> Q -> Transpose -> QLinearConv (a) -> Transpose -> DQ -> Conv (b, weight
    through an unscoped DQ) -> Q_token -> DQ -> output; layer c has no node."""
    from onnx import TensorProto, helper

    nodes = [
        _node("QuantizeLinear", "input_QuantizeLinear", ["input"], ["q0"]),
        _node("Transpose", "Transpose", ["q0"], ["t0"]),
        _node("QLinearConv", "/La/conv/Conv_token_1", ["t0"], ["a"], "com.microsoft"),
        _node("Transpose", "Transpose_token_7", ["a"], ["t1"]),
        _node("DequantizeLinear", "/La/act/Relu_output_0_DequantizeLinear", ["t1"], ["d1"]),
        _node("DequantizeLinear", "onnx::Conv_5_DequantizeLinear", ["w"], ["dw"]),
        _node("Conv", "/Lb/conv/Conv", ["d1", "dw"], ["b"]),
        _node("QuantizeLinear", "QuantizeLinear_token_9", ["b"], ["q2"]),
        _node("DequantizeLinear", "output_DequantizeLinear", ["q2"], ["output"]),
    ]
    value = helper.make_tensor_value_info
    return helper.make_graph(nodes, "g", [value("input", TensorProto.FLOAT, [1])],
                             [value("output", TensorProto.FLOAT, [1])])


def test_unscoped_nodes_go_to_the_layer_they_feed_edges_to_none(int8, hand_graph):
    names = {"La": "a", "Lb": "b", "Lc": "c"}
    # The transpose feeds the DequantizeLinear of a's output (named after a's tensor): a.
    assert int8.node_layers(hand_graph, names) == {
        "Transpose_token_7": "a", "onnx::Conv_5_DequantizeLinear": "b"}
    # input_QuantizeLinear, Transpose (before the first layer), QuantizeLinear_token_9 and
    # output_DequantizeLinear (after the last) are the graph's edges: unattributed.


def test_precision_reads_the_kernels_of_each_layer(int8, hand_graph):
    names = {"La": "a", "Lb": "b", "Lc": "c"}
    assert int8.layer_precision(hand_graph, names) == {"a": "int8", "b": "float32", "c": "-"}


def test_profile_parser_uses_the_node_map(int8):
    from mncost.torch_backend.onnx_runtime import parse_profile

    events = [{"cat": "Session", "name": "model_run", "ts": 0, "dur": 100},
              {"cat": "Node", "name": "/La/conv/Conv_token_1_kernel_time", "ts": 1, "dur": 30},
              {"cat": "Node", "name": "Transpose_token_7_kernel_time", "ts": 40, "dur": 5},
              {"cat": "Node", "name": "Transpose_kernel_time", "ts": 50, "dur": 2}]
    per_layer, runs, unattributed = parse_profile(events, {"La": "a", "Lb": "b"}, 0,
                                                  {"Transpose_token_7": "b"})
    assert per_layer == {"a": [30_000], "b": [5_000]} and unattributed == [2_000]


# ---------------------------------------------------------------------------------------------
# Real quantized networks


def test_every_conv_reads_int8_weights_and_some_run_int8_kernels(v2, int8):
    assert int8.unquantized_layers(v2.onnx, v2.names) == []
    ops = {n.op_type for n in graph(v2.onnx).node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    net = v2.network
    precision = v2.precision
    assert set(precision) == {l.name for l in net.layers}
    convs = [l.name for l in net.layers if l.kind in CONV_KINDS]
    assert all(precision[name] in ("int8", "float32", "mixed") for name in convs)
    assert sum(precision[name] == "int8" for name in convs) >= len(convs) // 2
    # "int8" is what the optimized graph says: a quantized kernel carries the layer's scope.
    from mncost.torch_backend.onnx_runtime import layer_of, optimized_graph

    quantized = {layer_of(n.name, v2.names) for n in optimized_graph(v2.onnx).node
                 if n.op_type in int8.QUANTIZED_OPS}
    assert {name for name in convs if precision[name] == "int8"} <= quantized


@pytest.mark.parametrize("model, alpha, res", [
    ("v2", 0.35, 64), ("v3-small", 0.5, 64), ("v4-conv-small", 0.35, 64),
    ("v4-hybrid-medium", 0.25, 64), ("efficientnet-b0", 0.25, 64),
    ("calibration/grouped.yaml", 0.5, 64), ("calibration/attention.yaml", 0.5, 64)])
def test_the_structural_rule_is_what_ort_runs(int8, model, alpha, res):
    """mncost.costs.int8.precisions (pure: what predict and memory read) equals the kernels
    ORT's optimized graph really runs, layer by layer (residual adds, SE, h-swish, layer
    scale folded into its conv, attention's float softmax, max pooling)."""
    from mncost.costs.int8 import precisions
    from mncost.network.catalog import configs_dir

    name = str(configs_dir() / model) if model.endswith(".yaml") else model
    net = resolve_model(name, alpha, res)
    runner = int8.OrtInt8Runner(net, ProfileOptions(**INT8))
    assert precisions(net) == runner.precision


def test_every_node_inside_the_network_carries_a_layer_scope(v3):
    # The quantizer names weight DQs after initializers and leaves the nodes of the hard swish
    # it expands unnamed (ORT would call them Mul_253): all get their layer's scope; only the
    # graph's edges (the input's and output's Q/DQ) stay unscoped.
    from mncost.torch_backend.onnx_runtime import layer_of

    g = graph(v3.onnx)
    unscoped = [n.name for n in g.node if layer_of(n.name, v3.names) is None]
    assert unscoped == ["input_QuantizeLinear", "input_DequantizeLinear",
                        "output_QuantizeLinear", "output_DequantizeLinear"]
    assert len({n.name for n in g.node}) == len(g.node)


def test_the_float_export_is_not_the_quantized_one(int8):
    # A quantizer that returned the float model: every conv layer is named, one line.
    from mncost.torch_backend.onnx_runtime import OrtRunner

    runner = OrtRunner(resolve_model("v1", 0.25, 32), ProfileOptions(threads=1))
    missing = int8.unquantized_layers(runner.onnx, runner.names)
    assert missing == [l.name for l in runner.network.layers if l.kind in CONV_KINDS | {"fc"}]


def test_a_quantizer_that_leaves_layers_float_is_one_line(int8, monkeypatch):
    monkeypatch.setattr(int8, "quantize", lambda model, shape, per_channel: model)
    result = run("profile", "v1", "--alpha", "0.25", "--res", "32", "--runtime", "onnxruntime",
                 "--dtype", "int8", *QUICK)
    assert one_error_line(result) == (
        "mncost: error: int8: ONNX Runtime's quantizer left 28 layer(s) float: layers.0, "
        "layers.1.dw, layers.1.pw, layers.2.dw, layers.2.pw, layers.3.dw ...")


def test_a_quantizer_failure_is_one_line(int8, monkeypatch):
    import onnxruntime.quantization as q

    def broken(*args, **kwargs):
        raise ValueError("no calibration data\nsecond line")

    monkeypatch.setattr(q, "quantize_static", broken)
    result = run("profile", "v1", "--alpha", "0.25", "--res", "32", "--runtime", "onnxruntime",
                 "--dtype", "int8", *QUICK)
    assert one_error_line(result) == ("mncost: error: int8 quantization failed: ValueError: "
                                      "no calibration data")


def _weight_scales(model: bytes) -> dict[str, int]:
    """Conv node -> the element count of its weight's scale."""
    g = graph(model)
    producer = {o: n for n in g.node for o in n.output}
    inits = {i.name: i for i in g.initializer}
    scales = {}
    for n in g.node:
        if n.op_type == "Conv":
            dq = producer[n.input[1]]
            scale = inits[dq.input[1]]
            scales[n.name] = math.prod(scale.dims) if scale.dims else 1
    return scales


def test_per_channel_and_per_tensor_differ_in_the_graph(v2, v3, int8):
    per_tensor = _weight_scales(v2.onnx)
    assert set(per_tensor.values()) == {1}
    per_channel = _weight_scales(v3.onnx)
    conv_out = {n.name: None for n in graph(v3.float_onnx).node if n.op_type == "Conv"}
    assert set(per_channel) == set(conv_out)
    assert all(count > 1 for count in per_channel.values())
    assert v3.describe()["quantization"]["per_channel"] is True
    assert v2.describe()["quantization"]["per_channel"] is False


@pytest.mark.parametrize("which", ["v2", "v3"])
def test_per_layer_profile_maps_every_layer(which, request):
    runner = request.getfixturevalue(which)
    per_layer, runs = runner.layer_runs(1, 2)
    net = runner.network
    assert set(per_layer) == {l.name for l in net.layers}
    for layer in net.layers:
        median = statistics.median(per_layer[layer.name])
        if runner.precision[layer.name] == "-":
            assert layer.kind == "add" and median == 0, layer.name
        else:
            assert median > 0, layer.name
    assert all(runner.precision[l.name] != "-" for l in net.layers if l.kind != "add")
    assert len(runner.unattributed_ns) == 2
    for i in range(2):
        inside = sum(v[i] for v in per_layer.values())
        assert inside + runner.unattributed_ns[i] <= runs[i] + 1000 * len(per_layer)
        assert runner.unattributed_ns[i] < 0.1 * inside


def test_environment_records_the_quantization(v2):
    import onnxruntime

    env = v2.describe()
    assert env["dtype"] == "int8" and env["onnxruntime"] == onnxruntime.__version__
    assert env["quantization"] == {
        "format": "QDQ", "activations": "int8 (QuantType.QInt8)",
        "weights": "int8 (QuantType.QInt8)", "per_channel": False, "calibration": "MinMax",
        "calibration_samples": 8, "calibration_inputs": "standard normal, seed 0",
        "tools": "quant_pre_process + quantize_static"}
    assert env["layer_precision"] == v2.precision


# ---------------------------------------------------------------------------------------------
# --compare float32


@pytest.fixture(scope="module")
def compared(int8):
    args = ("profile", "v3-small", "--alpha", "0.35", "--res", "64", "--runtime",
            "onnxruntime", "--dtype", "int8", "--compare", "float32", "--per-layer", *QUICK)
    result = run(*args, "-f", "json")
    assert result.exit_code == 0, result.output
    return args, json.loads(result.stdout)


def test_compare_json_shape(compared):
    _, data = compared
    c = data["compare"]
    net = resolve_model("v3-small", 0.35, 64)
    assert (c["dtype"], c["baseline_dtype"], c["interleaved"]) == ("int8", "float32", True)
    e = c["end_to_end"]
    assert e["median_ms"] == data["end_to_end"]["median_ms"]
    assert e["speedup_median"] == e["baseline_median_ms"] / e["median_ms"]
    assert len(e["baseline_samples_ms"]) == data["end_to_end"]["runs"]
    assert [t["name"] for t in c["layers"]] == [l.name for l in net.layers]
    precision = data["environment"]["layer_precision"]
    for t in c["layers"]:
        assert t["precision"] == precision[t["name"]]
        if t["median_ms"] and t["baseline_median_ms"]:
            assert t["speedup"] == t["baseline_median_ms"] / t["median_ms"]
    kinds = {k["kind"]: k for k in c["by_kind"]}
    assert set(kinds) == {k["kind"] for k in data["per_layer"]["by_kind"]}
    for kind, k in kinds.items():
        members = [t for t in c["layers"] if t["kind"] == kind]
        assert k["layers"] == len(members)
        assert k["quantized_layers"] == sum(t["precision"] == "int8" for t in members)
        assert k["baseline_time_ms"] == pytest.approx(sum(t["baseline_median_ms"]
                                                          for t in members), abs=1e-9)
    assert {"depthwise", "pointwise"} <= set(kinds)


def test_compare_csv_markdown_and_table(compared):
    args, data = compared
    rows = list(csv.DictReader(io.StringIO(run(*args, "-f", "csv").stdout)))
    assert {"precision", "baseline_dtype", "baseline_median_ms", "speedup"} <= set(rows[0])
    layers = [r for r in rows if r["scope"] == "layer"]
    assert len(layers) == len(data["compare"]["layers"])
    assert all(r["precision"] in ("int8", "float32", "mixed", "-") for r in layers)
    assert all(r["speedup"] for r in layers if float(r["median_ms"]) > 0
               and float(r["baseline_median_ms"]) > 0)
    kinds = [r for r in rows if r["scope"] == "kind"]
    assert all(r["baseline_dtype"] == "float32" for r in kinds)
    assert all(r["speedup"] for r in kinds if float(r["baseline_median_ms"]) > 0)
    markdown = run(*args, "-f", "markdown").stdout
    for title in ("int8 vs float32 end to end", "int8 vs float32 by layer kind",
                  "int8 vs float32 per layer"):
        assert title in markdown


@pytest.mark.parametrize("width", [80])
def test_compare_table_fits_80_columns(compared, monkeypatch, width):
    import mncost.render.output as output

    sections = record_sections(monkeypatch)
    monkeypatch.setattr(output, "WIDE", width)
    args, _ = compared
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert any(s.title == "int8 vs float32 by layer kind" for s in sections)
    # The environment's key/value list wraps its long values (ORT's session line alone is
    # wider than 80 columns); every measured table must fit whole.
    assert_readable(result.stdout, [s for s in sections if s.title != "Environment"], width)
    assert "ran int8 kernels" in result.stdout


# ---------------------------------------------------------------------------------------------
# Options and errors


def test_the_registry_picks_the_int8_runner(int8):
    from mncost.torch_backend.runners import runner_for

    assert runner_for("onnxruntime", "int8") is int8.OrtInt8Runner
    assert runner_for("onnxruntime", "float32").__name__ == "OrtRunner"
    with pytest.raises(InputError, match="^--dtype int8 is quantized by a runtime's own "
                                         "tools: use --runtime onnxruntime \\(not eager\\)$"):
        runner_for("eager", "int8")


@pytest.mark.parametrize("args, message", [
    (("--dtype", "int8"), "--dtype int8 is quantized by a runtime's own tools: use --runtime "
                          "onnxruntime (not eager)"),
    (("--per-channel",), "--per-channel sets int8 weight scales; it needs --dtype int8"),
    (("--runtime", "onnxruntime", "--compare", "float32"),
     "--compare times a quantized model beside float32; it needs --dtype int8"),
    (("--runtime", "onnxruntime", "--dtype", "int8", "--channels-last"),
     "--runtime onnxruntime --dtype int8 runs on the CPU with its own layout and fusions; "
     "drop --channels-last"),
])
def test_option_errors_are_one_line(args, message):
    if "onnxruntime" in args:
        pytest.importorskip("onnxruntime")
    result = run("profile", "v1", "--alpha", "0.25", "--res", "32", *args, *QUICK)
    assert one_error_line(result) == "mncost: error: " + message


def test_compare_choices_are_checked_by_the_options():
    with pytest.raises(InputError, match="^unknown --compare dtype 'float16'; use float32$"):
        ProfileOptions(dtype="int8", runtime="onnxruntime", compare="float16").check()
