"""The torch builder: real modules at the engine's layer names, with the engine's parameters.

Parameter counts are read from torch (``numel`` of parameters and buffers), an independent
source from the analytic formulas; reference totals are the published ones (torchvision's
``num_params``, the issue's v1 figure).
"""

from __future__ import annotations

import textwrap

import pytest

from mncost import analyze, resolve_model
from mncost.errors import BuildError
from mncost.network.catalog import TABLES

torch = pytest.importorskip("torch")
nn = torch.nn

from mncost.torch_backend import build  # noqa: E402  (needs torch)

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Batch-1 forwards gain nothing from a second OpenMP thread, and on a shared 2-core
    machine the spinning threads make them 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

#: Configurations every built-in spec is built at: odd width, odd and non-square resolutions.
CONFIGS = [(1.0, 224, None), (0.35, 97, None), (0.75, "224x160", 10), (1.4, 128, 7)]


def leaf_counts(module: nn.Module) -> dict[str, int]:
    """weights / trainable / checkpoint as torch sees them, counted here independently."""
    return {
        "weights": sum(m.weight.numel() for m in module.modules()
                       if isinstance(m, (nn.Conv2d, nn.Linear))),
        "trainable": sum(p.numel() for p in module.parameters()),
        "checkpoint": sum(p.numel() for p in module.parameters()) + sum(
            b.numel() for n, b in module.named_buffers() if n.split(".")[-1] in (
                "running_mean", "running_var")),
    }


@pytest.mark.parametrize("model", TABLES)
@pytest.mark.parametrize("alpha,resolution,classes", CONFIGS)
def test_parameters_equal_the_engine_per_layer(model, alpha, resolution, classes):
    network = resolve_model(model, alpha, resolution, classes)
    report = analyze(network)
    built = build(network)
    modules = dict(built.named_modules())
    for row in report.layers:
        counts = leaf_counts(modules[row.layer.name])
        for convention, n in counts.items():
            assert n == row.cost.params(convention), (row.layer.name, convention)
    whole = leaf_counts(built)
    for convention, n in whole.items():
        assert n == report.total.params(convention), convention


@pytest.mark.parametrize("model,params", [
    ("v1", 4_231_976),            # issue 3 (TF-slim body 3,185,088 + BN + FC 1024 x 1000 + bias)
    ("v2", 3_504_872),            # torchvision mobilenet_v2 num_params
    ("v3-large", 5_483_032),      # torchvision mobilenet_v3_large
    ("v3-small", 2_542_856),      # torchvision mobilenet_v3_small
])
def test_reference_parameter_counts(model, params):
    built = build(resolve_model(model))
    assert sum(p.numel() for p in built.parameters()) == params


def test_module_names_are_the_engine_layer_names():
    network = resolve_model("v3-small")
    built = build(network)
    names = [layer.name for layer in network.layers]
    assert built.layer_names == names
    modules = dict(built.named_modules())
    assert all(name in modules for name in names)
    # Every leaf torch module belongs to exactly one engine layer (no stray modules).
    leaves = [n for n, m in built.named_modules() if not list(m.children())]
    owner = {n: [x for x in names if n == x or n.startswith(x + ".")] for n in leaves}
    assert all(len(v) == 1 for v in owner.values()), owner
    assert isinstance(modules["layers.1.se.fc1"].conv, nn.Conv2d)
    assert isinstance(modules["layers.0"].act, nn.Hardswish)
    assert isinstance(modules["layers.1.se.fc2"].act, nn.Hardsigmoid)


@pytest.mark.parametrize("model", TABLES)
def test_forward_shape_and_eval_determinism(model):
    network = resolve_model(model, 0.35, 97, 10)
    built = build(network)
    assert not built.training
    x = torch.randn(2, 3, 97, 97, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        first, second = built(x), built(x)
        again = build(network)(x)          # same seed, same weights
    assert first.shape == (2, 10)
    assert torch.equal(first, second) and torch.equal(first, again)
    assert torch.isfinite(first).all()


def test_non_square_forward():
    built = build(resolve_model("v2", 0.5, "224x160", 7))
    with torch.inference_mode():
        assert built(torch.zeros(3, 3, 224, 160)).shape == (3, 7)


def test_residuals_and_squeeze_excite_are_wired():
    """Zeroing a block's projection leaves the residual: the add really reads the block input;
    the SE scale really multiplies by the gate."""
    network = resolve_model("v3-large", resolution=64)
    built = build(network)
    modules = dict(built.named_modules())
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    seen = {}
    hooks = [modules[n].register_forward_hook(lambda m, a, o, n=n: seen.__setitem__(n, (a, o)))
             for n in ("layers.3.add", "layers.4.se.scale")]
    with torch.inference_mode():
        built(x)
    for h in hooks:
        h.remove()
    (proj, shortcut), out = seen["layers.3.add"]
    assert torch.equal(out, proj + shortcut) and shortcut.shape == out.shape
    (feat, gate), out = seen["layers.4.se.scale"]
    assert gate.shape[-2:] == (1, 1) and torch.equal(out, feat * gate)
    assert ((gate >= 0) & (gate <= 1)).all()          # h-sigmoid gate


@pytest.mark.parametrize("row_name", ["forward", "eval", "training"])
def test_unbuildable_user_spec_names_the_layer(tmp_path, row_name):
    """The engine accepts any identifier as a row name; torch reserves some (nn.Module
    attributes). The builder refuses with a BuildError naming the layer."""
    spec = tmp_path / "bad.yaml"
    spec.write_text(textwrap.dedent(f"""\
        name: bad
        layers:
          - {{op: conv, k: 3, c: 16, s: 2, name: {row_name}}}
          - {{op: pool}}
          - {{op: fc, c: classes}}
        """))
    network = resolve_model(str(spec))            # the engine is fine with it
    assert analyze(network).total.macs > 0
    with pytest.raises(BuildError, match=rf"^layer {row_name}: "):
        build(network)


def test_seed_none_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    build(resolve_model("v3-small", resolution=32))       # default seed=0 forks the RNG
    assert torch.equal(torch.rand(1), expected)


def test_every_activation_builds_the_function_its_record_names():
    """The activation table (mncost.spec.values.ACTIVATIONS) is the one list the validator, the
    engine (ops per element) and the builder read: each record's torch module computes the
    activation its name says, and the table has exactly the names written out here."""
    import torch

    from mncost.spec.values import ACTIVATIONS
    from mncost.torch_backend.builder import activation

    x = torch.linspace(-8, 8, 161)
    relu6 = x.clamp(0, 6)
    expected = {"relu": x.clamp(min=0), "relu6": relu6, "hsigmoid": (x + 3).clamp(0, 6) / 6,
                "hswish": x * (x + 3).clamp(0, 6) / 6, "sigmoid": 1 / (1 + torch.exp(-x)),
                "swish": x / (1 + torch.exp(-x)),
                "gelu": x * (1 + torch.erf(x / 2 ** 0.5)) / 2}
    assert list(ACTIVATIONS) == ["none", *expected]
    assert activation("none") is None
    for name, y in expected.items():
        assert torch.allclose(activation(name)(x), y, atol=1e-6), name
    assert {a.name: a.ops for a in ACTIVATIONS.values()} == {
        "none": 0, "relu": 1, "relu6": 2, "hsigmoid": 4, "hswish": 5, "sigmoid": 4, "swish": 5,
        "gelu": 5}
