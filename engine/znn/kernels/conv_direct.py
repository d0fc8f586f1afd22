"""Direct (non-FFT) dilated 3-D convolution of one map with one kernel (§2.1).

ZNN's convolution is a TRUE convolution (kernel flipped) in "valid" mode, with the
kernel dilated by d (the sparsity of the source map):

    out[p] = sum_t inp[p + (s-1-t)*d] * W[t]          out extent = in - (s-1)*d

All three kernels *accumulate* into their output array, because a node sums the
contributions of many edges; the caller zeroes the target first.

Loop order: for each output row and each kernel tap, the innermost loop runs over
contiguous x with the tap weight fixed (an axpy), which numba vectorises.
The functions are `nogil` and not `parallel`: the engine's own threads call them
concurrently on different map pairs.
"""

from __future__ import annotations

import numpy as np

from znn.base.jit import cached_njit
from znn.base.triples import triple


@cached_njit(nogil=True)
def _valid_extent(in_extent, size, dilation):
    """Output extent of a valid dilated convolution (may be <= 0 if it does not fit)."""
    return (
        in_extent[0] - (size[0] - 1) * dilation[0],
        in_extent[1] - (size[1] - 1) * dilation[1],
        in_extent[2] - (size[2] - 1) * dilation[2],
    )


@cached_njit(nogil=True)
def _check_shapes(big, kernel, dilation, small):
    # numba does not bounds-check, so a wrong shape would silently corrupt memory.
    if dilation[0] < 1 or dilation[1] < 1 or dilation[2] < 1:
        raise ValueError("dilation must be >= 1 on every axis")
    ext = _valid_extent(big.shape, kernel.shape, dilation)
    if ext[0] < 1 or ext[1] < 1 or ext[2] < 1:
        raise ValueError("dilated kernel is larger than the input map")
    if small.shape[0] != ext[0] or small.shape[1] != ext[1] or small.shape[2] != ext[2]:
        raise ValueError("output extent must be input - (size-1)*dilation")


@cached_njit(nogil=True)
def conv_forward_add(inp, kernel, dilation, out):
    """out += valid true convolution of `inp` with `kernel` dilated by `dilation`.

    inp: (Z, Y, X); kernel: (s0, s1, s2); out: (Z-(s0-1)d0, Y-(s1-1)d1, X-(s2-1)d2).
    """
    _check_shapes(inp, kernel, dilation, out)
    s0, s1, s2 = kernel.shape
    d0, d1, d2 = dilation[0], dilation[1], dilation[2]
    n0, n1, n2 = out.shape
    for z in range(n0):
        for t0 in range(s0):
            iz = z + (s0 - 1 - t0) * d0
            for y in range(n1):
                for t1 in range(s1):
                    iy = y + (s1 - 1 - t1) * d1
                    for t2 in range(s2):
                        w = kernel[t0, t1, t2]
                        ox = (s2 - 1 - t2) * d2
                        for x in range(n2):
                            out[z, y, x] += w * inp[iz, iy, x + ox]


@cached_njit(nogil=True)
def conv_input_grad_add(grad_out, kernel, dilation, grad_in):
    """grad_in += adjoint of the forward convolution applied to `grad_out`.

    This is the "full" transposed convolution:
    grad_in[p + (s-1-t)*d] += grad_out[p] * W[t].
    """
    _check_shapes(grad_in, kernel, dilation, grad_out)
    s0, s1, s2 = kernel.shape
    d0, d1, d2 = dilation[0], dilation[1], dilation[2]
    n0, n1, n2 = grad_out.shape
    for z in range(n0):
        for t0 in range(s0):
            iz = z + (s0 - 1 - t0) * d0
            for y in range(n1):
                for t1 in range(s1):
                    iy = y + (s1 - 1 - t1) * d1
                    for t2 in range(s2):
                        w = kernel[t0, t1, t2]
                        ox = (s2 - 1 - t2) * d2
                        for x in range(n2):
                            grad_in[iz, iy, x + ox] += w * grad_out[z, y, x]


@cached_njit(nogil=True)
def conv_kernel_grad_add(inp, grad_out, dilation, kgrad):
    """kgrad[t] += sum_p grad_out[p] * inp[p + (s-1-t)*d]  (kgrad has the kernel's shape).

    Each tap is one long dot product; it is accumulated in float64 so that float32
    maps with many voxels do not lose precision.
    """
    _check_shapes(inp, kgrad, dilation, grad_out)
    s0, s1, s2 = kgrad.shape
    d0, d1, d2 = dilation[0], dilation[1], dilation[2]
    n0, n1, n2 = grad_out.shape
    for t0 in range(s0):
        oz = (s0 - 1 - t0) * d0
        for t1 in range(s1):
            oy = (s1 - 1 - t1) * d1
            for t2 in range(s2):
                ox = (s2 - 1 - t2) * d2
                acc = 0.0
                for z in range(n0):
                    for y in range(n1):
                        for x in range(n2):
                            acc += grad_out[z, y, x] * inp[z + oz, y + oy, x + ox]
                kgrad[t0, t1, t2] += acc


def conv_output_shape(
    in_shape: tuple[int, int, int],
    kernel_shape: tuple[int, int, int],
    dilation: tuple[int, int, int],
) -> tuple[int, int, int]:
    """Extent of the valid dilated convolution: in - (s-1)*d per axis."""
    return triple(int(n - (s - 1) * d) for n, s, d in zip(in_shape, kernel_shape, dilation))


def dilate_kernel(kernel: np.ndarray, dilation: tuple[int, int, int]) -> np.ndarray:
    """The kernel with (d-1) zeros between taps: a plain kernel equivalent to the dilated one."""
    full = [(s - 1) * d + 1 for s, d in zip(kernel.shape, dilation)]
    out = np.zeros(full, dtype=kernel.dtype)
    out[:: dilation[0], :: dilation[1], :: dilation[2]] = kernel
    return out
