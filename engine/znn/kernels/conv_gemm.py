"""Dilated 3-D convolution as BLAS products, one per kernel tap ("implicit GEMM").

Maps are (maps, z, y, x) C-contiguous, so for one z-slice the source map is a matrix whose
rows are maps and whose columns are voxels. Shifting that matrix by a tap's offset
(tz·dz rows of slices, ty·dy rows, tx·dx voxels) and multiplying by the tap's (n_out x n_in)
weights gives the tap's contribution at every position of a block of rows *in the source's
grid* (x running over the whole source width, the last columns of each row past the output
being discarded). Summing the taps (beta = 1) gives the block: no im2col copy is ever made;
BLAS reads each shifted window while packing its panels.

ZNN's convolution is true (reference §2.1): out[p] = Σ_t src[p + (s−1−t)·d]·W[t]. With taps
in correlation order t' = s−1−t (the flat tap index reversed):

* forward:        out[j, p]  = Σ_t' Σ_i W[i, j, T−1−t'] · src[i, p + t'·d]
* input gradient: gin[i, q]  = Σ_t Σ_j W[i, j, t] · Gp[j, q + t·d], Gp = the output gradient
  zero-padded by (s−1)·d on both sides of every axis
* kernel grad:    dW[i, j, T−1−t'] = Σ_p G[j, p] · src[i, p + t'·d]

Every function works on a block of rows [y0, y1) of one z-slice and calls `blas.gemm`
(scipy's BLAS, GIL released). Products are computed in the wider grid and copied out.
"""

from __future__ import annotations

import numba
import numpy as np

from znn.kernels.blas import N, T, gemm


def forward_weights(kernels: np.ndarray) -> np.ndarray:
    """(taps, n_out, n_in): the forward product's weights per tap, in correlation order."""
    n_in, n_out = kernels.shape[:2]
    taps = kernels.reshape(n_in, n_out, -1)[:, :, ::-1]
    return np.ascontiguousarray(taps.transpose(2, 1, 0))


def backward_weights(kernels: np.ndarray) -> np.ndarray:
    """(taps, n_in, n_out): the input gradient's weights per tap, in the kernel's own order."""
    n_in, n_out = kernels.shape[:2]
    return np.ascontiguousarray(kernels.reshape(n_in, n_out, -1).transpose(2, 0, 1))


def unrolled_weights(kernels: np.ndarray) -> np.ndarray:
    """(kx, n_out, n_in*kz*ky): forward weights for unrolled sources, one matrix per x tap
    (taps in correlation order; columns (i, tz', ty'))."""
    n_in, n_out, kz, ky, kx = kernels.shape
    flipped = kernels[:, :, ::-1, ::-1, ::-1].transpose(4, 1, 0, 2, 3)
    return np.ascontiguousarray(flipped).reshape(kx, n_out, n_in * kz * ky)


def kernel_grad_from_unrolled(per_x_tap: np.ndarray, kernel_shape: tuple[int, ...]) -> np.ndarray:
    """(kx, n_out, n_in*kz*ky) in correlation order -> (n_in, n_out, kz, ky, kx) in ZNN's layout."""
    kz, ky, kx = kernel_shape
    n_out = per_x_tap.shape[1]
    n_in = per_x_tap.shape[2] // (kz * ky)
    g = per_x_tap.reshape(kx, n_out, n_in, kz, ky).transpose(2, 1, 3, 4, 0)
    return g[:, :, ::-1, ::-1, ::-1]


def kernel_grad_from_taps(per_tap: np.ndarray, kernel_shape: tuple[int, ...]) -> np.ndarray:
    """(taps, n_out, n_in) in correlation order -> (n_in, n_out, kz, ky, kx) in ZNN's layout."""
    n_out, n_in = per_tap.shape[1:]
    return per_tap[::-1].transpose(2, 1, 0).reshape(n_in, n_out, *kernel_shape)


def padded_shape(out_size: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Extent of the output gradient zero-padded by (s−1)·d on both sides of every axis."""
    return tuple(n + 2 * (k - 1) * d for n, k, d in zip(out_size, kernel, dilation))


@numba.njit(nogil=True, cache=True)
def _copy_rows(tmp, width, keep, out, z, y0, y1, accumulate):
    """out[:, z, y0 + r, :keep] (+)= tmp[:, r*width : r*width + keep] for each row r."""
    for j in range(out.shape[0]):
        for r in range(y1 - y0):
            line = tmp[j, r * width:r * width + keep]
            if accumulate:
                out[j, z, y0 + r, :keep] += line
            else:
                out[j, z, y0 + r, :keep] = line


@numba.njit(nogil=True, cache=True)
def forward_block(fn, src, weights, kshape, dilation, z, y0, y1, tmp, out, accumulate):  # noqa: ANN001, ANN201
    """out[:, z, y0:y1] (+)= the convolution of `src` there. weights: forward_weights();
    tmp: (n_out, >= (y1-y0)*src_x) scratch."""
    n_in, zs, ys, xs = src.shape
    n_out, out_x = out.shape[0], out.shape[3]
    n = (y1 - y0 - 1) * xs + out_x  # the last row's tail past the output is not needed
    src_flat = src.reshape(-1)
    tmp_flat = tmp.reshape(-1)
    stride = tmp.shape[1]
    t = 0
    for tz in range(kshape[0]):
        for ty in range(kshape[1]):
            for tx in range(kshape[2]):
                start = ((z + tz * dilation[0]) * ys + y0 + ty * dilation[1]) * xs + tx * dilation[2]
                gemm(fn, N, N, n_out, n, n_in, 1.0, weights[t].reshape(-1), n_in, src_flat[start:], zs * ys * xs,
                     0.0 if t == 0 else 1.0, tmp_flat, stride)
                t += 1
    _copy_rows(tmp, xs, out_x, out, z, y0, y1, accumulate)


@numba.njit(nogil=True, cache=True)
def input_grad_block(fn, padded, weights, kshape, dilation, z, y0, y1, tmp, out, accumulate):  # noqa: ANN001, ANN201
    """out[:, z, y0:y1] (+)= the source gradient there, from the zero-padded output gradient.
    weights: backward_weights(); tmp: (n_in, >= (y1-y0)*padded_x) scratch.

    Each (tz, ty) tap pair is multiplied only over the rows where it reads the gradient
    itself, not its zero padding: near the borders (wide, for dilated kernels) that halves
    the work of a full correlation."""
    n_out, zp, yp, xp = padded.shape
    n_in, in_x = out.shape[0], out.shape[3]
    pz, py = (kshape[0] - 1) * dilation[0], (kshape[1] - 1) * dilation[1]
    grad_z, grad_y = zp - 2 * pz, yp - 2 * py
    grad_flat = padded.reshape(-1)
    stride = tmp.shape[1]
    tmp[:, :(y1 - y0) * xp] = 0.0
    tmp_flat = tmp.reshape(-1)
    kx = kshape[2]
    for tz in range(kshape[0]):
        gz = z + tz * dilation[0]  # slice of the padded gradient this tap reads
        if gz < pz or gz >= pz + grad_z:
            continue
        for ty in range(kshape[1]):
            # rows r with r + ty*dy inside the gradient's own rows [py, py + grad_y)
            r0 = max(y0, py - ty * dilation[1])
            r1 = min(y1, py + grad_y - ty * dilation[1])
            if r1 <= r0:
                continue
            n = (r1 - r0 - 1) * xp + in_x
            for tx in range(kx):
                t = (tz * kshape[1] + ty) * kx + tx
                start = (gz * yp + r0 + ty * dilation[1]) * xp + tx * dilation[2]
                gemm(fn, N, N, n_in, n, n_out, 1.0, weights[t].reshape(-1), n_out, grad_flat[start:], zp * yp * xp,
                     1.0, tmp_flat[(r0 - y0) * xp:], stride)
    _copy_rows(tmp, xp, in_x, out, z, y0, y1, accumulate)


@numba.njit(nogil=True, cache=True)
def kernel_grad_block(fn, src, wide_grad, kshape, dilation, z, y0, y1, per_tap):  # noqa: ANN001, ANN201
    """per_tap[t'] (n_out x n_in) = the kernel gradient of output rows [y0, y1) of slice z.

    wide_grad: the output gradient laid out with the source's row width (zeros past the
    output's x extent), shape (n_out, out_z, out_y, src_x)."""
    n_in, zs, ys, xs = src.shape
    n_out, gz, gy = wide_grad.shape[0], wide_grad.shape[1], wide_grad.shape[2]
    out_x = xs - (kshape[2] - 1) * dilation[2]
    n = (y1 - y0 - 1) * xs + out_x
    src_flat = src.reshape(-1)
    grad_rows = wide_grad.reshape(-1)[(z * gy + y0) * xs:]
    t = 0
    for tz in range(kshape[0]):
        for ty in range(kshape[1]):
            for tx in range(kshape[2]):
                start = ((z + tz * dilation[0]) * ys + y0 + ty * dilation[1]) * xs + tx * dilation[2]
                gemm(fn, N, T, n_out, n_in, n, 1.0, grad_rows, gz * gy * xs, src_flat[start:], zs * ys * xs,
                     0.0, per_tap[t].reshape(-1), n_in)
                t += 1


@numba.njit(nogil=True, cache=True)
def _unroll(src, kshape, dilation, z, y0, length, rows):
    """rows[(i, tz', ty')] = `length` voxels of source map i from the start of the block shifted
    by (tz'·dz, ty'·dy): each is one contiguous copy; the x taps are then offsets into it."""
    n_in, zs, ys, xs = src.shape
    flat = src.reshape(-1)
    size = zs * ys * xs
    row = 0
    for i in range(n_in):
        for tz in range(kshape[0]):
            for ty in range(kshape[1]):
                start = i * size + ((z + tz * dilation[0]) * ys + y0 + ty * dilation[1]) * xs
                rows[row, :length] = flat[start:start + length]
                row += 1


@numba.njit(nogil=True, cache=True)
def forward_block_unrolled(fn, src, weights, kshape, dilation, z, y0, y1, rows, tmp, out, accumulate):  # noqa: ANN001, ANN201
    """forward_block for few source maps: the (map, z tap, y tap) windows are copied into
    `rows` ((n_in*kz*ky, >= n + (kx-1)*dx)) so each x tap is one product with a deep inner
    dimension; weights: unrolled_weights()."""
    xs = src.shape[3]
    n_out, out_x = out.shape[0], out.shape[3]
    n = (y1 - y0 - 1) * xs + out_x
    reach = (kshape[2] - 1) * dilation[2]
    _unroll(src, kshape, dilation, z, y0, n + reach, rows)
    flat = rows.reshape(-1)
    for tx in range(kshape[2]):
        gemm(fn, N, N, n_out, n, rows.shape[0], 1.0, weights[tx].reshape(-1), rows.shape[0],
             flat[tx * dilation[2]:], rows.shape[1], 0.0 if tx == 0 else 1.0, tmp.reshape(-1), tmp.shape[1])
    _copy_rows(tmp, xs, out_x, out, z, y0, y1, accumulate)


@numba.njit(nogil=True, cache=True)
def kernel_grad_block_unrolled(fn, src, wide_grad, kshape, dilation, z, y0, y1, rows, per_x_tap):  # noqa: ANN001, ANN201
    """kernel_grad_block for few source maps: per_x_tap[tx'] (n_out x n_in*kz*ky) = grad rows @
    (unrolled windows shifted by tx'·dx)ᵀ."""
    xs = src.shape[3]
    n_out, gz, gy = wide_grad.shape[0], wide_grad.shape[1], wide_grad.shape[2]
    out_x = xs - (kshape[2] - 1) * dilation[2]
    n = (y1 - y0 - 1) * xs + out_x
    reach = (kshape[2] - 1) * dilation[2]
    _unroll(src, kshape, dilation, z, y0, n + reach, rows)
    flat = rows.reshape(-1)
    grad_rows = wide_grad.reshape(-1)[(z * gy + y0) * xs:]
    for tx in range(kshape[2]):
        gemm(fn, N, T, n_out, rows.shape[0], n, 1.0, grad_rows, gz * gy * xs, flat[tx * dilation[2]:],
             rows.shape[1], 0.0, per_x_tap[tx].reshape(-1), rows.shape[0])


@numba.njit(nogil=True, cache=True)
def pad_gradient(grad, kshape, dilation, a, b, padded):
    """padded[a:b] = grad[a:b] surrounded by (s−1)·d zeros on every side."""
    pz = (kshape[0] - 1) * dilation[0]
    py = (kshape[1] - 1) * dilation[1]
    px = (kshape[2] - 1) * dilation[2]
    gz, gy, gx = grad.shape[1], grad.shape[2], grad.shape[3]
    for j in range(a, b):
        padded[j] = 0.0
        for z in range(gz):
            for y in range(gy):
                padded[j, pz + z, py + y, px:px + gx] = grad[j, z, y]


@numba.njit(nogil=True, cache=True)
def widen_gradient(grad, a, b, wide):
    """wide[a:b] = grad[a:b] with each row extended by zeros to wide's x extent."""
    gx = grad.shape[3]
    for j in range(a, b):
        for z in range(grad.shape[1]):
            for y in range(grad.shape[2]):
                wide[j, z, y, :gx] = grad[j, z, y]
                wide[j, z, y, gx:] = 0.0
