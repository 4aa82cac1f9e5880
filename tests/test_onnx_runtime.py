"""``--runtime onnxruntime``: the export's layer scopes, the profile parser against hand-made
events, and the mapping on a real v2 in ONNX Runtime (skipped without the ``onnx`` extra)."""

from __future__ import annotations

import statistics

import pytest
from click.testing import CliRunner

from mncost import resolve_model
from mncost.cli import cli
from mncost.costs.kinds import REGISTRY
from mncost.measure.profile_options import ProfileOptions

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def ort_module():
    from mncost.torch_backend import onnx_runtime

    return onnx_runtime


def test_safe_names_and_scope_lookup(ort_module):
    names = {ort_module.safe_name(n): n for n in ("layers.1.dw", "layers.12.se.fc1", "stem")}
    assert ort_module.safe_name("layers.1.dw") == "Llayers__1__dw"
    assert ort_module.layer_of("/Llayers__1__dw/conv/Conv_kernel_time", names) == "layers.1.dw"
    assert ort_module.layer_of("/Llayers__12__se__fc1/act/Relu_output_0_nchwc_kernel_time",
                               names) == "layers.12.se.fc1"
    assert ort_module.layer_of("/Lstem/conv/Conv", names) == "stem"
    assert ort_module.layer_of("ReorderOutput_kernel_time", names) is None
    assert ort_module.layer_of("/Lother/conv/Conv", names) is None


def test_profile_parser_by_hand(ort_module):
    names = {"La": "a", "Lb": "b"}
    events = [
        {"cat": "Session", "name": "model_run", "ts": 0, "dur": 100},      # warm-up
        {"cat": "Node", "name": "/La/conv/Conv_kernel_time", "ts": 10, "dur": 50},
        {"cat": "Session", "name": "model_run", "ts": 200, "dur": 100},
        {"cat": "Node", "name": "/La/conv/Conv_kernel_time", "ts": 210, "dur": 30},
        {"cat": "Node", "name": "/La/act/Relu_fence_before", "ts": 240, "dur": 9},
        {"cat": "Node", "name": "/Lb/Add_kernel_time", "ts": 250, "dur": 20},
        {"cat": "Node", "name": "/Lb/Add_kernel_time", "ts": 272, "dur": 5},
        {"cat": "Node", "name": "reorder_kernel_time", "ts": 280, "dur": 4},
        {"cat": "Session", "name": "model_run", "ts": 400, "dur": 80},
        {"cat": "Node", "name": "/La/conv/Conv_kernel_time", "ts": 410, "dur": 40},
    ]
    per_layer, runs, unattributed = ort_module.parse_profile(events, names, skip=1)
    assert per_layer == {"a": [30_000, 40_000], "b": [25_000, 0]}
    assert runs == [100_000, 80_000] and unattributed == [4_000, 0]


def test_a_conv_fused_with_its_layer_scale_is_the_convs_time(ort_module):
    # ORT fuses a layer scale's Mul into the 1x1 conv before it and names the fused conv
    # after the Mul (seen in MobileNetV4 hybrids); an unfused Mul stays the scale's own.
    names = {"Lp": "b.project", "Ls": "b.layer_scale", "Lq": "c.project", "Lt": "c.layer_scale"}
    events = [
        {"cat": "Session", "name": "model_run", "ts": 0, "dur": 100},
        {"cat": "Node", "name": "/Ls/Mul_output_0_nchwc_kernel_time", "ts": 10, "dur": 30,
         "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "/Lq/conv/Conv_kernel_time", "ts": 50, "dur": 20,
         "args": {"op_name": "Conv"}},
        {"cat": "Node", "name": "/Lt/Mul_kernel_time", "ts": 80, "dur": 6,
         "args": {"op_name": "Mul"}},
    ]
    folded = {"b.layer_scale": "b.project", "c.layer_scale": "c.project"}
    per_layer, _, _ = ort_module.parse_profile(events, names, skip=0, folded=folded)
    assert per_layer == {"b.project": [30_000], "b.layer_scale": [0],
                         "c.project": [20_000], "c.layer_scale": [6_000]}
    unfolded, _, _ = ort_module.parse_profile(events, names, skip=0)
    assert unfolded["b.layer_scale"] == [30_000] and unfolded["b.project"] == [0]


def test_a_hybrids_projection_gets_its_conv_time(ort_module):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = resolve_model("v4-hybrid-medium", 0.25, 64)
    runner = ort_module.OrtRunner(net, ProfileOptions(threads=1))
    layers, _ = runner.layer_runs(0, 2)
    scales = [la for la in net.layers if la.kind == "layer_scale"]
    assert scales
    for la in scales:
        assert all(t == 0 for t in layers[la.name]), la.name
        assert all(t > 0 for t in layers[la.inputs[0]]), la.inputs[0]


@pytest.fixture(scope="module")
def v2_runner(ort_module):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    return ort_module.OrtRunner(resolve_model("v2", 0.5, 96), ProfileOptions(threads=1))


def test_v2_every_onnx_node_carries_its_layer(v2_runner, ort_module):
    import onnx

    model = onnx.load_from_string(v2_runner.onnx)
    layers = {ort_module.layer_of(n.name, v2_runner.names) for n in model.graph.node
              if n.op_type not in ("Constant", "Identity")}
    net = v2_runner.network
    assert None not in layers
    assert layers == {l.name for l in net.layers}


def test_v2_ort_per_layer_profile_maps_to_the_engine_layers(v2_runner):
    per_layer, runs = v2_runner.layer_runs(1, 3)
    net = v2_runner.network
    assert set(per_layer) == {l.name for l in net.layers}
    assert len(runs) == 3 and all(len(v) == 3 for v in per_layer.values())
    for layer in net.layers:
        median = statistics.median(per_layer[layer.name])
        if layer.kind == "add":
            assert median == 0, layer.name         # ORT fuses the add into the project conv
        else:
            assert median > 0, layer.name
    # The layers' nodes are (nearly) all of a run: the unattributed rest is a few reorders.
    # ORT's trace has whole microseconds, so each node may add up to 1 us of rounding.
    for i in range(3):
        inside = sum(v[i] for v in per_layer.values())
        assert inside + v2_runner.unattributed_ns[i] <= runs[i] + 1000 * len(per_layer)
        assert v2_runner.unattributed_ns[i] < 0.1 * inside


def test_profile_cli_runtime_onnxruntime(v2_runner):
    result = CliRunner().invoke(cli, ["profile", "v2", "--alpha", "0.5", "--res", "96",
                                      "--runtime", "onnxruntime", "--threads", "1",
                                      "--warmup", "1", "--repeats", "3", "--min-time", "0",
                                      "--per-layer", "-f", "json"])
    assert result.exit_code == 0, result.output
    import json

    data = json.loads(result.stdout)
    env = data["environment"]
    assert env["runtime"] == "onnxruntime" and env["onnxruntime"] and env["threads"] == 1
    assert len(data["per_layer"]["layers"]) == len(resolve_model("v2", 0.5, 96).layers)


@pytest.mark.parametrize("flag", [["--dtype", "float16"], ["--compile"], ["--channels-last"]])
def test_onnxruntime_refuses_eager_only_options(flag):
    result = CliRunner().invoke(cli, ["profile", "v2", "--runtime", "onnxruntime", *flag])
    assert result.exit_code == 2
    assert result.stderr.startswith("mncost: error: --runtime onnxruntime runs float32 on the "
                                    "CPU with its own layout and fusions; drop ")


@pytest.mark.parametrize("package", ["onnx", "onnxruntime"])
def test_missing_onnx_extra_is_one_line(monkeypatch, package, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, package, None)
    for args in (["profile", "v2", "--runtime", "onnxruntime"],
                 ["calibrate", "-o", str(tmp_path / "d.json"), "--runtime", "onnxruntime"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert result.stderr == (f"mncost: error: this command needs {package}, which is not "
                                 "installed: pip install 'mncost[onnx]'\n")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def probed(ort_module):
    """The installed ORT's layout rule and its probes (probed once for the module)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    return ort_module.probe_layout()


@pytest.mark.parametrize("model, alpha, res", [("v1", 0.9, 208), ("v1", 0.35, 96),
                                               ("v1-conv", 0.6, 144), ("v2", 0.45, 112),
                                               ("calibration/grouped.yaml", 1.0, 160),
                                               ("calibration/ragged.yaml", 0.5, 112)])
def test_probed_layout_predicts_the_optimized_graph_layer_by_layer(ort_module, probed, model,
                                                                   alpha, res):
    # The rule inferred from single-conv probes must say, for every conv of a whole network,
    # whether ORT runs it blocked (NCHWc) in the graph it really optimizes.
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from mncost.network.catalog import configs_dir

    layout, observed = probed
    if layout is None:
        pytest.skip("this ONNX Runtime build has no blocked conv layout")
    spec = str(configs_dir() / model) if model.endswith(".yaml") else model
    net = resolve_model(spec, alpha, res)
    runner = ort_module.OrtRunner(net, ProfileOptions(threads=1))
    seen = ort_module.blocked_layers(runner.onnx, runner.names)
    convs = [l for l in net.layers if REGISTRY[l.kind].channel_layout]
    assert sorted(seen) == sorted(l.name for l in convs)
    assert {l.name: layout.blocked(l) for l in convs} == seen
