"""The torch back end: builds the resolved network as an ``nn.Module`` (and, in sibling modules,
cross-checks and profiles it). Importing this package imports torch; the analytic path never
does.
"""

from __future__ import annotations

from ..errors import MissingDependency

try:
    import torch  # noqa: F401  (the import is the check)
except ImportError:  # pragma: no cover - exercised only where torch is absent
    raise MissingDependency("torch", "torch") from None

from .builder import build, build_model  # noqa: E402

__all__ = ["build", "build_model"]
