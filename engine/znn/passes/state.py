"""What an engine is given and what it must do: the frozen pass state and the Engine protocol.

`Network` owns the description, the parameters and the choices (dtype, conv modes); it
hands an engine a `PassState` holding exactly those, and nothing else of itself. Engines
read parameters through the state, never through the network, and get a new state when
the parameters are replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from znn.base.modes import ConvImplMode
from znn.layers.base import EdgeWork
from znn.layers.table import edge_kind, node_kind
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import EdgeGroup, NetSpec
from znn.params.net_params import NetParams
from znn.passes.update import Hyper

Gradients = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]  # (kernel grads, bias grads)


@dataclass(frozen=True)
class PassState:
    """Everything an engine needs to run passes of one network at one patch size."""

    spec: NetSpec
    graph: NetworkGraph
    params: NetParams
    dtype: np.dtype
    conv_modes: Mapping[str, ConvImplMode]  # conv edge group -> the implementation that runs it
    cache_spectra: bool

    def is_input(self, node: str) -> bool:
        return node_kind(self.spec.nodes[node].type).is_input

    def edge_work(self, edge: EdgeGroup, maps: Mapping[str, np.ndarray], saved: Mapping[str, np.ndarray],
                  training: bool) -> EdgeWork:
        """The forward work record of one edge group (add `grad` for its backward pass)."""
        kernels = self.params.kernels.get(edge.name)
        return EdgeWork(edge, self.graph.edges[edge.name], maps[edge.input], training, saved.get(edge.name),
                        kernels, self.conv_modes.get(edge.name, "gemm"))

    def allocate_saved(self, saved: dict[str, np.ndarray], winners: dict[str, np.ndarray], training: bool) -> None:
        """Make sure `saved` holds every edge's forward state and `winners` the winning-edge
        index of every node that combines its edges (maxout); buffers are reused."""
        for name, edge in self.spec.edges.items():
            geo = self.graph.edges[name]
            need = edge_kind(edge.type).saved_state(geo, self.graph.nodes[geo.target].maps, self.dtype, training)
            if need is None:
                saved.pop(name, None)
                continue
            have = saved.get(name)
            if have is None or have.shape != need.shape or have.dtype != need.dtype:
                saved[name] = np.empty(need.shape, dtype=need.dtype)
        for name, node in self.spec.nodes.items():
            if node_kind(node.type).combines_edges:
                shape = (self.graph.nodes[name].maps, *self.graph.nodes[name].size)
                have = winners.get(name)
                if have is None or have.shape != shape:
                    winners[name] = np.empty(shape, dtype=np.int64)

    def prepare_edges(self, saved: Mapping[str, np.ndarray], training: bool, rng: np.random.Generator) -> None:
        """Per-pass preparation of every edge kind on the calling thread, in file order
        (dropout draws its masks here, so a run is reproducible at any thread count)."""
        for edge in self.spec.edges.values():
            edge_kind(edge.type).prepare(edge, saved.get(edge.name), training, rng)


class Engine(Protocol):
    """Runs the passes of a network on some executor (threads, one thread, ...)."""

    threads: int
    maps: dict[str, np.ndarray]  # every node's maps after the last forward pass
    grads: dict[str, np.ndarray]  # dE/d(maps) of every non-input node after the last backward

    def forward(self, inputs: Mapping[str, np.ndarray], *, training: bool, rng: np.random.Generator) -> None:
        """Compute every node's maps; afterwards `maps` holds them."""

    def backward(self, output_grads: Mapping[str, np.ndarray]) -> Gradients:
        """Gradients of every map, kernel and bias, given dE/d(output) for every output."""

    def update(self, kernel_grads: dict[str, np.ndarray], bias_grads: dict[str, np.ndarray],
               hyper_of: Callable[[str], Hyper], patch_voxels: int) -> None:
        """Apply one SGD step (may run in the background until `sync`)."""

    def set_state(self, state: PassState) -> None:
        """Use new parameters (after `sync`); cached kernel spectra are dropped."""

    def invalidate_kernel_spectra(self) -> None:
        """Parameters were changed in place: transform the kernels again before use."""

    def sync(self) -> None:
        """Wait until queued updates have been applied."""

    def close(self) -> None:
        """Release threads and large buffers."""
