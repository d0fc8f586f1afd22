"""Cost model of one forward pass: operation counts, and seconds from calibratable rates.

Counts follow how the engine schedules a forward pass (FFT convolution with transform reuse,
direct convolution, pooling and element-wise work). Seconds come from per-class speeds with
sane defaults; the result is for *ranking* patch sizes of one network on one machine, not a
prediction of run time. `calibrate_rates` fits the speeds to a few measurements.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from math import prod

import numpy as np

from znn.base.errors import ZnnError
from znn.base.modes import CONV_MODES, ConvMode
from znn.fft.fftsize import fft_shape, spectrum_elements
from znn.layers.table import edge_kind, node_kind
from znn.netspec.graph import NetworkGraph
from znn.netspec.memory import conv_implementation
from znn.netspec.vocabulary import Triple

ConvModes = ConvMode | Mapping[str, ConvMode]  # one mode for every conv group, or one per group


class PlanError(ZnnError, ValueError):
    """A patch plan cannot be made: nothing fits, or an argument (budget, rates, measurement,
    conv mode) is unusable."""


@dataclass(frozen=True)
class ForwardWork:
    """Operation counts of one forward pass at one patch size (dtype-independent)."""

    fft_flops: float  # real transforms, 2.5 N log2 N each (FFTW's convention)
    products: int  # complex multiply-adds in the frequency domain
    direct_flops: int  # direct convolution: 2 flops per multiply-add
    elementwise_ops: int  # pooling comparisons, transfer functions, sums, crops
    calls: int  # kernel and transform invocations, each with a fixed dispatch cost

    @property
    def product_flops(self) -> int:
        return 8 * self.products  # (a+ib)(c+id) accumulated: 4 mul + 4 add

    def product_bytes(self, dtype: str | np.dtype) -> int:
        # Each product reads the input and kernel spectra and reads+writes the accumulator;
        # spectra are far larger than caches, so this traffic, not the flops, sets the pace.
        return 4 * 2 * np.dtype(dtype).itemsize * self.products


@dataclass(frozen=True)
class CostRates:
    """Machine speeds for the cost model; defaults suit one modern x86 core, float32."""

    fft_flops_per_s: float = 3e9  # per thread
    direct_flops_per_s: float = 60e9  # per thread (BLAS products; the numba loops run ~4e9)
    elementwise_per_s: float = 1e9  # per thread
    thread_bandwidth: float = 8e9  # bytes/s one thread streams
    total_bandwidth: float = 40e9  # bytes/s all threads together (memory-bound work saturates)
    call_overhead_s: float = 5e-6  # Python dispatch per kernel or transform call
    parallel_efficiency: float = 0.85  # share of each extra thread that compute work gets

    def scaled(self, factor: float) -> CostRates:
        """Every speed multiplied by `factor` (so modelled seconds are divided by it)."""
        speeds = ("fft_flops_per_s", "direct_flops_per_s", "elementwise_per_s", "thread_bandwidth",
                  "total_bandwidth")
        return replace(self, call_overhead_s=self.call_overhead_s / factor,
                       **{k: getattr(self, k) * factor for k in speeds})

    def seconds(self, work: ForwardWork, *, dtype: str | np.dtype = "float32", num_threads: int = 1) -> float:
        """Modelled wall time of `work` on `num_threads` threads."""
        if num_threads < 1:
            raise PlanError(f"num_threads must be at least 1, not {num_threads}")
        # SIMD lanes halve from float32 to float64, so compute rates halve too.
        speed = 4 / np.dtype(dtype).itemsize
        threads = 1 + (num_threads - 1) * self.parallel_efficiency
        compute = (work.fft_flops / self.fft_flops_per_s + work.direct_flops / self.direct_flops_per_s
                   + work.elementwise_ops / self.elementwise_per_s) / (speed * threads)
        bandwidth = min(num_threads * self.thread_bandwidth, self.total_bandwidth)
        return compute + work.product_bytes(dtype) / bandwidth + work.calls * self.call_overhead_s / threads


DEFAULT_RATES = CostRates()


def _transform_flops(n: int) -> float:
    return 2.5 * n * math.log2(n) if n > 1 else 0.0


def fft_edge_names(graph: NetworkGraph, conv_mode: ConvModes = "fft") -> set[str]:
    """Conv edges that run in the frequency domain, by the engine's rules (a mapping of edge
    name to mode defaults to the edge's `fft` key; 1x1x1 kernels never do; `optimize`
    counts as fft)."""
    names = set()
    for name, edge in graph.spec.edges.items():
        if not edge_kind(edge.type).trainable:
            continue
        mode = conv_mode.get(name) if isinstance(conv_mode, Mapping) else conv_mode
        if mode is not None and mode not in CONV_MODES:
            raise PlanError(f"conv mode of '{name}' must be one of {', '.join(CONV_MODES)}, not {mode!r}")
        if conv_implementation(graph, name, conv_mode) == "fft":
            names.add(name)
    return names


def estimated_work(graph: NetworkGraph, conv_mode: ConvModes = "fft", *,
                   cache_spectra: bool = True) -> ForwardWork:
    """Operations of one forward pass of `graph`, counted the way the engine schedules them.

    FFT edges: one transform per source map (shared by all its FFT edges), one inverse per
    target map and input extent (products are summed in the frequency domain first),
    n_in*n_out spectrum products, and n_in*n_out kernel transforms only when kernel spectra
    are not cached (cached ones are made once and reused by every patch).
    """
    fft = fft_edge_names(graph, conv_mode)
    nodes = graph.nodes
    fft_flops, products, direct, elementwise, calls = 0.0, 0, 0, 0, 0
    transformed: set[str] = set()
    inverted: set[tuple[str, Triple]] = set()
    for name, e in graph.edges.items():
        n_in, n_out = nodes[e.source].maps, nodes[e.target].maps
        out_voxels = prod(e.out_size)
        if name in fft:
            per_transform = _transform_flops(prod(fft_shape(e.in_size)))
            if e.source not in transformed:
                transformed.add(e.source)
                fft_flops += n_in * per_transform
                calls += n_in
            if (e.target, e.in_size) not in inverted:
                inverted.add((e.target, e.in_size))
                fft_flops += n_out * per_transform
                elementwise += n_out * out_voxels  # crop the valid part into the target
                calls += n_out
            products += n_in * n_out * spectrum_elements(e.in_size)
            calls += n_in * n_out
            if not cache_spectra:
                fft_flops += n_in * n_out * per_transform
                calls += n_in * n_out
        else:  # the kind's own terms (direct convolution, pooling, element-wise passes)
            terms = edge_kind(e.type).work(e, n_in, n_out)
            direct += terms.direct_flops
            elementwise += terms.elementwise_ops
            calls += terms.calls
    for node in nodes.values():
        terms = node_kind(node.type).work(node.voxels)
        elementwise += terms.elementwise_ops
        calls += terms.calls
    return ForwardWork(fft_flops, products, direct, elementwise, calls)


def estimated_seconds(graph: NetworkGraph, *, conv_mode: ConvModes = "fft", dtype: str | np.dtype = "float32",
                      num_threads: int = 1, cache_spectra: bool = True,
                      rates: CostRates = DEFAULT_RATES) -> float:
    """Modelled seconds of one forward pass (for ranking patch sizes; see module notes)."""
    work = estimated_work(graph, conv_mode, cache_spectra=cache_spectra)
    return rates.seconds(work, dtype=dtype, num_threads=num_threads)


def calibrate_rates(samples: Iterable[tuple[ForwardWork, float]], *, rates: CostRates = DEFAULT_RATES,
                    dtype: str | np.dtype = "float32", num_threads: int = 1) -> CostRates:
    """`rates` scaled so that modelled seconds match measured ones (median ratio).

    `samples` pairs the work of a patch size with its measured seconds per forward pass.
    """
    ratios = [rates.seconds(w, dtype=dtype, num_threads=num_threads) / s for w, s in samples if s > 0]
    if not ratios:
        raise PlanError("calibration needs at least one measurement with positive seconds")
    return rates.scaled(statistics.median(ratios))


def thread_scratch_bytes(graph: NetworkGraph, *, dtype: str | np.dtype = "float32",
                         conv_mode: ConvModes = "fft") -> int:
    """Scratch one worker thread holds: its own FFTW plans, each with a real and a spectrum
    buffer, forward and inverse, for every transform shape the network uses."""
    real = np.dtype(dtype).itemsize
    shapes = {graph.edges[name].in_size for name in fft_edge_names(graph, conv_mode)}
    per_direction = sum(prod(fft_shape(s)) * real + spectrum_elements(s) * 2 * real for s in shapes)
    return 2 * per_direction
