"""The per-tap BLAS convolution against the numba loop kernels (an independent reference):
forward, input gradient and kernel gradient, dilated and anisotropic, float32 and float64,
for any split into blocks of rows."""

from __future__ import annotations

import numpy as np
import pytest

from znn.kernels import blas, conv_direct, conv_gemm
from znn.layers.conv_gemm import limit_blas_threads


def _reference(src, kernels, grad, dilation):
    n_in, n_out = kernels.shape[:2]
    d = np.array(dilation, np.int64)
    out = np.zeros((n_out, *grad.shape[1:]), src.dtype)
    gin, kgrad = np.zeros_like(src), np.zeros_like(kernels)
    for i in range(n_in):
        for j in range(n_out):
            conv_direct.conv_forward_add(src[i], kernels[i, j], d, out[j])
            conv_direct.conv_input_grad_add(grad[j], kernels[i, j], d, gin[i])
            conv_direct.conv_kernel_grad_add(src[i], grad[j], d, kgrad[i, j])
    return out, gin, kgrad


def _blocks(size, per):
    return [(z, y, min(y + per, size[1])) for z in range(size[0]) for y in range(0, size[1], per)]


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("n_in,n_out,in_size,kernel,dilation,per", [
    (3, 4, (5, 20, 17), (2, 3, 3), (2, 2, 3), 7),   # 3-D, anisotropic kernel and dilation
    (2, 5, (1, 30, 33), (1, 4, 4), (1, 4, 4), 4),   # 2-D, dilated (N4's third layer shape)
    (3, 2, (6, 6, 6), (1, 1, 1), (1, 1, 1), 5),     # 1x1x1: a product over maps
    (1, 3, (4, 9, 8), (3, 2, 1), (1, 3, 1), 100),   # one block holding every row of a slice
])
def test_gemm_matches_the_loop_kernels(n_in, n_out, in_size, kernel, dilation, per, dtype, tol):
    limit_blas_threads()
    fn = blas.gemm_for(np.dtype(dtype))
    rng = np.random.default_rng(0)
    src = rng.standard_normal((n_in, *in_size)).astype(dtype)
    kernels = rng.standard_normal((n_in, n_out, *kernel)).astype(dtype)
    out_size = tuple(n - (s - 1) * d for n, s, d in zip(in_size, kernel, dilation))
    grad = rng.standard_normal((n_out, *out_size)).astype(dtype)
    ref_out, ref_gin, ref_kgrad = _reference(src, kernels, grad, dilation)
    ks, dl = np.array(kernel, np.int64), np.array(dilation, np.int64)
    taps = int(np.prod(kernel))

    out = np.full_like(ref_out, np.nan)
    weights = conv_gemm.forward_weights(kernels)
    for z, y0, y1 in _blocks(out_size, per):
        tmp = np.empty((n_out, (y1 - y0) * in_size[2]), dtype)
        conv_gemm.forward_block(fn, src, weights, ks, dl, z, y0, y1, tmp, out, False)

    margin = conv_gemm.wide_margin(kernel, dilation)
    wide = np.full(margin + n_out * out_size[0] * out_size[1] * in_size[2], np.nan, dtype)
    conv_gemm.widen_gradient(grad, 0, n_out, wide, margin)
    dims = np.array((n_out, out_size[0], out_size[1]))
    gin = np.full_like(src, np.nan)
    for z, y0, y1 in _blocks(in_size, per):
        conv_gemm.input_grad_block(fn, wide, margin, dims, weights, ks, dl, z, y0, y1, gin, False)

    total = np.zeros((taps, n_out, n_in), dtype)
    for block in _blocks(out_size, per):
        per_tap = np.full_like(total, np.nan)
        conv_gemm.kernel_grad_block(fn, src, wide, margin, dims, ks, dl, *block, per_tap)
        total += per_tap
    kgrad = conv_gemm.kernel_grad_from_taps(total, kernel)
    for name, got, ref in (("forward", out, ref_out), ("input gradient", gin, ref_gin),
                           ("kernel gradient", kgrad, ref_kgrad)):
        assert np.abs(got - ref).max() <= tol * np.abs(ref).max(), name


def test_accumulate_adds_to_what_is_there():
    limit_blas_threads()
    rng = np.random.default_rng(1)
    src = rng.standard_normal((2, 1, 9, 9))
    kernels = rng.standard_normal((2, 3, 1, 3, 3))
    out = np.ones((3, 1, 7, 7))
    conv_gemm.forward_block(blas.gemm_for(np.dtype("float64")), src, conv_gemm.forward_weights(kernels),
                            np.array((1, 3, 3)), np.ones(3, np.int64), 0, 0, 7, np.empty((3, 63)), out, True)
    ref, _, _ = _reference(src, kernels, np.zeros((3, 1, 7, 7)), (1, 1, 1))
    np.testing.assert_allclose(out, ref + 1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_in", [1, 3, 20])  # below UNROLL_BELOW the sources are unrolled
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 5e-5)])
def test_gemm_implementation_matches_the_loop_implementation(n_in, dtype, tol):
    """The conv kind's gemm and loop implementations on the same EdgeWork: forward, input and
    kernel gradients of target/source chunks, with a dilated anisotropic kernel."""
    from znn.layers.base import EdgeWork
    from znn.layers.conv import conv_impl
    from znn.netspec.graph import EdgeGeometry
    from znn.netspec.spec import EdgeGroup

    rng = np.random.default_rng(2)
    kernel, dilation, in_size, n_out = (2, 3, 2), (1, 2, 3), (4, 13, 11), 5
    out_size = tuple(n - (s - 1) * d for n, s, d in zip(in_size, kernel, dilation))
    geo = EdgeGeometry("c", "conv", "a", "b", kernel, dilation, in_size, out_size, 0)
    edge = EdgeGroup("c", "conv", "a", "b", size=kernel)
    work = EdgeWork(edge, geo, rng.standard_normal((n_in, *in_size)).astype(dtype), True,
                    kernels=rng.standard_normal((n_in, n_out, *kernel)).astype(dtype),
                    grad=rng.standard_normal((n_out, *out_size)).astype(dtype))
    gemm, loop = conv_impl("gemm"), conv_impl("loop")
    for a, b in ((0, n_out), (1, 3)):
        got, ref = np.empty((b - a, *out_size), dtype), np.empty((b - a, *out_size), dtype)
        gemm.forward(work, a, b, got)
        loop.forward(work, a, b, ref)
        assert np.abs(got - ref).max() <= tol * np.abs(ref).max()
        got_k, ref_k = np.zeros_like(work.kernels), np.zeros_like(work.kernels)
        gemm.kernel_grad(work, a, b, got_k)
        loop.kernel_grad(work, a, b, ref_k)
        assert np.abs(got_k - ref_k).max() <= tol * np.abs(ref_k).max()
    a, b = 0, n_in
    got, ref = np.empty((b - a, *in_size), dtype), np.empty((b - a, *in_size), dtype)
    gemm.input_grad(work, a, b, got)
    loop.input_grad(work, a, b, ref)
    assert np.abs(got - ref).max() <= tol * np.abs(ref).max()
