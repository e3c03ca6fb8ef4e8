"""The package's layering: no import cycles between top-level packages of modelyard, whether the
import sits at the top of a module or is hidden in a function body (imports only for type checkers
are left out: they never run)."""

from __future__ import annotations

import ast
from pathlib import Path

import modelyard

ROOT = Path(modelyard.__file__).parent
# The fluent facade (modelyard/__init__.py) re-exports every layer lazily; it is the top, not a layer.
FACADES = {"__init__"}


def _runtime_imports(tree: ast.AST):
    """Import nodes that run (those under ``if TYPE_CHECKING:`` are skipped)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "modelyard":
                yield from (f"modelyard.{a.name}" for a in node.names)
            else:
                yield node.module


def package_graph() -> dict[str, dict[str, set[str]]]:
    """{package: {imported package: {files importing it}}} for modelyard's top-level packages/modules."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        source = parts[0].removesuffix(".py")
        if source in FACADES:
            continue
        for name in _runtime_imports(ast.parse(path.read_text())):
            bits = name.split(".")
            if bits[0] == "modelyard" and len(bits) > 1 and bits[1] != source:
                graph.setdefault(source, {}).setdefault(bits[1], set()).add(str(path.relative_to(ROOT)))
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_top_level_packages() -> None:
    graph = package_graph()
    found = cycles(graph)
    detail = [
        {a: {b: sorted(graph[a][b]) for b in comp if b in graph.get(a, {})} for a in comp} for comp in found
    ]
    assert found == [], detail


def test_the_web_ui_and_the_servers_share_web_not_each_other() -> None:
    graph = package_graph()
    assert "server" not in graph.get("ui", {})
    assert "ui" not in graph.get("serving", {}) and "server" not in graph.get("serving", {})
