"""The import graph of the engine (`engine/znn`): no cycles, and no GUI toolkit anywhere.

Every module is parsed with `ast`; every import counts, at module level or inside a
function (also under `if TYPE_CHECKING:` or `if __name__ == "__main__":`). `from a import b`
points at the submodule `a.b` when there is one, else at `a`; relative imports are resolved
against the importing module's package. Only edges between modules of `znn` are kept.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.paths import REPO

ENGINE = REPO / "engine"
PACKAGE = "znn"

GUI_PACKAGES = ("napari", "qtpy", "PyQt6", "pyqtgraph", "magicgui", "npe2", "superqt", "psygnal")


def _module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted((ENGINE / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ENGINE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """Every imported module name (absolute, as written or resolved) with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((candidate if candidate in MODULES else base, node.lineno))
    return found


def _nearest_module(imported: str) -> str | None:
    """The engine module an imported name loads: itself, or its closest enclosing package."""
    parts = imported.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported engine module: first line importing it}."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in MODULES.items():
        edges: dict[str, int] = {}
        for imported, line in _imports(name, path):
            target = _nearest_module(imported)
            if target is not None and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def describe_cycle(graph: dict[str, dict[str, int]], component: list[str]) -> str:
    """One concrete cycle through a component, each step with the importing line."""
    members = set(component)
    start = component[0]
    # Breadth-first search from start's successors back to start, inside the component.
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier and start not in previous:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child in members and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    path = [start]
    node = previous[start]
    while node != start:
        path.append(node)
        node = previous[node]
    path.append(start)
    path.reverse()
    steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(path, path[1:])]
    return "import cycle among " + ", ".join(component) + ":\n    " + "\n    ".join(steps)


def test_the_graph_sees_function_level_and_from_imports():
    graph = import_graph()
    assert len(MODULES) > 50
    # A function-level import (the CLI imports its subcommands inside build_parser).
    assert "znn.commands.forward" in graph["znn.commands.cli"]
    # `from znn.jobs import values` is the submodule, `from znn.jobs import read_cfg` the package.
    assert "znn.jobs.values" in graph["znn.commands.blockwise"]
    assert "znn.jobs" in graph["znn.commands.blockwise"]


def test_the_cycle_finder_finds_and_describes_a_cycle():
    graph = {"a": {"b": 3}, "b": {"c": 5}, "c": {"a": 7, "d": 1}, "d": {}}
    components = strongly_connected(graph)
    assert components == [["a", "b", "c"]]
    assert describe_cycle(graph, components[0]).endswith("a (line 3) -> b\n    b (line 5) -> c\n    c (line 7) -> a")


def test_the_engine_has_no_import_cycle():
    graph = import_graph()
    cycles = [describe_cycle(graph, c) for c in strongly_connected(graph)]
    assert not cycles, "\n".join(cycles)


def test_the_engine_never_imports_a_gui_toolkit():
    offending = []
    for name, path in MODULES.items():
        for imported, line in _imports(name, path):
            if imported.split(".")[0] in GUI_PACKAGES:
                offending.append(f"{path.relative_to(ENGINE)}:{line} imports {imported}")
    assert not offending, "\n".join(offending)
