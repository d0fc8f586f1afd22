"""Dilated 3-D convolution as BLAS products, one per kernel tap ("implicit GEMM").

Maps are (maps, z, y, x) C-contiguous, so for one z-slice the source maps form a matrix
whose rows are maps and whose columns are voxels. Shifting that matrix by a tap's offset
(tz·dz slices, ty·dy rows, tx·dx voxels) and multiplying by the tap's (n_out x n_in)
weights gives the tap's contribution at every position of a block of rows *in the source's
grid* (x running over the whole source width; the columns of each row past the output are
discarded). Summing the taps (beta = 1) gives the block: no im2col copy is made; BLAS reads
each shifted window while it packs its panels.

ZNN's convolution is true (reference §2.1): out[p] = Σ_t src[p + (s−1−t)·d]·W[t]. With taps
in correlation order t' = s−1−t (the flat tap index reversed) and Wf[t'] = W[..., s−1−t']ᵀ:

* forward:        out[:, p]  = Σ_t' Wf[t'] · src[:, p + t'·d]
* input gradient: gin[:, q]  = Σ_t' Wf[t']ᵀ · G[:, q − t'·d]
* kernel grad:    dW[..., s−1−t'] = Σ_p G[:, p] · src[:, p + t'·d]ᵀ

The output gradient G is read from a *widened* copy laid out with the source's row width
(zeros past the output's x extent, and a zero margin before the first map), so that the
same shifted-window products serve the kernel gradient and the input gradient, whose x
shifts then run into zeros instead of out of the row. Every function works on a block of
rows [y0, y1) of one z-slice and calls `blas.gemm` (scipy's BLAS, GIL released).
"""

from __future__ import annotations

import numpy as np

from znn.base.jit import cached_njit
from znn.kernels.blas import N, T, gemm


def forward_weights(kernels: np.ndarray) -> np.ndarray:
    """(taps, n_out, n_in): the forward product's weights per tap, in correlation order."""
    n_in, n_out = kernels.shape[:2]
    taps = kernels.reshape(n_in, n_out, -1)[:, :, ::-1]
    return np.ascontiguousarray(taps.transpose(2, 1, 0))


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


def wide_margin(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> int:
    """Zeros before the widened gradient: the farthest an x tap reads back."""
    return (kernel[2] - 1) * dilation[2]


@cached_njit(nogil=True)
def _copy_rows(tmp, width, keep, out, z, y0, y1, accumulate):
    """out[:, z, y0 + r, :keep] (+)= tmp[:, r*width : r*width + keep] for each row r."""
    for j in range(out.shape[0]):
        for r in range(y1 - y0):
            line = tmp[j, r * width:r * width + keep]
            if accumulate:
                out[j, z, y0 + r, :keep] += line
            else:
                out[j, z, y0 + r, :keep] = line


@cached_njit(nogil=True)
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


@cached_njit(nogil=True)
def input_grad_block(fn, wide, margin, grad_shape, weights, kshape, dilation, z, y0, y1, out, accumulate):  # noqa: ANN001, ANN201
    """out[:, z, y0:y1] (+)= the source gradient there. wide: the widened gradient's flat
    buffer (margin zeros, then (n_out, gz, gy, src_x)); grad_shape: (n_out, gz, gy);
    weights: forward_weights(); out: (n_in, z, y, src_x), written in place.

    Each (tz, ty) tap pair is multiplied only over the rows where it reads the gradient
    itself, so the products cover exactly the voxels that receive something."""
    n_out, gz, gy = grad_shape[0], grad_shape[1], grad_shape[2]
    n_in, zs, ys, xs = out.shape
    out_flat = out.reshape(-1)
    base = (z * ys + y0) * xs
    if not accumulate:
        for i in range(n_in):
            out[i, z, y0:y1] = 0.0
    t = 0
    for tz in range(kshape[0]):
        sz = z - tz * dilation[0]  # gradient slice this tap reads
        for ty in range(kshape[1]):
            r0 = max(y0, ty * dilation[1])  # rows r with r - ty*dy inside the gradient's rows
            r1 = min(y1, gy + ty * dilation[1])
            if sz < 0 or sz >= gz or r1 <= r0:
                t += kshape[2]
                continue
            n = (r1 - r0) * xs
            for tx in range(kshape[2]):
                start = margin + (sz * gy + r0 - ty * dilation[1]) * xs - tx * dilation[2]
                gemm(fn, T, N, n_in, n, n_out, 1.0, weights[t].reshape(-1), n_in, wide[start:], gz * gy * xs,
                     1.0, out_flat[base + (r0 - y0) * xs:], zs * ys * xs)
                t += 1


@cached_njit(nogil=True)
def kernel_grad_block(fn, src, wide, margin, grad_shape, kshape, dilation, z, y0, y1, per_tap):  # noqa: ANN001, ANN201
    """per_tap[t'] (n_out x n_in) = the kernel gradient of output rows [y0, y1) of slice z."""
    n_in, zs, ys, xs = src.shape
    n_out, gz, gy = grad_shape[0], grad_shape[1], grad_shape[2]
    out_x = xs - (kshape[2] - 1) * dilation[2]
    n = (y1 - y0 - 1) * xs + out_x
    src_flat = src.reshape(-1)
    grad_rows = wide[margin + (z * gy + y0) * xs:]
    t = 0
    for tz in range(kshape[0]):
        for ty in range(kshape[1]):
            for tx in range(kshape[2]):
                start = ((z + tz * dilation[0]) * ys + y0 + ty * dilation[1]) * xs + tx * dilation[2]
                gemm(fn, N, T, n_out, n_in, n, 1.0, grad_rows, gz * gy * xs, src_flat[start:], zs * ys * xs,
                     0.0, per_tap[t].reshape(-1), n_in)
                t += 1


@cached_njit(nogil=True)
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


@cached_njit(nogil=True)
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


@cached_njit(nogil=True)
def kernel_grad_block_unrolled(fn, src, wide, margin, grad_shape, kshape, dilation, z, y0, y1, rows, per_x_tap):  # noqa: ANN001, ANN201
    """kernel_grad_block for few source maps: per_x_tap[tx'] (n_out x n_in*kz*ky) = grad rows @
    (unrolled windows shifted by tx'·dx)ᵀ."""
    xs = src.shape[3]
    n_out, gz, gy = grad_shape[0], grad_shape[1], grad_shape[2]
    out_x = xs - (kshape[2] - 1) * dilation[2]
    n = (y1 - y0 - 1) * xs + out_x
    reach = (kshape[2] - 1) * dilation[2]
    _unroll(src, kshape, dilation, z, y0, n + reach, rows)
    flat = rows.reshape(-1)
    grad_rows = wide[margin + (z * gy + y0) * xs:]
    for tx in range(kshape[2]):
        gemm(fn, N, T, n_out, rows.shape[0], n, 1.0, grad_rows, gz * gy * xs, flat[tx * dilation[2]:],
             rows.shape[1], 0.0, per_x_tap[tx].reshape(-1), rows.shape[0])


@cached_njit(nogil=True)
def widen_gradient(grad, a, b, wide, margin):
    """Maps [a, b) of the widened gradient: grad's rows extended by zeros to the source's
    width. wide: the flat buffer (margin zeros, then (n_out, gz, gy, src_x))."""
    gz, gy, gx = grad.shape[1], grad.shape[2], grad.shape[3]
    size = wide.size - margin
    xs = size // (grad.shape[0] * gz * gy)
    if a == 0:
        wide[:margin] = 0.0
    for j in range(a, b):
        for z in range(gz):
            for y in range(gy):
                start = margin + ((j * gz + z) * gy + y) * xs
                wide[start:start + gx] = grad[j, z, y]
                wide[start + gx:start + xs] = 0.0
