"""Transfer functions (values, derivatives in the output), dropout and crop."""

from __future__ import annotations

import numpy as np
import pytest

from znn.kernels.elementwise import (
    TRANSFER_CODES,
    apply_transfer,
    crop_backward,
    crop_forward,
    crop_output_shape,
    draw_dropout_mask,
    dropout_backward,
    dropout_forward,
    transfer_args,
    transfer_grad_inplace,
)

# name, function_args, the formula in numpy (x already includes the bias)
FORMULAS = [
    ("linear", None, lambda x: x),
    ("linear", [2.5], lambda x: 2.5 * x),
    ("linear", [2.5, -0.75], lambda x: 2.5 * x - 0.75),
    ("rectify_linear", None, lambda x: np.maximum(x, 0.0)),
    ("tanh", None, lambda x: np.tanh(x)),
    ("tanh", [1.7159, 0.6666], lambda x: 1.7159 * np.tanh(0.6666 * x)),
    ("soft_sign", None, lambda x: x / (1.0 + np.abs(x))),
    ("logistics", None, lambda x: 1.0 / (1.0 + np.exp(-x))),
    ("forward_logistics", None, lambda x: 1.0 / (1.0 + np.exp(-x))),
]


def _points(seed=0, shape=(3, 4, 5)):
    x = np.random.default_rng(seed).uniform(-3.0, 3.0, size=shape)
    x[np.abs(x) < 1e-3] = 0.5  # keep away from relu's kink
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,args,formula", FORMULAS)
def test_transfer_values(name, args, formula, dtype):
    x = _points(1)
    bias = 0.3
    y = x.astype(dtype)
    apply_transfer(name, y, bias, args)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, formula(x.astype(dtype).astype(np.float64) + bias), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,args,formula", FORMULAS)
def test_transfer_derivative_in_output_vs_finite_differences(name, args, formula):
    x = _points(2)
    y = x.copy()
    apply_transfer(name, y, 0.0, args)
    g = np.random.default_rng(3).standard_normal(x.shape)
    got = g.copy()
    transfer_grad_inplace(name, got, y, args)
    h = 1e-5
    derivative = (formula(x + h) - formula(x - h)) / (2 * h)
    if name == "forward_logistics":
        derivative = np.ones_like(x)  # by design, no derivative is applied
    np.testing.assert_allclose(got, g * derivative, rtol=1e-6, atol=1e-9)


def test_transfer_args_defaults_and_unknown_names():
    assert transfer_args("linear", None) == (1.0, 0.0)
    assert transfer_args("linear", [3.0]) == (3.0, 0.0)
    assert transfer_args("tanh", None) == (1.0, 1.0)
    assert set(TRANSFER_CODES) == {
        "linear", "rectify_linear", "tanh", "soft_sign", "logistics", "forward_logistics"
    }
    x = np.zeros((1, 1, 2))
    with pytest.raises(ValueError, match="forward_logistic"):
        apply_transfer("forward_logistic", x)
    with pytest.raises(ValueError):
        apply_transfer("linear", x, 0.0, [1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        apply_transfer("tanh", np.zeros((2, 2, 2))[:, :, ::2])  # not contiguous: cannot work in place


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_exact_values_given_mask(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4)).astype(dtype)
    mask = rng.random(x.shape) < 0.5
    out = np.empty_like(x)
    used = dropout_forward(x, 0.4, mask, out)
    expected = np.where(mask, x.astype(np.float64) / 0.4, 0.0)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert used is not None and np.array_equal(used, mask)
    g = rng.standard_normal(x.shape).astype(dtype)
    gin = np.full_like(x, 99.0)
    dropout_backward(g, 0.4, used, gin)
    np.testing.assert_allclose(gin, np.where(mask, g.astype(np.float64) / 0.4, 0.0), rtol=1e-6)


def test_dropout_test_phase_is_identity():
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    out = np.empty_like(x)
    assert dropout_forward(x, 0.5, None, out, train=False) is None
    np.testing.assert_array_equal(out, x)
    gin = np.empty_like(x)
    dropout_backward(x, 0.5, None, gin, train=False)
    np.testing.assert_array_equal(gin, x)


def test_dropout_draws_from_generator_reproducibly():
    x = np.ones((20, 50, 50))
    out1, out2 = np.empty_like(x), np.empty_like(x)
    m1 = dropout_forward(x, 0.3, np.random.default_rng(6), out1)
    m2 = dropout_forward(x, 0.3, np.random.default_rng(6), out2)
    assert np.array_equal(m1, m2)
    assert abs(m1.mean() - 0.3) < 0.01  # 50000 voxels: std of the mean is 0.002
    np.testing.assert_allclose(out1, np.where(m1, 1.0 / 0.3, 0.0))
    assert abs(draw_dropout_mask(np.random.default_rng(7), (100000,), 0.8).mean() - 0.8) < 0.01


def test_dropout_rejects_bad_ratio_and_mask():
    x = np.ones((2, 2, 2))
    with pytest.raises(ValueError):
        dropout_forward(x, 0.0, np.random.default_rng(0), np.empty_like(x))
    with pytest.raises(ValueError):
        dropout_forward(x, 0.5, np.ones((2, 2, 3), bool), np.empty_like(x))


@pytest.mark.parametrize("offset", [(0, 0, 0), (1, 2, 0), (0, 1, 3), (2, 2, 2)])
def test_crop_forward_and_backward_exact(offset):
    x = np.arange(6 * 7 * 8, dtype=np.float64).reshape(6, 7, 8)
    shape = crop_output_shape(x.shape, offset)
    out = np.empty(shape)
    crop_forward(x, offset, out)
    o = offset
    np.testing.assert_array_equal(out, x[o[0]:6 - o[0], o[1]:7 - o[1], o[2]:8 - o[2]])
    grad_in = np.full(x.shape, 7.0)
    crop_backward(out, offset, grad_in)
    expected = np.zeros_like(x)
    for p in np.ndindex(*x.shape):
        if all(o[a] <= p[a] < x.shape[a] - o[a] for a in range(3)):
            expected[p] = x[p]
    np.testing.assert_array_equal(grad_in, expected)


def test_crop_rejects_too_large_offset():
    with pytest.raises(ValueError):
        crop_output_shape((4, 5, 6), (2, 0, 0))
