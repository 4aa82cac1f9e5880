"""MobileNetV4's hybrid models (issue 19, second slice): the GELU activation, the ``mqa`` row
(Mobile MQA: a batch norm, query / key / value projections with an optional strided depthwise
on keys and values, the attention's two matmuls, an output projection, layer scale and the
residual add), the layer scale of ``uib`` rows, by hand; how memory and the streamed schedule
take the attention. The two built-ins are held to timm layer by layer in
test_reference_counts.py."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mncost import analyze
from mncost.cli import cli
from mncost.costs.conventions import conventions
from mncost.network.catalog import resolve_model

STEM = "name: s\nlayers:\n  - {op: conv, k: 3, c: 16, s: 2}\n"   # 32x32 -> 16 x 16x16


def net(tmp_path, rows: str, name: str = "s.yaml", stem: str = STEM):
    path = tmp_path / name
    path.write_text(stem + rows)
    return resolve_model(str(path), resolution=32)


def test_gelu_is_an_activation_of_five_ops_per_element(tmp_path):
    network = net(tmp_path, "", stem=STEM.replace("s: 2}", "s: 2, act: GELU}"))
    layer = network.layers[0]
    assert layer.act == "gelu"
    ops = conventions(analyze(network)).count("ops")
    assert ops.term("gelu").count == 5 * 16 * 16 * 16


MQA = "  - {op: mqa, heads: 2, key_dim: 8, kv_stride: 2, c: 16, layer_scale: true}\n"


def parts(network):
    return [(la.name, la.kind, la.role, la.kernel, la.stride, la.bn, la.bias, str(la.out_shape))
            for la in network.layers[1:]]


def test_mqa_by_hand(tmp_path):
    bare = net(tmp_path, "", "bare.yaml")
    mqa = net(tmp_path, MQA)
    assert parts(mqa) == [
        ("layers.1.norm", "norm", "norm", 1, 1, True, False, "16x16x16"),
        ("layers.1.q", "pointwise", "q", 1, 1, False, False, "16x16x16"),
        ("layers.1.k_dw", "depthwise", "k_dw", 3, 2, True, False, "16x8x8"),
        ("layers.1.k", "pointwise", "k", 1, 1, False, False, "8x8x8"),
        ("layers.1.v_dw", "depthwise", "v_dw", 3, 2, True, False, "16x8x8"),
        ("layers.1.v", "pointwise", "v", 1, 1, False, False, "8x8x8"),
        ("layers.1.attn", "attention", "attn", 1, 1, False, False, "16x16x16"),
        ("layers.1.o", "pointwise", "o", 1, 1, False, False, "16x16x16"),
        ("layers.1.layer_scale", "layer_scale", "layer_scale", 1, 1, False, False, "16x16x16"),
        ("layers.1.add", "add", "add", 1, 1, False, False, "16x16x16")]
    attn = mqa.layer("layers.1.attn")
    assert attn.inputs == ("layers.1.q", "layers.1.k", "layers.1.v")
    assert attn.attrs == (("heads", 2), ("key_dim", 8), ("value_dim", 8), ("kv_h", 8),
                          ("kv_w", 8))
    assert mqa.layer("layers.1.k_dw").inputs == ("layers.1.norm",)
    assert mqa.layer("layers.1.add").inputs == ("layers.1.layer_scale", "layers.0")
    n_q, n_kv = 16 * 16, 8 * 8
    scores = 2 * n_q * n_kv
    macs = (n_q * 16 * 16                     # q: 16 -> 2 heads x 8
            + 2 * (n_kv * 16 * 9 + n_kv * 16 * 8)   # k and v: 3x3 s2 depthwise, 1x1 to 8
            + scores * (8 + 8)                # Q K^T and A V
            + n_q * 16 * 16)                  # o
    params = (2 * 16 + 16 * 16 + 2 * (16 * 9 + 2 * 16 + 16 * 8) + 16 * 16 + 16)
    report, base = analyze(mqa), analyze(bare)
    assert report.total.macs - base.total.macs == macs == 690_176
    assert report.by_kind["attention"].macs == scores * 16 == 524_288
    assert (report.total.params("trainable") - base.total.params("trainable")
            == params == 1_168)
    # the attention and the layer scale hold no conv weights; the gamma counts where biases do
    assert report.total.params("weights") - base.total.params("weights") == (
        16 * 16 + 2 * (16 * 9 + 16 * 8) + 16 * 16)
    ops = conventions(report).count("ops")
    assert (ops.term("softmax").count, ops.term("layer_scale").count) == (4 * scores, 4096)
    trainable = next(c for c in conventions(report).params if c.name == "trainable")
    assert [t.rule for t in trainable.terms if t.name == "biases"] == [
        "layer scale: its gamma, 1 per channel"]     # every conv here has batch norm


@pytest.mark.parametrize("row, shapes, residual", [
    # no key / value downsampling: no depthwise, keys on the queries' 16x16
    ("{op: mqa, heads: 4, key_dim: 4, c: 16}",
     {"q": "16x16x16", "k": "4x16x16", "v": "4x16x16", "attn": "16x16x16"}, True),
    # value_dim apart from key_dim; a width change: no residual
    ("{op: multi_query_attention, heads: 2, key_dim: 8, value_dim: 4, kv_stride: 4, k: 5, "
     "c: 24}", {"q": "16x16x16", "k_dw": "16x4x4", "k": "8x4x4", "v": "4x4x4",
                "attn": "8x16x16", "o": "24x16x16"}, False),
])
def test_mqa_variants(tmp_path, row, shapes, residual):
    network = net(tmp_path, f"  - {row}\n")
    got = {la.role: str(la.out_shape) for la in network.layers[1:]}
    assert {role: got[role] for role in shapes} == shapes
    assert ("add" in got) is residual and "layer_scale" not in got
    attn = network.layer("layers.1.attn")
    n_kv = attn.attr("kv_h") * attn.attr("kv_w")
    assert analyze(network).by_kind["attention"].macs == attn.attr("heads") * 256 * n_kv * (
        attn.attr("key_dim") + attn.attr("value_dim"))


def test_mqa_without_bn_has_no_norm(tmp_path):
    network = net(tmp_path, "  - {op: mqa, heads: 2, key_dim: 8, kv_stride: 2, c: 16, "
                            "bn: false}\n")
    assert [la.role for la in network.layers[1:]] == [
        "q", "k_dw", "k", "v_dw", "v", "attn", "o", "add"]
    assert not any(la.bn for la in network.layers[1:])


def test_uib_layer_scale_and_the_defaults_block(tmp_path):
    stem = STEM.replace("layers:", "defaults: {layer_scale: true}\nlayers:")
    network = net(tmp_path, "  - {op: uib, start: 3, mid: 3, t: 2, c: 16}\n"
                            "  - {op: fused, t: 2, c: 16}\n", stem=stem)
    assert [la.role for la in network.layers[1:]] == [
        "dw_start", "expand", "dw", "project", "layer_scale", "add", "expand", "project",
        "add"]
    assert network.layer("layers.1.add").inputs == ("layers.1.layer_scale", "layers.0")
    bare = net(tmp_path, "  - {op: uib, start: 3, mid: 3, t: 2, c: 16}\n"
                         "  - {op: fused, t: 2, c: 16}\n", "bare.yaml")
    assert (analyze(network).total.params() - analyze(bare).total.params(),
            analyze(network).total.macs - analyze(bare).total.macs) == (16, 0)


def test_the_attention_scores_are_alive_in_its_step(tmp_path):
    """Naive, by hand: the image (3x32x32, held by the caller), the block input (kept for the
    add), the queries, keys and values, the output, and the scores (2 x 256 x 64); the norm's
    output died with its last reader, v_dw. Streamed: the same less the image (the attention
    is not an inverted residual: a step of its own)."""
    from mncost.costs.memory import memory_report

    report = memory_report(net(tmp_path, MQA))
    scores = 2 * 256 * 64
    naive = report.peaks["naive"]
    assert (naive.step.name, naive.bytes // 4, naive.step.piece_bytes // 4) == (
        "layers.1.attn", 3072 + 4096 + 4096 + 512 + 512 + 4096 + scores, scores)
    streamed = report.peaks["streamed"]
    assert (streamed.step.name, streamed.bytes // 4) == (
        "layers.1.attn", 4096 + 4096 + 512 + 512 + 4096 + scores)
    traffic = dict(report.layers)[report.network.layer("layers.1.attn")]
    # reads the queries, keys and values; holds no weights; the scores are not moved
    assert (traffic.input_bytes // 4, traffic.weight_bytes, traffic.output_bytes // 4) == (
        4096 + 512 + 512, 0, 4096)


@pytest.mark.parametrize("row, message", [
    ("{op: mqa, key_dim: 8, c: 16}", "missing required key 'heads' for op 'mqa'"),
    ("{op: mqa, heads: 0, key_dim: 8, c: 16}", "layers[1].heads: must be positive"),
    ("{op: mqa, heads: 2, key_dim: 8, value_dim: 0, c: 16}", "layers[1].value_dim"),
    ("{op: mqa, heads: 2, key_dim: 8, c: 16, k: 4, kv_stride: 2}", "layers[1].k: must be odd"),
    ("{op: mqa, heads: 2, key_dim: 8, c: 16, s: 2}", "layers[1].s"),
    ("{op: mqa, heads: 2, key_dim: 8, c: 24, residual: true}",
     "layers[1].residual: residual add between mismatched shapes"),
    ("{op: mqa, heads: 1000000, key_dim: 10000000, c: 16}", "channels (at most"),
])
def test_bad_mqa_rows_are_one_line(tmp_path, row, message):
    path = tmp_path / "bad.yaml"
    path.write_text(STEM + f"  - {row}\n")
    result = CliRunner().invoke(cli, ["analyze", str(path)])
    assert result.exit_code == 2 and message in result.output, result.output
    assert result.output.count("\n") == 1


@pytest.mark.parametrize("model, resolution, stem, act", [
    ("v4-hybrid-medium", 256, 32, "relu"), ("v4-hybrid-large", 384, 24, "gelu")])
def test_hybrid_defaults(model, resolution, stem, act):
    network = resolve_model(model)
    assert network.resolution == (resolution, resolution)
    assert network.layers[0].out_shape.c == stem
    assert {la.act for la in network.layers} == {"none", act}
    # layer scale on every UIB and MQA block (not the FusedIB or the convs)
    blocks = {la.block for la in network.layers if la.role in ("project", "o")}
    scaled = {la.block for la in network.layers if la.role == "layer_scale"}
    fused = {la.block for la in network.layers if la.kind == "conv" and la.role == "expand"}
    assert scaled == blocks - fused and len(fused) == 1


@pytest.mark.parametrize("model, alpha, q, o, head", [
    ("v4-hybrid-medium", 0.75, 256, 120, 1280), ("v4-hybrid-medium", 1.0, 256, 160, 1280),
    ("v4-hybrid-large", 0.75, 384, 144, 1280), ("v4-hybrid-large", 0.5, 384, 96, 1280)])
def test_hybrid_widths_keep_the_attention_heads(model, alpha, q, o, head):
    """timm: heads x key_dim at every alpha, the block width make_divisible(alpha * c, 8),
    the stem not thinned below alpha 1, the head conv 1280 always."""
    network = resolve_model(model, alpha)
    first = next(la.block for la in network.layers if la.kind == "attention")
    assert (network.layer(f"{first}.q").out_shape.c, network.layer(f"{first}.o").out_shape.c,
            network.layers[-2].out_shape.c) == (q, o, head)
    assert network.layers[0].out_shape.c == (32 if "medium" in model else 24)


@pytest.mark.torch
@pytest.mark.parametrize("model, resolution", [("tiny", 32), ("v4-hybrid-medium", 64),
                                               ("v4-hybrid-large", 64)])
def test_the_built_attention_counts_as_the_engine_does(tmp_path, model, resolution):
    """crosscheck: every layer of the built model (the attention a leaf module of explicit
    matmuls) agrees with the engine under fvcore and FlopCounterMode, parameters included;
    with batch norm folded the measured peak of live tensors is the naive schedule's, to the
    byte (the scores are the attention's one tensor besides its inputs and output). Not for
    Hybrid-L: torch has no in-place GELU, so its conv -> GELU hand-over holds one more map."""
    from mncost.costs.memory import peak_memory
    from mncost.torch_backend.crosscheck import crosscheck_network
    from mncost.torch_backend.memory import measure_peak

    if model == "tiny":
        network = net(tmp_path, MQA + "  - {op: pool}\n  - {op: fc, c: classes}\n")
    else:
        network = resolve_model(model, resolution=resolution)
    result = crosscheck_network(network)
    assert result.ok and not result.problems, [c for c in result.layers if not c.ok][:3]
    assert any(c.kind == "attention" for c in result.layers)
    if model != "v4-hybrid-large":
        assert measure_peak(network, folded=True) == peak_memory(network, "naive").bytes
