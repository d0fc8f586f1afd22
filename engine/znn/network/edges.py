"""Forward and backward of the non-FFT edges, one edge group at a time.

Each function works on whole node groups, arrays shaped (maps, z, y, x). Forward
functions add their contribution into the target accumulator; backward functions add
into the source gradient (when there is one) and return what the edge must remember.
"""

from __future__ import annotations

import numpy as np

from znn.kernels import conv_direct, elementwise, pooling
from znn.netspec.graph import EdgeGeometry
from znn.netspec.spec import EdgeGroup


def direct_conv_forward(src: np.ndarray, kernels: np.ndarray, geo: EdgeGeometry, acc: np.ndarray) -> None:
    """acc[j] += sum_i conv(src[i], kernels[i, j]) with the dilated kernel."""
    if geo.kernel == (1, 1, 1):
        # A 1x1x1 kernel is a per-voxel matrix product over maps.
        acc += np.tensordot(kernels[:, :, 0, 0, 0], src, axes=(0, 0))
        return
    dilation = np.array(geo.dilation, dtype=np.int64)
    for i in range(kernels.shape[0]):
        for j in range(kernels.shape[1]):
            conv_direct.conv_forward_add(src[i], kernels[i, j], dilation, acc[j])


def direct_conv_backward(src: np.ndarray, kernels: np.ndarray, geo: EdgeGeometry, grad: np.ndarray,
                         grad_src: np.ndarray | None) -> np.ndarray:
    """Kernel gradient (returned) and input gradient (added into grad_src when given)."""
    kgrad = np.zeros_like(kernels)
    if geo.kernel == (1, 1, 1):
        kgrad[:, :, 0, 0, 0] = np.tensordot(src, grad, axes=((1, 2, 3), (1, 2, 3)))
        if grad_src is not None:
            grad_src += np.tensordot(kernels[:, :, 0, 0, 0], grad, axes=(1, 0))
        return kgrad
    dilation = np.array(geo.dilation, dtype=np.int64)
    for i in range(kernels.shape[0]):
        for j in range(kernels.shape[1]):
            conv_direct.conv_kernel_grad_add(src[i], grad[j], dilation, kgrad[i, j])
            if grad_src is not None:
                conv_direct.conv_input_grad_add(grad[j], kernels[i, j], dilation, grad_src[i])
    return kgrad


def max_filter_forward(src: np.ndarray, geo: EdgeGeometry, acc: np.ndarray) -> np.ndarray:
    """Dense dilated max filter; returns the arg-max indices for the backward pass."""
    out = np.empty_like(acc)
    argmax = np.empty(acc.shape, dtype=np.int64)
    size = np.array(geo.kernel, dtype=np.int64)
    dilation = np.array(geo.dilation, dtype=np.int64)
    for k in range(src.shape[0]):
        pooling.max_filter_forward(src[k], size, dilation, out[k], argmax[k])
    acc += out
    return argmax


def max_pool_forward(src: np.ndarray, geo: EdgeGeometry, acc: np.ndarray) -> np.ndarray:
    out = np.empty_like(acc)
    argmax = np.empty(acc.shape, dtype=np.int64)
    size = np.array(geo.kernel, dtype=np.int64)
    for k in range(src.shape[0]):
        pooling.max_pool_forward(src[k], size, out[k], argmax[k])
    acc += out
    return argmax


def pool_backward(grad: np.ndarray, argmax: np.ndarray, grad_src: np.ndarray) -> None:
    """Route each output gradient to its arg-max input voxel (max_filter and max_pool)."""
    for k in range(grad.shape[0]):
        pooling.max_filter_backward_add(grad[k], argmax[k], grad_src[k])


def dropout_mask(shape: tuple[int, ...], keep: float, rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    """Inverted-dropout multipliers: 1/keep where kept, 0 where dropped (one draw per voxel)."""
    kept = elementwise.draw_dropout_mask(rng, shape, keep)
    return kept.astype(dtype) * dtype.type(1.0 / keep)


def crop_forward(src: np.ndarray, edge: EdgeGroup, acc: np.ndarray) -> None:
    oz, oy, ox = edge.effective_offset
    z, y, x = src.shape[1:]
    acc += src[:, oz:z - oz, oy:y - oy, ox:x - ox]


def crop_backward(grad: np.ndarray, edge: EdgeGroup, grad_src: np.ndarray) -> None:
    oz, oy, ox = edge.effective_offset
    z, y, x = grad_src.shape[1:]
    grad_src[:, oz:z - oz, oy:y - oy, ox:x - ox] += grad


def transfer_forward(node_function: str, args: tuple[float, ...], acc: np.ndarray, bias: np.ndarray) -> None:
    """acc <- f(acc + bias) per map, in place."""
    for k in range(acc.shape[0]):
        elementwise.apply_transfer(node_function, acc[k], float(bias[k]), args)


def transfer_backward(node_function: str, args: tuple[float, ...], grad: np.ndarray, value: np.ndarray) -> None:
    """grad <- grad * f'(value), in place (f' expressed in the output, as ZNN does)."""
    for k in range(grad.shape[0]):
        elementwise.transfer_grad_inplace(node_function, grad[k], value[k], args)
