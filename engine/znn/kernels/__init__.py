"""Direct (non-FFT) per-map layer kernels: convolution, max filtering/pooling, voxel-wise ops.

All numba kernels are `nogil` and single-threaded: the engine runs many of them at
once from its own threads. They compile on first call; `warm_up` forces that early.
"""

from __future__ import annotations

import numpy as np

from znn.kernels.conv_direct import (
    conv_forward_add,
    conv_input_grad_add,
    conv_kernel_grad_add,
    conv_output_shape,
    dilate_kernel,
)
from znn.kernels.elementwise import (
    TRANSFER_CODES,
    apply_transfer,
    crop_backward,
    crop_forward,
    crop_output_shape,
    draw_dropout_mask,
    dropout_backward,
    dropout_forward,
    transfer_grad_inplace,
    transfer_maps_backward,
    transfer_maps_forward,
)
from znn.kernels.pooling import (
    max_filter_backward_add,
    max_filter_forward,
    max_pool_backward_add,
    max_pool_forward,
    max_pool_output_shape,
)

__all__ = [
    "TRANSFER_CODES",
    "apply_transfer",
    "conv_forward_add",
    "conv_input_grad_add",
    "conv_kernel_grad_add",
    "conv_output_shape",
    "crop_backward",
    "crop_forward",
    "crop_output_shape",
    "dilate_kernel",
    "draw_dropout_mask",
    "dropout_backward",
    "dropout_forward",
    "max_filter_backward_add",
    "max_filter_forward",
    "max_pool_backward_add",
    "max_pool_forward",
    "max_pool_output_shape",
    "transfer_grad_inplace",
    "transfer_maps_backward",
    "transfer_maps_forward",
    "warm_up",
]


def _warm_up_gemm(dt: np.dtype) -> None:
    """Compile the per-tap BLAS convolution kernels (they call scipy's BLAS)."""
    from znn.kernels import blas, conv_gemm

    fn = blas.gemm_for(dt)
    kshape, dilation = np.array((1, 2, 2)), np.ones(3, np.int64)
    src, kernels = np.ones((2, 1, 3, 3), dt), np.ones((2, 2, 1, 2, 2), dt)
    out, grad = np.zeros((2, 1, 2, 2), dt), np.ones((2, 1, 2, 2), dt)
    weights = conv_gemm.forward_weights(kernels)
    conv_gemm.forward_block(fn, src, weights, kshape, dilation, 0, 0, 2, np.empty((2, 6), dt), out, False)
    margin = conv_gemm.wide_margin((1, 2, 2), (1, 1, 1))
    wide, dims = np.empty(margin + 12, dt), np.array((2, 1, 2))
    conv_gemm.widen_gradient(grad, 0, 2, wide, margin)
    conv_gemm.input_grad_block(fn, wide, margin, dims, weights, kshape, dilation, 0, 0, 3, np.zeros_like(src),
                               False)
    conv_gemm.kernel_grad_block(fn, src, wide, margin, dims, kshape, dilation, 0, 0, 2, np.empty((4, 2, 2), dt))
    rows = np.empty((4, 6), dt)
    conv_gemm.forward_block_unrolled(fn, src, conv_gemm.unrolled_weights(kernels), kshape, dilation, 0, 0, 2, rows,
                                     np.empty((2, 6), dt), out, False)
    conv_gemm.kernel_grad_block_unrolled(fn, src, wide, margin, dims, kshape, dilation, 0, 0, 2, rows,
                                         np.empty((2, 2, 4), dt))


def warm_up(dtype: type | np.dtype = np.float32) -> None:
    """Call every kernel once on tiny arrays of `dtype` so numba compiles before threaded work.

    Dilations and sizes are passed as tuples of Python ints; callers passing int64 arrays
    trigger one more (small) compilation per kernel.
    """
    dt = np.dtype(dtype)
    inp = np.ones((2, 3, 3), dt)
    kernel = np.ones((1, 2, 2), dt)
    one = (1, 1, 1)
    out = np.zeros((2, 2, 2), dt)
    conv_forward_add(inp, kernel, one, out)
    conv_input_grad_add(out, kernel, one, np.zeros_like(inp))
    conv_kernel_grad_add(inp, out, one, np.zeros_like(kernel))

    argmax = np.zeros((2, 2, 2), np.int64)
    max_filter_forward(inp, (1, 2, 2), one, out, argmax)
    max_filter_backward_add(out, argmax, np.zeros_like(inp))
    pooled = np.zeros((2, 1, 1), dt)
    pool_argmax = np.zeros((2, 1, 1), np.int64)
    max_pool_forward(inp, (1, 3, 3), pooled, pool_argmax)
    max_pool_backward_add(pooled, pool_argmax, np.zeros_like(inp))

    for name in TRANSFER_CODES:  # one compiled kernel serves all names; this also checks each path
        y = inp.copy()
        apply_transfer(name, y, 0.0)
        transfer_grad_inplace(name, np.ones_like(y), y)
        maps = inp[np.newaxis].copy()
        transfer_maps_forward(name, maps, np.zeros(1, dt))
        transfer_maps_backward(name, np.ones_like(maps), maps)
    _warm_up_gemm(dt)
    mask = np.ones(inp.shape, np.bool_)
    dropped = np.empty_like(inp)
    dropout_forward(inp, 0.5, mask, dropped)
    dropout_backward(dropped, 0.5, mask, np.empty_like(inp))
