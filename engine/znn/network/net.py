"""The runnable network: forward, backward and update over a `.znn` description.

Maps are arrays shaped (maps, z, y, x). Passes run on an engine: by default the task
engine (`znn.parallel`), which splits them into prioritised tasks on `num_threads`
workers and overlaps weight updates with the next forward; `executor="sequential"` is
the single-threaded reference that runs every node and edge in graph order.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from znn.base.errors import ZnnError
from znn.base.modes import CONV_MODES, EXECUTORS, OPTIMIZERS, PHASES, ConvImplMode, ConvMode, Executor, Optimizer, Phase
from znn.layers.conv import implementation_of, requested_mode
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.vocabulary import DEFAULT_ETA, DEFAULT_MOMENTUM, DEFAULT_WEIGHT_DECAY
from znn.netspec.znnfile import read_znn
from znn.network.sequential import SequentialEngine
from znn.parallel.engine import TaskEngine
from znn.params.init import initial_parameters
from znn.params.net_params import NetParams
from znn.passes.state import Engine, PassState
from znn.passes.update import AdamStep, Hyper


class Network:
    """A ZNN network built for one output patch size.

    conv_mode: "fft", "direct" (= "gemm", im2col + BLAS), "loop" (numba loops), or "optimize"
    (time fft, gemm and loop per conv group on the real shapes at the real thread count and
    keep the fastest; see `conv_mode_report`), or a mapping edge -> mode.
    num_threads: worker threads of the task engine, 0 = all cores.
    cache_spectra: keep kernel spectra between passes (faster, more memory).
    niceness: how much nicer than the caller its worker threads run (a GUI's choice, see
    `znn.base.niceness`); 0 leaves them as the process.
    """

    def __init__(self, spec: NetSpec, outsz: tuple[int, int, int], *, dtype: DTypeLike = "float32",
                 conv_mode: ConvMode | Mapping[str, ConvMode] = "fft", params: NetParams | None = None,
                 seed: int | None = None, phase: Phase = "train", cache_spectra: bool = True,
                 num_threads: int = 0, executor: Executor = "tasks", niceness: int = 0) -> None:
        self.spec = spec
        self.graph = NetworkGraph(spec, outsz)
        self.outsz = self.graph.outsz
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ZnnError(f"dtype must be float32 or float64, not {self.dtype}")
        if executor not in EXECUTORS:
            raise ZnnError(f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
        if not isinstance(num_threads, int) or num_threads < 0:
            raise ZnnError(f"num_threads must be a whole number >= 0 (0 = all cores), not {num_threads!r}")
        self.phase = phase
        self.set_phase(phase)
        self.cache_spectra = cache_spectra
        self._params = (params.astype(self.dtype) if params is not None
                        else initial_parameters(spec, seed, self.dtype))
        self._params.check_against(spec)
        self.rng = np.random.default_rng(seed)
        self.adam_steps = 0  # Adam updates applied to the second moments (its bias corrections need the count)
        self.kernel_grads: dict[str, np.ndarray] = {}
        self.bias_grads: dict[str, np.ndarray] = {}
        self._have_forward = False
        self.conv_mode_report: dict[str, dict] = {}
        self.conv_modes = self._resolve_conv_modes(conv_mode, num_threads)
        self._state = PassState(spec, self.graph, self._params, self.dtype, dict(self.conv_modes), cache_spectra)
        self.engine: Engine = (SequentialEngine(self._state) if executor == "sequential"
                               else TaskEngine(self._state, num_threads, niceness=niceness))
        self.num_threads = self.engine.threads
        # Worker threads end with the network even if close() is never called.
        self._finalizer = weakref.finalize(self, self.engine.close)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_file(cls, path: str | Path, outsz: tuple[int, int, int], **kwargs: object) -> Network:
        return cls(read_znn(path), outsz, **kwargs)  # type: ignore[arg-type]

    def _resolve_conv_modes(self, conv_mode: ConvMode | Mapping[str, ConvMode],
                            num_threads: int) -> dict[str, ConvImplMode]:
        modes: dict[str, ConvMode] = {}
        for name, edge in self.spec.edges.items():
            if not edge.is_trainable:  # only conv groups have a conv mode
                continue
            mode = requested_mode(edge, self.graph.edges[name].kernel, conv_mode)
            if mode not in CONV_MODES:
                raise ZnnError(f"conv mode of '{name}' must be one of {', '.join(CONV_MODES)}, not {mode!r}")
            modes[name] = mode
        if "optimize" in modes.values():
            from znn.parallel.optimize import choose_conv_modes, optimized_edges

            chosen, self.conv_mode_report = choose_conv_modes(
                self.graph, self.dtype, optimized_edges(self.graph, conv_mode), num_threads,
                training=self.phase == "train")
            modes.update(chosen)
        return {name: implementation_of(mode) for name, mode in modes.items()}

    def set_phase(self, phase: Phase) -> None:
        """'train' (dropout active) or 'test' (dropout is the identity)."""
        if phase not in PHASES:
            raise ZnnError(f"phase must be 'train' or 'test', not {phase!r}")
        self.phase = phase

    # ------------------------------------------------------------------ passes

    def forward(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Maps of every output node group for the given input patches (copies)."""
        self._check_inputs(inputs)
        self.engine.forward({n: np.asarray(inputs[n]) for n in self.graph.input_sizes},
                            training=self.phase == "train", rng=self.rng)
        self._have_forward = True
        return {name: self.engine.maps[name].copy() for name in self.spec.output_names}

    @property
    def maps(self) -> dict[str, np.ndarray]:
        """Every node's maps from the last forward pass (overwritten by the next one)."""
        return self.engine.maps

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """dE/d(maps) of every non-input node from the last backward pass."""
        return self.engine.grads

    def _check_inputs(self, inputs: Mapping[str, np.ndarray]) -> None:
        for name, shape in self.graph.input_sizes.items():
            if name not in inputs:
                raise ZnnError(f"missing input '{name}': expected an array of shape {shape}")
            if tuple(np.shape(inputs[name])) != shape:
                raise ZnnError(f"input '{name}' has shape {tuple(np.shape(inputs[name]))}, expected {shape} "
                               f"(maps, z, y, x) for output patch {self.outsz}")

    def backward(self, output_grads: Mapping[str, np.ndarray]) -> None:
        """Gradients of every map, kernel and bias, given dE/d(output) for every output."""
        if not self._have_forward:
            raise ZnnError("backward() needs a forward() pass first")
        for name in self.spec.output_names:
            if name not in output_grads:
                raise ZnnError(f"missing gradient for output '{name}'")
            expected = self.graph.output_sizes[name]
            if tuple(np.shape(output_grads[name])) != expected:
                raise ZnnError(f"gradient for '{name}' has shape {np.shape(output_grads[name])}, "
                               f"expected {expected}")
        self.kernel_grads, self.bias_grads = self.engine.backward(output_grads)

    # ------------------------------------------------------------------ update

    def hyper(self, group: str, eta: float | None, momentum: float | None,
              weight_decay: float | None) -> Hyper:
        """A group's own eta/momentum/weight_decay where its file sets them, else the given ones."""
        g = self.spec.group(group)

        def pick(own: float | None, given: float | None, default: float) -> float:
            return own if own is not None else (default if given is None else given)
        return Hyper(pick(g.eta, eta, DEFAULT_ETA), pick(g.momentum, momentum, DEFAULT_MOMENTUM),
                     pick(g.weight_decay, weight_decay, DEFAULT_WEIGHT_DECAY))

    def update(self, eta: float | None = None, momentum: float | None = None,
               weight_decay: float | None = None, *, per_layer: bool = True, optimizer: Optimizer = "sgd") -> None:
        """One step with the gradients of the last backward pass: ZNN's SGD (reference §3.3), or
        Adam (`znn.passes.update`; momentum is its beta1, `adam_steps` counts its steps).

        per_layer=False applies the given values to every group, ignoring the eta/momentum/
        weight_decay a `.znn` sets per layer, as ZNN's `train.py` does (quirk 15).
        """
        if not self.kernel_grads and not self.bias_grads:
            raise ZnnError("update() needs a backward() pass first")
        if optimizer not in OPTIMIZERS:
            raise ZnnError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {optimizer!r}")
        patch_voxels = int(np.prod(self.outsz))
        if optimizer == "adam":
            self.engine.sync()  # the buffers must exist before any update task reads them
            self._params.ensure_second_moments()
            self.adam_steps += 1

        def with_optimizer(values: Hyper) -> Hyper:
            if optimizer == "sgd":
                return values
            return replace(values, adam=AdamStep(self.adam_steps, beta1=values.momentum))

        if per_layer:
            def hyper(group: str) -> Hyper:
                return with_optimizer(self.hyper(group, eta, momentum, weight_decay))
        else:
            fixed = with_optimizer(Hyper(DEFAULT_ETA if eta is None else eta,
                                         DEFAULT_MOMENTUM if momentum is None else momentum,
                                         DEFAULT_WEIGHT_DECAY if weight_decay is None else weight_decay))

            def hyper(group: str) -> Hyper:
                return fixed
        self.engine.update(self.kernel_grads, self.bias_grads, hyper, patch_voxels)
        self.kernel_grads, self.bias_grads = {}, {}

    # ------------------------------------------------------------------ engine state

    @property
    def params(self) -> NetParams:
        """The weights; reading them waits for updates still running in the background."""
        self.engine.sync()
        return self._params

    @params.setter
    def params(self, value: NetParams) -> None:
        self.engine.sync()
        self._params = value
        self._state = replace(self._state, params=value)
        self.engine.set_state(self._state)

    def invalidate_kernel_spectra(self) -> None:
        """Call after changing weights in place: cached kernel spectra are recomputed."""
        self.engine.sync()
        self.engine.invalidate_kernel_spectra()

    def sync(self) -> None:
        """Wait for queued weight updates."""
        self.engine.sync()

    def close(self) -> None:
        """Stop the worker threads (also done when the network is garbage-collected)."""
        self.engine.sync()
        self._finalizer()
        self.engine.close()

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
