"""The same network in PyTorch (CPU, batch 1): the speed peer of `znn bench` and a forward check.

A `.znn` graph becomes a list of steps in topological order, one per node group: its
incoming edges as torch operations, their sum, then bias and transfer function. ZNN's
"stride" does not subsample, it dilates every later window, so a conv edge is a Conv3d
with the dilation the geometry pass gives it (no padding, stride 1), a max_filter is a
MaxPool3d with stride 1 and that dilation, and only max_pool subsamples.

torch is an optional dependency (the `bench` extra): it is imported inside functions,
never when this module is imported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import DTypeLike

from znn.base.errors import ZnnError
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import EdgeGroup, NetSpec, NodeGroup
from znn.params.net_params import NetParams

if TYPE_CHECKING:
    import torch
    from torch import Tensor  # for annotations inside methods, where `torch` is the module from _torch()

INSTALL_HINT = "torch not installed: pip install -e '.[bench]'"


def torch_version() -> str | None:
    """The installed torch version, or None when the `bench` extra is missing."""
    try:
        import torch
    except ImportError:
        return None
    return str(torch.__version__)


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ZnnError(INSTALL_HINT) from None
    return torch


def kernels_to_torch(kernels: np.ndarray) -> np.ndarray:
    """ZNN kernels (n_in, n_out, z, y, x) as a Conv3d weight (n_out, n_in, z, y, x).

    ZNN convolves truly (flipped kernel); Conv3d cross-correlates. Flipping all three
    spatial axes makes the two agree, dilation included.
    """
    flipped = np.flip(kernels, axis=(2, 3, 4)).transpose(1, 0, 2, 3, 4)
    return np.ascontiguousarray(flipped)


def transfer_function(node: NodeGroup) -> Callable[[torch.Tensor, bool], torch.Tensor]:
    """f(v, owned) for the node's transfer function; `owned` allows an in-place ReLU."""
    torch = _torch()
    name, args = node.function, node.effective_function_args
    if name == "rectify_linear":
        return lambda v, owned: torch.relu_(v) if owned else torch.relu(v)
    if name == "linear":
        a, b = args
        if (a, b) == (1.0, 0.0):
            return lambda v, owned: v
        return lambda v, owned: v * a + b
    if name == "tanh":
        a, b = args
        return lambda v, owned: torch.tanh(v * b) * a
    if name == "soft_sign":
        return lambda v, owned: torch.nn.functional.softsign(v)
    if name in ("logistics", "forward_logistics"):
        # forward_logistics differs from logistics only in its backward (the cost
        # supplies the logit gradient); for timing a plain sigmoid is the same work.
        return lambda v, owned: torch.sigmoid(v)
    raise ZnnError(f"node '{node.name}': transfer function {name!r} has no PyTorch peer")


@dataclass
class _Step:
    """One node group: how to compute its maps from those of its sources."""

    node: NodeGroup
    edges: list[EdgeGroup]
    fused_conv: str | None  # the single conv edge whose Conv3d carries the node's bias
    transfer: Callable[[torch.Tensor, bool], torch.Tensor] | None


class TorchPeer:
    """The network `spec` for output patches `outsz` as PyTorch modules (CPU, batch 1).

    `forward({input: (maps, z, y, x)})` returns {output: tensor (1, maps, z, y, x)}.
    """

    def __init__(self, spec: NetSpec, outsz: tuple[int, int, int], *, dtype: DTypeLike = "float32",
                 train: bool = True) -> None:
        torch = _torch()
        self.spec = spec
        self.graph = NetworkGraph(spec, outsz)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ZnnError(f"dtype must be float32 or float64, not {self.dtype}")
        self.torch_dtype = torch.float32 if self.dtype == np.float32 else torch.float64
        self.train = train
        # Module containers keyed by position: group names may hold characters ('.', '-')
        # that torch does not accept as module names.
        self.convs: dict[str, Any] = {}
        self.biases: dict[str, Any] = {}  # node name -> Parameter, for nodes without a fused conv
        self.steps = [self._build_step(name) for name in self.graph.order
                      if spec.nodes[name].type != "input"]

    # ------------------------------------------------------------------ construction

    def _build_step(self, name: str) -> _Step:
        torch = _torch()
        node = self.spec.nodes[name]
        edges = self.spec.incoming(name)
        fused = None
        if node.type == "transfer" and len(edges) == 1 and edges[0].type == "conv":
            fused = edges[0].name  # the natural PyTorch layer: Conv3d with its own bias
        for edge in edges:
            if edge.type == "conv":
                geo = self.graph.edges[edge.name]
                n_in, n_out = self.spec.nodes[edge.input].size, node.size
                self.convs[edge.name] = torch.nn.Conv3d(
                    n_in, n_out, geo.kernel, stride=1, padding=0, dilation=geo.dilation,
                    bias=edge.name == fused, dtype=self.torch_dtype)
        if node.type == "transfer" and fused is None:
            self.biases[name] = torch.nn.Parameter(torch.zeros(node.size, dtype=self.torch_dtype))
        transfer = transfer_function(node) if node.type == "transfer" else None
        return _Step(node, edges, fused, transfer)

    def parameters(self) -> list[torch.Tensor]:
        """Every trainable tensor (conv weights and biases, node biases)."""
        params = [p for conv in self.convs.values() for p in conv.parameters()]
        return params + list(self.biases.values())

    def load_params(self, params: NetParams) -> None:
        """Copy ZNN kernels and biases into the PyTorch modules (kernels flipped, axes swapped)."""
        torch = _torch()
        with torch.no_grad():
            for name, conv in self.convs.items():
                conv.weight.copy_(torch.from_numpy(kernels_to_torch(params.kernels[name])))
            for step in self.steps:
                if step.node.type != "transfer":
                    continue
                bias = torch.from_numpy(np.asarray(params.biases[step.node.name]))
                target = (self.convs[step.fused_conv].bias if step.fused_conv
                          else self.biases[step.node.name])
                target.copy_(bias)

    # ------------------------------------------------------------------ forward

    def forward(self, inputs: Mapping[str, np.ndarray | torch.Tensor]) -> dict[str, torch.Tensor]:
        """Output tensors (1, maps, z, y, x) for input patches shaped (maps, z, y, x)."""
        torch = _torch()
        values: dict[str, Tensor] = {}
        for name, shape in self.graph.input_sizes.items():
            if name not in inputs:
                raise ZnnError(f"missing input '{name}': expected an array of shape {shape}")
            x = torch.as_tensor(inputs[name], dtype=self.torch_dtype)
            if tuple(x.shape) != shape:
                raise ZnnError(f"input '{name}' has shape {tuple(x.shape)}, expected {shape}")
            values[name] = x.unsqueeze(0)
        for step in self.steps:
            values[step.node.name] = self._node_forward(step, values)
        return {name: values[name] for name in self.spec.output_names}

    def _node_forward(self, step: _Step, values: dict[str, torch.Tensor]) -> torch.Tensor:
        torch = _torch()
        if step.node.type == "maxout":
            return functools.reduce(torch.maximum, [values[e.input] for e in step.edges])
        parts = [self._edge_forward(edge, values[edge.input]) for edge in step.edges]
        owned = len(parts) > 1 or step.edges[0].type == "conv"  # a fresh tensor nobody else holds
        value = parts[0] if len(parts) == 1 else functools.reduce(torch.add, parts)
        if step.transfer is None:
            return value
        if step.fused_conv is None:
            value = value + self.biases[step.node.name].view(1, -1, 1, 1, 1)
            owned = True
        return step.transfer(value, owned)

    def _edge_forward(self, edge: EdgeGroup, x: torch.Tensor) -> torch.Tensor:
        torch = _torch()
        functional = torch.nn.functional
        geo = self.graph.edges[edge.name]
        if edge.type == "conv":
            return self.convs[edge.name](x)
        if edge.type == "max_filter":
            return functional.max_pool3d(x, geo.kernel, stride=1, dilation=geo.dilation)
        if edge.type == "max_pool":
            return functional.max_pool3d(x, geo.kernel, stride=geo.kernel)
        if edge.type == "dropout":
            # ZNN's ratio is the keep probability; both scale kept values by 1/keep.
            return functional.dropout(x, p=1.0 - edge.effective_ratio, training=self.train)
        if edge.type == "crop":
            oz, oy, ox = edge.effective_offset
            z, y, w = x.shape[2:]
            return x[:, :, oz:z - oz, oy:y - oy, ox:w - ox]
        return x  # dummy, and maxout edges into a non-maxout node (summed, as in the engine)


def peer_outputs_numpy(outputs: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """{output: array (maps, z, y, x)} from the peer's batch-1 tensors."""
    return {name: t.detach()[0].numpy() for name, t in outputs.items()}
