"""Build an ``nn.Module`` from resolved layers (never from the spec: one resolution, two
consumers, so the counted and the built network cannot drift).

Each resolved layer becomes one leaf module registered under the layer's dotted name, so
``dict(model.named_modules())["layers.7.2.dw"]`` is that layer, and per-layer results (counts,
latency) join the engine's layers one-to-one. A conv layer's module holds its conv, batch norm
and activation (``.conv``, ``.bn``, ``.act``).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..costs.kinds import REGISTRY
from ..errors import BuildError, InputError
from ..limits import MAX_MODEL_BYTES
from ..network.layers import INPUT, Network, ResolvedLayer
from ..spec.values import ACTIVATIONS


def activation(name: str) -> nn.Module | None:
    """The torch module of an activation name (``none`` -> ``None``): the ``torch.nn`` class
    its record names (:data:`mncost.spec.values.ACTIVATIONS`)."""
    module = ACTIVATIONS[name].torch
    return None if module is None else getattr(nn, module)()


class ConvBNAct(nn.Module):
    """Conv2d ('same' padding k // 2, so out = ceil(in / stride)) + optional BN + activation."""

    def __init__(self, layer: ResolvedLayer) -> None:
        super().__init__()
        self.conv = nn.Conv2d(layer.in_shape.c, layer.out_shape.c, layer.kernel,
                              stride=layer.stride, padding=layer.kernel // 2,
                              groups=layer.groups, bias=layer.bias)
        self.bn = nn.BatchNorm2d(layer.out_shape.c) if layer.bn else None
        self.act = activation(layer.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x


class FullyConnected(nn.Module):
    """Linear layer (+ activation) on a pooled map; takes (N, C, 1, 1) or (N, C), gives (N, C')."""

    #: Takes (N, C): :class:`MobileNet` gives a leaf module without this attribute a 4-d map.
    flat_input = True

    def __init__(self, layer: ResolvedLayer) -> None:
        super().__init__()
        self.fc = nn.Linear(layer.in_shape.c, layer.out_shape.c, bias=layer.bias)
        self.act = activation(layer.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(torch.flatten(x, 1))
        return self.act(x) if self.act is not None else x


class Pool(nn.Module):
    """Global (adaptive) or k x k average / max pooling ('same' padding)."""

    def __init__(self, layer: ResolvedLayer) -> None:
        super().__init__()
        if layer.global_pool:
            self.pool = nn.AdaptiveAvgPool2d(1) if layer.pool == "avg" else nn.AdaptiveMaxPool2d(1)
        elif layer.pool == "avg":
            self.pool = nn.AvgPool2d(layer.kernel, layer.stride, layer.kernel // 2,
                                     count_include_pad=False)
        else:
            self.pool = nn.MaxPool2d(layer.kernel, layer.stride, layer.kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class ResidualAdd(nn.Module):
    """The inverted residual's shortcut (v2 Table 1): block output + block input."""

    def forward(self, x: torch.Tensor, shortcut: torch.Tensor) -> torch.Tensor:
        return x + shortcut


class SEScale(nn.Module):
    """Squeeze-excite's channel-wise scaling: features x gate."""

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return x * gate


class BatchNorm(nn.Module):
    """A batch norm on its own (+ activation): Mobile MQA's ``.norm`` on the block input."""

    def __init__(self, layer: ResolvedLayer) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(layer.out_shape.c) if layer.bn else None
        self.act = activation(layer.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x) if self.act is not None else x


class Attention(nn.Module):
    """Multi-query attention's two matmuls, softmax(Q K^T / sqrt(key_dim)) V per head, on
    the projected queries (heads x key_dim channels), keys (key_dim) and values (value_dim).

    Explicit batched matmuls (FlopCounterMode on the CPU does not count the fused
    ``scaled_dot_product_attention``), every head in one ``bmm`` each: the query and output
    channels are ordered key_dim-major (channel ``j * heads + head``; the projections'
    weights are the model's own, so the order is a choice), which makes every reshape a view.
    The softmax runs in place, so the scores are the one tensor it holds besides its inputs
    and output, as :attr:`mncost.costs.kinds.Kind.workspace` counts (an ONNX export gets the
    plain softmax).
    """

    def __init__(self, layer: ResolvedLayer) -> None:
        super().__init__()
        self.heads = int(layer.attr("heads"))
        self.key_dim = int(layer.attr("key_dim"))
        self.value_dim = int(layer.attr("value_dim"))
        self.scale = self.key_dim ** -0.5

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, _, h, w = q.shape
        queries = q.reshape(b, self.key_dim, self.heads * h * w).transpose(1, 2)
        scores = torch.bmm(queries, k.flatten(2)).mul_(self.scale)   # b, heads*N_q, N_kv
        if torch.onnx.is_in_onnx_export():
            scores = torch.softmax(scores, -1)
        else:
            torch._softmax(scores, -1, False, out=scores)
        out = torch.bmm(v.flatten(2), scores.transpose(1, 2))      # b, value_dim, heads*N_q
        return out.view(b, self.value_dim * self.heads, h, w)


class LayerScale(nn.Module):
    """A learned per-channel multiplier of a block's output (timm's LayerScale2d, gamma
    starting at 1e-5 as in MobileNetV4's hybrids)."""

    def __init__(self, layer: ResolvedLayer) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((layer.out_shape.c,), 1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(1, -1, 1, 1)


#: Layer kind -> the factory of its leaf module: the torch side of
#: :data:`mncost.costs.kinds.REGISTRY`, keyed the same way (a test checks that both have every
#: built-in kind; a kind registered at run time carries its factory in ``Kind.module``).
MODULES: dict[str, Callable[[ResolvedLayer], nn.Module]] = {
    "conv": ConvBNAct,
    "pointwise": ConvBNAct,
    "depthwise": ConvBNAct,
    "grouped": ConvBNAct,
    "fc": FullyConnected,
    "se_fc": ConvBNAct,
    "scale": lambda layer: SEScale(),
    "add": lambda layer: ResidualAdd(),
    "pool": Pool,
    "norm": BatchNorm,
    "attention": Attention,
    "layer_scale": LayerScale,
}


def make_layer(layer: ResolvedLayer) -> nn.Module:
    """The leaf module of one resolved layer (:data:`MODULES`, or the ``module`` of a kind
    registered at run time)."""
    kind = REGISTRY.get(layer.kind)
    factory = MODULES.get(layer.kind) or (kind.module if kind is not None else None)
    if factory is None:
        raise BuildError(f"layer {layer.name}: no torch module for kind {layer.kind!r}")
    return factory(layer)


class MobileNet(nn.Module):
    """A network built from resolved layers; runs them in order, feeding each its inputs.

    Attributes:
        network: the :class:`~mncost.network.layers.Network` it was built from.
        layer_names: the engine's layer names, in execution order (the leaf module paths).
    """

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network
        self.layer_names = [layer.name for layer in network.layers]
        self._plan: list[tuple[str, tuple[str, ...], nn.Module, bool]] = []
        last_use = {}
        for i, layer in enumerate(network.layers):
            for source in layer.inputs:
                last_use[source] = i
        for i, layer in enumerate(network.layers):
            module = make_layer(layer)
            _attach(self, layer.name, module)
            spatial = not getattr(module, "flat_input", False)     # fc takes (N, C)
            self._plan.append((layer.name, layer.inputs, module, spatial))
        # Names whose tensors can be dropped after step i (keeps peak memory at the real one).
        self._free: list[tuple[str, ...]] = [
            tuple(s for s in set(layer.inputs) if last_use.get(s) == i)
            for i, layer in enumerate(network.layers)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {INPUT: x}
        out = x
        for (name, inputs, module, spatial), free in zip(self._plan, self._free):
            args = [values[s] for s in inputs]
            if spatial and args[0].dim() == 2:
                args[0] = args[0][:, :, None, None]
            out = module(*args)
            values[name] = out
            for s in free:
                del values[s]
        if out.dim() == 4 and out.shape[-2:] == (1, 1):
            out = torch.flatten(out, 1)
        return out


def _attach(root: nn.Module, name: str, module: nn.Module) -> None:
    """Register ``module`` at the dotted path ``name``, creating plain containers on the way."""
    *parents, leaf = name.split(".")
    node = root
    for part in parents:
        child = node._modules.get(part)
        if child is None:
            child = nn.Module()
            _add(node, part, child, name)
        elif type(child) is not nn.Module:
            raise BuildError(f"layer {name}: {part!r} is already a layer, cannot nest under it")
        node = child
    if leaf in node._modules:
        raise BuildError(f"layer {name}: the name is already taken")
    _add(node, leaf, module, name)


def _add(node: nn.Module, part: str, module: nn.Module, name: str) -> None:
    try:
        node.add_module(part, module)
    except (KeyError, TypeError) as exc:
        raise BuildError(f"layer {name}: cannot be a torch module name ({exc})") from None


def estimated_bytes(network: Network, batch: int = 1) -> int:
    """Memory the built model may need in float32, from the analytic counts: every parameter
    and buffer, plus the input, every layer's output and workspace (an attention's scores)
    for ``batch`` images (an upper bound: the forward pass frees what it no longer reads)."""
    from ..costs.analytic import analyze

    report = analyze(network)
    elements = network.input_shape.numel + sum(
        l.out_shape.numel + REGISTRY[l.kind].workspace(l) for l in network.layers)
    return 4 * (report.total.params("checkpoint") + batch * elements)


def check_fits(network: Network, batch: int = 1) -> None:
    """Refuse, before allocating anything, a model above :data:`MAX_MODEL_BYTES`
    (``crosscheck --alpha 10000`` would otherwise die in the allocator)."""
    need = estimated_bytes(network, batch)
    if need > MAX_MODEL_BYTES:
        raise InputError(
            f"{network.spec_name} at alpha={network.alpha:g} res={network.resolution[0]}x"
            f"{network.resolution[1]}" + (f" batch={batch}" if batch != 1 else "")
            + f" would need about {need / 2 ** 30:,.3g} GiB for weights and activations "
            f"(the limit for building a model is {MAX_MODEL_BYTES / 2 ** 30:g} GiB)")


def build(network: Network, seed: int | None = 0, batch: int = 1) -> MobileNet:
    """Build ``network`` as an ``nn.Module`` in eval mode.

    Args:
        network: resolved layers (:func:`mncost.network.resolve.resolve`).
        seed: seed for the random initial weights (``None`` leaves the global RNG alone).
        batch: the batch it will run, for the memory check (:func:`check_fits`).
    """
    check_fits(network, batch)
    try:
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = MobileNet(network)
        else:
            model = MobileNet(network)
    except MemoryError:
        raise InputError(f"not enough memory to build {network.spec_name} at "
                         f"alpha={network.alpha:g}") from None
    except RuntimeError as exc:
        if "allocate" not in str(exc):
            raise
        raise InputError(f"not enough memory to build {network.spec_name} at "
                         f"alpha={network.alpha:g}: {str(exc).splitlines()[0][:120]}") from None
    return model.eval()


def build_model(model: str, alpha: float = 1.0, resolution: object = None,
                classes: int | None = None, seed: int | None = 0) -> MobileNet:
    """Resolve a built-in name or spec path and build it."""
    from ..network.catalog import resolve_model

    return build(resolve_model(model, alpha, resolution, classes), seed=seed)
