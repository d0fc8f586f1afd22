"""A drawing of a network: its node groups as boxes, its edge groups as labelled arrows.

`layout` places the groups (pure geometry, in abstract units, for any drawing surface): node
groups in rows by their longest distance from an input, parallel branches side by side, each edge
group's label on its arrow. Each box says what the group is and what the current output patch
makes of it: maps, transfer function, the map size at that node and the field of view reached
there; each arrow its kind, kernel, dilation and parameters. `draw` renders it with matplotlib's
Agg canvas (no GUI), to SVG or PNG by the file's suffix: `znn info NET --diagram FILE.svg`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from znn.netspec.graph import NetworkGraph

ROW = 1.0  # vertical distance between node rows
COLUMN = 3.4  # horizontal distance between parallel branches
BOX_WIDTH, BOX_HEIGHT = 3.0, 0.42
LABEL_ROOM = 1.6  # right of the last column, for the arrows' labels
FORMATS = (".svg", ".png", ".pdf")


def _size(t: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in t)


@dataclass(frozen=True)
class NodeBox:
    name: str
    x: float
    y: float
    title: str  # "nconv1 · transfer rectify_linear · 8 maps"
    detail: str  # "each 1x62x62 · receptive field 1x3x3"


@dataclass(frozen=True)
class EdgeArrow:
    name: str
    source: str
    target: str
    label: str  # "conv1: conv 1x3x3 · 80 parameters"
    x: float  # where the label sits
    y: float


@dataclass(frozen=True)
class Diagram:
    nodes: dict[str, NodeBox]
    edges: tuple[EdgeArrow, ...]
    rows: int
    columns: int

    def names(self) -> list[str]:
        """Every group named in the drawing."""
        return [*self.nodes, *(edge.name for edge in self.edges)]


def receptive_fields(graph: NetworkGraph) -> dict[str, tuple[int, int, int]]:
    """The input extent one voxel of each node sees, walking the edges forward from the inputs: each
    adds its kernel's extent less one, in input voxels (taps `dilation` node voxels apart, a node's
    voxels as far apart as the strides of the max_pool edges before it)."""
    seen: dict[str, tuple[int, int, int]] = {name: (1, 1, 1) for name in graph.spec.input_names}
    spacing: dict[str, tuple[int, int, int]] = {name: (1, 1, 1) for name in graph.spec.input_names}
    for node in graph.order:
        for edge in graph.edges.values():
            if edge.target != node or edge.source not in seen:
                continue
            step, before = spacing[edge.source], seen[edge.source]
            grown = tuple(r + (k - 1) * d * s for r, k, d, s in zip(before, edge.kernel, edge.dilation, step))
            seen[node] = tuple(max(a, b) for a, b in zip(seen.get(node, grown), grown))  # type: ignore[assignment]
            if edge.type == "max_pool":  # ZNN pools with a stride of the window unless told otherwise
                stride = graph.spec.edges[edge.name].stride or edge.kernel
                step = tuple(s * t for s, t in zip(step, stride))  # type: ignore[assignment]
            spacing[node] = step
    return seen


def _node_text(graph: NetworkGraph, name: str, seen: tuple[int, int, int]) -> tuple[str, str]:
    group, geometry = graph.spec.nodes[name], graph.nodes[name]
    kind = f"{group.type} {group.function}" if group.function and group.type == "transfer" else group.type
    maps = f"{geometry.maps} map{'s' if geometry.maps != 1 else ''}"
    sparse = f" · sparsity {_size(geometry.sparsity)}" if geometry.sparsity != (1, 1, 1) else ""
    return f"{name} · {kind} · {maps}", f"each {_size(geometry.size)} · receptive field {_size(seen)}{sparse}"


def _edge_text(graph: NetworkGraph, name: str) -> str:
    geometry = graph.edges[name]
    parts = [f"{name}: {geometry.type}"]
    if geometry.kernel != (1, 1, 1) or geometry.type == "conv":
        parts[0] += f" {_size(geometry.kernel)}"
    if geometry.dilation != (1, 1, 1) and geometry.type in ("conv", "max_filter") and geometry.kernel != (1, 1, 1):
        parts.append(f"dilation {_size(geometry.dilation)}")
    stride = graph.spec.edges[name].stride
    if geometry.type == "max_pool" and stride:
        parts.append(f"stride {_size(stride)}")
    if geometry.parameters:
        parts.append(f"{geometry.parameters:,} parameters")
    return " · ".join(parts)


def layout(graph: NetworkGraph) -> Diagram:
    """Place the groups of `graph`: rows by longest path from an input, branches side by side."""
    spec = graph.spec
    row: dict[str, int] = {}
    for name in graph.order:  # topological: every source of a node is placed before it
        sources = [edge.input for edge in spec.edges.values() if edge.output == name]
        row[name] = max((row[s] + 1 for s in sources), default=0)
    by_row: dict[int, list[str]] = defaultdict(list)
    for name in graph.order:
        by_row[row[name]].append(name)
    columns = max(len(names) for names in by_row.values())
    fields = receptive_fields(graph)
    nodes: dict[str, NodeBox] = {}
    for r, names in sorted(by_row.items()):
        first = (columns - len(names)) / 2  # centre the row
        for k, name in enumerate(names):
            title, detail = _node_text(graph, name, fields[name])
            nodes[name] = NodeBox(name, (first + k) * COLUMN, -r * ROW, title, detail)
    edges = []
    for name, edge in spec.edges.items():
        a, b = nodes[edge.input], nodes[edge.output]
        skip = row[edge.output] - row[edge.input] > 1  # beside the rows it passes, not over them
        x = max(a.x, b.x) + 0.55 * COLUMN if skip else a.x  # a joining branch: under its own column
        edges.append(EdgeArrow(name, edge.input, edge.output, _edge_text(graph, name), x, (a.y + b.y) / 2))
    return Diagram(nodes, tuple(edges), len(by_row), columns)


def draw(graph: NetworkGraph, path: str | Path, title: str = "") -> Path:
    """Draw `graph` into `path` (.svg, .png or .pdf, by its suffix)."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"a diagram is written as {', '.join(FORMATS)}, not '{path.suffix or path.name}'")
    diagram = layout(graph)
    skips = any(abs(e.x - diagram.nodes[e.source].x) > 1e-9 and abs(e.x - diagram.nodes[e.target].x) > 1e-9
                for e in diagram.edges)
    width = diagram.columns * COLUMN + LABEL_ROOM + (0.6 * COLUMN if skips else 0.0)
    height = diagram.rows * ROW + 0.6
    figure = Figure(figsize=(width * 1.1, height * 1.1))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(-BOX_WIDTH / 2 - 0.1, width - BOX_WIDTH / 2)
    axes.set_ylim(-(diagram.rows - 1) * ROW - 0.45, 0.45 + (0.3 if title else 0.0))
    axes.axis("off")
    if title:
        axes.text(-BOX_WIDTH / 2, 0.55, title, fontsize=10, fontweight="bold", va="center")
    for edge in diagram.edges:
        a, b = diagram.nodes[edge.source], diagram.nodes[edge.target]
        bend = 0.0 if edge.x in (a.x, b.x) else 0.25
        axes.annotate("", xy=(b.x, b.y + BOX_HEIGHT / 2), xytext=(a.x, a.y - BOX_HEIGHT / 2),
                      arrowprops=dict(arrowstyle="-|>", color="#555555", lw=1.0,
                                      connectionstyle=f"arc3,rad={bend}"))
        axes.text(edge.x + 0.08, edge.y, edge.label, fontsize=6.5, color="#1f4e79", va="center", ha="left",
                  gid=f"edge-{edge.name}",
                  bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.85))
    for node in diagram.nodes.values():
        axes.add_patch(_box(node))
        axes.text(node.x, node.y + 0.07, node.title, fontsize=7, ha="center", va="center", gid=f"node-{node.name}")
        axes.text(node.x, node.y - 0.1, node.detail, fontsize=6, ha="center", va="center", color="#444444")
    # SVG text stays text (searchable, editable in a paper's figure), and the file the same every time
    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "znn"}):
        figure.savefig(path, dpi=150, metadata={"Date": None} if path.suffix.lower() == ".svg" else None)
    return path


def _box(node: NodeBox) -> Any:
    from matplotlib.patches import FancyBboxPatch

    return FancyBboxPatch((node.x - BOX_WIDTH / 2, node.y - BOX_HEIGHT / 2), BOX_WIDTH, BOX_HEIGHT,
                          boxstyle="round,pad=0.02", facecolor="#eef3f8", edgecolor="#4a6f8a", lw=0.8)
