"""Cost formulas against closed-form arithmetic, and the resolver's conventions."""

from __future__ import annotations

import math
import textwrap

import pytest

from mncost import analyze, resolve_model
from mncost.costs.analytic import layer_cost
from mncost.costs.kinds import REGISTRY
from mncost.network.catalog import BUILTINS
from mncost.network.layers import ResolvedLayer, Shape
from mncost.network.width import make_divisible, squeeze, thin
from mncost.spec.load import SqueezeExcite, Width


def conv(c_in, c_out, h, k=3, s=1, groups=1, bn=True, bias=False, act="relu", kind="conv"):
    out = Shape(c_out, math.ceil(h / s), math.ceil(h / s))
    return ResolvedLayer(name="x", kind=kind, stage="x", inputs=("input",),
                         in_shape=Shape(c_in, h, h), out_shape=out, kernel=k, stride=s,
                         groups=groups, act=act, bn=bn, bias=bias)


@pytest.mark.parametrize("c_in,c_out,h,k,s,groups,kind", [
    (3, 32, 224, 3, 2, 1, "conv"), (32, 32, 112, 3, 1, 32, "depthwise"),
    (32, 64, 112, 1, 1, 1, "pointwise"), (64, 64, 56, 5, 2, 64, "depthwise"),
    (96, 48, 7, 3, 1, 4, "grouped"), (17, 5, 9, 7, 3, 1, "conv"), (1024, 1000, 1, 1, 1, 1, "fc"),
])
def test_conv_formula_closed_form(c_in, c_out, h, k, s, groups, kind):
    """v1 paper Eq. 1 with groups: D_F^2 * (M/g) * N * D_K^2 (fvcore's conv handle too)."""
    cost = layer_cost(conv(c_in, c_out, h, k, s, groups, kind=kind))
    d_f = -(-h // s)
    assert cost.macs == d_f * d_f * (c_in // groups) * c_out * k * k
    assert cost.weights == c_out * (c_in // groups) * k * k
    assert cost.bn_affine == cost.bn_stats == 2 * c_out
    assert cost.activations == c_out * d_f * d_f
    assert cost.fvcore == cost.macs + 2 * c_out * d_f * d_f


def test_depthwise_is_eq4():
    """v1 Eq. 4: depthwise cost D_K^2 * M * D_F^2."""
    assert layer_cost(conv(512, 512, 14, groups=512, kind="depthwise")).macs == 9 * 512 * 196


def test_bias_and_params_conventions():
    cost = layer_cost(conv(8, 16, 4, k=1, bn=False, bias=True, kind="pointwise"))
    assert (cost.weights, cost.biases, cost.bn_affine) == (128, 16, 0)
    assert cost.params("weights") == 128
    assert cost.params("trainable") == cost.params("checkpoint") == 144


def test_the_builtins_use_registered_kinds_and_grouped_is_for_user_specs():
    # written out, not read from the registry: a built-in that resolves to a new kind, or one
    # that stops using a kind, fails here
    used = {layer.kind for model in BUILTINS for layer in resolve_model(model).layers}
    assert used == {"conv", "pointwise", "depthwise", "fc", "se_fc", "pool", "add", "scale",
                    "norm", "attention", "layer_scale"}      # the last three: v4 hybrids
    assert set(REGISTRY) - used == {"grouped"}      # tests/data/every_kind.yaml has one


def test_elementwise_layers_have_no_macs():
    net = resolve_model("v3-large")
    for row in analyze(net).layers:
        if row.layer.kind in ("pool", "add", "scale"):
            assert row.cost.macs == 0 and row.cost.params() == 0


# ---------------------------------------------------------------------------------------------
# Width conventions

@pytest.mark.parametrize("value,expected", [
    (32 * 0.5, 16), (32 * 0.35, 16), (24 * 0.75, 24), (16 * 0.25, 8), (1280 * 0.75, 960),
    (160 * 0.35, 56), (59.2, 56), (4.0, 8), (100 * 1.4, 144),
])
def test_make_divisible(value, expected):
    """Multiple of 8, at least 8, never below 90% of the value (18 -> 16 < 16.2 -> 24)."""
    assert make_divisible(value, 8) == expected


def test_floor_rule_is_tfslim_depth():
    w = Width(rounding="floor", min=8)
    assert [thin(c, 0.25, w) for c in (32, 64, 1024)] == [8, 16, 256]
    assert thin(16, 0.25, w) == 8            # min_depth
    assert thin(100, 0.29, w) == 28          # int(0.29 * 100) is 28 in floating point


def test_keep_width_only_stops_thinning():
    w = Width(rounding="make_divisible", divisor=8, min=8)
    assert thin(1280, 0.5, w, keep_width=True) == 1280
    assert thin(1280, 1.4, w, keep_width=True) == 1792


def test_squeeze_conventions():
    assert squeeze(72, SqueezeExcite()) == make_divisible(18, 8) == 24
    assert squeeze(16, SqueezeExcite()) == 8
    effnet = SqueezeExcite(ratio=0.25, of="input", divisor=None, act="swish", gate="sigmoid")
    assert squeeze(16, effnet) == 4 and squeeze(3, effnet) == 1


def test_v2_last_conv_kept_at_1280_below_alpha_1():
    for alpha, expected in [(0.35, 1280), (0.5, 1280), (1.0, 1280), (1.4, 1792)]:
        net = resolve_model("v2", alpha)
        assert net.layer("layers.8").out_shape.c == expected


def test_v3_se_and_expansion_rules():
    net = resolve_model("v3-large")
    names = {layer.name for layer in net.layers}
    assert "layers.1.expand" not in names          # exp 16 == input 16: no expansion conv
    assert "layers.2.expand" in names
    assert net.layer("layers.4.se.fc1").out_shape.c == 24       # make_divisible(72 // 4, 8)
    assert net.layer("layers.4.se.fc2").act == "hsigmoid"
    assert net.layer("layers.1.add").inputs == ("layers.1.project", "layers.0")
    assert "layers.2.add" not in names              # stride 2: no residual
    assert net.layer("layers.16").out_shape.c == 960             # 6 x 160


def test_v2_residuals_where_the_paper_puts_them():
    net = resolve_model("v2")
    adds = [layer.name for layer in net.layers if layer.kind == "add"]
    # Repeats after the first of each row with n > 1 (stride 1, same width): 1+2+3+2+2.
    assert adds == ["layers.2.1.add", "layers.3.1.add", "layers.3.2.add", "layers.4.1.add",
                    "layers.4.2.add", "layers.4.3.add", "layers.5.1.add", "layers.5.2.add",
                    "layers.6.1.add", "layers.6.2.add"]


# ---------------------------------------------------------------------------------------------
# Resolver invariants over every built-in

@pytest.mark.parametrize("model", list(BUILTINS))
@pytest.mark.parametrize("alpha,res", [(1.0, 224), (0.35, 97), (1.4, "224x160")])
def test_shapes_chain(model, alpha, res):
    net = resolve_model(model, alpha, res)
    produced = {"input": net.input_shape}
    for layer in net.layers:
        assert layer.in_shape == produced[layer.inputs[0]], layer.name
        for other in layer.inputs[1:]:
            if layer.kind == "scale":      # the SE gate is one value per channel
                assert produced[other] == Shape(layer.out_shape.c, 1, 1), layer.name
            elif layer.kind == "attention":   # keys and values: one head each, on their map
                assert (produced[other].h, produced[other].w) == (
                    layer.attr("kv_h"), layer.attr("kv_w")), layer.name
            else:
                assert produced[other] == layer.out_shape, layer.name
        produced[layer.name] = layer.out_shape
    assert net.layers[-1].out_shape == Shape(net.classes, 1, 1)
    assert len({layer.name for layer in net.layers}) == len(net.layers)


def test_same_padding_output_sizes():
    net = resolve_model("v1", 1.0, 97)
    sizes = [layer.out_shape.h for layer in net.layers if layer.kind == "depthwise"]
    assert sizes[:3] == [49, 25, 25]          # ceil(97/2)=49, ceil(49/2)=25


def test_non_square_resolution():
    net = resolve_model("v2", 1.0, "224x160")
    assert net.resolution == (224, 160)
    assert net.layer("layers.0").out_shape == Shape(32, 112, 80)
    square = analyze(resolve_model("v2", 1.0, 224)).total.macs
    assert analyze(net).total.macs < square


def test_classes_change_only_the_classifier():
    a = analyze(resolve_model("v1", classes=1000)).total
    b = analyze(resolve_model("v1", classes=10)).total
    assert a.macs - b.macs == 1024 * 990
    assert a.params() - b.params() == 1025 * 990


def test_macs_scale_with_alpha_squared_and_rho_squared():
    """v1 Sec. 3.3-3.4: cost roughly alpha^2 and rho^2 (exact for the pointwise convs when
    the widths divide exactly)."""
    pw = lambda a, r: analyze(resolve_model("v1", a, r)).by_kind["pointwise"].macs  # noqa
    assert pw(0.5, 224) * 4 == pw(1.0, 224)
    assert pw(1.0, 224) * 4 == pw(1.0, 448)


def test_user_spec_efficientnet_like(tmp_path):
    """A new family written as YAML without touching the source (SE on the block input,
    swish, sigmoid gate)."""
    path = tmp_path / "b0.yaml"
    path.write_text(textwrap.dedent("""\
        name: effnet-b0-stem
        width: {rounding: make_divisible, divisor: 8}
        se: {ratio: 0.25, of: input, divisor: null, act: swish, gate: sigmoid}
        defaults: {act: swish}
        layers:
          - {op: conv, k: 3, c: 32, s: 2}
          - {op: mbconv, t: 1, c: 16, k: 3, se: true}
          - {op: mbconv, t: 6, c: 24, k: 3, s: 2, n: 2, se: true}
          - {op: conv, k: 1, c: 1280}
          - {op: pool}
          - {op: fc, c: classes}
        """))
    net = resolve_model(str(path))
    assert net.layer("layers.1.se.fc1").out_shape.c == 8        # int(32 * 0.25)
    assert net.layer("layers.2.0.se.fc1").out_shape.c == 4      # int(16 * 0.25)
    assert net.layer("layers.2.1.se.fc1").out_shape.c == 6      # int(24 * 0.25)
    assert net.layer("layers.2.0.se.fc2").act == "sigmoid"
    assert net.layer("layers.2.0.expand").out_shape.c == 96


def test_derived_specs_share_the_parent_table():
    v1 = resolve_model("v1")
    shallow = resolve_model("v1-shallow")
    conv = resolve_model("v1-conv")
    assert len(v1.layers) - len(shallow.layers) == 10
    assert not any(layer.stage == "layers.7" for layer in shallow.layers)
    assert [layer.kind for layer in conv.layers[:3]] == ["conv", "conv", "conv"]
    assert conv.layer("layers.1").out_shape == v1.layer("layers.1.pw").out_shape
