"""The import graph: the engine never imports the renderers, the CLI, the torch back end or
torch; the renderers never import torch or the torch back end.

Read from the source with ``ast`` (every import statement, function-level ones included), so
a lazy import inside a function counts too; only ``if TYPE_CHECKING:`` blocks (type names for
annotations, never run) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "mncost"
#: Where the engine's data becomes text, commands, or a torch model.
EDGES = ("mncost.render", "mncost.cli", "mncost.torch_backend")
#: Heavy or interface libraries that belong to the edges.
EDGE_LIBRARIES = ("torch", "fvcore", "click", "rich", "matplotlib")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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


ENGINE = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__main__.py")
RENDER = sorted((PACKAGE / "render").glob("*.py"))


def test_the_graph_is_read():
    """The parser sees relative, absolute and function-level imports (a test of the test)."""
    cli_sweep = imports(PACKAGE / "cli" / "sweep.py")
    assert "mncost.render.sweep" in cli_sweep and "click" in cli_sweep
    profile = imports(PACKAGE / "torch_backend" / "profile.py")
    assert {"torch", "mncost.costs", "mncost.torch_backend.builder"} <= profile
    assert "mncost.torch_backend.profile" in imports(PACKAGE / "cli" / "check.py")  # lazy
    schema = imports(PACKAGE / "schema.py")            # type-only imports are not imports
    assert "mncost.costs" in schema and "mncost.torch_backend.crosscheck" not in schema
    assert len(ENGINE) >= 15 and len(RENDER) >= 8


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: p.name)
def test_engine_imports_no_edge(path):
    bad = sorted(n for n in imports(path) if _under(n, EDGES + EDGE_LIBRARIES))
    assert not bad, f"{module_name(path)} (engine) imports {bad}"


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
