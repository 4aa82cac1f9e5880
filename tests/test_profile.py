"""``mncost profile`` and its API: the mechanics on CPU with a small model, no timed asserts.

The CUDA path's logic (synchronize before every clock read, around every layer) is checked with
a fake asynchronous device; the GPU itself cannot run here.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mncost import analyze, resolve_model
from mncost.cli import cli
from mncost.errors import InputError
from mncost.measure.profile_options import ProfileOptions
from mncost.measure.profile_results import ProfileResult, layer_results
from mncost.measure.timing import Clock, TimingStats, measure

pytestmark = pytest.mark.torch

SMALL = ("v3-small", 0.35, 64)
QUICK = dict(threads=1, warmup=1, repeats=5, min_time_s=0.0)


@pytest.fixture(scope="module")
def api():
    from mncost.torch_backend import profile

    return profile


@pytest.fixture(scope="module")
def eager():
    from mncost.torch_backend import eager

    return eager


@pytest.fixture(scope="module")
def network():
    return resolve_model(*SMALL)


@pytest.fixture(scope="module")
def result(api, network):
    return api.profile_network(network, ProfileOptions(per_layer=True, **QUICK))


def invoke(*args):
    return CliRunner().invoke(cli, ["profile", "v3-small", "--alpha", "0.35", "--res", "64",
                                    "--warmup", "1", "--repeats", "4", "--min-time", "0",
                                    "--threads", "1", *args])


# ---------------------------------------------------------------------------------------------
# Results


def test_per_layer_joins_the_engine_layers(result, network):
    report = analyze(network)
    assert [t.name for t in result.layers] == [layer.name for layer in network.layers]
    assert [(t.kind, t.stage, t.macs) for t in result.layers] == [
        (r.layer.kind, r.layer.stage, r.cost.macs) for r in report.layers]
    assert [k.kind for k in result.by_kind] == list(report.by_kind)
    assert result.macs == report.total.macs
    assert all(t.stats.runs == result.instrumented.runs for t in result.layers)


def test_shares_and_rates_from_known_times(api):
    """v1 1.0/224 with made-up layer times: every layer 1 ms, the 13 pointwise convs 2 ms, so
    the layers sum to 16 + 26 = 42 ms. Shares, rates and ratios against hand arithmetic."""
    network = resolve_model("v1")
    ms = {layer.name: (2 if layer.kind == "pointwise" else 1) for layer in network.layers}
    samples = {name: [t * 1_000_000] * 3 for name, t in ms.items()}
    layers, kinds = layer_results(network, samples, batch=2)
    first, pool, fc = layers[0], layers[-2], layers[-1]
    conv_macs = 112 * 112 * 32 * 3 * 3 * 3                    # 10,838,016
    assert (first.kind, first.macs, pool.kind, fc.kind, fc.macs) == (
        "conv", conv_macs, "pool", "fc", 1024 * 1000)
    assert first.time_share == pytest.approx(1 / 42, rel=1e-12)
    assert first.mac_share == pytest.approx(conv_macs / 568_740_352, rel=1e-12)
    assert first.share_ratio == pytest.approx((1 / 42) / (conv_macs / 568_740_352), rel=1e-12)
    assert first.gmacs_per_s == pytest.approx(2 * conv_macs / 1e6, rel=1e-12)   # batch 2, 1 ms
    assert fc.gmacs_per_s == pytest.approx(2.048, rel=1e-12)
    assert (pool.macs, pool.mac_share, pool.share_ratio) == (0, 0.0, None)
    by_kind = {k.kind: k for k in kinds}
    assert [k.kind for k in kinds] == ["conv", "depthwise", "pointwise", "pool", "fc"]
    pw, dw = by_kind["pointwise"], by_kind["depthwise"]
    assert (pw.layers, pw.time_ms, dw.layers, dw.time_ms) == (13, 26.0, 13, 13.0)
    assert pw.time_share == pytest.approx(26 / 42, rel=1e-12)
    assert round(100 * pw.mac_share, 2) == 94.86              # the v1 paper's 1x1 share
    assert pw.share_ratio == pytest.approx((26 / 42) / pw.mac_share, rel=1e-12)
    assert by_kind["pool"].share_ratio is None

    result = ProfileResult(
        network=network, options=ProfileOptions(batch=2), environment={},
        macs=568_740_352, end_to_end=TimingStats.from_ms([50.0] * 3),
        samples_ms=(50.0,) * 3, layers=layers, by_kind=kinds,
        instrumented=TimingStats.from_ms([60.0] * 3))
    assert result.layers_sum_ms == pytest.approx(42.0, rel=1e-12)
    assert result.coverage == pytest.approx(42 / 50, rel=1e-12)
    assert result.instrumented_coverage == pytest.approx(42 / 60, rel=1e-12)
    assert result.instrumentation_overhead == pytest.approx(0.2, rel=1e-12)
    assert result.images_per_s == pytest.approx(40.0, rel=1e-12)    # 2 images per 50 ms
    assert result.gmacs_per_s == pytest.approx(2 * 568_740_352 / 50e6, rel=1e-12)


def test_end_to_end_figures_follow_from_the_samples(api, result):
    e2e = result.end_to_end
    assert e2e.runs == len(result.samples_ms) >= 5
    assert e2e == TimingStats.from_ms(result.samples_ms)
    assert e2e.min_ms <= e2e.p10_ms <= e2e.median_ms <= e2e.p90_ms <= e2e.max_ms
    assert result.images_per_s == pytest.approx(1000 / e2e.median_ms)
    assert result.gmacs_per_s == pytest.approx(result.macs / (e2e.median_ms * 1e6))
    layer = result.layers[0]
    assert layer.gmacs_per_s == pytest.approx(layer.macs / (layer.stats.median_ms * 1e6))


def test_environment_is_recorded(result):
    import torch

    env = result.environment
    assert env["torch"] == torch.__version__
    assert (env["device"], env["threads"], env["dtype"], env["batch"]) == ("cpu", 1,
                                                                          "float32", 1)
    assert env["channels_last"] is env["fuse_bn"] is env["compile"] is False
    assert env["device_name"] and env["clock"] == "time.perf_counter_ns"


def test_layer_timer_restores_forward(eager, network):
    from mncost.torch_backend.device import clock_for
    from mncost.torch_backend.layer_timer import LayerTimer

    model, _ = eager.prepare(network, ProfileOptions(), *_cpu_float())
    with LayerTimer(model, model.layer_names, clock_for(_cpu_float()[0])):
        assert all("forward" in vars(model.get_submodule(n)) for n in model.layer_names)
    assert not any("forward" in vars(model.get_submodule(n)) for n in model.layer_names)


def _cpu_float():
    import torch

    return torch.device("cpu"), torch.float32


# ---------------------------------------------------------------------------------------------
# Options change what they should


def test_threads_are_fixed_while_measuring_and_restored(api, network):
    import torch

    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    seen = set()
    options = ProfileOptions(**{**QUICK, "threads": target})
    result = api.profile_network(network, options,
                                 progress=lambda *a: seen.add(torch.get_num_threads()))
    assert seen == {target} and result.environment["threads"] == target
    assert torch.get_num_threads() == before


def test_threads_restored_after_an_error(api, eager, network, monkeypatch):
    import torch

    before = torch.get_num_threads()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(eager, "measure", broken)
    with pytest.raises(RuntimeError, match="boom"):
        api.profile_network(network, ProfileOptions(
            **{**QUICK, "threads": 1 if before != 1 else 2}))
    assert torch.get_num_threads() == before


def test_channels_last_is_used(api, eager, network):
    import torch

    cl = torch.channels_last
    for flag in (False, True):
        model, x = eager.prepare(network, ProfileOptions(channels_last=flag), *_cpu_float())
        seen = {}
        model.get_submodule("layers.0").register_forward_hook(
            lambda m, a, out: seen.setdefault("out", out))
        with torch.inference_mode():
            model(x)
        weight = model.get_submodule("layers.0").conv.weight
        assert x.is_contiguous(memory_format=cl) is flag
        assert weight.is_contiguous(memory_format=cl) is flag
        assert seen["out"].is_contiguous(memory_format=cl) is flag
    r = api.profile_network(network, ProfileOptions(channels_last=True, **QUICK))
    assert r.environment["channels_last"] is True


def test_fuse_bn_removes_batch_norm_and_keeps_outputs(api, network):
    import torch
    from torch import nn

    from mncost.torch_backend import build
    from mncost.torch_backend.prepare import fuse_batch_norm

    model = build(network)
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():            # non-trivial statistics, so folding matters
        if isinstance(module, nn.BatchNorm2d):
            for t in (module.weight, module.bias, module.running_mean):
                t.data = torch.randn(t.shape, generator=generator) * 0.5
            module.running_var.data = torch.rand(module.running_var.shape,
                                                 generator=generator) + 0.5
    fused = copy.deepcopy(model)
    folded = fuse_batch_norm(fused)
    assert folded == sum(layer.bn for layer in network.layers) > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert fused.layer_names == model.layer_names
    x = torch.randn(2, 3, 64, 64, generator=generator)
    with torch.inference_mode():
        expected, got = model(x), fused(x)
    assert not torch.equal(expected, got)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    r = api.profile_network(network, ProfileOptions(fuse_bn=True, per_layer=True, **QUICK))
    assert r.environment["fuse_bn"] is True
    assert [t.name for t in r.layers] == [layer.name for layer in network.layers]


def test_dtype_and_batch(api, eager, network):
    import torch

    model, x = eager.prepare(network, ProfileOptions(dtype="bfloat16", batch=3),
                             torch.device("cpu"), torch.bfloat16)
    assert x.shape == (3, 3, 64, 64) and x.dtype == torch.bfloat16
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    r = api.profile_network(network, ProfileOptions(dtype="bfloat16", batch=3, **QUICK))
    assert (r.environment["dtype"], r.environment["batch"]) == ("bfloat16", 3)
    assert r.images_per_s == pytest.approx(3000 / r.end_to_end.median_ms)


def test_compile_option(api, network, monkeypatch):
    import torch

    calls = []

    def fake_compile(model):
        calls.append(model)
        return model
    monkeypatch.setattr(torch, "compile", fake_compile)
    r = api.profile_network(network, ProfileOptions(compile=True, **QUICK))
    assert len(calls) == 1 and r.environment["compile"] is True

    def failing_compile(model):
        def run(x):
            raise RuntimeError("backend compiler failed\nlong traceback")
        return run
    monkeypatch.setattr(torch, "compile", failing_compile)
    with pytest.raises(InputError, match=r"^--compile failed on this machine: RuntimeError: "
                                         r"backend compiler failed$"):
        api.profile_network(network, ProfileOptions(compile=True, **QUICK))
    with pytest.raises(InputError, match="cannot be combined with compile"):
        api.profile_network(network, ProfileOptions(compile=True, per_layer=True))


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("options, message", [
    (dict(batch=0), "batch must be >= 1"),
    (dict(repeats=0), "repeats must be >= 1"),
    (dict(threads=0), "threads must be >= 1"),
    (dict(dtype="int8"), "^--dtype int8 is quantized by a runtime's own tools"),
    (dict(dtype="int4"), "unknown dtype 'int4'"),
    (dict(device="tpu"), "device"),
    (dict(device="cuda:x"), "device"),
])
def test_bad_options(api, network, options, message):
    with pytest.raises(InputError, match=message):
        api.profile_network(network, ProfileOptions(**options))


def test_cuda_without_gpu(api, network):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InputError, match="no CUDA GPU is available"):
        api.profile_network(network, ProfileOptions(device="cuda:0"))
    result = invoke("--device", "cuda")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"mncost: error: --device cuda: no CUDA GPU is available to torch {torch.__version__}"]


@pytest.mark.parametrize("error, dtype, expected", [
    ("CUDA out of memory. Tried to allocate 2.00 GiB", "float32",
     "batch 8 does not fit in cpu memory (CUDA out of memory. Tried to allocate 2.00 GiB); "
     "try a smaller --batch"),
    ("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you "
     "tried to allocate 99 bytes", "float32", "batch 8 does not fit in cpu memory"),
    ("\"slow_conv2d_cpu\" not implemented for 'Half'", "float16",
     "dtype float16 is not supported on cpu: \"slow_conv2d_cpu\" not implemented for 'Half'"),
])
def test_run_time_errors_become_one_line(eager, error, dtype, expected):
    import torch

    options = ProfileOptions(batch=8, dtype=dtype)
    with pytest.raises(InputError) as caught:
        with eager._run_errors(torch.device("cpu"), options):
            raise RuntimeError(error + "\nsecond line")
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)
    with pytest.raises(InputError, match="does not fit"):
        with eager._run_errors(torch.device("cpu"), options):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
    with pytest.raises(RuntimeError, match="unrelated"):      # unknown failures stay loud
        with eager._run_errors(torch.device("cpu"), ProfileOptions()):
            raise RuntimeError("unrelated")


def test_unsupported_dtype_in_a_real_run(api, eager, network, monkeypatch):
    """A kernel missing for the dtype surfaces at the first run as a one-line error."""
    real_prepare = eager.prepare

    def prepare_with_missing_kernel(*args):
        model, x = real_prepare(*args)

        def forward(*a):
            raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Half'")
        model.get_submodule("layers.0").forward = forward
        return model, x
    monkeypatch.setattr(eager, "prepare", prepare_with_missing_kernel)
    with pytest.raises(InputError, match="^dtype float16 is not supported on cpu"):
        api.profile_network(network, ProfileOptions(dtype="float16", **QUICK))


# ---------------------------------------------------------------------------------------------
# The CUDA path's logic, with a fake asynchronous device


class FakeAsyncDevice:
    """Kernels are queued at launch and finish at ``sync``; the host clock does not move."""

    def __init__(self) -> None:
        self.now = 0
        self.pending = 0
        self.reads_after_sync = 0
        self.reads = 0
        self._synced = False

    def launch(self, ns: int) -> None:
        self.pending += ns
        self._synced = False

    def sync(self) -> None:
        self.now += self.pending
        self.pending = 0
        self._synced = True

    def read(self) -> int:
        self.reads += 1
        self.reads_after_sync += self._synced
        self._synced = False
        return self.now


def test_per_layer_timer_synchronizes_around_every_layer(api):
    import torch
    from torch import nn

    device = FakeAsyncDevice()

    class Kernel(nn.Module):
        def __init__(self, ns: int) -> None:
            super().__init__()
            self.ns = ns

        def forward(self, x):
            device.launch(self.ns)
            return x

    from mncost.torch_backend.layer_timer import LayerTimer

    model = nn.Sequential(Kernel(1_000), Kernel(30_000), Kernel(200))
    clock = Clock("fake cuda", read=device.read, sync=device.sync)
    with LayerTimer(model, ["0", "1", "2"], clock) as timer:
        samples = measure(lambda: model(torch.zeros(1)), clock, warmup=1, repeats=3)
    assert timer.last(3) == {"0": [1_000] * 3, "1": [30_000] * 3, "2": [200] * 3}
    assert samples == [31_200] * 3
    assert device.reads == device.reads_after_sync == 2 * 4 * 3 + 2 * 3


def test_profile_network_reads_only_synchronized_clocks(api, eager, network, monkeypatch):
    """Every clock read of a whole profile run goes through the device's clock."""
    device = FakeAsyncDevice()
    clock = Clock("fake cuda", read=device.read, sync=device.sync)
    monkeypatch.setattr(eager, "clock_for", lambda d: clock)
    r = api.profile_network(network, ProfileOptions(per_layer=True, **QUICK))
    assert r.environment["clock"] == "fake cuda"
    layers = len(network.layers)
    runs = r.end_to_end.runs + r.instrumented.runs
    assert device.reads == device.reads_after_sync == \
        2 * runs + 2 * layers * (r.instrumented.runs + QUICK["warmup"])


# ---------------------------------------------------------------------------------------------
# The command


def test_json_has_every_figure():
    result = invoke("--per-layer", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "mncost.profile/1" and data["model"] == "v3-small"
    assert data["alpha"] == 0.35 and data["resolution"] == [64, 64]
    assert data["environment"]["threads"] == 1
    e2e = data["end_to_end"]
    assert {"runs", "median_ms", "mean_ms", "std_ms", "p10_ms", "p90_ms", "iqr_ms", "min_ms",
            "max_ms", "images_per_s", "gmacs_per_s", "samples_ms"} <= set(e2e)
    assert len(e2e["samples_ms"]) == e2e["runs"]
    per_layer = data["per_layer"]
    assert {"layers_sum_ms", "coverage", "instrumented_coverage", "instrumentation_overhead",
            "instrumented_end_to_end"} <= set(per_layer)
    assert [row["name"] for row in per_layer["layers"]] == [
        layer.name for layer in resolve_model(*SMALL).layers]
    assert sum(row["time_share"] for row in per_layer["by_kind"]) == pytest.approx(1.0)


def test_csv_parses_with_scopes():
    result = invoke("--per-layer", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    scopes = [row["scope"] for row in rows]
    layers = len(resolve_model(*SMALL).layers)
    assert scopes[:3] == ["end_to_end", "instrumented_end_to_end", "layers_sum"]
    assert scopes.count("layer") == layers and "kind" in scopes
    assert all(row["torch"] and row["threads"] == "1" and row["dtype"] == "float32"
               for row in rows)
    assert float(rows[0]["median_ms"]) > 0 and float(rows[0]["images_per_s"]) > 0
    layer_rows = [r for r in rows if r["scope"] == "layer"]
    assert sum(float(r["time_share"]) for r in layer_rows) == pytest.approx(1.0)
    plain = list(csv.DictReader(io.StringIO(invoke("--format", "csv").stdout)))
    assert [r["scope"] for r in plain] == ["end_to_end"]


def test_markdown_table_and_output_file(tmp_path):
    md = invoke("--per-layer", "--format", "markdown").stdout
    assert md.startswith("## v3-small") and "### By layer kind" in md
    assert "| layers.1.dw | depthwise |" in md and "Sum of per-layer medians" in md
    table = invoke("--per-layer")
    assert table.exit_code == 0
    assert "By layer kind" in table.stdout and "depthwise conv" in table.stdout
    target = tmp_path / "p.json"
    result = invoke("--format", "json", "-o", str(target))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(target.read_text())["schema"] == "mncost.profile/1"


def test_cli_usage_errors():
    assert invoke("--dtype", "int8").exit_code == 2
    assert invoke("--batch", "0").exit_code == 2
    result = invoke("--per-layer", "--compile")
    assert result.exit_code == 2 and "cannot be combined" in result.stderr


def test_command_module_does_not_import_torch():
    code = "import sys, mncost.cli.profile; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_missing_torch_is_one_line_exit_2():
    code = ("import sys; sys.modules['torch'] = None\n"
            "from click.testing import CliRunner\n"
            "from mncost.cli import cli\n"
            "r = CliRunner().invoke(cli, ['profile', 'v1'])\n"
            "print(r.exit_code); print(r.stderr.strip())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "2"
    assert out[1].startswith("mncost: error: this command needs torch") and len(out) == 2


def test_progress_display_draws_on_a_terminal_only():
    from rich.console import Console

    from mncost.cli.profile import ProgressDisplay

    terminal = io.StringIO()
    with ProgressDisplay(Console(file=terminal, force_terminal=True, width=80)) as progress:
        progress("warm-up", 0.5, 1)
        progress("end-to-end", 1.0, 30)
    assert "end-to-end" in terminal.getvalue() and "30 runs" in terminal.getvalue()
    pipe = io.StringIO()
    with ProgressDisplay(Console(file=pipe, force_terminal=False)) as progress:
        progress("end-to-end", 1.0, 30)
    assert pipe.getvalue() == ""


# ---------------------------------------------------------------------------------------------
# Steady allocator, page faults, the unstable-measurement warning (issue 10, items 17-18)


def test_allocator_and_page_faults_are_recorded(result):
    from mncost.measure.timing import _glibc

    env = result.environment
    if _glibc() is not None:
        assert env["malloc"] == "glibc mallopt mmap_threshold=64MiB trim_threshold=128MiB"
    assert isinstance(env["malloc_env"], dict)
    assert result.page_faults_per_run is not None and result.page_faults_per_run >= 0
    data = result.to_dict()
    assert data["end_to_end"]["page_faults_per_run"] == result.page_faults_per_run
    assert data["end_to_end"]["unstable"] == result.unstable


def test_no_steady_malloc_switch_reaches_the_profiler(monkeypatch):
    from mncost.torch_backend import profile as api

    seen = []
    real = api.profile_network

    def spy(network, options, progress=None):
        seen.append(options.steady_malloc)
        return real(network, options, progress)

    monkeypatch.setattr(api, "profile_network", spy)
    assert invoke("--no-steady-malloc").exit_code == 0
    assert invoke().exit_code == 0
    assert seen == [False, True]


def test_unstable_measurement_warns_on_stderr(monkeypatch):

    monkeypatch.setattr(ProfileResult, "unstable", property(lambda self: "p90 is 9.00x "
                                                                            "the median"))
    run = CliRunner().invoke(cli, ["profile", "v3-small", "--alpha", "0.35",
                                                   "--res", "64", "--warmup", "1", "--repeats",
                                                   "3", "--min-time", "0", "--threads", "1",
                                                   "-f", "json"])
    assert run.exit_code == 0
    assert "mncost: warning: unstable measurement (p90 is 9.00x the median)" in run.stderr
    assert "1 thread on a machine with" in run.stderr
    assert json.loads(run.stdout)["end_to_end"]["unstable"] == "p90 is 9.00x the median"


# ---------------------------------------------------------------------------------------------
# The quiet estimate, the allocator note, the thread default (issue 23)


def test_json_and_csv_name_the_quiet_estimate():
    from mncost.measure.timing import percentile

    data = json.loads(invoke("--per-layer", "--format", "json").stdout)
    e2e = data["end_to_end"]
    assert e2e["quiet_statistic"] == "p5"
    assert e2e["quiet_ms"] == percentile(e2e["samples_ms"], 0.05) <= e2e["p10_ms"]
    inst = data["per_layer"]["instrumented_end_to_end"]
    assert inst["quiet_statistic"] == "p5" and inst["quiet_ms"] <= inst["p10_ms"]
    assert all(row["quiet_statistic"] == "p5" and row["quiet_ms"] <= row["p10_ms"]
               for row in data["per_layer"]["layers"])
    rows = list(csv.DictReader(io.StringIO(invoke("--format", "csv").stdout)))
    assert rows[0]["quiet_statistic"] == "p5"
    assert float(rows[0]["quiet_ms"]) <= float(rows[0]["p10_ms"])


def test_result_quiet_is_the_p5_of_the_runs():
    from mncost.measure.profile_results import QUIET_MEANING, QUIET_STATISTIC

    samples = [10.0 + 0.1 * i for i in range(20)] + [30.0]   # 21 runs, one contended
    result = ProfileResult(network=resolve_model(*SMALL), options=ProfileOptions(),
                           environment={}, macs=1, end_to_end=TimingStats.from_ms(samples),
                           samples_ms=tuple(samples))
    assert result.quiet_ms == pytest.approx(10.1)      # rank (21 - 1) * 0.05 = 1 of the sorted
    assert result.to_dict()["end_to_end"]["quiet_ms"] == pytest.approx(10.1)
    assert QUIET_STATISTIC == "p5" and QUIET_MEANING.startswith("p5 of the timed runs")


def test_table_names_quiet_and_median_and_the_allocator():
    from mncost.measure.profile_results import QUIET_MEANING
    from mncost.measure.timing import _glibc

    run = invoke()
    assert run.exit_code == 0, run.output
    text = " ".join(run.stdout.split())            # notes wrap at the terminal's width
    assert "quiet (p5) · median" in text and QUIET_MEANING in text
    if _glibc() is not None:
        assert "allocator kept steady (glibc mallopt thresholds, mncost's default): a plain " \
               "process can be much slower (v2 1.0/224: about 35% on a 2-core CPU); " \
               "--no-steady-malloc measures that" in text
    data = json.loads(invoke("--format", "json").stdout)
    assert data["environment"]["malloc_note"].startswith("allocator ")
    md = invoke("--format", "markdown").stdout
    assert data["environment"]["malloc_note"] in md and "| malloc_note |" not in md


@pytest.mark.parametrize("malloc, tunables, expected", [
    ("glibc mallopt mmap_threshold=64MiB trim_threshold=128MiB", {},
     "allocator kept steady (glibc mallopt thresholds, mncost's default): a plain process can "
     "be much slower (v2 1.0/224: about 35% on a 2-core CPU); --no-steady-malloc measures "
     "that"),
    ("default (off)", {},
     "allocator at the C library's defaults (--no-steady-malloc): on glibc runs can be much "
     "slower than with mncost's steady default (v2 1.0/224: about 35% on a 2-core CPU)"),
    ("default (off)", {"MALLOC_TRIM_THRESHOLD_": "1", "MALLOC_MMAP_THRESHOLD_": "2",
                       "MALLOC_ARENA_MAX": "1"},
     "allocator not set by mncost (--no-steady-malloc), but MALLOC_MMAP_THRESHOLD_, "
     "MALLOC_TRIM_THRESHOLD_ from the environment apply"),
    ("default (not glibc: no mallopt, left as is)", {},
     "allocator default (not glibc: no mallopt, left as is): nothing kept steady, runs may pay "
     "page faults"),
])
def test_allocator_note_says_what_was_in_effect(malloc, tunables, expected):
    from mncost.measure.profile_results import allocator_note

    assert allocator_note(malloc, tunables) == expected


def test_threads_default_to_one(monkeypatch):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)             # what torch picks on a 2-core machine
    try:
        run = CliRunner().invoke(cli, ["profile", "v3-small", "--alpha", "0.35", "--res", "64",
                                       "--warmup", "1", "--repeats", "3", "--min-time", "0",
                                       "-f", "json"])
    finally:
        torch.set_num_threads(before)
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["environment"]["threads"] == 1
    # no thread-count warning (3 runs may still be noisy enough for the instability one)
    assert "thread pool needs every core" not in run.stderr


@pytest.mark.parametrize("threads, cpus, device, warns", [
    ("2", 2, "cpu", True), ("3", 2, "cpu", True), ("2", 4, "cpu", False),
    ("1", 1, "cpu", False), ("2", 2, "cuda", False)])
def test_thread_warning_before_measuring(monkeypatch, threads, cpus, device, warns):
    import mncost.cli.profile as command
    from mncost.torch_backend import profile as api

    monkeypatch.setattr(command, "available_cpus", lambda: cpus)
    monkeypatch.setattr(api, "profile_network", _refuse)    # the warning comes first
    run = CliRunner().invoke(cli, ["profile", "v3-small", "--threads", threads,
                                   "--device", device])
    assert run.exit_code == 2 and "stopped here" in run.stderr
    lines = run.stderr.strip().splitlines()
    expected = (f"mncost: warning: {threads} threads on {cpus} available CPU cores: the "
                f"thread pool needs every core")
    assert lines[0].startswith(expected) is warns, lines


def _refuse(network, options, progress=None):
    raise InputError("stopped here")
