"""One name per thing on the command line (issue 18), and the names a user types (issue 22,
item 10).

* ``--device`` is where torch runs, ``cpu``, ``cuda`` or ``cuda:N``, in every command that has
  it; a calibrated device profile is ``--device-profile FILE`` wherever one is read
  (``predict``, ``sweep``, ``check``); the roofline file is ``--roofline``. The old spellings
  (``predict --device FILE``, ``sweep/check --predict FILE``, ``memory --measure-device``)
  still work, with one deprecation line on stderr. ``predict --device cpu`` (a device name,
  not a file) is refused: a prediction is for the device its profile was calibrated on.
* A model is also named by its spec's name (``mobilenet-v2``, printed in every header); an
  unknown name or op gets a "did you mean"; a YAML indentation error names the line of the
  mistake.
"""

from __future__ import annotations

import json

import pytest
from _helpers import one_line_error, profile_doc, run

from mncost.network.catalog import ALIASES, BUILTINS, load_model


@pytest.fixture
def device(tmp_path):
    path = tmp_path / "device.json"
    path.write_text(json.dumps(profile_doc()))
    return str(path)


def test_device_profile_is_one_option_everywhere(device, tmp_path):
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n  - {model: v2, max_predicted_latency_ms: 1000}\n")
    for args in (("predict", "v2"), ("sweep", "v2", "--alpha", "0.5,1"),
                 ("check", "--budget", str(budgets))):
        result = run(*args, "--device-profile", device)
        assert result.exit_code == 0, (args, result.output)
        assert "deprecated" not in result.stderr


@pytest.mark.parametrize("new, old", [
    (("predict", "v2", "-f", "json", "--device-profile", "{d}"),
     ("predict", "v2", "-f", "json", "--device", "{d}")),
    (("sweep", "v2", "--alpha", "0.5,1", "-f", "csv", "--device-profile", "{d}"),
     ("sweep", "v2", "--alpha", "0.5,1", "-f", "csv", "--predict", "{d}")),
], ids=["predict --device FILE", "sweep --predict FILE"])
def test_old_spellings_still_work_with_one_warning(device, new, old):
    now = run(*(a.format(d=device) for a in new))
    before = run(*(a.format(d=device) for a in old))
    assert now.exit_code == before.exit_code == 0, before.output
    assert before.stdout == now.stdout
    spelled = "--device FILE" if "predict" == old[0] else "--predict FILE"
    assert before.stderr == (f"mncost: warning: {spelled} is deprecated: use "
                             "--device-profile FILE\n") + now.stderr


def test_check_predict_is_the_old_device_profile(device, tmp_path):
    budgets = tmp_path / "b.yaml"
    budgets.write_text("budgets:\n  - {model: v2, max_predicted_latency_ms: 1000}\n")
    result = run("check", "--budget", str(budgets), "--predict", device)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == ("mncost: warning: --predict FILE is deprecated: "
                                             "use --device-profile FILE")


def test_memory_measure_device_is_the_old_device():
    result = run("memory", "v1", "--measure-device", "cpu", "-f", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == "mncost: warning: --measure-device is deprecated: use --device\n"


@pytest.mark.parametrize("value", ["cpu", "cuda", "cuda:1"])
def test_predict_device_name_is_not_a_file(device, value):
    error = one_line_error(run("predict", "v2", "--device", value))
    assert f"predict takes no --device {value}" in error and "--device-profile FILE" in error


def test_both_spellings_at_once_are_refused(device):
    error = one_line_error(run("sweep", "v2", "--device-profile", device, "--predict", device))
    assert "give --device-profile only" in error


def test_predict_needs_a_device_profile():
    assert "give --device-profile FILE" in one_line_error(run("predict", "v2"))


@pytest.mark.parametrize("args", [
    ("sweep", "v2", "--device", "laptop.json"), ("check", "--budget", "b.yaml", "--device",
                                                 "gpu"),
    ("profile", "v1", "--device", "tpu"), ("memory", "v1", "--device", "cuda:x"),
    ("baseline", "write", "v1", "--device", "laptop.json"),
], ids=lambda a: " ".join(a))
def test_device_is_cpu_or_cuda_everywhere(args):
    error = one_line_error(run(*args))
    assert "is not cpu, cuda or cuda:N" in error
    if args[-1].endswith(".json"):
        assert "--device-profile FILE" in error


@pytest.mark.parametrize("command", [("predict",), ("sweep",), ("check",), ("profile",),
                                     ("memory",), ("baseline", "write"), ("calibrate",)])
def test_help_uses_the_one_name(command):
    text = run(*command, "--help").stdout
    assert "--predict" not in text and "--measure-device" not in text
    assert "DEVICE.json" not in text
    for line in text.splitlines():
        if line.strip().startswith("--device ") or line.strip().startswith("-d, --device "):
            assert "cpu|cuda|cuda:N" in line, line


# ---------------------------------------------------------------------------------------------
# Model names, op names, YAML lines (issue 22, item 10)

def test_every_spec_name_names_its_built_in():
    for alias, name in ALIASES.items():
        assert load_model(alias).name == alias == load_model(name).name
    named = {load_model(name).name for name in BUILTINS}
    assert {alias for alias in ALIASES} <= named


@pytest.mark.parametrize("given", ["mobilenet-v2", "MobileNet-V2", "mobilenet_v2"])
def test_the_name_printed_in_every_header_is_a_model_name(given):
    result = run("analyze", given, "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["macs"] == 300_774_272     # torchvision's v2


@pytest.mark.parametrize("given, meant", [
    ("v3", "'v3-large', 'v3-small', 'v3-large-tf' or 'v3-small-tf'"),
    ("v3-larg", "'v3-large' or 'v3-large-tf'"),
    ("mobilenet-v3", "'v3-large', 'v3-small'"),
    ("efficientnet", "'efficientnet-b0', 'efficientnet-b1', 'efficientnet-b2' or "
                     "'efficientnet-b3'"),
    ("vv2", "'v2'"),
])
def test_an_unknown_model_gets_the_names_it_may_mean(given, meant):
    assert f"(did you mean {meant}" in one_line_error(run("analyze", given))


@pytest.mark.parametrize("op, meant", [
    ("convv", "conv"), ("Conv", "conv"), ("sep_conv", "separable"), ("pooling", "pool"),
    ("depthwise_conv", "dw"), ("inverted_residual_block", "bottleneck"), ("mbconv6",
                                                                          "bottleneck"),
    ("Linear", "fc"),
])
def test_an_unknown_op_gets_a_did_you_mean(tmp_path, op, meant):
    spec = tmp_path / "net.yaml"
    spec.write_text(f"name: net\nlayers:\n  - {{op: {op}, c: 8, k: 3, s: 2}}\n")
    error = one_line_error(run("analyze", str(spec)))
    assert f"net.yaml:3: layers[0].op: unknown layer kind {op!r} (did you mean {meant!r}?)" \
        in error


def test_an_op_nothing_like_any_gets_the_list():
    from mncost.spec.load import suggest_op

    assert suggest_op("xyz") is None and suggest_op("") is None


@pytest.mark.parametrize("text, line", [
    ("name: t\nlayers:\n  - {op: conv, c: 8}\n   - {op: conv, c: 8}\n", 4),
    ("name: t\nlayers:\n  - op: conv\n    c: 8\n   k: 3\n", 5),
    ("name: t\nlayers:\n  - {op: conv, c: 8}\n  - op: conv\n    c: 8\n  k: 3\n", 6),
])
def test_an_indentation_error_names_the_line_of_the_mistake(tmp_path, text, line):
    spec = tmp_path / "net.yaml"
    spec.write_text(text)
    error = one_line_error(run("analyze", str(spec)))
    assert f"net.yaml:{line}: YAML syntax error" in error and "indentation" in error


def test_an_unclosed_brace_still_names_where_it_opened(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text("name: t\nlayers:\n  - {op: conv, c: 8\n  - {op: conv}\n")
    assert "net.yaml:3: YAML syntax error" in one_line_error(run("analyze", str(spec)))


def test_every_help_names_the_quiet_estimate_the_code_reads():
    """A ``--help`` that says which percentile the quiet estimate is says the one
    :data:`mncost.measure.timing.QUIET_STATISTIC` holds (``profile`` once said p10 of p5)."""
    import re

    from mncost.cli import cli
    from mncost.measure.timing import QUIET_STATISTIC

    named = []
    for name in cli.list_commands(None):
        text = " ".join(run(name, "--help").output.split())
        named += re.findall(r"quiet estimate \((p\d+)", text)
    assert named and set(named) == {QUIET_STATISTIC}
