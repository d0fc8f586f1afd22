"""ZNN convolution (true, valid, dilated kernel) computed with real FFTs.

Definition (§2.1): out[p] = Σ_t in[p + (s−1−t)·d] · W[t], span = (s−1)·d + 1,
out extent = n − span + 1. With kd the kernel dilated by d (kd[t·d] = W[t], zero
elsewhere) this is the linear convolution (in ∗ kd)[q] read at q = p + span − 1.

All transforms are done at one shape N ≥ n per axis (FFTW-friendly). Because N ≥ n no
circular wrap reaches the samples we keep:
  forward      out     = irfft(X·K)[span−1 : n]
  input grad   grad_in = irfft(G·conj(K))[: n]      G = spectrum of grad_out placed at span−1
  kernel grad  dW[t]   = irfft(G·conj(X))[t·d]
(irfft(A·conj(B))[u] = Σ_m a[m+u]·b[m] is circular cross-correlation; with G placed at
span−1 the wrapped indices land in G's leading zeros.)

The building blocks below are separate steps so the engine can schedule them as tasks:
one spectrum per input map shared by all its outgoing kernels, products summed in the
frequency domain, one inverse transform per output map (§3.6, §9.4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from znn.base.jit import cached_njit
from znn.fft import plans
from znn.fft.fftsize import fft_size

Shape = tuple[int, ...]


def transform_shape(in_shape: Sequence[int]) -> Shape:
    """FFTW-friendly transform shape (products of 2, 3, 5, 7) covering `in_shape`."""
    return tuple(fft_size(int(n)) for n in in_shape)


def kernel_span(kernel_shape: Sequence[int], dilation: Sequence[int]) -> Shape:
    """Extent covered by a kernel of `kernel_shape` dilated by `dilation`: (s−1)·d + 1."""
    return tuple((int(s) - 1) * int(d) + 1 for s, d in zip(kernel_shape, dilation, strict=True))


def valid_shape(in_shape: Sequence[int], span: Sequence[int]) -> Shape:
    out = tuple(int(n) - int(sp) + 1 for n, sp in zip(in_shape, span, strict=True))
    if min(out) < 1:
        raise ValueError(f"kernel span {tuple(span)} is larger than the input {tuple(in_shape)}")
    return out


def _check_fits(n: Sequence[int], N: Sequence[int]) -> None:
    if any(int(a) > int(b) for a, b in zip(n, N, strict=True)):
        raise ValueError(f"transform shape {tuple(N)} is smaller than the map {tuple(n)}")


# ------------------------------------------------------------------- forward transforms

def input_spectrum(x: np.ndarray, N: Sequence[int]) -> np.ndarray:
    """Spectrum of an input map zero-padded to N."""
    _check_fits(x.shape, N)
    return plans.rfftn(x, N)


def kernel_spectrum(kernel: np.ndarray, dilation: Sequence[int], N: Sequence[int]) -> np.ndarray:
    """Spectrum of `kernel` dilated by `dilation` (taps at multiples of d) zero-padded to N."""
    span = kernel_span(kernel.shape, dilation)
    _check_fits(span, N)
    taps = tuple(slice(0, sp, int(d)) for sp, d in zip(span, dilation, strict=True))
    return plans.rfftn(kernel, N, region=taps)


def grad_spectrum(grad_out: np.ndarray, span: Sequence[int], N: Sequence[int]) -> np.ndarray:
    """Spectrum of an output gradient placed at offset span−1 in a zero N-array, i.e. where
    its output samples sit in the full linear convolution."""
    end = tuple(int(sp) - 1 + m for sp, m in zip(span, grad_out.shape, strict=True))
    _check_fits(end, N)
    at = tuple(slice(int(sp) - 1, e) for sp, e in zip(span, end, strict=True))
    return plans.rfftn(grad_out, N, region=at)


# ------------------------------------------------------------ frequency-domain products

@cached_njit(nogil=True)
def _multiply_add(acc, a, b):  # pragma: no cover - compiled
    for i in range(acc.size):
        acc[i] += a[i] * b[i]


@cached_njit(nogil=True)
def _multiply_conj_add(acc, a, b):  # pragma: no cover - compiled
    for i in range(acc.size):
        acc[i] += a[i] * b[i].conjugate()


def accumulate_products(acc: np.ndarray, A: np.ndarray, B: np.ndarray, conj: bool = False) -> None:
    """acc += A·B (or A·conj(B)) element-wise, in place, without temporaries.
    Releases the GIL, so products of different maps run in parallel threads."""
    if not (acc.shape == A.shape == B.shape):
        raise ValueError(f"shape mismatch: acc {acc.shape}, A {A.shape}, B {B.shape}")
    if not (acc.dtype == A.dtype == B.dtype) or acc.dtype.kind != "c":
        raise TypeError(f"need one complex dtype, got {acc.dtype}, {A.dtype}, {B.dtype}")
    if not acc.flags.c_contiguous:
        raise ValueError("the accumulator must be C-contiguous (it is updated in place)")
    flat = acc.reshape(-1)
    kernel = _multiply_conj_add if conj else _multiply_add
    kernel(flat, np.ascontiguousarray(A).reshape(-1), np.ascontiguousarray(B).reshape(-1))


# ------------------------------------------------------------------- inverse transforms

def valid_from_spectrum(S: np.ndarray, N: Sequence[int], n: Sequence[int],
                        span: Sequence[int]) -> np.ndarray:
    """Forward output: inverse of a (summed) product spectrum, valid part [span−1 : n]."""
    valid_shape(n, span)
    crop = tuple(slice(int(sp) - 1, int(m)) for sp, m in zip(span, n, strict=True))
    return plans.irfftn(S, N, region=crop)


def input_grad_from_spectrum(S: np.ndarray, N: Sequence[int], n: Sequence[int]) -> np.ndarray:
    """Input gradient: inverse of Σ_j G_j·conj(K_ij), first n samples per axis."""
    return plans.irfftn(S, N, region=tuple(slice(0, int(m)) for m in n))


def kernel_grad_from_spectrum(S: np.ndarray, N: Sequence[int], kernel_shape: Sequence[int],
                              dilation: Sequence[int]) -> np.ndarray:
    """Kernel gradient: inverse of G·conj(X) read at the dilated tap positions t·d."""
    span = kernel_span(kernel_shape, dilation)
    taps = tuple(slice(0, sp, int(d)) for sp, d in zip(span, dilation, strict=True))
    return plans.irfftn(S, N, region=taps)


# ------------------------------------------------------------ whole edge groups

@dataclass
class ConvCache:
    """What the forward pass of an edge group keeps for its backward pass."""
    transform_shape: Shape
    input_shape: Shape
    input_spectra: list[np.ndarray]                  # X_i, reused by the kernel gradient
    kernel_spectra: list[list[np.ndarray]] | None    # K_ij, None when not cached


def kernel_spectra(kernels: np.ndarray, dilation: Sequence[int],
                   N: Sequence[int]) -> list[list[np.ndarray]]:
    """K_ij for kernels (n_in, n_out, kz, ky, kx) — e.g. refreshed after a weight update."""
    return [[kernel_spectrum(w, dilation, N) for w in row] for row in kernels]


def _zeros_spectrum(N: Sequence[int], dtype: np.dtype) -> np.ndarray:
    return np.zeros(plans.spectrum_shape(N), dtype=plans.complex_dtype(dtype))


def fft_conv_forward(inputs: np.ndarray, kernels: np.ndarray, dilation: Sequence[int],
                     kernel_spectra: list[list[np.ndarray]] | None = None,
                     cache_spectra: bool = True) -> tuple[np.ndarray, ConvCache]:
    """out_j = Σ_i conv(in_i, W_ij) for inputs (n_in, z, y, x), kernels (n_in, n_out, kz, ky, kx).

    Each input spectrum is computed once; products are summed in frequency space; one
    inverse per output map. Pass `kernel_spectra` (from an earlier call's cache or from
    `kernel_spectra()`) to skip re-transforming the kernels. With cache_spectra=False the
    kernel spectra are transformed on the fly and not kept (ZNN_DONT_CACHE_FFTS).
    """
    inputs = np.asarray(inputs)
    dtype = plans.real_dtype(inputs.dtype)
    kernels = np.asarray(kernels, dtype=dtype)
    n_in, n_out = kernels.shape[:2]
    if inputs.shape[0] != n_in:
        raise ValueError(f"{inputs.shape[0]} input maps but kernels for {n_in}")
    n = inputs.shape[1:]
    span = kernel_span(kernels.shape[2:], dilation)
    out_shape = valid_shape(n, span)
    N = transform_shape(n)

    X = [input_spectrum(x, N) for x in inputs]
    given = kernel_spectra
    kept: list[list[np.ndarray]] | None = [[] for _ in range(n_in)] if cache_spectra else None
    outputs = np.empty((n_out,) + out_shape, dtype=dtype)
    acc = _zeros_spectrum(N, dtype)
    for j in range(n_out):
        acc.fill(0)
        for i in range(n_in):
            K = given[i][j] if given is not None else kernel_spectrum(kernels[i, j], dilation, N)
            if kept is not None:
                kept[i].append(K)  # filled in j order, so kept[i][j] is K_ij
            accumulate_products(acc, X[i], K)
        outputs[j] = valid_from_spectrum(acc, N, n, span)
    return outputs, ConvCache(N, tuple(n), X, kept)


def fft_conv_backward(grad_out: np.ndarray, cache: ConvCache, kernels: np.ndarray,
                      dilation: Sequence[int], need_input_grad: bool = True,
                      ) -> tuple[np.ndarray | None, np.ndarray]:
    """Gradients of an edge group given grad_out (n_out, ...) and the forward's cache.

    Returns (grad_in (n_in, z, y, x) or None, kernel_grads shaped like `kernels`). Input
    gradients use the pre-update kernels: cached spectra when present, else `kernels`
    re-transformed. Each output gradient is transformed once and shared by all products.
    """
    grad_out = np.asarray(grad_out)
    dtype = plans.real_dtype(grad_out.dtype)
    kernels = np.asarray(kernels, dtype=dtype)
    n_in, n_out = kernels.shape[:2]
    N, n = cache.transform_shape, cache.input_shape
    span = kernel_span(kernels.shape[2:], dilation)
    if grad_out.shape != (n_out,) + valid_shape(n, span):
        raise ValueError(f"grad_out shape {grad_out.shape} does not match the forward output")

    G = [grad_spectrum(g, span, N) for g in grad_out]
    acc = _zeros_spectrum(N, dtype)

    grad_in = None
    if need_input_grad:
        grad_in = np.empty((n_in,) + tuple(n), dtype=dtype)
        for i in range(n_in):
            acc.fill(0)
            for j in range(n_out):
                K = (cache.kernel_spectra[i][j] if cache.kernel_spectra is not None
                     else kernel_spectrum(kernels[i, j], dilation, N))
                accumulate_products(acc, G[j], K, conj=True)
            grad_in[i] = input_grad_from_spectrum(acc, N, n)

    kernel_grads = np.empty(kernels.shape, dtype=dtype)
    for i in range(n_in):
        for j in range(n_out):
            acc.fill(0)
            accumulate_products(acc, G[j], cache.input_spectra[i], conj=True)
            kernel_grads[i, j] = kernel_grad_from_spectrum(acc, N, kernels.shape[2:], dilation)
    return grad_in, kernel_grads
