"""The import graph is an ordered layer contract: each folder of the package imports only from
the folders below it, so the package reads as the pipeline it implements (docs/development.md).

    base (errors, limits) < files < spec < network < costs < measure < check < sweep < latency
        < zoo < torch_backend < render < cli

Besides the order: nothing below ``torch_backend`` imports torch, fvcore, click, rich or
matplotlib (the analytic path stays fast and torch-free), and the renderers never import torch
or the torch back end.

Read from the source with ``ast`` (every import statement, function-level ones included), so a
lazy import inside a function counts too; only ``if TYPE_CHECKING:`` blocks (type names for
annotations, never run) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "mncost"
#: The layers, lowest first. A module's layer is its first folder under mncost/ (``base`` for
#: the modules at the top of the package).
LAYERS = ("base", "files", "spec", "network", "costs", "measure", "check", "sweep", "latency",
          "zoo", "torch_backend", "render", "cli")
#: Heavy or interface libraries that belong to the edges (torch back end, renderers, CLI).
EDGE_LIBRARIES = ("torch", "fvcore", "click", "rich", "matplotlib")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "base"


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from X import y`` gives X and X.y)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _nodes(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if _type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")
RENDER = sorted((PACKAGE / "render").glob("*.py"))


def _package_imports(path: Path) -> set[str]:
    """The package modules ``path`` imports (``mncost.x.y``), itself and its package left out."""
    me = module_name(path)
    return {n for n in imports(path) if n.startswith("mncost.") and n != me}


def test_the_graph_is_read():
    """The parser sees relative, absolute and function-level imports (a test of the test)."""
    cli_sweep = imports(PACKAGE / "cli" / "sweep.py")
    assert "mncost.render.sweep" in cli_sweep and "click" in cli_sweep
    eager = imports(PACKAGE / "torch_backend" / "eager.py")
    assert {"torch", "mncost.network.layers", "mncost.torch_backend.prepare"} <= eager
    assert "mncost.torch_backend.profile" in imports(PACKAGE / "cli" / "check.py")  # lazy
    kinds = imports(PACKAGE / "costs" / "kinds.py")    # type-only imports are not imports
    assert "mncost.network.layers" not in kinds
    assert layer_of("mncost.costs.memory") == "costs" and layer_of("mncost.errors") == "base"
    assert {layer_of(module_name(p)) for p in MODULES} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_each_layer_imports_only_from_below(path):
    mine = LAYERS.index(layer_of(module_name(path)))
    up = sorted(n for n in _package_imports(path)
                if layer_of(n) != "base" and LAYERS.index(layer_of(n)) > mine)
    assert not up, f"{module_name(path)} ({LAYERS[mine]}) imports from above: {up}"


@pytest.mark.parametrize("path", [p for p in MODULES if LAYERS.index(
    layer_of(module_name(p))) < LAYERS.index("torch_backend")], ids=lambda p: module_name(p))
def test_the_analytic_layers_import_no_edge_library(path):
    bad = sorted(n for n in imports(path) if _under(n, EDGE_LIBRARIES))
    assert not bad, f"{module_name(path)} imports {bad}"


@pytest.mark.parametrize("path", RENDER, ids=lambda p: p.name)
def test_renderers_import_no_torch(path):
    bad = sorted(n for n in imports(path)
                 if _under(n, ("mncost.torch_backend", "mncost.cli", "torch", "fvcore")))
    assert not bad, f"{module_name(path)} (renderer) imports {bad}"


def test_test_modules_import_no_other_test_module():
    """Shared test helpers live in tests/conftest.py or tests/_helpers.py: a test module that
    imports another runs (and breaks with) the other's module-level code, and renaming one
    breaks the other's collection."""
    tests = ROOT / "tests"
    names = {path.stem for path in tests.rglob("test_*.py")}
    bad = {}
    for path in sorted(tests.rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.partition(".")[0])
        if found & names:
            bad[str(path.relative_to(ROOT))] = sorted(found & names)
    assert not bad, bad
