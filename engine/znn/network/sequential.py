"""The single-threaded reference engine: every node and edge in graph order, one at a time.

Kept as the plain statement of the algorithm that the task engine must reproduce; tests
compare the two on whole networks. Select it with Network(..., executor="sequential").
Each edge's work is its kind's forward/backward over all maps at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np

from znn.layers.table import edge_kind, node_kind
from znn.params.init import tie_kernel_blocks
from znn.passes.state import Gradients, PassState
from znn.passes.update import Hyper, update_bias, update_kernel


class SequentialEngine:
    """Forward/backward/update of a network on the calling thread."""

    threads = 1

    def __init__(self, state: PassState) -> None:
        self.state = state
        self.maps: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.saved: dict[str, np.ndarray] = {}  # edge -> forward state (arg-max, dropout)
        self.winners: dict[str, np.ndarray] = {}  # maxout node -> winning edge per voxel
        self.training = False

    def close(self) -> None:
        pass

    def sync(self) -> None:
        pass

    def set_state(self, state: PassState) -> None:
        self.state = state

    def invalidate_kernel_spectra(self) -> None:
        pass  # nothing is cached between passes

    # ------------------------------------------------------------------ forward

    def forward(self, inputs: Mapping[str, np.ndarray], *, training: bool, rng: np.random.Generator) -> None:
        state = self.state
        self.training = training
        state.allocate_saved(self.saved, self.winners, training)
        state.prepare_edges(self.saved, training, rng)
        self.maps = {}
        for name in state.graph.order:
            if state.is_input(name):
                self.maps[name] = np.ascontiguousarray(inputs[name], dtype=state.dtype)
            else:
                self.maps[name] = self._node_forward(name)

    def _node_forward(self, name: str) -> np.ndarray:
        state = self.state
        node = state.spec.nodes[name]
        kind = node_kind(node.type)
        geo = state.graph.nodes[name]
        acc = np.zeros((geo.maps, *geo.size), dtype=state.dtype)
        incoming = state.spec.incoming(name)
        if kind.combines_edges:
            kind.combine_forward([self.maps[e.input] for e in incoming], 0, geo.maps, acc, self.winners[name])
            return acc
        buf = np.empty_like(acc)
        for edge in incoming:
            work = state.edge_work(edge, self.maps, self.saved, self.training)
            edge_kind(edge.type).forward(work, 0, geo.maps, buf)
            acc += buf
        kind.finish_forward(node, acc, state.params.biases.get(name))
        return acc

    # ------------------------------------------------------------------ backward

    def backward(self, output_grads: Mapping[str, np.ndarray]) -> Gradients:
        state = self.state
        self.grads = {name: np.array(output_grads[name], dtype=state.dtype, copy=True)
                      for name in state.spec.output_names}
        kernel_grads: dict[str, np.ndarray] = {}
        bias_grads: dict[str, np.ndarray] = {}
        for name in reversed(state.graph.order):
            if state.is_input(name):
                continue
            node = state.spec.nodes[name]
            grad = self.grads.setdefault(name, np.zeros_like(self.maps[name]))
            bias_grad = node_kind(node.type).finish_backward(node, grad, self.maps[name])
            if bias_grad is not None:
                bias_grads[name] = bias_grad
            self._node_backward(name, grad, kernel_grads)
        return kernel_grads, bias_grads

    def _grad_of(self, source: str) -> np.ndarray | None:
        if self.state.is_input(source):
            return None
        return self.grads.setdefault(source, np.zeros_like(self.maps[source]))

    def _node_backward(self, name: str, grad: np.ndarray, kernel_grads: dict[str, np.ndarray]) -> None:
        state = self.state
        node_type = node_kind(state.spec.nodes[name].type)
        for k, edge in enumerate(state.spec.incoming(name)):
            grad_src = self._grad_of(edge.input)
            kind = edge_kind(edge.type)
            work = replace(state.edge_work(edge, self.maps, self.saved, self.training), grad=grad)
            if kind.trainable:
                kgrad = kernel_grads[edge.name] = np.zeros_like(state.params.kernels[edge.name])
                kind.kernel_grad(work, 0, grad.shape[0], kgrad)
            if grad_src is None:
                continue
            buf = np.empty_like(grad_src)
            if node_type.combines_edges:
                node_type.combine_backward(grad, self.winners[name], k, 0, grad.shape[0], buf)
            else:
                kind.backward(work, 0, grad_src.shape[0], buf)
            grad_src += buf

    # ------------------------------------------------------------------ update

    def update(self, kernel_grads: dict[str, np.ndarray], bias_grads: dict[str, np.ndarray],
               hyper_of: Callable[[str], Hyper], patch_voxels: int) -> None:
        params = self.state.params
        for name, grad in kernel_grads.items():
            kernels = params.kernels[name]
            update_kernel(kernels, params.kernel_momentum[name], grad, hyper_of(name), patch_voxels,
                          params.kernel_second.get(name))
            repeat = self.state.spec.edges[name].effective_repeat
            if repeat != (1, 1, 1):
                kernels[...] = tie_kernel_blocks(kernels, repeat)
        for name, grad in bias_grads.items():
            update_bias(params.biases[name], params.bias_momentum[name], grad, hyper_of(name), patch_voxels,
                        params.bias_second.get(name))
