"""Structural checks of a parsed network: references, connectivity, cycles, reachability.

These are the situations in which ZNN's builder would crash, hang or silently compute
garbage; here each becomes an error naming the group and line. Size-dependent checks
(converging branches, field of view) live in `graph.py` because they need an output size.
"""

from __future__ import annotations

from znn.base.errors import did_you_mean
from znn.layers.table import edge_kind, node_kind
from znn.netspec.problems import Problems
from znn.netspec.spec import NetSpec


def check_structure(spec: NetSpec, problems: Problems) -> None:
    """Append every structural error of `spec` to `problems`."""
    if not spec.input_names:
        problems.error("the network has no input node group", line=None,
                       expected="a group with 'type input'")
    _check_names(spec, problems)
    references_ok = _check_references(spec, problems)
    if not references_ok:
        return
    _check_connections(spec, problems)
    if _check_cycles(spec, problems):
        _check_reachability(spec, problems)


def _check_names(spec: NetSpec, problems: Problems) -> None:
    for name in spec.edges:
        if name in spec.nodes:
            problems.error(
                f"an edge group has the same name as the node group on line {spec.nodes[name].line}; "
                "saved networks keep both in one namespace", line=spec.edges[name].line, group=name,
                expected="distinct node and edge names", found=name)


def _check_references(spec: NetSpec, problems: Problems) -> bool:
    ok = True
    for edge in spec.edges.values():
        for key in ("input", "output"):
            target = getattr(edge, key)
            if target not in spec.nodes:
                ok = False
                problems.error(f"unknown node group{did_you_mean(target, spec.nodes)}",
                               line=edge.line_of(key), group=edge.name, key=key,
                               expected="the name of a 'nodes' group", found=target)
    return ok


def _check_connections(spec: NetSpec, problems: Problems) -> None:
    for edge in spec.edges.values():
        source, target = spec.nodes[edge.input], spec.nodes[edge.output]
        if target.type == "input":
            problems.error("an edge cannot feed an input node group", line=edge.line_of("output"),
                           group=edge.name, key="output", expected="a sum, transfer or maxout group",
                           found=target.name)
        wanted_target = edge_kind(edge.type).target_node_type
        if wanted_target is not None and target.type != wanted_target:
            problems.error(f"a {edge.type} edge must end in a {wanted_target} node group",
                           line=edge.line_of("output"), group=edge.name, key="output",
                           expected=f"a group with 'type {wanted_target}'", found=f"{target.name} (type {target.type})")
        wanted_edge = node_kind(target.type).edge_type
        if wanted_edge is not None and edge.type != wanted_edge:
            problems.error(f"only {wanted_edge} edges may enter a {target.type} node group",
                           line=edge.line_of("type"), group=edge.name, key="type", expected=wanted_edge,
                           found=edge.type)
        if edge_kind(edge.type).one_to_one and source.size != target.size:
            problems.error(
                f"a {edge.type} edge connects maps one to one, but '{source.name}' has {source.size} "
                f"maps and '{target.name}' has {target.size}", line=edge.line_of("output"),
                group=edge.name, key="output", expected=f"a group of size {source.size}",
                found=f"size {target.size}")
    for node in spec.nodes.values():
        incoming = spec.incoming(node.name)
        if node.type != "input" and not incoming:
            problems.error("no edge enters this node group, so its maps would be undefined",
                           line=node.line, group=node.name,
                           expected="at least one edge with 'output " + node.name + "'")
        if node.type == "input" and not spec.outgoing(node.name):
            problems.error("this input is not connected to anything", line=node.line, group=node.name,
                           expected="at least one edge with 'input " + node.name + "'")


def topological_order(spec: NetSpec) -> list[str] | list[list[str]]:
    """Node names from inputs to outputs; on a cycle, returns `[cycle]` instead."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    order: list[str] = []
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for edge in spec.outgoing(name):
            nxt = edge.output
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[name] = 2
        order.append(name)
        return None

    for name in spec.nodes:
        if name not in state:
            cycle = visit(name)
            if cycle:
                return [cycle]
    return list(reversed(order))


def _check_cycles(spec: NetSpec, problems: Problems) -> bool:
    result = topological_order(spec)
    if result and isinstance(result[0], list):
        cycle = result[0]
        closing = next(e for e in spec.outgoing(cycle[-2]) if e.output == cycle[-1])
        problems.error("the network has a cycle: " + " -> ".join(cycle), line=closing.line,
                       group=closing.name, expected="a directed acyclic graph",
                       found=" -> ".join(cycle))
        return False
    return True


def _check_reachability(spec: NetSpec, problems: Problems) -> None:
    reached = set(spec.input_names)
    frontier = list(reached)
    while frontier:
        for edge in spec.outgoing(frontier.pop()):
            if edge.output not in reached:
                reached.add(edge.output)
                frontier.append(edge.output)
    for name in spec.output_names:
        if name not in reached:
            problems.error("output is not reachable from any input", line=spec.nodes[name].line,
                           group=name, expected="a path of edges from an input node group")
