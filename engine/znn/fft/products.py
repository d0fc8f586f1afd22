"""Frequency-domain arithmetic of whole layers, as numba `nogil` kernels.

Layouts (chosen so the inner loops vectorise and stream memory once):
* a *split stack* of M spectra is a float array (2, M, F): real parts, then imaginary
  parts, F = flattened half-spectrum length;
* a layer's kernel spectra are *blocked* (n_blocks, I, J, 2, S): the bins of block b of
  every kernel lie next to each other, so a product task over a range of blocks reads
  one contiguous stretch of memory.

A fully connected FFT layer is, per bin f, a complex matrix-vector product
out_j(f) = Σ_i K_ij(f)·X_i(f) (forward) and gin_i(f) = Σ_j conj(K_ij(f))·G_j(f) (input
gradient); both are split into tasks over block ranges. The kernel side of the layer uses
small dense DFTs along z (only the k non-zero / wanted rows of N) fused with the layout
change or with the gradient product.
"""

from __future__ import annotations

import numpy as np

from znn.base.jit import cached_njit

BLOCK = 1024  # bins per block: one block of the accumulators of all maps stays in L2


def block_size(F: int) -> int:
    """Bins per block for spectra of F bins (small spectra are one block, not padded)."""
    return min(BLOCK, F)


def n_blocks(F: int) -> int:
    return -(-F // block_size(F))


@cached_njit(nogil=True, fastmath=True)
def forward_products(K, X, out, b_lo, b_hi, accumulate):  # pragma: no cover - compiled
    """out_j (+)= Σ_i K_ij·X_i on blocks [b_lo, b_hi). K blocked, X (2, I, F), out (2, J, F)."""
    n_in, n_out, S = K.shape[1], K.shape[2], K.shape[4]
    F = X.shape[2]
    for b in range(b_lo, b_hi):
        f0 = b * S
        n = min(S, F - f0)
        for j in range(n_out):
            o_re = out[0, j, f0:f0 + n]
            o_im = out[1, j, f0:f0 + n]
            if not accumulate:
                o_re[:] = 0
                o_im[:] = 0
            for i in range(n_in):
                k_re = K[b, i, j, 0]
                k_im = K[b, i, j, 1]
                x_re = X[0, i, f0:f0 + n]
                x_im = X[1, i, f0:f0 + n]
                for f in range(n):
                    o_re[f] += k_re[f] * x_re[f] - k_im[f] * x_im[f]
                    o_im[f] += k_re[f] * x_im[f] + k_im[f] * x_re[f]


@cached_njit(nogil=True, fastmath=True)
def backward_products(K, G, out, b_lo, b_hi, accumulate):  # pragma: no cover - compiled
    """out_i (+)= Σ_j conj(K_ij)·G_j on blocks [b_lo, b_hi). G (2, J, F), out (2, I, F)."""
    n_in, n_out, S = K.shape[1], K.shape[2], K.shape[4]
    F = G.shape[2]
    for b in range(b_lo, b_hi):
        f0 = b * S
        n = min(S, F - f0)
        for i in range(n_in):
            o_re = out[0, i, f0:f0 + n]
            o_im = out[1, i, f0:f0 + n]
            if not accumulate:
                o_re[:] = 0
                o_im[:] = 0
            for j in range(n_out):
                k_re = K[b, i, j, 0]
                k_im = K[b, i, j, 1]
                g_re = G[0, j, f0:f0 + n]
                g_im = G[1, j, f0:f0 + n]
                for f in range(n):
                    o_re[f] += k_re[f] * g_re[f] + k_im[f] * g_im[f]
                    o_im[f] += k_re[f] * g_im[f] - k_im[f] * g_re[f]


@cached_njit(nogil=True, fastmath=True)
def kernel_z_forward(W_re, W_im, cb, rows_i, rows_j, K):  # pragma: no cover - compiled
    """Last (z) stage of the pruned kernel transform, written into the blocked stack.

    cb (B, kz, C) complex: kernels already transformed along x and y (C = Ny·Hx);
    W (Nz, kz): DFT matrix restricted to the non-zero rows; kernel b goes to (rows_i[b],
    rows_j[b]) of K; bin f = fz·C + c."""
    Nz, kz = W_re.shape
    C = cb.shape[2]
    S = K.shape[4]
    src_re = np.empty((kz, C), dtype=K.dtype)
    src_im = np.empty((kz, C), dtype=K.dtype)
    acc_re = np.empty(C, dtype=K.dtype)
    acc_im = np.empty(C, dtype=K.dtype)
    for b in range(cb.shape[0]):
        i = rows_i[b]
        j = rows_j[b]
        for t in range(kz):
            for c in range(C):
                src_re[t, c] = cb[b, t, c].real
                src_im[t, c] = cb[b, t, c].imag
        for fz in range(Nz):
            acc_re[:] = 0
            acc_im[:] = 0
            for t in range(kz):
                w_re = W_re[fz, t]
                w_im = W_im[fz, t]
                s_re = src_re[t]
                s_im = src_im[t]
                for c in range(C):
                    acc_re[c] += w_re * s_re[c] - w_im * s_im[c]
                    acc_im[c] += w_re * s_im[c] + w_im * s_re[c]
            # copy the row into the blocks it spans, one contiguous segment at a time
            f = fz * C
            c = 0
            while c < C:
                blk = f // S
                s = f - blk * S
                n = min(S - s, C - c)
                K[blk, i, j, 0, s:s + n] = acc_re[c:c + n]
                K[blk, i, j, 1, s:s + n] = acc_im[c:c + n]
                c += n
                f += n


@cached_njit(nogil=True, fastmath=True)
def kernel_z_gradient(W_re, W_im, G, X, rows_i, rows_j, out):  # pragma: no cover - compiled
    """First (z) stage of the pruned kernel-gradient inverse, fused with the product.

    out[b, t, c] = Σ_fz W[t, fz]·G_j(fz, c)·conj(X_i(fz, c)) with (i, j) = (rows_i[b],
    rows_j[b]); G (2, J, F), X (2, I, F) split stacks; out (B, kz, C) complex."""
    kz, Nz = W_re.shape
    C = out.shape[2]
    acc_re = np.empty((kz, C), dtype=G.dtype)
    acc_im = np.empty((kz, C), dtype=G.dtype)
    p_re = np.empty(C, dtype=G.dtype)
    p_im = np.empty(C, dtype=G.dtype)
    for b in range(out.shape[0]):
        i = rows_i[b]
        j = rows_j[b]
        acc_re[:] = 0
        acc_im[:] = 0
        for fz in range(Nz):
            base = fz * C
            g_re = G[0, j, base:base + C]
            g_im = G[1, j, base:base + C]
            x_re = X[0, i, base:base + C]
            x_im = X[1, i, base:base + C]
            for c in range(C):
                p_re[c] = g_re[c] * x_re[c] + g_im[c] * x_im[c]  # G·conj(X)
                p_im[c] = g_im[c] * x_re[c] - g_re[c] * x_im[c]
            for t in range(kz):
                w_re = W_re[t, fz]
                w_im = W_im[t, fz]
                a_re = acc_re[t]
                a_im = acc_im[t]
                for c in range(C):
                    a_re[c] += w_re * p_re[c] - w_im * p_im[c]
                    a_im[c] += w_re * p_im[c] + w_im * p_re[c]
        for t in range(kz):
            for c in range(C):
                out[b, t, c] = acc_re[t, c] + 1j * acc_im[t, c]


def dft_matrix(n: int, freqs: np.ndarray, positions: np.ndarray, inverse: bool,
               real_dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """exp(∓2πi·f·p/n) for every (freq, position) pair (minus: forward), as (re, im)."""
    sign = 1.0 if inverse else -1.0
    phase = sign * 2.0 * np.pi * np.outer(freqs, positions) / n
    return np.cos(phase).astype(real_dtype), np.sin(phase).astype(real_dtype)
