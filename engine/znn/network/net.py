"""The runnable network: forward, backward and update over a `.znn` description.

Maps are arrays shaped (maps, z, y, x). The work is split into units the scheduler of a
later stage can run on threads: per node, the contributions of its incoming edges
(transforms, products, inverse + bias + transfer); per edge, its gradients; per layer
group, its update. Here they run one after another.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from znn.errors import ZnnError
from znn.init import initial_parameters, tie_kernel_blocks
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.vocabulary import DEFAULT_ETA, DEFAULT_MOMENTUM, DEFAULT_WEIGHT_DECAY
from znn.netspec.znnfile import read_znn
from znn.network import edges as ops
from znn.network import fft_edges
from znn.network.update import Hyper, update_bias, update_kernel
from znn.params import NetParams

PHASES = ("train", "test")
CONV_MODES = ("fft", "direct")


class Network:
    """A ZNN network built for one output patch size."""

    def __init__(self, spec: NetSpec, outsz: tuple[int, int, int], *, dtype: DTypeLike = "float32",
                 conv_mode: str | Mapping[str, str] = "fft", params: NetParams | None = None,
                 seed: int | None = None, phase: str = "train", cache_spectra: bool = True) -> None:
        self.spec = spec
        self.graph = NetworkGraph(spec, outsz)
        self.outsz = self.graph.outsz
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ZnnError(f"dtype must be float32 or float64, not {self.dtype}")
        self.phase = phase
        self.set_phase(phase)
        self.conv_modes = self._resolve_conv_modes(conv_mode)
        self.params = (params.astype(self.dtype) if params is not None
                       else initial_parameters(spec, seed, self.dtype))
        self.params.check_against(spec)
        self.rng = np.random.default_rng(seed)
        self.spectra = fft_edges.SpectrumStore(cache_spectra)
        self.maps: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.kernel_grads: dict[str, np.ndarray] = {}
        self.bias_grads: dict[str, np.ndarray] = {}
        self._edge_memory: dict[str, np.ndarray] = {}  # arg-max indices, dropout masks

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_file(cls, path: str | Path, outsz: tuple[int, int, int], **kwargs: object) -> Network:
        return cls(read_znn(path), outsz, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path, outsz: tuple[int, int, int], *, spec: NetSpec | str | Path | None = None,
             **kwargs: object) -> Network:
        """A network from a saved `.h5` (ZNN layouts); the architecture from `spec` if given."""
        from znn.io.h5net import apply_saved, load_network

        saved = load_network(path)
        if spec is None:
            template = saved.spec
        elif isinstance(spec, NetSpec):
            template = spec
        else:
            template = read_znn(spec)
        dtype = kwargs.pop("dtype", saved.dtype)
        net = cls(template, outsz, dtype=dtype, **kwargs)  # type: ignore[arg-type]
        apply_saved(template, saved, net.params)
        net.spectra.invalidate_kernels()
        return net

    def save(self, path: str | Path, *, stdio: bool = True) -> None:
        from znn.io.h5net import save_network

        save_network(path, self.spec, self.params, stdio=stdio)

    def _resolve_conv_modes(self, conv_mode: str | Mapping[str, str]) -> dict[str, str]:
        modes = {}
        for name, edge in self.spec.edges.items():
            if edge.type != "conv":
                continue
            if isinstance(conv_mode, Mapping):
                mode = conv_mode.get(name, "fft" if edge.fft else "direct")
            else:
                mode = conv_mode
            if mode not in CONV_MODES:
                raise ZnnError(f"conv mode of '{name}' must be one of {', '.join(CONV_MODES)}, not {mode!r}")
            if self.graph.edges[name].kernel == (1, 1, 1):
                mode = "direct"  # a 1x1x1 kernel is a scalar product (ZNN never uses FFT for it)
            modes[name] = mode
        return modes

    def set_phase(self, phase: str) -> None:
        """'train' (dropout active) or 'test' (dropout is the identity)."""
        if phase not in PHASES:
            raise ZnnError(f"phase must be 'train' or 'test', not {phase!r}")
        self.phase = phase

    # ------------------------------------------------------------------ forward

    def forward(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Maps of every output node group for the given input patches."""
        self._check_inputs(inputs)
        self.spectra.new_pass()
        self.maps = {}
        for name in self.graph.order:
            node = self.spec.nodes[name]
            if node.type == "input":
                self.maps[name] = np.ascontiguousarray(inputs[name], dtype=self.dtype)
                continue
            self.maps[name] = self._node_forward(name)
        return {name: self.maps[name] for name in self.spec.output_names}

    def _check_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        for name, shape in self.graph.input_sizes.items():
            if name not in inputs:
                raise ZnnError(f"missing input '{name}': expected an array of shape {shape}")
            if tuple(np.shape(inputs[name])) != shape:
                raise ZnnError(f"input '{name}' has shape {tuple(np.shape(inputs[name]))}, expected {shape} "
                               f"(maps, z, y, x) for output patch {self.outsz}")

    def _node_forward(self, name: str) -> np.ndarray:
        node = self.spec.nodes[name]
        size = self.graph.nodes[name].size
        incoming = self.spec.incoming(name)
        if node.type == "maxout":
            return self._maxout_forward(name, incoming)
        acc = np.zeros((node.size, *size), dtype=self.dtype)
        fft_group = []
        for edge in incoming:
            geo = self.graph.edges[edge.name]
            src = self.maps[edge.input]
            if edge.type == "conv":
                kernels = self.params.kernels[edge.name]
                if self.conv_modes[edge.name] == "fft":
                    fft_group.append((edge.name, geo, src, kernels))
                else:
                    ops.direct_conv_forward(src, kernels, geo, acc)
            elif edge.type == "max_filter":
                self._edge_memory[edge.name] = ops.max_filter_forward(src, geo, acc)
            elif edge.type == "max_pool":
                self._edge_memory[edge.name] = ops.max_pool_forward(src, geo, acc)
            elif edge.type == "dropout":
                if self.phase == "train":
                    mask = ops.dropout_mask(src.shape, edge.effective_ratio, self.rng, self.dtype)
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
            ops.transfer_forward(node.function, node.effective_function_args, acc, self.params.biases[name])
        return acc

    def _maxout_forward(self, name: str, incoming: list) -> np.ndarray:
        """Element-wise max over the incoming maxout edges; remembers the winning edge."""
        stacked = np.stack([self.maps[e.input] for e in incoming])
        winner = np.argmax(stacked, axis=0)  # ties: the first edge in file order wins
        self._edge_memory[name] = winner
        return np.take_along_axis(stacked, winner[None], axis=0)[0].astype(self.dtype)

    # ------------------------------------------------------------------ backward

    def backward(self, output_grads: Mapping[str, np.ndarray]) -> None:
        """Gradients of every map, kernel and bias, given dE/d(output) for every output."""
        if not self.maps:
            raise ZnnError("backward() needs a forward() pass first")
        self.grads = {}
        self.kernel_grads = {}
        self.bias_grads = {}
        for name in self.spec.output_names:
            if name not in output_grads:
                raise ZnnError(f"missing gradient for output '{name}'")
            expected = self.maps[name].shape
            if tuple(np.shape(output_grads[name])) != expected:
                raise ZnnError(f"gradient for '{name}' has shape {np.shape(output_grads[name])}, "
                               f"expected {expected}")
            self.grads[name] = np.array(output_grads[name], dtype=self.dtype, copy=True)
        fft_sums: dict[str, list[np.ndarray]] = {}
        for name in reversed(self.graph.order):
            node = self.spec.nodes[name]
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

    def _grad_of(self, source: str) -> np.ndarray | None:
        if self.spec.nodes[source].type == "input":
            return None
        return self.grads.setdefault(source, np.zeros_like(self.maps[source]))

    def _node_backward(self, name: str, grad: np.ndarray, fft_sums: dict[str, list[np.ndarray]]) -> None:
        incoming = self.spec.incoming(name)
        if self.spec.nodes[name].type == "maxout":
            winner = self._edge_memory[name]
            for k, edge in enumerate(incoming):
                grad_src = self._grad_of(edge.input)
                if grad_src is not None:
                    grad_src += np.where(winner == k, grad, 0)
            return
        for edge in incoming:
            geo = self.graph.edges[edge.name]
            src = self.maps[edge.input]
            grad_src = self._grad_of(edge.input)
            if edge.type == "conv":
                kernels = self.params.kernels[edge.name]
                if self.conv_modes[edge.name] == "fft":
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
                grad_src += grad * self._edge_memory[edge.name] if self.phase == "train" else grad
            elif edge.type == "crop":
                ops.crop_backward(grad, edge, grad_src)
            else:  # dummy
                grad_src += grad

    # ------------------------------------------------------------------ update

    def hyper(self, group: str, eta: float | None, momentum: float | None,
              weight_decay: float | None) -> Hyper:
        """A group's own eta/momentum/weight_decay where its file sets them, else the given ones."""
        g = self.spec.group(group)
        pick = (lambda own, given, default: own if own is not None else (default if given is None else given))
        return Hyper(pick(g.eta, eta, DEFAULT_ETA), pick(g.momentum, momentum, DEFAULT_MOMENTUM),
                     pick(g.weight_decay, weight_decay, DEFAULT_WEIGHT_DECAY))

    def update(self, eta: float | None = None, momentum: float | None = None,
               weight_decay: float | None = None) -> None:
        """One SGD step with the gradients of the last backward pass (reference §3.3)."""
        if not self.kernel_grads and not self.bias_grads:
            raise ZnnError("update() needs a backward() pass first")
        patch_voxels = int(np.prod(self.outsz))
        for name, grad in self.kernel_grads.items():
            hyper = self.hyper(name, eta, momentum, weight_decay)
            kernels = self.params.kernels[name]
            update_kernel(kernels, self.params.kernel_momentum[name], grad, hyper, patch_voxels)
            repeat = self.spec.edges[name].effective_repeat
            if repeat != (1, 1, 1):
                kernels[...] = tie_kernel_blocks(kernels, repeat)
        for name, grad in self.bias_grads.items():
            hyper = self.hyper(name, eta, momentum, weight_decay)
            update_bias(self.params.biases[name], self.params.bias_momentum[name], grad, hyper, patch_voxels)
        self.spectra.invalidate_kernels()
        self.kernel_grads, self.bias_grads = {}, {}
