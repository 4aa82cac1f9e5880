"""``mncost crosscheck``: the analytic engine against fvcore and torch's FlopCounterMode.

Two independent sources are compared everywhere: the engine's formulas on one side, the
counters running the built module on the other, plus closed-form integers worked by hand. A test
with a deliberately wrong formula proves that the cross-check can fail.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mncost import analyze, resolve_model
from mncost.cli import cli
from mncost.costs import analytic as costs
from mncost.costs import kinds
from mncost.costs.conventions import conventions
from mncost.network.catalog import SCALED_VARIANTS, TABLES

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from mncost.cli.crosscheck import GRIDS  # noqa: E402
from mncost.torch_backend import build  # noqa: E402
from mncost.torch_backend.crosscheck import crosscheck  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.fvcore]

#: Odd width (0.35), odd resolution (97), non-square input, wide model, other class counts.
CONFIGS = [(1.0, 224, None), (0.35, 97, None), (0.75, "224x160", 10), (1.4, 128, None)]


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# Agreement

@pytest.mark.parametrize("model", TABLES)
@pytest.mark.parametrize("alpha,resolution,classes", CONFIGS)
def test_every_builtin_agrees_layer_by_layer(model, alpha, resolution, classes):
    result = crosscheck(model, alpha, resolution, classes)
    assert result.ok, "\n".join(result.mismatches)
    assert [layer.name for layer in result.layers] == [
        layer.name for layer in result.network.layers]
    assert result.total("macs").measured > 0 and result.total("checkpoint").measured > 0
    # Every layer's counts add up to the whole-model counters (nothing counted outside layers).
    for metric, counter in (("macs", "fvcore"), ("flops", "torch"), ("trainable", "torch")):
        assert sum(layer.get(metric, counter).measured for layer in result.layers) == \
            result.total(metric, counter).measured


@pytest.mark.parametrize("model", sorted(SCALED_VARIANTS))
def test_scaled_variants_agree_at_their_own_coefficients(model):
    """EfficientNet-B1...B7: B0's table at their width/depth coefficients (a small input keeps
    the 55-block B7 quick; the structure does not depend on the resolution)."""
    result = crosscheck(model, resolution=32)
    assert result.ok, "\n".join(result.mismatches)
    assert result.network.depth > 1.0


@pytest.mark.parametrize("model,alpha,depth", [("efficientnet-b0", 0.5, 2.0),
                                               ("mnasnet", 1.3, 0.5), ("v2", 0.75, 1.5)])
def test_depth_multiplier_agrees(model, alpha, depth):
    result = crosscheck(model, alpha, 96, None, depth)
    assert result.ok, "\n".join(result.mismatches)
    assert result.network.depth == depth


@pytest.mark.parametrize("model", TABLES)
def test_counters_called_directly_match_the_engine(model):
    """The counters used without the cross-check's plumbing, against the engine's totals."""
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode

    network = resolve_model(model, 0.5, 160)
    report = analyze(network)
    fv = conventions(report).count("fvcore")
    model_ = build(network)
    x = torch.zeros(1, 3, 160, 160)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model_(x)
    assert counter.get_total_flops() == 2 * report.total.macs
    with torch.inference_mode():
        analysis = FlopCountAnalysis(model_, x).unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False).tracer_warnings("none")
        by_op = analysis.by_operator()
        assert analysis.total() == fv.total == report.total.fvcore
    assert by_op["batch_norm"] == fv.term("batch_norm").count
    assert by_op["adaptive_avg_pool2d"] == fv.term("adaptive_avg_pool2d").count
    # conv and linear, and an attention's matmuls (bmm) in MobileNetV4's hybrids
    assert by_op["conv"] + by_op.get("linear", 0) + by_op.get("bmm", 0) == report.total.macs


def test_closed_form_layers_v1():
    """v1 Table 1 layers by hand: D_F^2 * M/g * N * D_K^2, read from both counters."""
    result = crosscheck("v1")
    hand = {"layers.0": 112 * 112 * 3 * 32 * 9,          # conv 3x3x3x32 / s2
            "layers.1.dw": 112 * 112 * 32 * 9,           # 3x3x32 dw
            "layers.1.pw": 112 * 112 * 32 * 64,          # 1x1x32x64
            "layers.7.4.pw": 14 * 14 * 512 * 512,        # 5th 14x14x512 repeat
            "layers.9.pw": 7 * 7 * 1024 * 1024}          # 1x1x1024x1024
    layers = {layer.name: layer for layer in result.layers}
    for name, macs in hand.items():
        assert layers[name].get("macs", "fvcore").measured == macs
        assert layers[name].get("flops", "torch").measured == 2 * macs
    fc = result.layers[-1]
    assert fc.kind == "fc" and fc.get("macs", "fvcore").measured == 1024 * 1000
    assert fc.get("trainable").measured == 1024 * 1000 + 1000
    assert layers["layers.0"].get("checkpoint").measured == 864 + 4 * 32


def test_closed_form_layers_v3_small_non_square():
    result = crosscheck("v3-small", 1.0, "224x160")
    layers = {layer.name: layer for layer in result.layers}
    assert layers["layers.0"].get("macs", "fvcore").measured == 112 * 80 * 3 * 16 * 9
    # SE of the first bneck: 16 -> make_divisible(16 / 4, 8) = 8 -> 16, on a 1x1 map.
    assert layers["layers.1.se.fc1"].get("macs", "fvcore").measured == 16 * 8
    assert layers["layers.1.se.fc1"].get("trainable").measured == 16 * 8 + 8
    # fvcore: the SE pool counts one op per input element of the 56x40x16 map.
    assert layers["layers.1.se.pool"].get("fvcore", "fvcore").measured == 56 * 40 * 16


TINY = (Path(__file__).parent / "data" / "tiny_every_kind.yaml").read_text()


def test_user_spec_with_every_layer_kind(tmp_path):
    """Hand-worked in test_conventions.py: 28,576 MACs; fvcore adds 2 x 1,536 BN elements and
    512 + 64 adaptive-pool inputs; fvcore skips h-swish, h-sigmoid, the SE multiply, the add."""
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY)
    result = crosscheck(str(spec))
    assert result.ok, "\n".join(result.mismatches)
    assert result.total("flops", "torch").measured == 2 * 28_576
    assert result.total("fvcore").measured == 28_576 + 2 * 1536 + 576 == 32_224
    assert result.total("trainable").measured == 2658
    skipped = {op.replace("aten::", "") for op in result.fvcore_skipped}
    assert {"hardswish", "hardsigmoid", "mul", "add"} <= skipped


def test_fvcore_total_rebuilt_term_by_term():
    result = crosscheck("v3-large", 0.35, 97)
    terms = {c.metric: c for c in result.fvcore_terms}
    assert list(terms) == ["macs", "batch_norm", "adaptive_avg_pool2d", "total"]
    assert all(c.ok for c in terms.values())
    assert terms["total"].measured == sum(terms[t].measured for t in list(terms)[:-1])
    assert terms["total"].measured - terms["macs"].measured == \
        result.conventions.count("fvcore").beyond()


# ---------------------------------------------------------------------------------------------
# The cross-check can fail

def _depthwise_off_by_one(monkeypatch):
    info = kinds.REGISTRY["depthwise"]
    wrong = dataclasses.replace(info, macs=lambda layer: kinds.conv_macs(layer) + 1)
    monkeypatch.setitem(kinds.REGISTRY, "depthwise", wrong)


def test_wrong_mac_formula_is_caught(monkeypatch):
    _depthwise_off_by_one(monkeypatch)
    result = crosscheck("v1", 0.25, 96)
    assert not result.ok
    bad = {(where, c.metric) for where, c in result.failures}
    assert ("layers.1.dw", "macs") in bad and ("layers.1.dw", "flops") in bad
    assert ("total", "macs") in bad and ("fvcore term", "macs") in bad
    assert ("layers.1.pw", "macs") not in bad          # the pointwise formula is still right
    assert result.total("macs").delta == -13           # 13 depthwise layers, one MAC each


def test_wrong_parameter_formula_is_caught(monkeypatch):
    monkeypatch.setattr(costs, "bn_stats", lambda layer: 0)
    result = crosscheck("v2", 0.5, 96)
    assert {c.metric for _, c in result.failures} == {"checkpoint"}
    assert len(result.mismatches) == len(result.failures) > 0


def test_wrong_batch_norm_cost_is_caught(monkeypatch):
    monkeypatch.setattr(costs, "BN_OPS", 1)
    result = crosscheck("v3-small", 0.5, 96)
    assert not result.total("fvcore").ok and result.total("macs").ok
    terms = {c.metric: c for c in result.fvcore_terms}
    assert not terms["batch_norm"].ok and terms["macs"].ok


def test_cli_exits_1_on_a_mismatch(monkeypatch):
    _depthwise_off_by_one(monkeypatch)
    result = invoke("crosscheck", "v1", "--alpha", "0.25", "--res", "96")
    assert result.exit_code == 1
    assert "MISMATCHES" in result.stdout
    assert "layers.1.dw: macs analytic" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("mncost: error: crosscheck: ")


# ---------------------------------------------------------------------------------------------
# CLI

def test_cli_table_exit_0():
    result = invoke("crosscheck", "v3-small", "--res", "96", "--per-layer", "--conventions")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "all agree" in out and "layers.1.se.fc1" in out and "hswish" in out
    assert "fvcore skips" in out
    assert result.stderr.startswith("crosscheck: all ")


def test_cli_json_exact():
    result = invoke("crosscheck", "v2", "--alpha", "0.35", "--res", "97", "-f", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["schema"] == "mncost.crosscheck/1" and data["ok"] is True
    report = analyze(resolve_model("v2", 0.35, 97))
    macs = next(c for c in data["totals"] if c["metric"] == "macs")
    assert macs["analytic"] == macs["measured"] == report.total.macs
    assert len(data["layers"]) == len(report.layers)
    assert data["resolution"] == [97, 97] and data["mismatches"] == 0
    ops = next(c for c in data["conventions"]["counts"] if c["name"] == "ops")
    assert ops["total"] == report.total.ops


def test_cli_csv_markdown_and_output_file(tmp_path):
    rows = list(csv.DictReader(io.StringIO(invoke(
        "crosscheck", "v1-shallow", "--res", "96", "-f", "csv", "--per-layer").stdout)))
    layers = len(resolve_model("v1-shallow", 1.0, 96).layers)
    assert len(rows) == 6 * layers + 6 + 4
    assert all(r["delta"] == "0" for r in rows)
    md = invoke("crosscheck", "v3-small", "--res", "96", "-f", "markdown", "--conventions")
    assert md.exit_code == 0 and "| ops | macs |" in md.stdout
    target = tmp_path / "x.md"
    assert invoke("crosscheck", "v3-small", "--res", "96", "-f", "markdown", "-o",
                  str(target)).exit_code == 0
    assert target.read_text().startswith("## crosscheck v3-small")


def test_cli_all_with_fixed_axes():
    one = invoke("crosscheck", "v3-small", "--all", "--alpha", "0.5", "--res", "96", "-f",
                 "json")
    assert one.exit_code == 0
    data = json.loads(one.stdout)
    assert data["configurations"] == 1 and data["ok"] is True
    alphas = invoke("crosscheck", "v3-small", "--all", "--res", "64", "--jobs", "1", "-f",
                    "csv")
    rows = list(csv.DictReader(io.StringIO(alphas.stdout)))
    assert [float(r["alpha"]) for r in rows] == list(GRIDS["quick"][0])
    assert "v3-small: 4 configurations, all agree" in alphas.stderr


def test_grid_in_spawned_workers_equals_the_grid_in_process():
    """--all's process pool: the same results, in the same order, as running here."""
    from mncost.torch_backend.crosscheck import crosscheck_grid

    points = [("v3-small", 0.5, 32), ("efficientnet-b0", 0.25, 33, 0.5), ("mnasnet", 1.3, 40)]
    seen = []
    pooled = crosscheck_grid(points, progress=lambda r: seen.append(r.model), jobs=2)
    here = crosscheck_grid(points, jobs=1)
    strip = [{k: v for k, v in r.summary_dict().items() if k != "seconds"} for r in here]
    assert [{k: v for k, v in r.summary_dict().items() if k != "seconds"}
            for r in pooled] == strip
    assert seen == ["v3-small", "efficientnet-b0", "mnasnet"] and all(r.ok for r in pooled)
    assert pooled[1].network.depth == 0.5


def test_cli_usage_errors():
    assert invoke("crosscheck").exit_code == 2
    bad = invoke("crosscheck", "v9")
    assert bad.exit_code == 2 and "unknown model 'v9'" in bad.stderr
    assert invoke("crosscheck", "v1", "--alpha", "-1").exit_code == 2


def test_unbuildable_spec_is_one_line_exit_2(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nlayers:\n  - {op: conv, c: 8, s: 2, name: eval}\n"
                    "  - {op: pool}\n  - {op: fc, c: classes}\n")
    result = invoke("crosscheck", str(spec))
    assert result.exit_code == 2
    assert result.stderr.startswith("mncost: error: layer eval: ")


def test_missing_fvcore_is_one_line_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "fvcore", None)
    monkeypatch.setitem(sys.modules, "fvcore.nn", None)
    result = invoke("crosscheck", "v3-small", "--res", "64")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "needs fvcore" in result.stderr and "mncost[torch]" in result.stderr


def test_missing_torch_is_one_line_exit_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("mncost.torch_backend")]:
        monkeypatch.delitem(sys.modules, name)
    result = invoke("crosscheck", "v1")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "needs torch" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["crosscheck", "--help"],
                                  ["analyze", "v1", "-f", "json"]])
def test_analytic_commands_never_import_torch(argv):
    code = ("import sys; from mncost.cli import cli\n"
            "try:\n    cli.main(args=%r, prog_name='mncost')\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n" % (argv,))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
