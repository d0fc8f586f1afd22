"""The single-threaded reference engine: every node and edge in graph order, one at a time.

Kept as the plain statement of the algorithm that the task engine must reproduce; tests
compare the two on whole networks. Select it with Network(..., executor="sequential").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from znn.errors import ZnnError
from znn.init import tie_kernel_blocks
from znn.network import edges as ops
from znn.network import fft_edges
from znn.network.update import update_bias, update_kernel

if TYPE_CHECKING:
    from znn.network.net import Network


class SequentialEngine:
    """Forward/backward/update of `net` on the calling thread."""

    def __init__(self, net: Network, cache_spectra: bool) -> None:
        self.net = net
        self.spectra = fft_edges.SpectrumStore(cache_spectra)
        self.maps: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._edge_memory: dict[str, np.ndarray] = {}

    def close(self) -> None:
        pass

    def sync(self) -> None:
        pass

    def invalidate_kernel_spectra(self) -> None:
        self.spectra.invalidate_kernels()

    # ------------------------------------------------------------------ forward

    def forward(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Maps of every output node group for the given input patches."""
        self.spectra.new_pass()
        self.maps = {}
        for name in self.net.graph.order:
            node = self.net.spec.nodes[name]
            if node.type == "input":
                self.maps[name] = np.ascontiguousarray(inputs[name], dtype=self.net.dtype)
                continue
            self.maps[name] = self._node_forward(name)
        return {name: self.maps[name] for name in self.net.spec.output_names}

    def _node_forward(self, name: str) -> np.ndarray:
        node = self.net.spec.nodes[name]
        size = self.net.graph.nodes[name].size
        incoming = self.net.spec.incoming(name)
        if node.type == "maxout":
            return self._maxout_forward(name, incoming)
        acc = np.zeros((node.size, *size), dtype=self.net.dtype)
        fft_group = []
        for edge in incoming:
            geo = self.net.graph.edges[edge.name]
            src = self.maps[edge.input]
            if edge.type == "conv":
                kernels = self.net._params.kernels[edge.name]
                if self.net.conv_modes[edge.name] == "fft":
                    fft_group.append((edge.name, geo, src, kernels))
                else:
                    ops.direct_conv_forward(src, kernels, geo, acc)
            elif edge.type == "max_filter":
                self._edge_memory[edge.name] = ops.max_filter_forward(src, geo, acc)
            elif edge.type == "max_pool":
                self._edge_memory[edge.name] = ops.max_pool_forward(src, geo, acc)
            elif edge.type == "dropout":
                if self.net.phase == "train":
                    mask = ops.dropout_mask(src.shape, edge.effective_ratio, self.net.rng, self.net.dtype)
                    self._edge_memory[edge.name] = mask
                    acc += src * mask
                else:
                    acc += src
            elif edge.type == "crop":
                ops.crop_forward(src, edge, acc)
            else:  # dummy
                acc += src
        if fft_group:
            fft_edges.forward_into(acc, fft_group, self.spectra)
        if node.type == "transfer":
            ops.transfer_forward(node.function, node.effective_function_args, acc, self.net._params.biases[name])
        return acc

    def _maxout_forward(self, name: str, incoming: list) -> np.ndarray:
        """Element-wise max over the incoming maxout edges; remembers the winning edge."""
        stacked = np.stack([self.maps[e.input] for e in incoming])
        winner = np.argmax(stacked, axis=0)  # ties: the first edge in file order wins
        self._edge_memory[name] = winner
        return np.take_along_axis(stacked, winner[None], axis=0)[0].astype(self.net.dtype)

    # ------------------------------------------------------------------ backward

    def backward(self, output_grads: Mapping[str, np.ndarray]) -> tuple[dict, dict]:
        """Gradients of every map, kernel and bias, given dE/d(output) for every output."""
        if not self.maps:
            raise ZnnError("backward() needs a forward() pass first")
        self.grads = {}
        self.kernel_grads = {}
        self.bias_grads = {}
        for name in self.net.spec.output_names:
            if name not in output_grads:
                raise ZnnError(f"missing gradient for output '{name}'")
            expected = self.maps[name].shape
            if tuple(np.shape(output_grads[name])) != expected:
                raise ZnnError(f"gradient for '{name}' has shape {np.shape(output_grads[name])}, "
                               f"expected {expected}")
            self.grads[name] = np.array(output_grads[name], dtype=self.net.dtype, copy=True)
        fft_sums: dict[str, list[np.ndarray]] = {}
        for name in reversed(self.net.graph.order):
            node = self.net.spec.nodes[name]
            if node.type == "input":
                continue
            if name in fft_sums:
                grad_here = self.grads.setdefault(name, np.zeros_like(self.maps[name]))
                fft_edges.finish_input_gradient(grad_here, fft_sums.pop(name))
            grad = self.grads.setdefault(name, np.zeros_like(self.maps[name]))
            if node.type == "transfer":
                ops.transfer_backward(node.function, node.effective_function_args, grad, self.maps[name])
                self.bias_grads[name] = grad.sum(axis=(1, 2, 3))
            self._node_backward(name, grad, fft_sums)

        return self.kernel_grads, self.bias_grads

    def _grad_of(self, source: str) -> np.ndarray | None:
        if self.net.spec.nodes[source].type == "input":
            return None
        return self.grads.setdefault(source, np.zeros_like(self.maps[source]))

    def _node_backward(self, name: str, grad: np.ndarray, fft_sums: dict[str, list[np.ndarray]]) -> None:
        incoming = self.net.spec.incoming(name)
        if self.net.spec.nodes[name].type == "maxout":
            winner = self._edge_memory[name]
            for k, edge in enumerate(incoming):
                grad_src = self._grad_of(edge.input)
                if grad_src is not None:
                    grad_src += np.where(winner == k, grad, 0)
            return
        for edge in incoming:
            geo = self.net.graph.edges[edge.name]
            src = self.maps[edge.input]
            grad_src = self._grad_of(edge.input)
            if edge.type == "conv":
                kernels = self.net._params.kernels[edge.name]
                if self.net.conv_modes[edge.name] == "fft":
                    sums = fft_sums if grad_src is not None else None
                    self.kernel_grads[edge.name] = fft_edges.backward_from(
                        grad, geo, edge.name, kernels, self.spectra, src, sums)
                else:
                    self.kernel_grads[edge.name] = ops.direct_conv_backward(src, kernels, geo, grad, grad_src)
            elif grad_src is None:
                continue
            elif edge.type in ("max_filter", "max_pool"):
                ops.pool_backward(grad, self._edge_memory[edge.name], grad_src)
            elif edge.type == "dropout":
                grad_src += grad * self._edge_memory[edge.name] if self.net.phase == "train" else grad
            elif edge.type == "crop":
                ops.crop_backward(grad, edge, grad_src)
            else:  # dummy
                grad_src += grad

    # ------------------------------------------------------------------ update

    def update(self, kernel_grads: dict, bias_grads: dict, hyper_of, patch_voxels: int) -> None:  # noqa: ANN001
        params = self.net._params
        for name, grad in kernel_grads.items():
            kernels = params.kernels[name]
            update_kernel(kernels, params.kernel_momentum[name], grad, hyper_of(name), patch_voxels)
            repeat = self.net.spec.edges[name].effective_repeat
            if repeat != (1, 1, 1):
                kernels[...] = tie_kernel_blocks(kernels, repeat)
        for name, grad in bias_grads.items():
            update_bias(params.biases[name], params.bias_momentum[name], grad, hyper_of(name), patch_voxels)
        self.spectra.invalidate_kernels()
