"""Measured memory and the measured roofline (torch): the built model's peak live tensors
against the analytic naive schedule, ``roofline-measure``, ``profile --roofline``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import ROOT

from mncost.cli import cli
from mncost.costs.memory import peak_memory
from mncost.network.catalog import resolve_model

TINY = str(ROOT / "tests" / "data" / "tiny_memory.yaml")

pytestmark = pytest.mark.torch


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("model", [TINY, "v1", "v2", "v3-large"])
def test_measured_peak_matches_naive(model):
    """Tolerance 0 bytes: with batch norm folded and activations in place the built model
    holds exactly one tensor per layer, freed after its last reader (MobileNet.forward), and
    forward(x) holds the input: the naive schedule's assumptions. The as-built model holds
    one more output-sized tensor at each conv -> bn -> act hand-over, which
    as_built_prediction adds, again to the byte."""
    from mncost.torch_backend.memory import as_built_prediction, measure_peak

    network = resolve_model(model, 1.0, None, None)
    assert measure_peak(network, folded=True) == peak_memory(network, "naive").bytes
    if model in ("v1", "v2", TINY):
        assert measure_peak(network, folded=False) == as_built_prediction(network, "float32")


def test_as_built_prediction_v1():
    from mncost.torch_backend.memory import as_built_prediction

    # v1 peak as built: layers.1.pw's naive step + its 112x112x64 output once more
    network = resolve_model("v1", 1.0, None, None)
    assert as_built_prediction(network, "float32") == 5_419_008 + 4 * 112 * 112 * 64


def test_memory_measure_command():
    data = json.loads(invoke("memory", TINY, "--measure",
                             "-f", "json").stdout)
    m = data["measured"]
    assert m["naive_bytes"] == 2048 and m["as_built_predicted_bytes"] == 2560
    assert [(r["folded"], r["bytes"]) for r in m["runs"]] == [(True, 2048), (False, 2560)]
    result = invoke("memory", "v1", "--measure", "--dtype", "int8")
    assert result.exit_code == 2 and "float32 or float16" in result.output
    result = invoke("memory", "v1", "--measure", "--device", "tpu")
    assert result.exit_code == 2 and "'tpu' is not cpu, cuda or cuda:N" in result.output


def test_roofline_measure_writes_a_device(tmp_path):
    out = tmp_path / "device.json"
    result = invoke("roofline-measure", "--size", "64", "--copy-mib", "1", "-n", "1",
                    "-o", str(out))
    assert result.exit_code == 0, result.output
    device = json.loads(out.read_text())
    assert device["schema"] == "mncost.roofline/1" and device["source"] == "measured"
    assert device["peak_gmacs"] > 0 and device["bandwidth_gbs"] > 0
    assert device["details"]["threads"] == 1
    assert device["ridge_macs_per_byte"] == device["peak_gmacs"] / device["bandwidth_gbs"]


def test_profile_roofline_and_plot(tmp_path):
    plot = tmp_path / "roof.png"
    args = ["profile", "v3-small", "--alpha", "0.35", "--res", "64", "--threads", "1",
            "--warmup", "0", "--repeats", "2", "--min-time", "0", "--per-layer",
            "--peak-gmacs", "50", "--bandwidth-gbs", "10"]
    result = invoke(*args, "--plot", str(plot), "-f", "json")
    assert result.exit_code == 0, result.output
    roof = json.loads(result.stdout)["roofline"]
    assert roof["device"]["ridge_macs_per_byte"] == 5.0
    layers = {r["name"]: r for r in roof["layers"]}
    per_layer = json.loads(result.stdout)["per_layer"]["layers"]
    assert set(layers) == {r["name"] for r in per_layer}
    for r in roof["layers"]:
        assert r["roof_fraction"] == pytest.approx(r["time_bound_ms"] / r["median_ms"],
                                                   rel=1e-12)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = invoke(*args, "-f", "markdown").stdout
    assert "### Roofline per layer" in md and "roof %" in md
    no_layers = invoke("profile", "v1", "--peak-gmacs", "1", "--bandwidth-gbs", "1")
    assert no_layers.exit_code == 2 and "--per-layer" in no_layers.output


def test_vnni_flags_read_cpuinfo(tmp_path):
    from mncost.torch_backend.roofline import vnni_flags

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert vnni_flags(str(cpuinfo)) == ["avx512_vnni"]
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2\n")
    assert vnni_flags(str(cpuinfo)) == []
    assert vnni_flags(str(tmp_path / "missing")) == []


def test_int8_gemm_is_the_integer_product():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import numpy as np

    from mncost.torch_backend.roofline import int8_gemm

    session, feed = int8_gemm(64, 1)
    (y,) = session.run(None, feed)
    assert y.dtype == np.int32 and y.shape == (64, 64)
    # the weights int8_gemm draws first from the same seed: the exact integer product
    b = np.random.default_rng(0).integers(-128, 128, (64, 64), dtype=np.int8)
    assert (y == feed["A"].astype(np.int32) @ b.astype(np.int32)).all()


def test_roofline_measure_int8(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    out = tmp_path / "device.json"
    result = invoke("roofline-measure", "--dtype", "int8", "--size", "64", "--copy-mib", "1",
                    "-n", "1", "-o", str(out))
    assert result.exit_code == 0, result.output
    device = json.loads(out.read_text())
    assert device["details"]["dtype"] == "int8" and device["peak_gmacs"] > 0
    assert device["details"]["gemm"].startswith("onnxruntime MatMulInteger 64x64")
