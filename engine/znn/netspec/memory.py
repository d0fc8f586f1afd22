"""Memory estimate of a network at a given patch size, in bytes, by kind of buffer.

Counts what the engine keeps alive during one update (or one forward pass):
* activations: every feature map; gradients: one per non-input map (training only);
* edge buffers: what each edge kind keeps for its backward pass (arg-max indices of
  pooling edges, dropout masks) and the winning edge per voxel of maxout nodes;
* parameters: kernels and biases, plus momentum and gradient buffers when training;
* spectra (FFT convolutions): one spectrum per source map, shared by its outgoing FFT
  edges; the frequency-domain accumulators of each target map; gradient spectra when
  training; and, while spectrum caching is on, one spectrum per kernel;
* products (direct convolution by BLAS products): per group, the padded and widened output
  gradient, a partial kernel gradient per block, and its own output or input gradient where
  it shares a node with other edges;
* scratch (only when `num_threads` is given): each worker thread's FFTW plan buffers (one
  real map and one spectrum per direction and transform shape) and its product buffer.
FFT extents are padded to FFTW-friendly sizes (products of 2, 3, 5, 7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from math import prod

import numpy as np

from znn.base.modes import ConvImplMode, ConvMode
from znn.fft.fftsize import fft_shape, fft_size, spectrum_elements
from znn.layers.conv import planned_implementation, requested_mode
from znn.layers.conv_gemm import forward_blocks, kernel_grad_shape, pass_buffers_bytes, workspace_bytes
from znn.layers.table import edge_kind, node_kind
from znn.netspec.graph import NetworkGraph

INDEX_BYTES = 8  # maxout winners are stored as int64

__all__ = ["MemoryEstimate", "estimate_memory", "fft_shape", "fft_size", "largest_layer", "spectrum_elements",
           "uses_fft"]


@dataclass(frozen=True)
class MemoryEstimate:
    activations: int
    gradients: int
    edge_buffers: int
    parameters: int
    spectra: int
    products: int = 0  # direct (gemm) convolution: gradient copies, partial kernel gradients, outputs
    scratch: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def rows(self) -> list[tuple[str, int]]:
        return [(f.name.replace("_", " "), getattr(self, f.name)) for f in fields(self)
                if f.name not in ("products", "scratch") or getattr(self, f.name)] + [("total", self.total)]


def conv_implementation(graph: NetworkGraph, edge_name: str,
                        conv_mode: ConvMode | Mapping[str, ConvMode]) -> ConvImplMode | None:
    """The implementation a conv edge runs (None for other edges), by the engine's rules;
    `optimize` counts as fft, the mode that needs the most memory."""
    edge = graph.edges[edge_name]
    if not edge_kind(edge.type).trainable:
        return None
    return planned_implementation(requested_mode(graph.spec.edges[edge_name], edge.kernel, conv_mode))


def uses_fft(graph: NetworkGraph, edge_name: str, conv_mode: ConvMode | Mapping[str, ConvMode]) -> bool:
    """Whether a conv edge runs in the frequency domain (1x1x1 kernels never do)."""
    return conv_implementation(graph, edge_name, conv_mode) == "fft"


def estimate_memory(graph: NetworkGraph, *, dtype: str | np.dtype = "float32",
                    conv_mode: ConvMode | Mapping[str, ConvMode] = "fft", training: bool = True,
                    cache_spectra: bool = True, num_threads: int = 0) -> MemoryEstimate:
    """Bytes held by the engine for one update (training) or one forward pass."""
    real = np.dtype(dtype).itemsize
    complex_bytes = 2 * real
    nodes = graph.nodes

    activations = sum(n.voxels for n in nodes.values()) * real
    gradients = sum(n.voxels for n in nodes.values() if n.type != "input") * real if training else 0

    edge_buffers = 0
    for e in graph.edges.values():  # what each edge keeps for the backward pass
        saved = edge_kind(e.type).saved_state(e, nodes[e.target].maps, np.dtype(dtype), training)
        edge_buffers += saved.nbytes if saved is not None else 0
    for n in nodes.values():
        if node_kind(n.type).combines_edges:  # maxout remembers the winning edge per voxel
            edge_buffers += n.voxels * INDEX_BYTES

    copies = 3 if training else 1  # value, momentum, gradient
    parameters = graph.parameter_count * real * copies

    spectra = 0
    sources_done: set[str] = set()
    for name, e in graph.edges.items():
        if not uses_fft(graph, name, conv_mode):
            continue
        n_in, n_out = nodes[e.source].maps, nodes[e.target].maps
        per_map = spectrum_elements(e.in_size) * complex_bytes
        if e.source not in sources_done:  # input spectra shared by all outgoing edges
            spectra += n_in * per_map
            sources_done.add(e.source)
        spectra += n_out * per_map  # forward accumulators of the target maps
        if training:
            spectra += n_out * per_map  # gradient spectra of the target maps
            spectra += n_in * per_map  # accumulators of the input gradient
        spectra += (n_in * n_out if cache_spectra else n_out) * per_map
    shapes = {fft_shape(e.in_size) for name, e in graph.edges.items() if uses_fft(graph, name, conv_mode)}
    per_thread = sum(2 * (prod(N) * real + spectrum_elements(N) * complex_bytes) for N in shapes)
    products, gemm_scratch = 0, 0
    for name in graph.edges:
        if conv_implementation(graph, name, conv_mode) == "gemm":
            held, thread_bytes = gemm_memory(graph, name, real, training, num_threads)
            products += held
            gemm_scratch = max(gemm_scratch, thread_bytes)  # one buffer per thread, grown to the largest
    return MemoryEstimate(activations, gradients, edge_buffers, parameters, spectra, products,
                          num_threads * (per_thread + gemm_scratch))


def largest_layer(graph: NetworkGraph, *, dtype: str | np.dtype = "float32",
                  conv_mode: ConvMode | Mapping[str, ConvMode] = "fft", training: bool = True,
                  cache_spectra: bool = True) -> tuple[str, str, int]:
    """(name, what, bytes) of the layer that holds the most of `estimate_memory`'s total: a node's
    maps ('activations', with their 'gradients' when training) or an FFT convolution's 'spectra'
    (its share as counted there, the input spectra with the first edge of a source)."""
    real = np.dtype(dtype).itemsize
    best = ("", "activations", -1)
    for name, node in graph.nodes.items():
        with_grads = training and node.type != "input"
        held = node.voxels * real * (2 if with_grads else 1)
        if held > best[2]:
            best = (name, "activations and gradients" if with_grads else "activations", held)
    sources_done: set[str] = set()
    for name, e in graph.edges.items():
        if not uses_fft(graph, name, conv_mode):
            continue
        n_in, n_out = graph.nodes[e.source].maps, graph.nodes[e.target].maps
        maps = n_out + (n_out + n_in if training else 0) + (n_in * n_out if cache_spectra else n_out)
        if e.source not in sources_done:
            maps += n_in
            sources_done.add(e.source)
        held = maps * spectrum_elements(e.in_size) * 2 * real
        if held > best[2]:
            best = (name, "spectra", held)
    return best


def gemm_memory(graph: NetworkGraph, name: str, itemsize: int, training: bool, n_threads: int) -> tuple[int, int]:
    """(bytes one pass keeps for this gemm group, bytes of one thread's scratch for it).

    A pass keeps: the group's own output unless it is its target's only contribution; when
    training, the padded and widened output gradient, one partial kernel gradient per block,
    and its own input gradient unless it is its source's only gradient (the task engine's
    `GemmEdge` holds exactly these)."""
    spec = graph.spec
    edge, geo = spec.edges[name], graph.edges[name]
    n_in, n_out = graph.nodes[geo.source].maps, graph.nodes[geo.target].maps
    threads = max(1, n_threads)
    held = 0
    if len(spec.incoming(edge.output)) > 1:
        held += n_out * prod(geo.out_size) * itemsize
    if training:
        held += pass_buffers_bytes(geo, n_in, n_out, itemsize, training)
        held += len(forward_blocks(geo, threads)) * prod(kernel_grad_shape(geo, n_in, n_out)) * itemsize
        if graph.nodes[geo.source].type != "input" and (len(spec.outgoing(edge.input)) > 1
                                                          or edge.input in spec.output_names):
            held += n_in * prod(geo.in_size) * itemsize
    return held, workspace_bytes(geo, n_in, n_out, itemsize, threads)
