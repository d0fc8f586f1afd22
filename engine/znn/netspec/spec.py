"""The network description as typed objects: node groups, edge groups and the whole net.

A field that the `.znn` file did not set is `None`; the `effective_*` properties give the
value ZNN would use. Keeping "absent" distinct from "default" lets the writer and the
saved-network format reproduce exactly what the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from znn.layers.conv import DEFAULT_REPEAT
from znn.layers.crop import crop_offset
from znn.layers.dropout import keep_ratio
from znn.layers.table import edge_kind, node_kind
from znn.netspec.vocabulary import TRANSFER_FUNCTIONS, Triple, resolve_init_args


@dataclass
class NodeGroup:
    """`nodes NAME`: `size` feature maps of one type."""

    name: str
    type: str
    size: int
    function: str | None = None
    function_args: tuple[float, ...] | None = None
    init: str | None = None
    init_args: tuple[float, ...] | None = None
    eta: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    dense: int | None = None
    # Keys ZNN accepts but never reads (`load`, `seeding`, `function` on sum nodes, ...).
    extra: dict[str, str] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)
    key_lines: dict[str, int] = field(default_factory=dict, compare=False)

    kind = "nodes"

    @property
    def has_bias(self) -> bool:
        return node_kind(self.type).has_bias

    @property
    def effective_function_args(self) -> tuple[float, ...]:
        """Arguments of the transfer function with ZNN's defaults filled in."""
        if self.function is None:
            return ()
        rule = TRANSFER_FUNCTIONS[self.function]
        given = self.function_args or ()
        return tuple(given) + tuple(rule.defaults[len(given):])

    @property
    def effective_init_args(self) -> tuple[float, ...]:
        """Bias initialiser arguments with ZNN's defaults (empty without `init`)."""
        return resolve_init_args(self.init, self.init_args) if self.init else ()

    @property
    def resets_sparsity(self) -> bool:
        return bool(self.dense)

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


@dataclass
class EdgeGroup:
    """`edges NAME`: connections from the maps of `input` to the maps of `output`."""

    name: str
    type: str
    input: str
    output: str
    size: Triple | None = None
    stride: Triple | None = None
    init: str | None = None
    init_args: tuple[float, ...] | None = None
    eta: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    fft: int | None = None
    repeat: Triple | None = None
    ratio: float | None = None
    offset: Triple | None = None
    extra: dict[str, str] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)
    key_lines: dict[str, int] = field(default_factory=dict, compare=False)

    kind = "edges"

    @property
    def is_trainable(self) -> bool:
        return edge_kind(self.type).trainable

    @property
    def kernel(self) -> Triple:
        """Window of the edge: kernel or pooling size; (1,1,1) for width-one edges."""
        return edge_kind(self.type).kernel(self)

    @property
    def effective_stride(self) -> Triple:
        """The factor by which this edge multiplies the sparsity of its target (§1.5)."""
        return edge_kind(self.type).stride(self)

    @property
    def effective_repeat(self) -> Triple:
        return self.repeat or DEFAULT_REPEAT

    @property
    def effective_ratio(self) -> float:
        return keep_ratio(self)

    @property
    def effective_offset(self) -> Triple:
        return crop_offset(self)

    @property
    def effective_init_args(self) -> tuple[float, ...]:
        """Kernel initialiser arguments with ZNN's defaults."""
        return resolve_init_args(self.init, self.init_args) if self.init else ()

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


Group = NodeGroup | EdgeGroup


@dataclass
class NetSpec:
    """A whole network: node groups and edge groups, in file order."""

    nodes: dict[str, NodeGroup] = field(default_factory=dict)
    edges: dict[str, EdgeGroup] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)
    # Comment lines (without '#') found in the file, kept for the writer.
    comments: list[str] = field(default_factory=list, compare=False)
    warnings: list[str] = field(default_factory=list, compare=False)
    # (kind, name) of every group in file order, so a rewrite keeps the author's layout.
    order: list[tuple[str, str]] = field(default_factory=list, compare=False)

    @property
    def input_names(self) -> list[str]:
        """Input node groups in name order (ZNN keeps groups in a sorted map)."""
        return sorted(n for n, g in self.nodes.items() if g.type == "input")

    @property
    def output_names(self) -> list[str]:
        """Node groups without outgoing edges, in name order."""
        sources = {e.input for e in self.edges.values()}
        return sorted(n for n in self.nodes if n not in sources)

    def incoming(self, node: str) -> list[EdgeGroup]:
        return [e for e in self.edges.values() if e.output == node]

    def outgoing(self, node: str) -> list[EdgeGroup]:
        return [e for e in self.edges.values() if e.input == node]

    def group(self, name: str) -> Group:
        if name in self.nodes:
            return self.nodes[name]
        return self.edges[name]

    def parameter_count(self) -> int:
        """Trainable values: conv kernels and transfer-node biases."""
        total = 0
        for edge in self.edges.values():
            if edge.is_trainable:
                n_in = self.nodes[edge.input].size
                n_out = self.nodes[edge.output].size
                s = edge.kernel
                total += n_in * n_out * s[0] * s[1] * s[2]
        for node in self.nodes.values():
            if node.has_bias:
                total += node.size
        return total
