"""Batched, pruned real FFTs for whole layers (the transform side of `products`).

A k³ kernel zero-padded to an N³ transform is almost all zeros, and a kernel gradient
needs only k³ taps of an N³ inverse. The kernel transform therefore runs its 1-D passes
on shrinking data: the real-to-complex pass along x over the k·k non-zero lines, the y
pass over the k non-zero z planes, and the z pass as a small dense DFT from the k
non-zero rows (written straight into the layer's blocked spectrum stack). The gradient
inverse runs the same stages backwards, keeping only the wanted rows after each pass and
fusing the z stage with the product G·conj(X). Each FFTW stage is one plan over a batch
of B kernels, so Python's cost is per batch, not per kernel.

Map transforms go through a per-thread complex buffer and are copied into (or out of) a
split stack. All plans belong to the calling thread (see `plans`) and are single-threaded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from math import prod

import numpy as np
import pyfftw

from znn.fft import plans, products

Shape = tuple[int, ...]
_local = threading.local()


def _cached(key: tuple, make):  # noqa: ANN001, ANN202 - internal
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    found = cache.get(key)
    if found is None:
        found = cache[key] = make()
    return found


def _fftw(a: np.ndarray, b: np.ndarray, axes: tuple[int, ...], inverse: bool = False) -> pyfftw.FFTW:
    return plans.make_fftw(a, b, axes, inverse)


def spectrum_shape(N: Sequence[int]) -> Shape:
    return plans.spectrum_shape(N)


def spectrum_length(N: Sequence[int]) -> int:
    return prod(spectrum_shape(N))


def span_of(kernel_shape: Sequence[int], dilation: Sequence[int]) -> Shape:
    return tuple((int(k) - 1) * int(d) + 1 for k, d in zip(kernel_shape, dilation, strict=True))


def split_stack(M: int, N: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """An empty split stack (2, M, F) for M spectra of transform shape N."""
    return np.empty((2, M, spectrum_length(N)), dtype=plans.real_dtype(dtype))


def blocked_stack(n_in: int, n_out: int, N: Sequence[int], dtype: np.dtype) -> np.ndarray:
    """An empty blocked kernel-spectrum stack (n_blocks, n_in, n_out, 2, block size)."""
    F = spectrum_length(N)
    return np.empty((products.n_blocks(F), n_in, n_out, 2, products.block_size(F)), dtype=plans.real_dtype(dtype))


# ------------------------------------------------------------------ whole maps

class _MapForward:
    def __init__(self, N: Shape, size: Shape, origin: Shape, dtype: np.dtype) -> None:
        self.buf = pyfftw.zeros_aligned(N, dtype=dtype)
        self.out = pyfftw.empty_aligned(spectrum_shape(N), dtype=plans.complex_dtype(dtype))
        self.plan = _fftw(self.buf, self.out, (0, 1, 2))
        self.region = tuple(slice(o, o + s) for o, s in zip(origin, size, strict=True))
        self.flat = self.out.reshape(-1)

    def __call__(self, x: np.ndarray, stack: np.ndarray, m: int) -> None:
        self.buf[self.region] = x  # the rest of buf stays zero (r2c keeps its input)
        self.plan.execute()
        stack[0, m] = self.flat.real
        stack[1, m] = self.flat.imag


def map_spectrum(x: np.ndarray, N: Sequence[int], stack: np.ndarray, m: int,
                 origin: Sequence[int] = (0, 0, 0)) -> None:
    """stack[:, m] = spectrum of `x` placed at `origin` in a zero array of shape N."""
    N, size, origin = tuple(N), tuple(x.shape), tuple(int(o) for o in origin)
    key = ("map", N, size, origin, x.dtype.str)
    _cached(key, lambda: _MapForward(N, size, origin, x.dtype))(x, stack, m)


class _MapInverse:
    def __init__(self, N: Shape, dtype: np.dtype) -> None:
        self.spec = pyfftw.empty_aligned(spectrum_shape(N), dtype=plans.complex_dtype(dtype))
        self.real = pyfftw.empty_aligned(N, dtype=dtype)
        self.plan = _fftw(self.spec, self.real, (0, 1, 2), inverse=True)
        self.flat = self.spec.reshape(-1)
        self.scale = self.real.dtype.type(1.0 / prod(N))

    def __call__(self, stack: np.ndarray, m: int, region: tuple[slice, ...], dest: np.ndarray,
                 add: bool) -> None:
        self.flat.real = stack[0, m]
        self.flat.imag = stack[1, m]
        self.plan.execute()
        part = self.real[region]
        if add:
            dest += part * self.scale
        else:
            np.multiply(part, self.scale, out=dest)


def map_inverse(stack: np.ndarray, m: int, N: Sequence[int], region: Sequence[slice], dest: np.ndarray,
                add: bool = False) -> None:
    """dest (+)= irfftn(spectrum m of `stack`, N)[region]."""
    N = tuple(N)
    _cached(("inv", N, stack.dtype.str), lambda: _MapInverse(N, stack.dtype))(
        stack, m, tuple(region), dest, add)


# ------------------------------------------------------------------ kernels

class _KernelForward:
    def __init__(self, B: int, kshape: Shape, dilation: Shape, N: Shape, dtype: np.dtype) -> None:
        kz, ky, kx = kshape
        dz, dy, dx = dilation
        Nz, Ny, Nx = N
        Hx = Nx // 2 + 1
        cdtype = plans.complex_dtype(dtype)
        self.a = pyfftw.zeros_aligned((B, kz, ky, Nx), dtype=dtype)
        self.ca = pyfftw.empty_aligned((B, kz, ky, Hx), dtype=cdtype)
        self.plan_x = _fftw(self.a, self.ca, (3,))
        self.cb = pyfftw.zeros_aligned((B, kz, Ny, Hx), dtype=cdtype)
        self.plan_y = _fftw(self.cb, self.cb, (2,)) if Ny > 1 else None
        self.x_taps = slice(0, (kx - 1) * dx + 1, dx)
        self.y_taps = slice(0, (ky - 1) * dy + 1, dy)
        self.W = products.dft_matrix(Nz, np.arange(Nz), np.arange(kz) * dz, False, np.dtype(dtype))
        self.flat = self.cb.reshape(B, kz, Ny * Hx)

    def __call__(self, kernels: np.ndarray, rows_i: np.ndarray, rows_j: np.ndarray, K: np.ndarray) -> None:
        self.a[..., self.x_taps] = kernels  # other x positions stay zero
        self.plan_x.execute()
        if self.plan_y is not None:
            self.cb.fill(0)
            self.cb[:, :, self.y_taps] = self.ca
            self.plan_y.execute()
        else:
            self.cb[...] = self.ca
        products.kernel_z_forward(self.W[0], self.W[1], self.flat, rows_i, rows_j, K)


def kernel_spectra(kernels: np.ndarray, dilation: Sequence[int], N: Sequence[int],
                   rows_i: np.ndarray, rows_j: np.ndarray, K: np.ndarray) -> None:
    """Spectra of kernels (B, kz, ky, kx) dilated by `dilation` and zero-padded to N,
    written into the blocked stack K at (rows_i[b], rows_j[b])."""
    B, kshape = kernels.shape[0], tuple(kernels.shape[1:])
    key = ("kfwd", B, kshape, tuple(dilation), tuple(N), kernels.dtype.str)
    _cached(key, lambda: _KernelForward(B, kshape, tuple(dilation), tuple(N), kernels.dtype))(
        kernels, rows_i, rows_j, K)


class _KernelGradient:
    def __init__(self, B: int, kshape: Shape, dilation: Shape, N: Shape, dtype: np.dtype) -> None:
        kz, ky, kx = kshape
        dz, dy, dx = dilation
        Nz, Ny, Nx = N
        Hx = Nx // 2 + 1
        cdtype = plans.complex_dtype(dtype)
        self.W = products.dft_matrix(Nz, np.arange(kz) * dz, np.arange(Nz), True, np.dtype(dtype))
        self.cb = pyfftw.empty_aligned((B, kz, Ny, Hx), dtype=cdtype)
        self.flat = self.cb.reshape(B, kz, Ny * Hx)
        self.plan_y = _fftw(self.cb, self.cb, (2,), inverse=True) if Ny > 1 else None
        self.ca = pyfftw.empty_aligned((B, kz, ky, Hx), dtype=cdtype)
        self.a = pyfftw.empty_aligned((B, kz, ky, Nx), dtype=dtype)
        self.plan_x = _fftw(self.ca, self.a, (3,), inverse=True)
        self.y_taps = slice(0, (ky - 1) * dy + 1, dy)
        self.x_taps = slice(0, (kx - 1) * dx + 1, dx)
        self.scale = np.dtype(dtype).type(1.0 / prod(N))

    def __call__(self, G: np.ndarray, X: np.ndarray, rows_i: np.ndarray, rows_j: np.ndarray,
                 out: np.ndarray) -> None:
        products.kernel_z_gradient(self.W[0], self.W[1], G, X, rows_i, rows_j, self.flat)
        if self.plan_y is not None:
            self.plan_y.execute()
        self.ca[...] = self.cb[:, :, self.y_taps]
        self.plan_x.execute()
        np.multiply(self.a[..., self.x_taps], self.scale, out=out)


def kernel_gradients(G: np.ndarray, X: np.ndarray, rows_i: np.ndarray, rows_j: np.ndarray,
                     kernel_shape: Sequence[int], dilation: Sequence[int], N: Sequence[int],
                     out: np.ndarray) -> None:
    """out[b] = taps of irfftn(G_j·conj(X_i)) for (i, j) = (rows_i[b], rows_j[b]).

    G, X: split stacks of the output-gradient and input spectra; out (B, kz, ky, kx)."""
    B = out.shape[0]
    kshape = tuple(int(k) for k in kernel_shape)
    key = ("kgrad", B, kshape, tuple(dilation), tuple(N), out.dtype.str)
    _cached(key, lambda: _KernelGradient(B, kshape, tuple(dilation), tuple(N), out.dtype))(
        G, X, rows_i, rows_j, out)
