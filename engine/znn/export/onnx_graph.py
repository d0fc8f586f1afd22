"""A network and its weights as an ONNX graph, built with the `onnx` package (no PyTorch).

ZNN's dense sliding-window layers are standard operators: a convolution is a `Conv` (ONNX
correlates, ZNN convolves: the kernel is flipped and its in/out axes swapped) dilated by the
sparsity of its source; a max-filter is a stride-1 `MaxPool` with the same dilations; a max_pool a
`MaxPool` with strides equal to its window; a node group sums its incoming edges (`Sum`), adds its
biases and applies its transfer function; dropout at inference is the identity; a crop a `Slice`;
a maxout node the element-wise `Max` of its edges. Tensors are (1, maps, z, y, x) with free
spatial sizes, so one file runs on every input size the network accepts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from znn.base.errors import ZnnError
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import EdgeGroup, NetSpec, NodeGroup

OPSET = 17
PRODUCER = "znn"


class ExportError(ZnnError):
    """A network that cannot be written as ONNX (a group without a standard equivalent)."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:  # the base install stays lean
        raise ExportError("exporting needs the 'export' extra: pip install 'napari-znn[export]' "
                          "(onnx, onnxruntime, bioimageio.spec)") from None
    return onnx


@dataclass
class _Builder:
    spec: NetSpec
    geometry: NetworkGraph
    kernels: Mapping[str, np.ndarray]
    biases: Mapping[str, np.ndarray]
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)

    def constant(self, name: str, value: Any) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], output: str, **attributes: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(kind, inputs, [output], name=output, **attributes))
        return output


def _conv(b: _Builder, edge: EdgeGroup, source: str) -> str:
    kernels = np.asarray(b.kernels[edge.name], dtype=np.float32)  # (n_in, n_out, kz, ky, kx), convolved
    weights = np.ascontiguousarray(np.flip(kernels.transpose(1, 0, 2, 3, 4), axis=(2, 3, 4)))
    w = b.constant(f"{edge.name}.W", weights)
    return b.op("Conv", [source, w], f"{edge.name}.out", dilations=list(b.geometry.edges[edge.name].dilation),
                kernel_shape=list(weights.shape[2:]), strides=[1, 1, 1])


def _max_filter(b: _Builder, edge: EdgeGroup, source: str) -> str:
    geo = b.geometry.edges[edge.name]
    return b.op("MaxPool", [source], f"{edge.name}.out", kernel_shape=list(geo.kernel),
                dilations=list(geo.dilation), strides=[1, 1, 1])


def _max_pool(b: _Builder, edge: EdgeGroup, source: str) -> str:
    geo = b.geometry.edges[edge.name]
    if geo.dilation != (1, 1, 1):
        raise ExportError(f"group '{edge.name}': a max_pool after a strided max-filter (taps "
                          f"{'x'.join(map(str, geo.dilation))} apart) has no ONNX equivalent here")
    return b.op("MaxPool", [source], f"{edge.name}.out", kernel_shape=list(geo.kernel), strides=list(geo.kernel))


def _identity(b: _Builder, edge: EdgeGroup, source: str) -> str:
    return b.op("Identity", [source], f"{edge.name}.out")  # dropout at inference, maxout and dummy edges


def _crop(b: _Builder, edge: EdgeGroup, source: str) -> str:
    offset = list(edge.effective_offset)
    starts = b.constant(f"{edge.name}.starts", np.array(offset, dtype=np.int64))
    big = np.iinfo(np.int64).max
    ends = b.constant(f"{edge.name}.ends", np.array([-o if o else big for o in offset], dtype=np.int64))
    axes = b.constant(f"{edge.name}.axes", np.array([2, 3, 4], dtype=np.int64))
    return b.op("Slice", [source, starts, ends, axes], f"{edge.name}.out")


EDGES: dict[str, Callable[[_Builder, EdgeGroup, str], str]] = {
    "conv": _conv, "max_filter": _max_filter, "max_pool": _max_pool, "dropout": _identity, "crop": _crop,
    "maxout": _identity, "dummy": _identity}


def _transfer(b: _Builder, node: NodeGroup, summed: str) -> str:
    bias = np.asarray(b.biases[node.name], dtype=np.float32).reshape(1, -1, 1, 1, 1)
    x = b.op("Add", [summed, b.constant(f"{node.name}.bias", bias)], f"{node.name}.biased")
    function = node.function
    a, c = (node.effective_function_args + (0.0, 0.0))[:2]
    if function == "linear":
        if (a, c) == (1.0, 0.0):
            return x
        scaled = b.op("Mul", [x, b.constant(f"{node.name}.a", np.float32(a))], f"{node.name}.scaled")
        return b.op("Add", [scaled, b.constant(f"{node.name}.b", np.float32(c))], f"{node.name}.linear")
    if function == "rectify_linear":
        return b.op("Relu", [x], f"{node.name}.relu")
    if function == "tanh":  # a * tanh(b * x)
        inner = b.op("Mul", [x, b.constant(f"{node.name}.b", np.float32(c))], f"{node.name}.bx")
        t = b.op("Tanh", [inner], f"{node.name}.tanh")
        return b.op("Mul", [t, b.constant(f"{node.name}.a", np.float32(a))], f"{node.name}.atanh")
    if function == "soft_sign":
        return b.op("Softsign", [x], f"{node.name}.softsign")
    if function in ("logistics", "forward_logistics"):
        return b.op("Sigmoid", [x], f"{node.name}.sigmoid")
    raise ExportError(f"group '{node.name}': transfer function '{function}' has no ONNX equivalent here")


def build_onnx(spec: NetSpec, kernels: Mapping[str, np.ndarray], biases: Mapping[str, np.ndarray], *,
               softmax: bool = False, doc: str = "", network_text: str | None = None) -> Any:
    """The ONNX model of `spec` with these weights; `softmax` adds the channel softmax the forward
    pass applies to the outputs of softmax-cost (boundary) networks. Raises ExportError naming a
    group that has no standard equivalent. `network_text` (the `.znn`) is kept in the metadata."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    geometry = NetworkGraph(spec, (1, 1, 1))
    b = _Builder(spec, geometry, kernels, biases)
    values: dict[str, str] = {}
    for name in geometry.order:
        node = spec.nodes[name]
        if node.type == "input":
            values[name] = name
            continue
        edges = spec.incoming(name)
        outs = []
        for edge in edges:
            emit = EDGES.get(edge.type)
            if emit is None:
                raise ExportError(f"group '{edge.name}': edge type '{edge.type}' has no ONNX equivalent")
            outs.append(emit(b, edge, values[edge.input]))
        if node.type == "maxout":
            combined = b.op("Max", outs, f"{name}.max") if len(outs) > 1 else outs[0]
        else:
            combined = b.op("Sum", outs, f"{name}.sum") if len(outs) > 1 else outs[0]
        if node.type == "transfer":
            combined = _transfer(b, node, combined)
        elif node.type not in ("sum", "maxout"):
            raise ExportError(f"group '{name}': node type '{node.type}' has no ONNX equivalent")
        values[name] = combined
    outputs = []
    for name in spec.output_names:
        final = values[name]
        if softmax:
            final = b.op("Softmax", [final], f"{name}.softmax", axis=1)
        outputs.append(b.op("Identity", [final], name) if final != name else name)
    dims = ["batch", "maps", "z", "y", "x"]  # any batch: samples are independent

    def value(name: str, maps: int) -> Any:
        shape: list[str | int | None] = ["batch", maps, *(f"{name}_{d}" for d in dims[2:])]
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(b.nodes, "znn", [value(n, spec.nodes[n].size) for n in spec.input_names],
                              [value(n, spec.nodes[n].size) for n in spec.output_names], b.initializers)
    model = helper.make_model(graph, producer_name=PRODUCER, opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string=doc)
    model.ir_version = 8  # what onnxruntime releases of the last years all read
    if network_text is not None:  # so that `znn import` gets the network back exactly
        helper.set_model_props(model, {"znn.network": network_text})
    onnx.checker.check_model(model)
    return model
