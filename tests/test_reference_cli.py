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
    # the hybrids' attention: timm's matmuls between the value and output projections
    ("v4-hybrid-medium", "--res", "97"), ("v4-hybrid-large", "--alpha", "0.75", "--res", "64"),
    ("v4-hybrid-medium", "--alpha", "0.6", "--res", "64"),
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


# ---------------------------------------------------------------------------------------------
# User specs name the library model they transcribe (issue 22 item 9)

@pytest.fixture
def user_v1(tmp_path):
    """MobileNet v1 as a user spec of its own name, so no built-in table applies."""
    from mncost.network.catalog import configs_dir

    text = (configs_dir() / "mobilenet_v1.yaml").read_text()
    lines = [("name: my-v1" if line.startswith("name:") else line)
             for line in text.splitlines()]
    path = tmp_path / "my_v1.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@needs_reference
def test_a_user_spec_names_its_timm_model_on_the_command_line(user_v1):
    refused = run("crosscheck", str(user_v1), "--reference", "timm", "--res", "96")
    assert refused.exit_code == 2 and "no timm reference for 'my-v1'" in refused.output
    assert "--reference timm:NAME" in refused.output
    ok = run("crosscheck", str(user_v1), "--reference", "timm:mobilenetv1_100", "--res", "96",
             "-f", "json")
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["ok"] and doc["reference"] == "timm" and len(doc["layers"]) == 28


@needs_reference
def test_a_user_spec_names_its_timm_model_in_the_spec(user_v1, tmp_path):
    child = tmp_path / "child.yaml"
    child.write_text("name: my-v1-ref\nextends: my_v1.yaml\n"
                     "reference: {timm: {1.0: mobilenetv1_100, 1.25: mobilenetv1_125}}\n")
    for alpha in ("1.0", "1.25"):
        ok = run("crosscheck", str(child), "--reference", "timm", "--alpha", alpha, "--res", "96",
                 "-f", "json")
        assert ok.exit_code == 0 and json.loads(ok.stdout)["ok"], ok.output
    other = run("crosscheck", str(child), "--reference", "timm", "--alpha", "0.5", "--res", "96")
    assert other.exit_code == 2
    assert "the spec names timm models at alpha 1, 1.25 only, not 0.5" in other.output
    # a model of another network is counted, and the comparison says it differs
    wrong = run("crosscheck", str(user_v1), "--reference", "timm:mobilenetv2_100", "--res", "96")
    assert wrong.exit_code == 1


@pytest.mark.parametrize("value, message", [
    ("foo", "the library is one of torchvision, timm"),
    ("foo:bar", "the library is one of torchvision, timm"),
    ("timm:", "after timm: give a model name"),
    ("timm:a b", "after timm: give a model name"),
])
def test_reference_option_is_checked_before_any_work(value, message):
    result = run("crosscheck", "v1", "--reference", value)
    assert result.exit_code == 2 and message in result.output


@needs_reference
def test_an_unknown_library_model_is_one_line(user_v1):
    result = run("crosscheck", str(user_v1), "--reference", "timm:no_such_model_xyz")
    assert result.exit_code == 2
    assert "timm has no model 'no_such_model_xyz'" in result.output
    assert "Traceback" not in result.output


class _Attention(torch.nn.Module):
    """conv -> (Q K^T, A V) -> conv, fused (scaled_dot_product_attention) as timm's modules
    are by default, unless ``fused_attn`` is switched off."""

    def __init__(self):
        super().__init__()
        self.fused_attn = True
        self.q = torch.nn.Conv2d(3, 8, 1, bias=False)
        self.o = torch.nn.Conv2d(8, 4, 1, bias=False)

    def forward(self, x):
        q = self.q(x).flatten(2).transpose(1, 2)[:, None]           # 1, 1 head, N=16, d=8
        if self.fused_attn:
            o = torch.nn.functional.scaled_dot_product_attention(q, q, q)
        else:
            o = torch.softmax(q @ q.transpose(-1, -2), -1) @ q
        return self.o(o[:, 0].transpose(1, 2).reshape(1, 8, 4, 4)).mean((2, 3))


def test_reference_counts_the_matmuls_between_two_layers_as_one():
    """An attention's matmuls, which run outside any Conv2d / Linear, are one layer of the
    reference count, in their place: h x N x N x d for each of Q K^T and A V; the fused kernel
    (not counted by FlopCounterMode on the CPU) is switched off for the pass and back on."""
    from mncost.torch_backend.reference import count_module

    model = _Attention()
    counts = count_module(model, (4, 4))
    assert [(x.name, x.macs, x.params, x.shape) for x in counts.layers] == [
        ("q", 16 * 3 * 8, 24, (8, 4, 4)), ("matmul -> o", 2 * 16 * 16 * 8, 0, (8, 4, 4)),
        ("o", 16 * 8 * 4, 32, (4, 4, 4))]
    assert counts.macs == sum(x.macs for x in counts.layers) and model.fused_attn
