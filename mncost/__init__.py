"""mncost: FLOPs / parameters / latency analyzer for the MobileNet family.

The analytic engine (``mncost.spec``, ``mncost.resolve``, ``mncost.costs``) never imports torch;
the torch back end (``mncost.torch_backend``) is imported only by the commands that need it.

Typical use::

    from mncost import resolve_model, analyze
    report = analyze(resolve_model("v1", alpha=0.5, resolution=160))
    report.total.macs
"""

from __future__ import annotations

__version__ = "0.1.0"

from .catalog import BUILTINS, load_model, resolve_model  # noqa: E402
from .costs import Report, analyze  # noqa: E402

__all__ = ["__version__", "analyze", "Report", "resolve_model", "load_model", "BUILTINS"]
