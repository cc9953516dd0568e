"""The package's import graph has no cycles, and protocol code does not reach up into the
platform's concepts. Read from the source (module-level and function-level imports alike),
so a cycle hidden inside a function body counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import mailplane

PACKAGE_ROOT = Path(mailplane.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """mailplane modules imported by ``path``: ``from a.b import c`` counts as ``a.b.c``
    when that is a module, else ``a.b``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if candidate in modules:
                    found.add(candidate)
                elif node.module in modules:
                    found.add(node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE_ROOT.rglob("*.py")}
    modules = set(paths)
    return {name: _imports(path, modules) - {name} for name, path in paths.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules, or None (depth-first search, colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _ignoring_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` importing its own modules is how packages work, not a cycle
    between concepts; the modules themselves must not import each other in a circle."""
    return {
        name: {t for t in targets if not name or not t.startswith(name + ".")}
        for name, targets in graph.items()
    }


def test_the_package_has_no_import_cycles() -> None:
    cycle = _cycle(_ignoring_packages(import_graph()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_protocol_code_knows_nothing_of_the_platform() -> None:
    allowed = ("mailplane.protocols", "mailplane.config", "mailplane.names", "mailplane.errors")
    graph = import_graph()
    offenders = {
        module: sorted(t for t in targets if not t.startswith(allowed))
        for module, targets in graph.items()
        if module.startswith("mailplane.protocols")
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_detector_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
