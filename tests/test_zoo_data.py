"""The published configurations (configs/zoo): read and validated, and every printed MACs and
parameter figure held to mncost's own count at the printed precision.

A figure that no convention reproduces names why in its row (``macs_mismatch``); the test
holds such a figure to disagreeing, so a note that went stale (an engine fix, a corrected
transcription) fails too. The torchvision rows are also compared, field by field, with the
Weights enums of the torchvision installed here, read as text (importing torchvision is not
needed, and fails on this project's machines).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from mncost.costs.memory import peak_memory
from mncost.errors import SpecError
from mncost.network.catalog import BUILTINS, resolve_model
from mncost.zoo.data import PENDING_MODELS, PRECISIONS, load_source, load_zoo
from mncost.zoo.printed import check, count
from mncost.zoo.rows import Filters, zoo_rows

ZOO = load_zoo()
COUNTED = [r for r in ZOO.rows if r.counted and (r.macs or r.params)]


def _id(row) -> str:
    return f"{row.source.id}:{row.line}"


@pytest.mark.parametrize("row", COUNTED, ids=_id)
def test_every_printed_figure_follows_from_the_count(row):
    for c in check(row):
        if c.mismatch is None:
            assert c.agrees, (f"{row.where}: {c.figure} printed {c.printed}, counted "
                              f"{c.counted:,} -> {c.expected}")
        else:
            assert not c.agrees, (f"{row.where}: {c.figure} now agrees ({c.expected}): drop "
                                  f"its {c.figure}_mismatch")


def test_rows_per_source():
    """How many rows each source file transcribes (the report's table), and which of them
    mncost counts (the rest are networks without a built-in yet)."""
    per = {s.id: (sum(r.source is s for r in ZOO.rows),
                  sum(r.source is s and r.counted for r in ZOO.rows)) for s in ZOO.sources}
    assert per == {"paper_v1": (10, 10), "paper_v2": (3, 3), "paper_v3": (30, 29),
                   "tfslim_v1": (32, 32), "tfslim_v2_v3": (31, 28), "timm": (96, 94),
                   "torchvision": (20, 20), "tpu_mnasnet": (25, 0)}


def test_mismatches_are_few_and_named():
    """The figures no convention reproduces, by source: each one's row says why."""
    found = {}
    for row in COUNTED:
        for c in check(row):
            if c.mismatch:
                found[row.source.id] = found.get(row.source.id, 0) + 1
    assert found == {"paper_v2": 3, "paper_v3": 5, "tfslim_v1": 12, "tfslim_v2_v3": 2}


def test_tfslim_tables_are_whole():
    """mobilenet_v1.md: 16 float and 16 _quant rows, alpha x resolution complete; the v2
    table: 22 rows, each with a Pixel 1 latency; the v3 table: every row on Pixel 1, 2, 3."""
    v1 = [r for r in ZOO.rows if r.source.id == "tfslim_v1"]
    grid = {(a, s) for a in (1.0, 0.75, 0.5, 0.25) for s in (224, 192, 160, 128)}
    for precision in PRECISIONS:
        assert {(r.alpha, r.resolution[0]) for r in v1 if r.precision == precision} == grid
    v2 = [r for r in ZOO.rows if r.source.id == "tfslim_v2_v3" and r.model == "v2"]
    assert len(v2) == 22 and all(r.latency_on("pixel1") for r in v2)
    v3 = [r for r in ZOO.rows if r.source.id == "tfslim_v2_v3" and r.model != "v2"]
    assert len(v3) == 9
    assert all({lat.device for lat in r.latencies} == {"pixel1", "pixel2", "pixel3"}
               for r in v3)


def test_every_latency_says_how_it_was_measured():
    """Device, runtime, precision and the source's words on every latency (what a latency
    profile of a published device is fitted from)."""
    latencies = [(r, lat) for r in ZOO.rows for lat in r.latencies]
    assert len(latencies) == 129      # v2 paper 3, v3 paper 52, TF-slim 49, MnasNet README 25
    for row, lat in latencies:
        assert lat.device in ZOO.devices and lat.runtime and lat.what, row.where
        assert lat.precision == row.precision and lat.ms > 0
        assert set(lat.to_dict()) == {"device", "ms", "runtime", "precision", "threads",
                                      "batch", "what"}


def test_pending_models_have_rows_and_no_built_in():
    """A network listed as pending leaves the list when its built-in arrives, and its rows
    are counted from then on."""
    assert not set(PENDING_MODELS) & set(BUILTINS)
    assert {r.model for r in ZOO.rows if not r.counted} == set(PENDING_MODELS)


def test_the_1280_head_variant_is_the_v3_small_figures():
    """The TF-slim README's Small 0.75 MACs (44) and 1.0 parameters (2.9) are the 1280-head
    network's (tests/test_v3_small_figures.py, whose exact counts these are)."""
    small = {(r.alpha, r.precision): r for r in ZOO.rows
             if r.source.id == "tfslim_v2_v3" and r.model == "v3-small-tf"}
    assert count(small[(0.75, "float32")], "macs") == 43_767_216
    assert count(small[(1.0, "float32")], "params") == 2_947_849


def test_peak_memory_is_the_memory_engine_at_the_rows_precision():
    rows = zoo_rows(ZOO, Filters(models=("v2",))).rows
    for d in (next(d for d in rows if d["precision"] == "int8"),
              next(d for d in rows if d["precision"] == "float32")):
        network = resolve_model(d["model"], d["alpha"], d["resolution"][0], d["classes"])
        # A zoo int8 row is a TF-Lite full-integer model: every tensor one byte, the float32
        # peak / 4 (not `memory --dtype int8`, which models ONNX Runtime's QDQ graph).
        size = {"float32": 4, "int8": 1}[d["precision"]]
        assert d["peak_activation_bytes"] == peak_memory(network).bytes // 4 * size


# ---------------------------------------------------------------------------------------------
# The torchvision rows against torchvision's own metadata

def _torchvision_weights() -> dict[str, dict]:
    """``Enum.MEMBER`` -> the literal fields of its ``Weights(...)`` call (the transforms'
    sizes and the meta dict, shared ``**_COMMON_META`` included), read from the installed
    torchvision's source with ast."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        pytest.skip("torchvision is not installed")
    models = Path(spec.origin).parent / "models"
    found = {}
    for path in sorted(models.glob("*.py")) + sorted((models / "quantization").glob("*.py")):
        tree = ast.parse(path.read_text())
        shared: dict = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                    isinstance(node.value, ast.Dict):
                shared[node.targets[0].id] = _literals(node.value, shared)
            if isinstance(node, ast.ClassDef) and node.name.endswith("Weights"):
                for member in node.body:
                    if isinstance(member, ast.Assign) and isinstance(member.value, ast.Call):
                        fields = {kw.arg: kw.value for kw in member.value.keywords}
                        entry = _literals(fields["meta"], shared)
                        entry.update({k.arg: v for k in fields["transforms"].keywords
                                      for v in _literal(k.value)})
                        found[f"{node.name}.{member.targets[0].id}"] = entry
    return found


def _literal(node: ast.AST) -> list:
    """``[value]`` of a literal node, ``[]`` of anything else."""
    try:
        return [ast.literal_eval(node)]
    except ValueError:
        return []


def _literals(node: ast.Dict, shared: dict) -> dict:
    """The literal entries of a dict display, ``**name`` of an earlier dict merged in."""
    out: dict = {}
    for key, value in zip(node.keys, node.values):
        if key is None:
            out.update(shared.get(getattr(value, "id", None), {}))
        else:
            out.update({ast.literal_eval(key): v for v in _literal(value)})
    return out


def test_torchvision_rows_are_its_weights_metadata():
    weights = _torchvision_weights()
    rows = [r for r in ZOO.rows if r.source.id == "torchvision"]
    for row in rows:
        meta = weights[row.weights]
        metrics = meta["_metrics"]["ImageNet-1K"]
        assert (row.top1, row.top5) == (metrics["acc@1"], metrics["acc@5"]), row.weights
        assert row.params.value == meta["num_params"], row.weights
        assert row.macs.value == meta["_ops"], row.weights
        assert row.resolution == (meta["crop_size"],) * 2, row.weights
        assert row.precision == ("int8" if "Quantized" in row.weights else "float32")
    # Every ImageNet-1K weight of a built-in's network is transcribed (EfficientNet V2 has no
    # built-in).
    ours = {"MobileNet_V2", "MobileNet_V3_Large", "MobileNet_V3_Small", "MNASNet",
            "EfficientNet_B"}
    wanted = {name for name in weights if any(name.startswith(p) for p in ours)}
    assert wanted == {r.weights for r in rows}


# ---------------------------------------------------------------------------------------------
# A bad source file is one line: file, line, field

DEVICES = ZOO.devices
GOOD = """\
source: {title: t, file: f, version: v, url: u, accuracy: a}
measured:
  pixel1: {device: pixel1, runtime: TF-Lite, what: w}
tables:
  - table: T
    printed:
      macs: {unit: M, decimals: 0, rounding: round}
    defaults: {model: v2, resolution: 224}
    rows:
      - {alpha: 1.0, top1: 72.0, macs: 301, ms: {pixel1: 75}}
"""


def _load(tmp_path, text):
    path = tmp_path / "src.yaml"
    path.write_text(text)
    return load_source(path, DEVICES)


def test_a_good_file_loads(tmp_path):
    source, rows = _load(tmp_path, GOOD)
    assert source.id == "src" and len(rows) == 1
    assert rows[0].latencies[0].ms == 75 and check(rows[0])[0].agrees


@pytest.mark.parametrize("old,new,where", [
    ("{alpha: 1.0,", "{alpha: 1.0, colour: red,", r"src.yaml:10: rows\[0\].colour: unknown"),
    ("model: v2", "model: v9", r"src.yaml:8: model: unknown model 'v9'"),
    ("macs: 301", "macs: 301.5", r"src.yaml:10: macs: 301.5 has more digits than the 0"),
    ("{pixel1: 75}", "{pixel9: 75}", r"src.yaml:10: ms.pixel9: no measured.pixel9"),
    ("device: pixel1", "device: pixel9", r"src.yaml:3: measured.pixel1.device: must be one"),
    ("top1: 72.0", "top1: 172.0", r"src.yaml:10: top1: must be a number in \[0, 100\]"),
    ("rounding: round", "rounding: up", r"printed.macs.rounding: must be one of round, floor"),
    ("macs: 301,", "macs: 301, macs_as: {network: nope.yaml},",
     r"src.yaml:10: macs_as.network: no spec 'nope.yaml'"),
])
def test_a_bad_file_is_one_line_with_file_line_and_field(tmp_path, old, new, where):
    assert old in GOOD
    with pytest.raises(SpecError, match=where) as info:
        _load(tmp_path, GOOD.replace(old, new))
    assert "\n" not in str(info.value)
