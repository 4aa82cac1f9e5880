"""The two MobileNetV3-Small MAdds no counting convention explained (issue 12): 0.75 at 224
printed 44 (43.40M computed) and 1.0 at 256 printed 74 (73.18M computed).

Finding: every Small MAdds figure of the v5 paper's Table 9, and the 0.75 figure, is the
TF-slim network (v3-small-tf: expansion factors, 1001 classes) with the head conv 1280 wide
instead of 1024 -- the width the v5 text calls "1280 in another version" -- rounded to the
nearest million. The same network has 2.95M parameters, the "2.9" that earlier version
printed. The v5 parameter counts (2.5, 2.0) and Table 3's 56 are the 1024-head network.
"""

from __future__ import annotations

import pytest

from mncost import analyze
from mncost.network.catalog import find_spec
from mncost.network.resolve import resolve
from mncost.spec.load import load_spec

HEAD_1280 = """\
name: mobilenet-v3-small-tf-1280
extends: v3-small-tf
patch:
  - where: {index: 14}          # conv2d 1x1, NBN: 1280 in the earlier version, 1024 in v5
    set: {c: 1280}
"""


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    path = tmp_path_factory.mktemp("v3") / "small_1280.yaml"
    path.write_text(HEAD_1280)
    return {"1280": load_spec(path, find_spec),
            "1024": load_spec(find_spec("v3-small-tf"), find_spec)}


@pytest.mark.parametrize("alpha,resolution,printed,macs_1280,macs_1024", [
    (0.75, 224, 44, 43_767_216, 43_400_368),      # Table 3: 44
    (1.0, 256, 74, 73_579_776, 73_176_064),       # Table 9: 74
    (1.0, 224, 57, 56_915_136, 56_511_424),       # Table 9: 57
    (1.0, 160, 30, 30_251_712, 29_848_000),       # Table 9: 30
    (1.0, 128, 20, 20_252_928, 19_849_216),       # Table 9: 20
    (1.0, 96, 12, 12_476_096, 12_072_384),        # Table 9: 12
])
def test_table9_small_is_the_1280_head(specs, alpha, resolution, printed, macs_1280,
                                       macs_1024):
    wide = analyze(resolve(specs["1280"], alpha, resolution)).total.macs
    narrow = analyze(resolve(specs["1024"], alpha, resolution)).total.macs
    assert (wide, narrow) == (macs_1280, macs_1024)
    assert round(wide / 1e6) == printed
    # the difference is the head alone: (1280 - 1024) x (last conv width + 1001 classes)
    last_conv = 576 if alpha == 1.0 else 432
    assert wide - narrow == 256 * (last_conv + 1001)


def test_the_1024_head_misses_exactly_the_two_figures(specs):
    misses = [(a, r) for a, r, printed in ((0.75, 224, 44), (1.0, 256, 74), (1.0, 224, 57),
                                           (1.0, 160, 30), (1.0, 128, 20), (1.0, 96, 12))
              if round(analyze(resolve(specs["1024"], a, r)).total.macs / 1e6) != printed]
    assert misses == [(0.75, 224), (1.0, 256)]


def test_parameters_are_the_1024_head_and_the_old_version_is_the_1280(specs):
    params = {k: analyze(resolve(s, 1.0)).total.params() for k, s in specs.items()}
    assert params == {"1024": 2_543_881, "1280": 2_947_849}
    assert round(params["1024"] / 1e6, 1) == 2.5 and round(params["1280"] / 1e6, 1) == 2.9
    assert round(analyze(resolve(specs["1024"], 0.75)).total.params() / 1e6, 1) == 2.0
