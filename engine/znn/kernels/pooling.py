"""Max-filtering (dense, dilated sliding max) and max-pooling of one map (§2.2).

Both record, for every output voxel, the flat C index into the input of the voxel
that won, so that the backward pass can route the gradient there.

Tie rule. The original computes the max as separable 1-D passes along axis 0, then
1, then 2, each replacing only if strictly greater (ties go to the lowest index of
that pass). The last pass (x) therefore decides first: the winner has the lowest x
tap; among those, the lowest y tap; then the lowest z tap. Scanning the taps with x
outermost, y, then z innermost and replacing only on "strictly greater" picks
exactly that voxel.
"""

from __future__ import annotations

import numpy as np

from znn.base.jit import cached_njit
from znn.base.triples import triple


@cached_njit(nogil=True)
def max_filter_forward(inp, size, dilation, out, argmax):
    """out[p] = max over taps t of inp[p + t*d] (not flipped); argmax[p] = flat index of the winner.

    out, argmax: extent inp - (size-1)*dilation per axis; argmax is int64.
    """
    w0, w1, w2 = size[0], size[1], size[2]
    d0, d1, d2 = dilation[0], dilation[1], dilation[2]
    if w0 < 1 or w1 < 1 or w2 < 1 or d0 < 1 or d1 < 1 or d2 < 1:
        raise ValueError("max_filter size and dilation must be >= 1")
    n0 = inp.shape[0] - (w0 - 1) * d0
    n1 = inp.shape[1] - (w1 - 1) * d1
    n2 = inp.shape[2] - (w2 - 1) * d2
    if n0 < 1 or n1 < 1 or n2 < 1:
        raise ValueError("max_filter window is larger than the input map")
    if out.shape != (n0, n1, n2) or argmax.shape != (n0, n1, n2):
        raise ValueError("max_filter output extent must be input - (size-1)*dilation")
    ny, nx = inp.shape[1], inp.shape[2]
    # Whole output rows at a time (the x loop vectorises); per voxel the taps are still
    # visited x-tap outermost, then y, then z, so ties resolve as described above.
    for z in range(n0):
        for y in range(n1):
            best = out[z, y]
            won = argmax[z, y]
            row = inp[z, y]
            base = (z * ny + y) * nx
            for x in range(n2):
                best[x] = row[x]
                won[x] = base + x
            for t2 in range(w2):
                for t1 in range(w1):
                    for t0 in range(w0):
                        iz = z + t0 * d0
                        iy = y + t1 * d1
                        src = inp[iz, iy]
                        off = t2 * d2
                        first = (iz * ny + iy) * nx + off
                        for x in range(n2):
                            v = src[x + off]
                            if v > best[x]:
                                best[x] = v
                                won[x] = first + x


@cached_njit(nogil=True)
def max_filter_backward_add(grad_out, argmax, grad_in):
    """grad_in.flat[argmax[p]] += grad_out[p] (accumulates where one voxel won several windows)."""
    if grad_out.shape != argmax.shape:
        raise ValueError("argmax must have the shape of grad_out")
    flat_in = grad_in.reshape(-1)  # a view: grad_in is C-contiguous
    g = grad_out.reshape(-1)
    a = argmax.reshape(-1)
    n_in = flat_in.size
    for i in range(g.size):
        k = a[i]
        if k < 0 or k >= n_in:
            raise ValueError("argmax index outside grad_in")
        flat_in[k] += g[i]


@cached_njit(nogil=True)
def _max_pool_forward_kernel(inp, size, out, argmax):
    w0, w1, w2 = size[0], size[1], size[2]
    n0, n1, n2 = out.shape
    ny, nx = inp.shape[1], inp.shape[2]
    for z in range(n0):
        for y in range(n1):
            z0, y0 = z * w0, y * w1
            best = out[z, y]
            won = argmax[z, y]
            src = inp[z0, y0]
            base = (z0 * ny + y0) * nx
            for x in range(n2):
                best[x] = src[x * w2]
                won[x] = base + x * w2
            for t2 in range(w2):  # same tap order, hence the same tie rule, as max_filter
                for t1 in range(w1):
                    for t0 in range(w0):
                        iz, iy = z0 + t0, y0 + t1
                        src = inp[iz, iy]
                        first = (iz * ny + iy) * nx + t2
                        for x in range(n2):
                            v = src[x * w2 + t2]
                            if v > best[x]:
                                best[x] = v
                                won[x] = first + x * w2


def max_pool_output_shape(in_shape: tuple[int, ...], size: tuple[int, ...]) -> tuple[int, int, int]:
    """Extent after non-overlapping pooling; ValueError unless `size` divides the input extent."""
    if len(in_shape) != 3 or len(size) != 3:
        raise ValueError(f"max_pool needs 3-D shapes, got input {in_shape} and size {size}")
    if any(int(w) < 1 for w in size):
        raise ValueError(f"max_pool size must be >= 1 on every axis, got {tuple(size)}")
    if any(int(n) % int(w) for n, w in zip(in_shape, size)):
        raise ValueError(
            f"max_pool size {tuple(int(w) for w in size)} does not divide the input extent {tuple(in_shape)}"
        )
    return triple(int(n) // int(w) for n, w in zip(in_shape, size))


def max_pool_forward(inp: np.ndarray, size, out: np.ndarray, argmax: np.ndarray) -> None:
    """out = max over non-overlapping `size` blocks of inp; argmax = flat index of each winner.

    `size` is a 3-tuple (or int64 array) that must divide inp's extent (ValueError otherwise).
    """
    expected = max_pool_output_shape(inp.shape, tuple(size))
    if out.shape != expected or argmax.shape != expected:
        raise ValueError(f"max_pool output must have extent {expected}, got {out.shape} and {argmax.shape}")
    if argmax.dtype != np.int64:
        raise ValueError(f"argmax must be int64, got {argmax.dtype}")
    _max_pool_forward_kernel(inp, (int(size[0]), int(size[1]), int(size[2])), out, argmax)


# Routing to the recorded winner is the same operation for pooling and filtering.
max_pool_backward_add = max_filter_backward_add
