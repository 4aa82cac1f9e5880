"""Record the reference implementations' counts as test data: tests/data/reference_counts.json.

Builds each configuration below with torchvision or timm, counts it as ``mncost crosscheck
--reference`` does (:mod:`mncost.torch_backend.reference`: FlopCounterMode MACs, Conv2d/Linear
own parameters and output shapes in execution order, an attention's matmuls as one layer
between them, whole-model sum(p.numel())), and writes
them compactly. tests/test_reference_counts.py then holds the engine to these exact integers
without torch.

Needs the reference extra beside the CPU torch (README, "Reference implementations"):

    pip install --no-deps torchvision==0.28.0 timm huggingface_hub safetensors
    python scripts/make_reference_counts.py            # -> tests/data/reference_counts.json

Every configuration is also checked against the engine here; the script exits 1 on the first
difference (after writing nothing).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mncost import resolve_model
from mncost.costs.reference import compare, count_network
from mncost.torch_backend.reference import count_module, reference_model

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "reference_counts.json"

#: (library, reference name, mncost model, alpha, depth, resolution, classes).
CONFIGS = [
    *[("torchvision", f"mobilenet_v2(width_mult={a})", "v2", a, None, r, None)
      for a, r in ((0.5, 160), (1.0, 224), (1.4, 224))],
    *[("torchvision", f"mobilenet_v3_{size}(width_mult={a})", f"v3-{size}", a, None, r, None)
      for size in ("large", "small") for a, r in ((0.75, 224), (1.0, 224), (1.0, 256))],
    *[("torchvision", f"mnasnet{n}", "mnasnet", a, None, 224, None)
      for n, a in (("0_5", 0.5), ("0_75", 0.75), ("1_0", 1.0), ("1_3", 1.3))],
    ("torchvision", "MNASNet(1.0) at 192", "mnasnet", 1.0, None, 192, None),
    *[("torchvision", f"efficientnet_b{i}", f"efficientnet-b{i}", None, None, None, None)
      for i in range(8)],
    ("torchvision", "EfficientNet(width 0.75, depth 1.3) at 192", "efficientnet-b0", 0.75, 1.3,
     192, None),
    ("timm", "mobilenetv1_100", "v1", 1.0, None, 224, 1000),
    ("timm", "mobilenetv1_125", "v1", 1.25, None, 224, 1000),
    *[("timm", f"tf_mobilenetv3_{size}_{n}", f"v3-{size}-tf", a, None, 224, None)
      for size in ("large", "small") for n, a in (("075", 0.75), ("100", 1.0))],
    # The two configurations of tests/data/builtin_totals.csv (alpha 1.0 at 224 and 0.75 at
    # 192) wherever a reference builds them and the lines above do not already count them:
    # that table's rows are held to these counts.
    *[("torchvision", f"{name}(width_mult=0.75) at 192", model, 0.75, None, 192, None)
      for name, model in (("mobilenet_v2", "v2"), ("mobilenet_v3_large", "v3-large"),
                          ("mobilenet_v3_small", "v3-small"))],
    ("torchvision", "MNASNet(0.75) at 192", "mnasnet", 0.75, None, 192, None),
    *[("torchvision", f"EfficientNet(width {a}, depth {d}) at {r}", f"efficientnet-b{i}", a,
       d, r, None)
      for i, d in enumerate((1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 2.6, 3.1))
      for a, r in ((1.0, 224), (0.75, 192)) if (i, a) != (0, 1.0)],
    *[("timm", f"tf_mobilenetv3_{size}_075 at 192", f"v3-{size}-tf", 0.75, None, 192, None)
      for size in ("large", "small")],
    # MobileNetV4 (conv): each at timm's default resolution (the spec's), and timm's registered
    # width variants; then builtin_totals.csv's two configurations.
    *[("timm", f"mobilenetv4_conv_{size}", f"v4-conv-{size}", 1.0, None, None, None)
      for size in ("small", "medium", "large")],
    *[("timm", f"mobilenetv4_conv_small_{n}", "v4-conv-small", a, None, None, None)
      for n, a in (("035", 0.35), ("050", 0.5))],
    *[("timm", f"mobilenetv4_conv_{size} at 224", f"v4-conv-{size}", 1.0, None, 224, None)
      for size in ("medium", "large")],
    *[("timm", f"_gen_mobilenet_v4(mobilenetv4_conv_{size}, 0.75) at 192", f"v4-conv-{size}",
       0.75, None, 192, None) for size in ("small", "medium", "large")],
    # MobileNetV4 (hybrid): at timm's default resolution (the spec's: 256, 384) and the
    # registered _075 at theirs (224, 256); then builtin_totals.csv's two configurations.
    *[("timm", f"mobilenetv4_hybrid_{size}", f"v4-hybrid-{size}", 1.0, None, None, None)
      for size in ("medium", "large")],
    *[("timm", f"mobilenetv4_hybrid_{size}_075", f"v4-hybrid-{size}", 0.75, None, r, None)
      for size, r in (("medium", 224), ("large", 256))],
    *[("timm", f"mobilenetv4_hybrid_{size} at 224", f"v4-hybrid-{size}", 1.0, None, 224, None)
      for size in ("medium", "large")],
    *[("timm", f"mobilenetv4_hybrid_{size}_075 at 192", f"v4-hybrid-{size}", 0.75, None, 192,
       None) for size in ("medium", "large")],
]


def main() -> int:
    records = []
    for library, name, model, alpha, depth, resolution, classes in CONFIGS:
        network = resolve_model(model, alpha, resolution, classes, depth)
        theirs = count_module(reference_model(library, network), network.resolution)
        problems = compare(count_network(network), theirs)
        print(f"{library} {name}: {theirs.macs:,} MACs, {theirs.params:,} params"
              + (f" -- {len(problems)} DIFFERENCES" if problems else ""), file=sys.stderr)
        if problems:
            print("\n".join(problems[:10]), file=sys.stderr)
            return 1
        records.append({
            "library": library, "reference": name, "model": model, "alpha": network.alpha,
            "depth": network.depth, "resolution": list(network.resolution),
            "classes": network.classes, "macs": theirs.macs, "params": theirs.params,
            # one [macs, params, C, H, W] per Conv2d / Linear (and per stretch of matmuls
            # between two of them: an attention's), in execution order
            "layers": [[x.macs, x.params, *x.shape] for x in theirs.layers]})
    doc = {"schema": "mncost.reference-counts/1",
           "generated_by": "scripts/make_reference_counts.py",
           "counted_with": {"torch": _version("torch"), "torchvision": _version("torchvision"),
                            "timm": _version("timm")},
           "configurations": records}
    text = json.dumps(doc, separators=(",", ":")).replace('{"library"', '\n{"library"')
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(OUT)
    print(f"wrote {OUT} ({len(records)} configurations)", file=sys.stderr)
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    sys.exit(main())
