"""What every layer kind provides, and the small records the engines hand to the kinds.

A *kind* is one `.znn` group type (`conv`, `max_filter`, ... for edges; `transfer`, `sum`,
... for nodes). Its module owns everything that type means: the keys the parser accepts,
how it changes map sizes and sparsity, its forward and backward on a chunk of maps, the
state it keeps between the passes, and its terms in the memory estimate and cost model.
Engines never branch on a type name: they look the kind up in `znn.layers.table`.

Arrays are (maps, z, y, x). A *chunk* is a range [a, b) of maps: of the target node in the
forward pass, of the source node in the backward pass (for one-to-one edges both are the
same maps). Kinds *write* their contribution into the `out` buffer they are given; the
engines add contributions of several edges into a node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from znn.base.modes import ConvImplMode
from znn.base.triples import Triple, triple

ONE: Triple = (1, 1, 1)


# What kinds read of the network description and its geometry. These are structural types
# (netspec's EdgeGroup, NodeGroup and EdgeGeometry have these attributes), so the kinds,
# which netspec itself consults, do not depend on netspec.
class EdgeGroup(Protocol):
    """An `edges` group as written (`znn.netspec.spec.EdgeGroup`)."""

    name: str
    type: str
    input: str
    output: str
    size: Triple | None
    stride: Triple | None
    ratio: float | None
    offset: Triple | None
    fft: int | None  # conv: ZNN's per-group FFT preference, used when no mode is given for it


class NodeGroup(Protocol):
    """A `nodes` group as written (`znn.netspec.spec.NodeGroup`)."""

    name: str
    type: str
    function: str | None

    @property
    def effective_function_args(self) -> tuple[float, ...]: ...


class EdgeGeometry(Protocol):
    """An edge group's sizes at one output patch (`znn.netspec.graph.EdgeGeometry`)."""

    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def kernel(self) -> Triple: ...
    @property
    def dilation(self) -> Triple: ...
    @property
    def in_size(self) -> Triple: ...
    @property
    def out_size(self) -> Triple: ...
    @property
    def span(self) -> Triple: ...


@dataclass(frozen=True)
class SavedState:
    """Per-voxel state an edge keeps from its forward pass for the backward pass."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class WorkTerms:
    """One edge's share of a forward pass in the cost model (see `znn.planning.forward_cost`)."""

    direct_flops: int = 0
    elementwise_ops: int = 0
    calls: int = 0


@dataclass(frozen=True)
class EdgeWork:
    """What an edge kind needs to compute one pass of one edge group.

    `saved` is the edge's forward state (arg-max indices, dropout multipliers), allocated by
    the engine from `EdgeKind.saved_state` before the pass; `grad` is dE/d(target maps) and
    is set for the backward pass only.
    """

    edge: EdgeGroup
    geo: EdgeGeometry
    src: np.ndarray
    training: bool
    saved: np.ndarray | None = None
    kernels: np.ndarray | None = None
    conv_mode: ConvImplMode = "gemm"  # conv edges: the implementation that computes this group
    grad: np.ndarray | None = None


class EdgeKind:
    """An edge type: one instance per type lives in `znn.layers.table.EDGE_KINDS`."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]  # keys the parser accepts for this type
    required: ClassVar[tuple[str, ...]]
    ignored_keys: ClassVar[tuple[str, ...]] = ()  # accepted with a warning (ZNN ignores them)
    one_to_one: ClassVar[bool] = True  # map i of the source feeds map i of the target only
    trainable: ClassVar[bool] = False  # has kernels
    windowed: ClassVar[bool] = False  # has a `size` window (kernel or pooling)
    strided: ClassVar[bool] = False  # its `stride` multiplies the sparsity of later layers
    dense: ClassVar[bool] = True  # False when it subsamples (sliding-window output impossible)
    target_node_type: ClassVar[str | None] = None  # the only node type it may feed, if any

    # ------------------------------------------------------------------ geometry

    def kernel(self, edge: EdgeGroup) -> Triple:
        """The window: kernel or pooling size; (1, 1, 1) for edges without one."""
        if self.windowed and edge.size is not None:
            return edge.size
        return ONE

    def stride(self, edge: EdgeGroup) -> Triple:
        """The factor by which the edge multiplies the sparsity of its target."""
        return ONE

    def source_extent(self, edge: EdgeGroup, fov: Triple, size: Triple, sparsity: Triple) -> tuple[Triple, Triple]:
        """(field of view, map size) the source needs so that the target gets (fov, size).

        The default is a window of `kernel` taps dilated by the source's sparsity.
        """
        k, st = self.kernel(edge), self.stride(edge)
        f = triple((fb - 1) * s + kk for fb, s, kk in zip(fov, st, k))
        s2 = triple(sb + (kk - 1) * d for sb, kk, d in zip(size, k, sparsity))
        return f, s2

    # ------------------------------------------------------------------ state, memory, cost

    def saved_state(self, geo: EdgeGeometry, maps: int, dtype: np.dtype, training: bool) -> SavedState | None:
        """The forward state the backward pass needs, or None."""
        return None

    def work(self, geo: EdgeGeometry, n_in: int, n_out: int) -> WorkTerms:
        """Cost-model terms of one forward pass; the default is one pass over the target maps."""
        return WorkTerms(elementwise_ops=n_out * int(np.prod(geo.out_size)), calls=1)

    # ------------------------------------------------------------------ passes

    def prepare(self, edge: EdgeGroup, saved: np.ndarray | None, training: bool, rng: np.random.Generator) -> None:
        """Before a forward pass, on the calling thread, in file order (dropout draws here)."""

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        """Write the contribution to target maps [a, b) into `out` (b - a maps)."""
        raise NotImplementedError

    def backward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        """Write the contribution to the gradient of source maps [a, b) into `out`."""
        raise NotImplementedError

    def kernel_grad(self, work: EdgeWork, a: int, b: int, kgrad: np.ndarray) -> None:
        """Trainable kinds: add dE/dW of target maps [a, b) into kgrad (every kernel of the group)."""
        raise TypeError(f"{self.name} edges have no kernels")


class NodeKind:
    """A node type: one instance per type lives in `znn.layers.table.NODE_KINDS`."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]
    required: ClassVar[tuple[str, ...]] = ("size",)
    ignored_keys: ClassVar[tuple[str, ...]] = ()
    has_bias: ClassVar[bool] = False
    is_input: ClassVar[bool] = False
    # True when the node combines its incoming edges itself (maxout) instead of summing them.
    combines_edges: ClassVar[bool] = False
    edge_type: ClassVar[str | None] = None  # the only edge type that may feed it, if any

    def finish_forward(self, node: NodeGroup, maps: np.ndarray, bias: np.ndarray | None) -> None:
        """After every edge has added into `maps` (a chunk): bias and transfer function, in place."""

    def finish_backward(self, node: NodeGroup, grad: np.ndarray, maps: np.ndarray) -> np.ndarray | None:
        """Turn dE/d(output) into dE/d(input) of the node in place; returns the bias gradient."""
        return None

    def combine_forward(self, sources: Sequence[np.ndarray], a: int, b: int, out: np.ndarray,
                        winner: np.ndarray) -> None:
        """Nodes that combine their edges: out = maps [a, b) from the source maps, recording in
        winner[a:b] which source each voxel came from."""
        raise TypeError(f"{self.name} nodes sum their edges")

    def combine_backward(self, grad: np.ndarray, winner: np.ndarray, k: int, a: int, b: int,
                         out: np.ndarray) -> None:
        """Nodes that combine their edges: the gradient of source k for maps [a, b)."""
        raise TypeError(f"{self.name} nodes sum their edges")

    def work(self, voxels: int) -> WorkTerms:
        return WorkTerms()
