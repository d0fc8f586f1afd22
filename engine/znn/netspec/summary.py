"""A human-readable table of a network at a given output size (`znn info`, the plugin)."""

from __future__ import annotations

from dataclasses import dataclass

from znn.base.modes import ConvMode
from znn.layers.table import edge_kind
from znn.netspec.graph import NetworkGraph
from znn.netspec.memory import estimate_memory

COLUMNS = ("layer", "kind", "type", "maps", "kernel", "dilation", "stride", "size", "fov", "params")


@dataclass(frozen=True)
class LayerRow:
    layer: str
    kind: str
    type: str
    maps: str
    kernel: str
    dilation: str
    stride: str
    size: str
    fov: str
    params: str

    def cells(self) -> tuple[str, ...]:
        return tuple(getattr(self, c) for c in COLUMNS)


def _t(v: tuple[int, ...]) -> str:
    return "x".join(map(str, v))


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def layer_rows(graph: NetworkGraph) -> list[LayerRow]:
    """One row per node group, each preceded by the edge groups that enter it."""
    spec, rows = graph.spec, []
    for name in graph.order:
        for edge in spec.incoming(name):
            e = graph.edges[edge.name]
            kind = edge_kind(edge.type)
            stride = _t(edge.effective_stride) if kind.strided else "-"
            windowed = kind.windowed
            rows.append(LayerRow(
                edge.name, "edges", edge.type, f"{graph.nodes[e.source].maps}->{graph.nodes[e.target].maps}",
                _t(e.kernel) if windowed else "-", _t(e.dilation) if windowed else "-", stride,
                _t(e.out_size), "-", f"{e.parameters:,}" if e.parameters else "-"))
        node = graph.nodes[name]
        group = spec.nodes[name]
        label = f"{group.type}:{group.function}" if group.function else group.type
        rows.append(LayerRow(name, "nodes", label, str(node.maps), "-", _t(node.sparsity), "-",
                             _t(node.size), _t(node.fov), f"{node.maps:,}" if group.has_bias else "-"))
    return rows


def summary_text(graph: NetworkGraph, *, dtype: str = "float32", cache_spectra: bool = True) -> str:
    """The full `znn info` report: layer table, sizes, parameters and memory."""
    rows = [COLUMNS] + [r.cells() for r in layer_rows(graph)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    lines.append(f"field of view      {_t(graph.fov)}")
    for name, size in graph.input_sizes.items():
        lines.append(f"input  {name:<11} {size[0]} x {_t(size[1:])}")
    for name, size in graph.output_sizes.items():
        lines.append(f"output {name:<11} {size[0]} x {_t(size[1:])}")
    lines.append(f"dense output       {'yes' if graph.is_dense else 'no (max_pool subsamples)'}")
    lines.append(f"parameters         {graph.parameter_count:,}")
    caching = "cached" if cache_spectra else "not cached"
    estimates: tuple[tuple[str, ConvMode, bool], ...] = (("training, fft", "fft", True),
                                                         ("training, direct", "direct", True),
                                                         ("forward, fft", "fft", False))
    for label, mode, training in estimates:
        est = estimate_memory(graph, dtype=dtype, conv_mode=mode, training=training,
                              cache_spectra=cache_spectra)
        parts = ", ".join(f"{k} {human_bytes(v)}" for k, v in est.rows()[:-1] if v)
        lines.append(f"memory {label:<17} {human_bytes(est.total):>10}  ({parts})")
    lines.append(f"  ({dtype}, kernel spectra {caching})")
    return "\n".join(lines)
