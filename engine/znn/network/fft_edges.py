"""FFT convolution edges with ZNN's transform reuse (reference §3.6, §9.4).

* Each source map is transformed once per pass; all its outgoing FFT edges share it, and
  the kernel-gradient products reuse it after the backward pass.
* Kernel spectra are computed once per update and reused by forward and backward (unless
  spectrum caching is off, then they are recomputed when needed and dropped).
* Products that arrive at the same target map from sources of the same extent are summed in
  the frequency domain, so each target map needs one inverse transform per such bucket.
* In the backward pass the same holds for input gradients: every FFT edge leaving a source
  adds G_j * conj(K_ij) into that source's spectrum accumulator; one inverse per source map.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from znn.fft import conv as fftconv
from znn.netspec.graph import EdgeGeometry


class SpectrumStore:
    """Spectra of one forward/backward pass, plus the per-update kernel spectra."""

    def __init__(self, cache_kernel_spectra: bool = True) -> None:
        self.cache_kernel_spectra = cache_kernel_spectra
        self.inputs: dict[str, list[np.ndarray]] = {}  # source node -> spectrum per map
        self.kernels: dict[str, np.ndarray] = {}  # edge -> (n_in, n_out, *spectrum shape)

    def new_pass(self) -> None:
        self.inputs.clear()

    def invalidate_kernels(self) -> None:
        """Weights changed: kernel spectra must be recomputed before the next use."""
        self.kernels.clear()

    def input_spectra(self, node: str, maps: np.ndarray) -> list[np.ndarray]:
        if node not in self.inputs:
            shape = fftconv.transform_shape(maps.shape[1:])
            self.inputs[node] = [fftconv.input_spectrum(m, shape) for m in maps]
        return self.inputs[node]

    def kernel_spectra(self, edge: str, kernels: np.ndarray, geo: EdgeGeometry) -> np.ndarray:
        cached = self.kernels.get(edge)
        if cached is not None:
            return cached
        shape = fftconv.transform_shape(geo.in_size)
        spectra = np.stack([np.stack([fftconv.kernel_spectrum(kernels[i, j], geo.dilation, shape)
                                      for j in range(kernels.shape[1])]) for i in range(kernels.shape[0])])
        if self.cache_kernel_spectra:
            self.kernels[edge] = spectra
        return spectra


def forward_into(acc: np.ndarray, edges: list[tuple[str, EdgeGeometry, np.ndarray, np.ndarray]],
                 store: SpectrumStore) -> None:
    """Add all FFT edges entering one node into acc (maps, z, y, x).

    `edges` holds (edge name, geometry, source maps, kernels) of the node's FFT edges.
    """
    buckets: dict[tuple[int, ...], list] = defaultdict(list)
    for item in edges:
        buckets[item[1].in_size].append(item)
    for in_size, members in buckets.items():
        shape = fftconv.transform_shape(in_size)
        span = members[0][1].span
        for j in range(acc.shape[0]):
            total = None
            for name, geo, src, kernels in members:
                xs = store.input_spectra(geo.source, src)
                ks = store.kernel_spectra(name, kernels, geo)
                for i in range(len(xs)):
                    if total is None:
                        total = np.zeros_like(xs[i])
                    fftconv.accumulate_products(total, xs[i], ks[i, j], False)
            acc[j] += fftconv.valid_from_spectrum(total, shape, in_size, span)


def backward_from(grad: np.ndarray, geo: EdgeGeometry, name: str, kernels: np.ndarray,
                  store: SpectrumStore, src_maps: np.ndarray,
                  grad_sums: dict[str, list[np.ndarray]] | None) -> np.ndarray:
    """Kernel gradient of one FFT edge; adds its input-gradient products into grad_sums.

    `grad_sums` maps the source node to one spectrum accumulator per source map (None when
    the source is an input and needs no gradient).
    """
    shape = fftconv.transform_shape(geo.in_size)
    gs = [fftconv.grad_spectrum(g, geo.span, shape) for g in grad]
    xs = store.input_spectra(geo.source, src_maps)
    ks = store.kernel_spectra(name, kernels, geo)
    kgrad = np.empty_like(kernels)
    product = np.empty_like(gs[0])
    for i in range(kernels.shape[0]):
        for j in range(kernels.shape[1]):
            product[...] = 0
            fftconv.accumulate_products(product, gs[j], xs[i], True)
            kgrad[i, j] = fftconv.kernel_grad_from_spectrum(product, shape, kernels.shape[2:], geo.dilation)
    if grad_sums is not None:
        sums = grad_sums.setdefault(geo.source, [np.zeros_like(gs[0]) for _ in range(kernels.shape[0])])
        for i in range(kernels.shape[0]):
            for j in range(kernels.shape[1]):
                fftconv.accumulate_products(sums[i], gs[j], ks[i, j], True)
    return kgrad


def finish_input_gradient(grad_src: np.ndarray, sums: list[np.ndarray]) -> None:
    """One inverse transform per source map for everything its FFT edges sent back."""
    size = grad_src.shape[1:]
    shape = fftconv.transform_shape(size)
    for i, spectrum in enumerate(sums):
        grad_src[i] += fftconv.input_grad_from_spectrum(spectrum, shape, size)
