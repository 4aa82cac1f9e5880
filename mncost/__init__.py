"""mncost: FLOPs / parameters / latency analyzer for the MobileNet family.

The analytic engine (``mncost.spec``, ``mncost.network.resolve``, ``mncost.costs``) never imports
torch; the torch back end (``mncost.torch_backend``) is imported only by the commands that need it.

Typical use::

    from mncost import resolve_model, analyze
    report = analyze(resolve_model("v1", alpha=0.5, resolution=160))
    report.total.macs
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Public names and the module each comes from: imported on first use (PEP 562), so the
#: command line, which imports this package first, can take Ctrl-C from its very start.
_LAZY = {"analyze": "costs.analytic", "Report": "costs.analytic",
         "resolve_model": "network.catalog", "load_model": "network.catalog",
         "BUILTINS": "network.catalog"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "analyze", "Report", "resolve_model", "load_model", "BUILTINS"]
