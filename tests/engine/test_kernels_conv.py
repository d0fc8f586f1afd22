"""Direct dilated convolution kernels vs scipy.signal and the adjoint identities."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from znn.kernels.conv_direct import (
    conv_forward_add,
    conv_input_grad_add,
    conv_kernel_grad_add,
    conv_output_shape,
    dilate_kernel,
)

# (input shape, kernel shape, dilation)
CASES = [
    ((5, 6, 7), (1, 1, 1), (1, 1, 1)),
    ((3, 9, 8), (1, 3, 3), (1, 1, 1)),
    ((4, 11, 10), (1, 3, 3), (1, 2, 2)),
    ((6, 7, 9), (2, 3, 4), (1, 1, 1)),
    ((7, 8, 13), (2, 3, 4), (2, 1, 3)),
    ((5, 9, 9), (2, 3, 4), (1, 2, 2)),
    ((3, 4, 5), (3, 4, 5), (1, 1, 1)),  # kernel as big as the input: 1 voxel out
]


def _random_case(in_shape, k_shape, dilation, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(in_shape).astype(dtype)
    w = rng.standard_normal(k_shape).astype(dtype)
    g = rng.standard_normal(conv_output_shape(in_shape, k_shape, dilation)).astype(dtype)
    return x, w, g


def _dilated_kernel_by_loops(w, dilation):
    """Independent construction of the dilated kernel (zeros between taps)."""
    full = [(s - 1) * d + 1 for s, d in zip(w.shape, dilation)]
    out = np.zeros(full)
    for t in np.ndindex(*w.shape):
        out[t[0] * dilation[0], t[1] * dilation[1], t[2] * dilation[2]] = w[t]
    return out


def test_dilate_kernel_helper():
    w = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    np.testing.assert_array_equal(dilate_kernel(w, (2, 1, 3)), _dilated_kernel_by_loops(w, (2, 1, 3)))


def test_definition_by_plain_loops():
    """The formula out[p] = sum_t in[p + (s-1-t)d] W[t] on a tiny case."""
    x, w, _ = _random_case((4, 5, 6), (2, 2, 3), (1, 2, 1), np.float64, 7)
    d = (1, 2, 1)
    out_shape = conv_output_shape(x.shape, w.shape, d)
    ref = np.zeros(out_shape)
    for p in np.ndindex(*out_shape):
        for t in np.ndindex(*w.shape):
            q = tuple(p[a] + (w.shape[a] - 1 - t[a]) * d[a] for a in range(3))
            ref[p] += x[q] * w[t]
    out = np.zeros(out_shape)
    conv_forward_add(x, w, d, out)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("in_shape,k_shape,dilation", CASES)
def test_forward_matches_scipy(in_shape, k_shape, dilation):
    x, w, _ = _random_case(in_shape, k_shape, dilation, np.float64, 1)
    ref = scipy.signal.convolve(x, _dilated_kernel_by_loops(w, dilation), mode="valid", method="direct")
    out = np.zeros(conv_output_shape(in_shape, k_shape, dilation))
    conv_forward_add(x, w, dilation, out)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


def test_forward_accumulates_and_accepts_int_array_dilation():
    x, w, _ = _random_case((5, 9, 9), (2, 3, 4), (1, 2, 2), np.float64, 2)
    ref = scipy.signal.convolve(x, _dilated_kernel_by_loops(w, (1, 2, 2)), mode="valid")
    out = np.full(ref.shape, 3.0)
    conv_forward_add(x, w, np.array([1, 2, 2], dtype=np.int64), out)
    np.testing.assert_allclose(out, ref + 3.0, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("in_shape,k_shape,dilation", CASES)
def test_adjoint_identities_float64(in_shape, k_shape, dilation):
    x, w, g = _random_case(in_shape, k_shape, dilation, np.float64, 3)
    fx = np.zeros_like(g)
    conv_forward_add(x, w, dilation, fx)
    gx = np.zeros_like(x)
    conv_input_grad_add(g, w, dilation, gx)
    gw = np.zeros_like(w)
    conv_kernel_grad_add(x, g, dilation, gw)
    lhs = float(np.sum(fx * g))
    scale = max(1.0, abs(lhs))
    assert abs(lhs - float(np.sum(x * gx))) <= 1e-12 * scale
    assert abs(lhs - float(np.sum(w * gw))) <= 1e-12 * scale


@pytest.mark.parametrize("in_shape,k_shape,dilation", CASES[2:5])
def test_gradients_match_scipy(in_shape, k_shape, dilation):
    """Input and kernel gradients against scipy correlations with the dilated kernel."""
    x, w, g = _random_case(in_shape, k_shape, dilation, np.float64, 4)
    wd = _dilated_kernel_by_loops(w, dilation)
    # adjoint of valid convolution = full cross-correlation = full convolution with the flipped kernel
    ref_gx = scipy.signal.convolve(g, wd[::-1, ::-1, ::-1], mode="full")
    gx = np.zeros_like(x)
    conv_input_grad_add(g, w, dilation, gx)
    np.testing.assert_allclose(gx, ref_gx, rtol=1e-12, atol=1e-12)
    # kernel grad: dE/dWd[u] = sum_p g[p] x[p + (S-1-u)] = valid correlation, flipped
    ref_gwd = scipy.signal.correlate(x, g, mode="valid")[::-1, ::-1, ::-1]
    gw = np.zeros_like(w)
    conv_kernel_grad_add(x, g, dilation, gw)
    np.testing.assert_allclose(gw, ref_gwd[:: dilation[0], :: dilation[1], :: dilation[2]],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("in_shape,k_shape,dilation", CASES[1:6])
def test_float32_agrees_with_float64(in_shape, k_shape, dilation):
    x, w, g = _random_case(in_shape, k_shape, dilation, np.float64, 5)
    results = {}
    for dtype in (np.float32, np.float64):
        xs, ws, gs = x.astype(dtype), w.astype(dtype), g.astype(dtype)
        fx = np.zeros(g.shape, dtype)
        conv_forward_add(xs, ws, dilation, fx)
        gx = np.zeros(x.shape, dtype)
        conv_input_grad_add(gs, ws, dilation, gx)
        gw = np.zeros(w.shape, dtype)
        conv_kernel_grad_add(xs, gs, dilation, gw)
        results[dtype] = (fx, gx, gw)
    for a32, a64 in zip(results[np.float32], results[np.float64]):
        assert a32.dtype == np.float32
        np.testing.assert_allclose(a32, a64, rtol=1e-5, atol=1e-5 * np.abs(a64).max())


def test_wrong_output_shape_raises():
    x = np.zeros((4, 5, 6))
    w = np.zeros((1, 3, 3))
    with pytest.raises(ValueError):
        conv_forward_add(x, w, (1, 1, 1), np.zeros((4, 3, 3)))
    with pytest.raises(ValueError):
        conv_forward_add(x, w, (1, 3, 3), np.zeros((4, 1, 1)))  # dilated kernel too big
    with pytest.raises(ValueError):
        conv_kernel_grad_add(x, np.zeros((4, 3, 4)), (1, 1, 1), np.zeros((1, 2, 3)))


def test_warm_up_compiles_every_kernel_for_both_dtypes():
    from znn import kernels

    kernels.warm_up(np.float32)
    kernels.warm_up(np.float64)
    for fn in (conv_forward_add, conv_input_grad_add, conv_kernel_grad_add,
               kernels.max_filter_forward, kernels.max_filter_backward_add):
        dtypes = {str(sig[0].dtype) for sig in fn.signatures}
        assert {"float32", "float64"} <= dtypes, fn


def test_concurrent_calls_from_threads_give_serial_results():
    from concurrent.futures import ThreadPoolExecutor

    x, w, _ = _random_case((4, 12, 12), (1, 3, 3), (1, 2, 2), np.float64, 9)
    serial = np.zeros(conv_output_shape(x.shape, w.shape, (1, 2, 2)))
    conv_forward_add(x, w, (1, 2, 2), serial)
    outs = [np.zeros_like(serial) for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda o: conv_forward_add(x, w, (1, 2, 2), o), outs))
    for o in outs:
        np.testing.assert_array_equal(o, serial)
