"""The FFT side of the task engine: spectra, products and inverses of conv edge groups.

A *bucket* is the set of FFT conv edges entering one node from sources of one extent:
they share one transform shape N, one output spectrum stack (products of all its edges
are summed in frequency space) and, in the backward pass, one stack of output-gradient
spectra. Source spectra are shared by every bucket that reads the same node at the same N.

Kernel spectra are kept per edge in a blocked stack (see `fft.products`) and refreshed
chunk by chunk after each update; with caching off they are transformed inside the
product tasks, output map by output map, and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

import numpy as np

from znn.fft import products, pruned
from znn.fft.conv import transform_shape
from znn.netspec.graph import EdgeGeometry

KERNEL_BATCH = 8  # kernels per transform call: the plans' buffers stay in cache


def kernel_chunks(n_pairs: int, n_threads: int) -> list[tuple[int, int]]:
    """Ranges of flat (i, j) kernel indices, each one task (update, spectra, gradient)."""
    per = max(1, min(4 * KERNEL_BATCH, ceil(n_pairs / (4 * n_threads))))
    return [(a, min(a + per, n_pairs)) for a in range(0, n_pairs, per)]


def block_ranges(n_blocks: int, pieces: int) -> list[tuple[int, int]]:
    pieces = max(1, min(pieces, n_blocks))
    edges = np.linspace(0, n_blocks, pieces + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


@dataclass
class FFTEdge:
    """One FFT conv edge group: its geometry and cached kernel spectra."""

    name: str
    geo: EdgeGeometry
    n_in: int
    n_out: int
    N: tuple[int, ...]  # the transform shape
    chunks: list[tuple[int, int]]
    spectra: np.ndarray | None = None  # blocked stack, when caching
    spectra_valid: bool = False
    input_grad: np.ndarray | None = None  # split stack (2, n_in, F) of the backward pass

    def rows(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        flat = np.arange(a, b)
        return flat // self.n_out, flat % self.n_out

    def refresh(self, kernels: np.ndarray, a: int, b: int) -> None:
        """Recompute the cached spectra of flat kernels [a, b)."""
        assert self.spectra is not None, "refresh needs the blocked stack (spectrum caching on)"
        flat = kernels.reshape((-1,) + kernels.shape[2:])
        for lo in range(a, b, KERNEL_BATCH):
            hi = min(lo + KERNEL_BATCH, b)
            ri, rj = self.rows(lo, hi)
            pruned.kernel_spectra(flat[lo:hi], self.geo.dilation, self.N, ri, rj, self.spectra)

    def gradients(self, G: np.ndarray, X: np.ndarray, kgrad: np.ndarray, a: int, b: int) -> None:
        """Kernel gradients of flat kernels [a, b) from the output-gradient and input spectra."""
        flat = kgrad.reshape((-1,) + kgrad.shape[2:])
        for lo in range(a, b, KERNEL_BATCH):
            hi = min(lo + KERNEL_BATCH, b)
            ri, rj = self.rows(lo, hi)
            pruned.kernel_gradients(G, X, ri, rj, self.geo.kernel, self.geo.dilation, self.N, flat[lo:hi])


@dataclass
class Bucket:
    """FFT edges into `target` from sources of extent `in_size` (one transform shape)."""

    target: str
    in_size: tuple[int, int, int]
    N: tuple[int, ...]  # the transform shape
    span: tuple[int, int, int]
    edges: list[FFTEdge] = field(default_factory=list)
    out_spectra: np.ndarray | None = None  # split stack (2, n_out, F)
    grad_spectra: np.ndarray | None = None  # split stack (2, n_out, F)

    @property
    def valid_region(self) -> tuple[slice, ...]:
        return tuple(slice(s - 1, n) for s, n in zip(self.span, self.in_size))


def make_fft_edge(name: str, geo: EdgeGeometry, n_in: int, n_out: int, n_threads: int) -> FFTEdge:
    return FFTEdge(name, geo, n_in, n_out, transform_shape(geo.in_size), kernel_chunks(n_in * n_out, n_threads))


def ensure_stack(current: np.ndarray | None, maps: int, N: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if current is None or current.shape[1] != maps:
        return pruned.split_stack(maps, N, dtype)
    return current


def forward_products_uncached(edge: FFTEdge, kernels: np.ndarray, X: np.ndarray, out: np.ndarray,
                              j_lo: int, j_hi: int, accumulate: bool) -> None:
    """out_j (+)= Σ_i K_ij·X_i for output maps [j_lo, j_hi), transforming the kernels on
    the fly into a small blocked scratch (spectrum caching off)."""
    F = out.shape[2]
    nb = products.n_blocks(F)
    for j in range(j_lo, j_hi):
        scratch = np.empty((nb, edge.n_in, 1, 2, products.block_size(F)), dtype=X.dtype)
        column = np.ascontiguousarray(kernels[:, j])
        for lo in range(0, edge.n_in, KERNEL_BATCH):
            hi = min(lo + KERNEL_BATCH, edge.n_in)
            pruned.kernel_spectra(column[lo:hi], edge.geo.dilation, edge.N, np.arange(lo, hi),
                                  np.zeros(hi - lo, dtype=np.int64), scratch)
        products.forward_products(scratch, X, out[:, j:j + 1], 0, nb, accumulate)


def backward_products_uncached(edge: FFTEdge, kernels: np.ndarray, G: np.ndarray, out: np.ndarray,
                               i_lo: int, i_hi: int) -> None:
    """out_i = Σ_j conj(K_ij)·G_j for input maps [i_lo, i_hi), kernels transformed on the fly."""
    F = out.shape[2]
    nb = products.n_blocks(F)
    for i in range(i_lo, i_hi):
        scratch = np.empty((nb, 1, edge.n_out, 2, products.block_size(F)), dtype=G.dtype)
        row = np.ascontiguousarray(kernels[i])
        for lo in range(0, edge.n_out, KERNEL_BATCH):
            hi = min(lo + KERNEL_BATCH, edge.n_out)
            pruned.kernel_spectra(row[lo:hi], edge.geo.dilation, edge.N, np.zeros(hi - lo, dtype=np.int64),
                                  np.arange(lo, hi), scratch)
        products.backward_products(scratch, G, out[:, i:i + 1], 0, nb, False)
