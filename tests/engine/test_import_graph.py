"""The import graphs of the engine (`engine/znn`) and the plugin (`src/napari_znn`): no module
cycles, engine packages that stack in the declared order (`PACKAGE_ORDER`), the raw job config
only at the job layer and above, and no GUI toolkit anywhere in the engine.

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
PLUGIN_ROOT = REPO / "src"
PLUGIN = "napari_znn"

# The engine's packages from the ground floor up: a package imports only packages listed before it
# (see docs/engine-design.md). `znn` itself (the facade) and `znn.__main__` stand outside the order.
PACKAGE_ORDER = ("base", "kernels", "fft", "layers", "netspec", "params", "passes", "parallel", "network",
                 "planning", "io", "jobs", "data", "forward", "blockwise", "train", "evaluate", "export", "app",
                 "bench", "commands")
# Packages that may hold the raw `JobConfig`; below them only resolved settings travel.
JOB_LAYER = ("jobs", "app", "bench", "commands")

GUI_PACKAGES = ("napari", "qtpy", "PyQt6", "pyqtgraph", "magicgui", "npe2", "superqt", "psygnal")


def _module_files(root: Path, package: str) -> dict[str, Path]:
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _module_files(ENGINE, PACKAGE)
PLUGIN_MODULES = _module_files(PLUGIN_ROOT, PLUGIN)
ALL_MODULES = {**MODULES, **PLUGIN_MODULES}


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
                found.append((candidate if candidate in ALL_MODULES else base, node.lineno))
    return found


def _nearest_module(imported: str, modules: dict[str, Path] = MODULES) -> str | None:
    """The module of `modules` an imported name loads: itself, or its closest enclosing package."""
    parts = imported.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(modules: dict[str, Path] = MODULES) -> dict[str, dict[str, int]]:
    """module -> {imported module of `modules`: first line importing it}."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for imported, line in _imports(name, path):
            target = _nearest_module(imported, modules)
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


def test_the_plugin_has_no_import_cycle():
    graph = import_graph(PLUGIN_MODULES)
    assert len(graph) > 20
    cycles = [describe_cycle(graph, c) for c in strongly_connected(graph)]
    assert not cycles, "\n".join(cycles)


def _package(module: str) -> str | None:
    """The engine package of a module (`znn.io.h5net` -> `io`); None for the facade and __main__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGE_ORDER else None


def package_graph(graph: dict[str, dict[str, int]]) -> dict[str, dict[str, str]]:
    """package -> {imported package: 'module:line' of one import}, between different packages."""
    packages: dict[str, dict[str, str]] = {p: {} for p in PACKAGE_ORDER}
    for module, edges in graph.items():
        source = _package(module)
        for target_module, line in edges.items():
            target = _package(target_module)
            if source is not None and target is not None and target != source:
                packages[source].setdefault(target, f"{module}:{line}")
    return packages


def order_violations(packages: dict[str, dict[str, str]]) -> list[str]:
    """Every import of a package that stands later in PACKAGE_ORDER than the importer."""
    rank = {name: i for i, name in enumerate(PACKAGE_ORDER)}
    return [f"{where} imports {target}, which stands above {source} in the package order"
            for source, edges in packages.items() for target, where in sorted(edges.items())
            if rank[target] > rank[source]]


def test_every_engine_module_is_in_a_declared_package():
    loose = [m for m in MODULES if _package(m) is None and m not in (PACKAGE, f"{PACKAGE}.__main__")]
    assert not loose, f"modules outside the declared packages: {loose}"
    assert {m.split(".")[1] for m in MODULES if "." in m} - {"__main__"} == set(PACKAGE_ORDER)


def test_engine_packages_stack_in_the_declared_order():
    packages = package_graph(import_graph())
    assert not order_violations(packages), "\n".join(order_violations(packages))
    cycles = strongly_connected({p: dict.fromkeys(edges, 0) for p, edges in packages.items()})
    assert not cycles


def test_the_order_check_finds_a_back_import():
    graph = {name: dict(edges) for name, edges in import_graph().items()}
    graph["znn.io.h5net"]["znn.train.trainer"] = 12  # io reaching up into train
    violations = order_violations(package_graph(graph))
    assert violations == ["znn.io.h5net:12 imports train, which stands above io in the package order"]


def test_below_the_job_layer_only_resolved_settings_travel():
    offending = []
    for name, path in MODULES.items():
        package = _package(name)
        if package is None or package in JOB_LAYER:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "JobConfig":
                offending.append(f"{path.relative_to(ENGINE)}:{node.lineno}")
            elif isinstance(node, ast.alias) and node.name == "JobConfig":
                offending.append(f"{path.relative_to(ENGINE)} imports JobConfig")
    assert not offending, "JobConfig below the job layer: " + ", ".join(offending)
