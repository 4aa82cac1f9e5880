"""``mncost crosscheck MODEL --reference torchvision|timm``: the model the library ships,
built and counted beside ours. Runs where the reference extra is installed (CI installs it);
the same proof without the extra is tests/test_reference_counts.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mncost.cli import cli

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch]


def run(*args):
    return CliRunner().invoke(cli, list(args))


needs_reference = pytest.mark.reference


@needs_reference
@pytest.mark.parametrize("args", [
    ("mnasnet", "--alpha", "0.5", "--res", "96"),
    ("mnasnet", "--alpha", "1.3", "--res", "97", "--depth", "1.0"),
    ("efficientnet-b0", "--alpha", "0.35", "--depth", "0.5", "--res", "96"),
    ("efficientnet-b2", "--res", "64"),
    ("v2", "--alpha", "0.35", "--res", "97", "--classes", "10"),
    ("v3-large", "--alpha", "0.75", "--res", "128"),
    ("v3-small", "--res", "224x160"),
])
def test_torchvision_agrees(args):
    result = run("crosscheck", *args, "--reference", "torchvision", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] and doc["mismatch_lines"] == [] and doc["reference"] == "torchvision"
    assert all(layer["macs"][0] == layer["macs"][1] for layer in doc["layers"])
    assert result.stderr.startswith("crosscheck: all ")


@needs_reference
@pytest.mark.parametrize("args", [
    ("v1", "--res", "128"), ("v1", "--alpha", "1.25", "--res", "96"),
    ("v3-large-tf", "--alpha", "0.75", "--res", "96"), ("v3-small-tf", "--res", "97"),
])
def test_timm_agrees(args):
    result = run("crosscheck", *args, "--reference", "timm", "--per-layer")
    assert result.exit_code == 0, result.output
    assert "against timm" in result.stdout and "all agree" in result.stdout


@needs_reference
def test_a_difference_exits_1_and_names_the_layer(monkeypatch):
    from mncost.costs import reference
    from mncost.torch_backend import reference as tv_reference

    real = reference.count_network

    def doctored(network):
        counts = real(network)
        first = counts.layers[0]
        return reference.Counts((reference.LayerCount(first.name, first.macs + 1, first.params,
                                                      first.shape),) + counts.layers[1:],
                                counts.macs, counts.params, counts.output)

    monkeypatch.setattr(tv_reference, "count_network", doctored)
    result = run("crosscheck", "mnasnet", "--res", "64", "--reference", "torchvision")
    assert result.exit_code == 1
    assert "layer 0 layers.0 / layers.0: macs ours 884,737 != reference 884,736" in \
        result.stderr


@pytest.mark.parametrize("args,message", [
    (("--all", "--reference", "torchvision"), "--reference checks one MODEL"),
    (("v1-conv", "--reference", "torchvision"), "no torchvision reference for"),
    (("v1", "--alpha", "0.5", "--reference", "timm"), "timm's mobilenet-v1 ships at alpha"),
])
@needs_reference
def test_usage_errors_are_one_line(args, message):
    result = run("crosscheck", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_missing_extra_is_one_line_exit_2():
    code = ("import sys; sys.modules['torchvision'] = None\n"
            "from click.testing import CliRunner\n"
            "from mncost.cli import cli\n"
            "r = CliRunner().invoke(cli, ['crosscheck', 'v2', '--reference', 'torchvision'])\n"
            "print(r.exit_code); print(r.stderr.strip())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["2", "mncost: error: this command needs torchvision, which is not "
                        "installed: pip install 'mncost[reference]'"]
