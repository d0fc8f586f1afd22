"""Max-filter and max-pool kernels: values, the original's tie rule, gradient routing."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from znn.kernels.pooling import (
    max_filter_backward_add,
    max_filter_forward,
    max_pool_backward_add,
    max_pool_forward,
)

FILTER_CASES = [  # (input shape, size, dilation)
    ((4, 7, 8), (1, 2, 2), (1, 1, 1)),
    ((5, 9, 10), (2, 2, 2), (1, 2, 2)),
    ((6, 7, 11), (2, 3, 2), (2, 1, 3)),
    ((3, 5, 6), (1, 1, 1), (1, 1, 1)),
    ((4, 6, 6), (3, 2, 3), (1, 1, 1)),
]
POOL_CASES = [  # (input shape, size)
    ((4, 6, 8), (1, 2, 2)),
    ((6, 6, 9), (2, 3, 3)),
    ((4, 4, 4), (2, 2, 2)),
    ((2, 3, 5), (1, 1, 1)),
]


def _filter_shape(in_shape, size, dilation):
    return tuple(n - (w - 1) * d for n, w, d in zip(in_shape, size, dilation))


def _run_filter(inp, size, dilation):
    shape = _filter_shape(inp.shape, size, dilation)
    out = np.empty(shape, inp.dtype)
    argmax = np.empty(shape, np.int64)
    max_filter_forward(inp, size, dilation, out, argmax)
    return out, argmax


def _run_pool(inp, size):
    shape = tuple(n // w for n, w in zip(inp.shape, size))
    out = np.empty(shape, inp.dtype)
    argmax = np.empty(shape, np.int64)
    max_pool_forward(inp, size, out, argmax)
    return out, argmax


def separable_reference(inp, size, dilation):
    """The original's algorithm: 1-D passes along axis 0, 1, 2; replace only if strictly greater.

    Carries the flat index of the winning input voxel through the passes.
    """
    val = inp.astype(np.float64)
    idx = np.arange(inp.size, dtype=np.int64).reshape(inp.shape)
    for axis in range(3):
        w, d = size[axis], dilation[axis]
        new_shape = list(val.shape)
        new_shape[axis] -= (w - 1) * d
        new_val = np.empty(new_shape)
        new_idx = np.empty(new_shape, np.int64)
        for p in np.ndindex(*new_shape):
            best, best_i = val[p], idx[p]
            for t in range(1, w):
                q = list(p)
                q[axis] += t * d
                q = tuple(q)
                if val[q] > best:
                    best, best_i = val[q], idx[q]
            new_val[p], new_idx[p] = best, best_i
        val, idx = new_val, new_idx
    return val, idx


@pytest.mark.parametrize("in_shape,size,dilation", FILTER_CASES)
def test_max_filter_values_match_sliding_window(in_shape, size, dilation):
    rng = np.random.default_rng(0)
    inp = rng.standard_normal(in_shape)
    extent = tuple((w - 1) * d + 1 for w, d in zip(size, dilation))
    windows = sliding_window_view(inp, extent)[..., :: dilation[0], :: dilation[1], :: dilation[2]]
    ref = windows.max(axis=(-3, -2, -1))
    out, argmax = _run_filter(inp, size, dilation)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(inp.reshape(-1)[argmax], out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("in_shape,size,dilation", FILTER_CASES)
def test_max_filter_ties_follow_separable_original(in_shape, size, dilation, dtype):
    rng = np.random.default_rng(1)
    inp = rng.integers(0, 3, size=in_shape).astype(dtype)  # many ties
    ref_val, ref_idx = separable_reference(inp, size, dilation)
    out, argmax = _run_filter(inp, size, dilation)
    np.testing.assert_array_equal(out, ref_val)
    np.testing.assert_array_equal(argmax, ref_idx)


def test_tie_rule_prefers_lowest_x_then_y_then_z():
    """All-equal window: the winner is the window's first voxel; with a later-x tie, lowest x wins."""
    inp = np.zeros((2, 2, 2))
    inp[1, 0, 0] = 5.0  # high z, low x
    inp[0, 1, 1] = 5.0  # low z, high x
    out, argmax = _run_filter(inp, (2, 2, 2), (1, 1, 1))
    assert out[0, 0, 0] == 5.0
    assert np.unravel_index(argmax[0, 0, 0], inp.shape) == (1, 0, 0)
    ref_val, ref_idx = separable_reference(inp, (2, 2, 2), (1, 1, 1))
    assert ref_idx[0, 0, 0] == argmax[0, 0, 0]


def _finite_difference_check(forward, backward, inp, rng):
    """dE/dinp for E = <forward(inp), g> by central differences vs the backward kernel."""
    out, argmax = forward(inp)
    g = rng.standard_normal(out.shape)
    grad = np.zeros_like(inp)
    backward(g, argmax, grad)
    h = 1e-6  # much smaller than the gap between distinct values
    numeric = np.empty_like(inp)
    for i in range(inp.size):
        plus, minus = inp.copy(), inp.copy()
        plus.reshape(-1)[i] += h
        minus.reshape(-1)[i] -= h
        numeric.reshape(-1)[i] = (np.sum(forward(plus)[0] * g) - np.sum(forward(minus)[0] * g)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_max_filter_gradient_vs_finite_differences():
    rng = np.random.default_rng(2)
    shape = (3, 6, 7)
    inp = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) * 0.01  # tie-free
    _finite_difference_check(
        lambda a: _run_filter(a, (2, 2, 3), (1, 2, 1)), max_filter_backward_add, inp, rng
    )


def test_max_filter_backward_accumulates():
    inp = np.zeros((1, 1, 3))
    inp[0, 0, 1] = 1.0  # the max of both windows of size 2
    out, argmax = _run_filter(inp, (1, 1, 2), (1, 1, 1))
    grad = np.full(inp.shape, 10.0)
    max_filter_backward_add(np.array([[[2.0, 3.0]]]), argmax, grad)
    np.testing.assert_array_equal(grad, [[[10.0, 15.0, 10.0]]])


@pytest.mark.parametrize("in_shape,size", POOL_CASES)
def test_max_pool_values_and_ties(in_shape, size):
    rng = np.random.default_rng(3)
    inp = rng.integers(0, 3, size=in_shape).astype(np.float32)
    blocks = inp.reshape(in_shape[0] // size[0], size[0], in_shape[1] // size[1], size[1],
                         in_shape[2] // size[2], size[2])
    out, argmax = _run_pool(inp, size)
    np.testing.assert_array_equal(out, blocks.max(axis=(1, 3, 5)))
    # pooling = the dense max filter sampled at block corners, so the same tie rule applies
    _, ref_idx = separable_reference(inp, size, (1, 1, 1))
    np.testing.assert_array_equal(argmax, ref_idx[:: size[0], :: size[1], :: size[2]])


def test_max_pool_gradient_vs_finite_differences():
    rng = np.random.default_rng(4)
    shape = (2, 6, 6)
    inp = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) * 0.01
    _finite_difference_check(lambda a: _run_pool(a, (2, 3, 2)), max_pool_backward_add, inp, rng)


def test_max_pool_rejects_non_dividing_size():
    inp = np.zeros((4, 6, 7))
    with pytest.raises(ValueError, match="divide"):
        max_pool_forward(inp, (2, 2, 2), np.empty((2, 3, 3)), np.empty((2, 3, 3), np.int64))
    with pytest.raises(ValueError):
        max_pool_forward(np.zeros((4, 6, 8)), (2, 2, 2), np.empty((2, 3, 3)), np.empty((2, 3, 3), np.int64))


def test_max_filter_rejects_wrong_shapes():
    inp = np.zeros((4, 6, 7))
    with pytest.raises(ValueError):
        max_filter_forward(inp, (2, 2, 2), (1, 1, 1), np.empty((3, 5, 5)), np.empty((3, 5, 5), np.int64))
    with pytest.raises(ValueError):
        max_filter_backward_add(np.ones((1, 1, 1)), np.array([[[99]]], dtype=np.int64), np.zeros((2, 2, 2)))
