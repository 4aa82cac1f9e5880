"""The model as measured: built, on the device, in the dtype and memory format asked for, batch
norm folded or not, compiled or not."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import InputError
from ..measure.profile_options import ProfileOptions
from ..network.layers import Network
from .builder import MobileNet, build
from .run_errors import _one_line


def fuse_batch_norm(model: MobileNet) -> int:
    """Fold every batch norm into the conv before it (``fuse_conv_bn_eval``), in place.

    The leaf modules keep their names, so per-layer results still join the engine's layers.

    Returns:
        The number of batch norms folded.
    """
    folded = 0
    for name in model.layer_names:
        module = model.get_submodule(name)
        conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(conv, bn)
            module.bn = None
            folded += 1
    return folded


def memory_format(options: ProfileOptions) -> torch.memory_format:
    """NHWC (``channels_last``) or the default NCHW layout."""
    return torch.channels_last if options.channels_last else torch.contiguous_format


def prepare(network: Network, options: ProfileOptions, device: torch.device,
            dtype: torch.dtype) -> tuple[MobileNet, torch.Tensor]:
    """Build the eval-mode model and a random input batch, with the options applied (fused
    batch norm first, in float32, then device, dtype and memory format)."""
    model = build(network, batch=options.batch)
    if options.fuse_bn:
        fuse_batch_norm(model)
    fmt = memory_format(options)
    model = model.to(device=device, dtype=dtype, memory_format=fmt)
    generator = torch.Generator().manual_seed(0)
    shape = (options.batch, *_chw(network))
    x = torch.randn(shape, generator=generator).to(device=device, dtype=dtype,
                                                   memory_format=fmt)
    return model, x


def _chw(network: Network) -> tuple[int, int, int]:
    s = network.input_shape
    return s.c, s.h, s.w


def compiled(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``torch.compile(model)``; compilation itself happens at the first run."""
    try:
        return torch.compile(model)
    except Exception as exc:  # noqa: BLE001 - any failure means compile is unusable here
        raise InputError(f"--compile is not available here: {_one_line(exc)}") from None
