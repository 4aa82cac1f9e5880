"""The reference implementations (torchvision, timm) built and counted like our own model.

``mncost crosscheck MODEL --reference torchvision|timm`` and ``scripts/make_reference_counts.py``
build the network that a library ships for a resolved configuration, run it once (batch 1)
under ``torch.utils.flop_counter.FlopCounterMode`` with forward hooks on every ``Conv2d`` and
``Linear``, and compare, in execution order, each such layer (and each stretch of matmuls run
between two of them: an attention's) with the engine's layers that have MACs: MACs
(FlopCounterMode's flops / 2), the layer's own parameters (weight + bias) and its output
shape; then the totals: MACs, ``sum(p.numel())`` and the output shape.

Installing the extra: ``pip install 'mncost[reference]'`` (torchvision, timm). The torchvision
wheels on PyPI are CUDA builds whose compiled ops (``torchvision._C``, needed only by detection
ops such as ``nms``) do not load beside the CPU build of torch; ``import torchvision`` then fails
in ``torchvision._meta_registrations`` with "operator torchvision::nms does not exist".
:func:`import_torchvision` retries with that one module stubbed out: the classification model
definitions are plain Python and never call those ops.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Callable

import torch
from torch import nn

from ..costs.reference import Counts, LayerCount, ReferenceCheck, count_network
from ..errors import InputError, MissingDependency
from ..network.layers import Network
from ..spec.load import REFERENCE_LIBRARIES as LIBRARIES

# ---------------------------------------------------------------------------------------------
# Importing the libraries

def import_torchvision() -> types.ModuleType:
    """``import torchvision``, retrying without its compiled-op registrations when the wheel's
    ``_C`` extension cannot load (module docstring)."""
    try:
        return importlib.import_module("torchvision")
    except ImportError:
        raise MissingDependency("torchvision", "reference") from None
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    sys.modules["torchvision._meta_registrations"] = types.ModuleType(
        "torchvision._meta_registrations")
    return importlib.import_module("torchvision")


def import_timm() -> types.ModuleType:
    import_torchvision()          # timm imports torchvision; make that import work first
    try:
        return importlib.import_module("timm")
    except ImportError:
        raise MissingDependency("timm", "reference") from None


# ---------------------------------------------------------------------------------------------
# Which reference model is which spec

def _named(table: dict[float, str], alpha: float, what: str) -> str:
    if alpha not in table:
        raise InputError(f"{what} ships at alpha {', '.join(f'{a:g}' for a in table)} only, "
                         f"not {alpha:g}")
    return table[alpha]


def _torchvision(network: Network) -> nn.Module:
    tv = import_torchvision()
    from torchvision.models import efficientnet, mnasnet

    spec, a, k = network.spec_name, network.alpha, network.classes
    if spec != "mnasnet" and not spec.startswith("efficientnet-b") and network.depth != 1.0:
        raise InputError(f"torchvision's {spec} has no depth multiplier")
    if spec == "mobilenet-v2":
        return tv.models.mobilenet_v2(width_mult=a, num_classes=k)
    if spec in ("mobilenet-v3-large", "mobilenet-v3-small"):
        build = getattr(tv.models, spec.replace("-", "_"))
        return build(width_mult=a, num_classes=k)
    if spec == "mnasnet":
        if network.depth != 1.0:
            raise InputError("torchvision's MNASNet has no depth multiplier")
        return mnasnet.MNASNet(a, num_classes=k)
    if spec.startswith("efficientnet-b"):
        # torchvision's own builder for B0's table at any width/depth coefficients.
        setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=a,
                                                         depth_mult=network.depth)
        return efficientnet.EfficientNet(setting, 0.2, num_classes=k, last_channel=last)
    raise InputError(f"no torchvision reference for {spec!r} (torchvision has mobilenet-v2, "
                     "mobilenet-v3-large, mobilenet-v3-small, mnasnet, efficientnet-b0...b7; "
                     "name another model with --reference torchvision:NAME or the spec's "
                     "reference: {torchvision: NAME})")


#: timm model names by spec and alpha (timm's names carry the width: _075 = 0.75).
TIMM_MODELS: dict[str, dict[float, str]] = {
    "mobilenet-v1": {1.0: "mobilenetv1_100", 1.25: "mobilenetv1_125"},
    "mobilenet-v3-large-tf": {0.75: "tf_mobilenetv3_large_075",
                              1.0: "tf_mobilenetv3_large_100"},
    "mobilenet-v3-small-tf": {0.75: "tf_mobilenetv3_small_075",
                              1.0: "tf_mobilenetv3_small_100"},
    "mobilenet-v4-conv-small": {0.35: "mobilenetv4_conv_small_035",
                                0.5: "mobilenetv4_conv_small_050",
                                1.0: "mobilenetv4_conv_small"},
    "mobilenet-v4-conv-medium": {1.0: "mobilenetv4_conv_medium"},
    "mobilenet-v4-conv-large": {1.0: "mobilenetv4_conv_large"},
    **{f"mobilenet-v4-hybrid-{size}": {0.75: f"mobilenetv4_hybrid_{size}_075",
                                       1.0: f"mobilenetv4_hybrid_{size}"}
       for size in ("medium", "large")},
}

#: Specs whose timm builder takes any width multiplier (timm's registered width variants,
#: MobileNetV4's _035, _050 and _075, are that builder at 0.35, 0.5 and 0.75): timm's
#: variant name (a hybrid's names its layer scale and attention).
TIMM_ANY_WIDTH: dict[str, str] = {
    **{f"mobilenet-v4-conv-{size}": f"mobilenetv4_conv_{size}"
       for size in ("small", "medium", "large")},
    **{f"mobilenet-v4-hybrid-{size}": f"mobilenetv4_hybrid_{size}"
       for size in ("medium", "large")}}


def _timm(network: Network) -> nn.Module:
    timm = import_timm()
    spec = network.spec_name
    if spec in TIMM_ANY_WIDTH and network.alpha not in TIMM_MODELS[spec]:
        if network.depth != 1.0:
            raise InputError(f"timm's {spec} is checked at depth 1 only")
        from timm.models import mobilenetv3

        # timm's own builder at this width (fix_stem, round_channels), as for _035 / _050.
        return mobilenetv3._gen_mobilenet_v4(TIMM_ANY_WIDTH[spec], network.alpha,
                                             num_classes=network.classes)
    if spec not in TIMM_MODELS:
        raise InputError(f"no timm reference for {spec!r} (built in: "
                         f"{', '.join(TIMM_MODELS)}; name a timm model with --reference "
                         "timm:NAME or the spec's reference: {timm: NAME})")
    if network.depth != 1.0:
        raise InputError(f"timm's {spec} is checked at depth 1 only")
    name = _named(TIMM_MODELS[spec], network.alpha, f"timm's {spec}")
    return timm.create_model(name, num_classes=network.classes)


BUILDERS: dict[str, Callable[[Network], nn.Module]] = {"torchvision": _torchvision,
                                                       "timm": _timm}


def named_model(library: str, name: str, network: Network) -> nn.Module:
    """``library``'s model called ``name``, with ``network``'s class count: what a spec's
    ``reference:`` or ``--reference LIBRARY:NAME`` names (the user vouches that it is the same
    network at the same width; the comparison shows whether it is)."""
    if library == "timm":
        timm = import_timm()
        try:
            return timm.create_model(name, num_classes=network.classes)
        except RuntimeError as exc:          # timm: "Unknown model (NAME)"
            raise InputError(f"timm has no model {name!r} ({str(exc)[:120]})") from None
    tv = import_torchvision()
    try:
        return tv.models.get_model(name, num_classes=network.classes)
    except ValueError as exc:                # torchvision: "Unknown model NAME"
        raise InputError(f"torchvision has no model {name!r} ({str(exc)[:120]})") from None


def spec_reference(library: str, network: Network) -> str | None:
    """The model name the network's spec gives for ``library`` (its ``reference:``) at the
    network's alpha, or None when it names none."""
    from ..network.catalog import load_model

    table = load_model(network.spec_file).reference.get(library)
    if not table:
        return None
    if None in table:
        return table[None]
    if network.alpha not in table:
        raise InputError(f"the spec names {library} models at alpha "
                         f"{', '.join(f'{a:g}' for a in table)} only, not {network.alpha:g}")
    return table[network.alpha]


def reference_model(library: str, network: Network, name: str | None = None) -> nn.Module:
    """The model ``library`` ships for ``network``'s spec, alpha, depth and classes (eval):
    ``name`` when given, else the one the spec's ``reference:`` names, else the built-in
    table of which library model is which built-in spec."""
    if library not in BUILDERS:
        raise InputError(f"unknown reference {library!r} (known: {', '.join(LIBRARIES)})")
    name = name or spec_reference(library, network)
    if name is not None:
        return named_model(library, name, network).eval()
    return BUILDERS[library](network).eval()


# ---------------------------------------------------------------------------------------------
# Counting

def _chw(out: torch.Tensor) -> tuple[int, int, int]:
    shape = tuple(out.shape[1:])
    return (shape + (1, 1))[:3] if len(shape) == 1 else tuple(shape)  # Linear: (C,) -> C,1,1


def count_module(model: nn.Module, resolution: tuple[int, int]) -> Counts:
    """Run ``model`` once (batch 1, one thread, inference mode) and count it.

    Its layers are its ``Conv2d`` and ``Linear`` modules in the order they run, and the
    multiply-accumulates that run between two of them outside any (an attention's ``Q K^T``
    and ``A V``): one layer each such stretch, named after the module that follows it, with
    no parameters and that module's input as its output. Fused attention
    (``scaled_dot_product_attention``, which FlopCounterMode does not count on the CPU) is
    switched off for the pass where a module offers the switch (timm's ``fused_attn``): the
    same matmuls, run one by one.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    order: list[tuple[str, int | None, tuple[int, int, int]]] = []
    done = [0]                         # flops counted when the last Conv2d / Linear ended

    def before(module: nn.Module, args: tuple, name: str) -> None:
        gap = counter.get_total_flops() - done[0]
        if gap:
            order.append((f"matmul -> {name}", gap // 2, _chw(args[0])))

    def after(module: nn.Module, args: tuple, out: torch.Tensor, name: str) -> None:
        done[0] = counter.get_total_flops()
        order.append((name, None, _chw(out)))

    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            hooks.append(module.register_forward_pre_hook(
                lambda m, a, name=name: before(m, a, name)))
            hooks.append(module.register_forward_hook(
                lambda m, a, o, name=name: after(m, a, o, name)))
    fused = {m: m.fused_attn for m in model.modules()
             if isinstance(getattr(m, "fused_attn", None), bool)}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for m in fused:
            m.fused_attn = False
        with torch.inference_mode(), counter:
            out = model(torch.zeros(1, 3, *resolution))
    finally:
        torch.set_num_threads(threads)
        for m, value in fused.items():
            m.fused_attn = value
        for hook in hooks:
            hook.remove()
    prefix = type(model).__name__ + "."
    flops = {k[len(prefix):]: sum(v.values()) for k, v in counter.get_flop_counts().items()
             if k.startswith(prefix)}
    modules = dict(model.named_modules())
    layers = tuple(
        LayerCount(name, flops.get(name, 0) // 2,
                   sum(p.numel() for p in modules[name].parameters()), shape)
        if macs is None else LayerCount(name, macs, 0, shape)
        for name, macs, shape in order)
    return Counts(layers, counter.get_total_flops() // 2,
                  sum(p.numel() for p in model.parameters()), tuple(out.shape))


# ---------------------------------------------------------------------------------------------
# Comparison

def crosscheck_reference(network: Network, library: str, model: str = "",
                         name: str | None = None) -> ReferenceCheck:
    """Build ``library``'s model for ``network`` (``name``: that model of the library) and
    compare it with the engine."""
    import time

    start = time.perf_counter()
    theirs = count_module(reference_model(library, network, name), network.resolution)
    return ReferenceCheck(model or network.spec_name, library, network, count_network(network),
                          theirs, time.perf_counter() - start)
