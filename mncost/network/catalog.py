"""The catalog: the built-in specs, and how a model argument (short name or YAML path) is
found and loaded. (It holds no models: those are data, in ``configs/``.)

Wherever a model is named, a built-in short name (``v1``, ``v2``, ``v3-large``...) or a path to
a ``.yaml`` file is accepted.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from pathlib import Path

from ..errors import InputError, SpecError
from ..spec.load import Spec, load_spec
from .layers import Network
from .resolve import resolve

#: Short name -> file in the configs directory, in the order ``mncost list`` shows them.
BUILTINS: dict[str, str] = {
    "v1": "mobilenet_v1.yaml",
    "v1-conv": "mobilenet_v1_conv.yaml",
    "v1-shallow": "mobilenet_v1_shallow.yaml",
    "v2": "mobilenet_v2.yaml",
    "v3-large": "mobilenet_v3_large.yaml",
    "v3-small": "mobilenet_v3_small.yaml",
    "v3-large-tf": "mobilenet_v3_large_tf.yaml",
    "v3-small-tf": "mobilenet_v3_small_tf.yaml",
    "v4-conv-small": "mobilenet_v4_conv_small.yaml",
    "v4-conv-medium": "mobilenet_v4_conv_medium.yaml",
    "v4-conv-large": "mobilenet_v4_conv_large.yaml",
    "v4-hybrid-medium": "mobilenet_v4_hybrid_medium.yaml",
    "v4-hybrid-large": "mobilenet_v4_hybrid_large.yaml",
    "mnasnet": "mnasnet.yaml",
    **{f"efficientnet-b{i}": f"efficientnet_b{i}.yaml" for i in range(8)},
}

#: Other names of the built-ins: the spec's own name, which every report prints in its header
#: (``v2 (mobilenet-v2)``), is accepted too. Matched after :func:`_normal` (case, ``_``), so
#: torchvision's ``mobilenet_v2`` and ``mobilenet_v3_large`` name them as well.
#: ``tests/test_cli_names.py`` holds each to its spec's ``name:``.
ALIASES: dict[str, str] = {f"mobilenet-{name}": name for name in BUILTINS
                           if name.startswith("v")}


def _normal(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def builtin_name(model: str) -> str | None:
    """The built-in short name ``model`` names (itself, or an alias), or None."""
    if model in BUILTINS:
        return model
    normal = _normal(model)
    return normal if normal in BUILTINS else ALIASES.get(normal)


def suggestions(model: str) -> list[str]:
    """Built-in names close to ``model``: every one it begins (``v3`` -> ``v3-large``,
    ``v3-small``...), else the closest by spelling, an alias as the name it stands for."""
    normal = _normal(model)
    if not normal:
        return []
    starting = [name for name in BUILTINS if name.startswith(normal)]
    starting += [short for alias, short in ALIASES.items()
                 if alias.startswith(normal) and short not in starting]
    if starting:
        return starting[:4]
    close = difflib.get_close_matches(normal, [*BUILTINS, *ALIASES], n=3, cutoff=0.6)
    return list(dict.fromkeys(ALIASES.get(name, name) for name in close))


def did_you_mean(names: list[str]) -> str:
    """`` (did you mean 'a', 'b' or 'c'?)`` for a message; "" for none."""
    if not names:
        return ""
    quoted = [repr(n) for n in names]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"


#: Built-ins that are another built-in's table at other default multipliers (EfficientNet-B1...B7
#: are B0 scaled by their width/depth coefficients): grids over alpha and depth (``crosscheck
#: --all``, the torch tests) cover them through the one they extend.
SCALED_VARIANTS: frozenset[str] = frozenset(f"efficientnet-b{i}" for i in range(1, 8))
#: The built-ins with a table of their own.
TABLES: tuple[str, ...] = tuple(m for m in BUILTINS if m not in SCALED_VARIANTS)


def configs_dir() -> Path:
    """The directory of the built-in specs (``configs/`` in the source tree, packaged as
    ``mncost/configs`` in a wheel)."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "configs"
    if packaged.is_dir():
        return packaged
    return package.parent / "configs"


def _exists(path: Path) -> bool:
    """``path.exists()``, with a name the system cannot even look up (too long, a NUL byte)
    reported as one line rather than raised as ``OSError``/``ValueError``."""
    try:
        return path.exists()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"cannot use {str(path)[:60]!r}... as a spec path: {reason}") from None


def find_spec(model: str, base: Path | None = None) -> Path:
    """Map a built-in short name or a path to a spec file. A relative path is relative to
    ``base`` where one is given (an ``extends:`` in a spec: the spec's own directory, never
    the working directory), else to the working directory.

    Raises:
        InputError: for an unknown name, listing the known ones.
    """
    builtin = builtin_name(model)
    if builtin is not None:
        return configs_dir() / BUILTINS[builtin]
    path = Path(model)
    if base is not None and not path.is_absolute():
        if _exists(base / path):
            return base / path
        if path.suffix in (".yaml", ".yml") or "/" in model:
            raise InputError(f"no such file {str(base / path)!r} (a path in extends: is "
                             "relative to the spec's directory)")
    elif path.suffix in (".yaml", ".yml") or _exists(path):
        if not _exists(path):
            raise SpecError("no such file", file=model)
        return path
    raise InputError(f"unknown model {model!r}{did_you_mean(suggestions(model))}; built-in "
                     f"models: {', '.join(BUILTINS)} (or their spec names, such as "
                     "mobilenet-v2), or give a path to a .yaml spec")


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int) -> Spec:
    return load_spec(Path(path), find_spec)


def load_model(model: str) -> Spec:
    """Load and validate the spec named by ``model`` (short name or path)."""
    path = find_spec(model)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _load_cached(str(path), mtime)


def resolve_model(model: str, alpha: float | None = None, resolution: object = None,
                  classes: int | None = None, depth: float | None = None) -> Network:
    """Load ``model`` and resolve it (:func:`mncost.network.resolve.resolve`); ``alpha`` and
    ``depth`` default to the spec's own multipliers (1.0 except for EfficientNet-B1...B7)."""
    return resolve(load_model(model), alpha, resolution, classes, depth)

