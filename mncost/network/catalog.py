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
    "mnasnet": "mnasnet.yaml",
    **{f"efficientnet-b{i}": f"efficientnet_b{i}.yaml" for i in range(8)},
}

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
    if model in BUILTINS:
        return configs_dir() / BUILTINS[model]
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
    close = difflib.get_close_matches(model, list(BUILTINS), n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise InputError(f"unknown model {model!r}{hint}; built-in models: "
                     f"{', '.join(BUILTINS)}, or give a path to a .yaml spec")


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
    """Load ``model`` and resolve it (:func:`mncost.resolve.resolve`); ``alpha`` and ``depth``
    default to the spec's own multipliers (1.0 except for EfficientNet-B1...B7)."""
    return resolve(load_model(model), alpha, resolution, classes, depth)

