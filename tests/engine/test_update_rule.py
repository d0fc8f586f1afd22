"""The SGD update rule against the formulas of reference §3.3, iterated by hand."""

from __future__ import annotations

import numpy as np

from znn.network.update import Hyper, update_bias, update_kernel


def test_kernel_with_momentum_three_steps():
    rng = np.random.default_rng(0)
    w0, grads = rng.normal(size=(2, 3)), [rng.normal(size=(2, 3)) for _ in range(3)]
    h, ps = Hyper(eta=0.05, momentum=0.9, weight_decay=0.01), 18
    w, v = w0.copy(), np.zeros_like(w0)
    ew, ev = w0.copy(), np.zeros_like(w0)
    for g in grads:
        update_kernel(w, v, g, h, ps)
        ev = 0.9 * ev - (0.05 / 18) * g - 0.05 * 0.01 * ew
        ew = ew + ev
    np.testing.assert_allclose(w, ew, rtol=1e-14)
    np.testing.assert_allclose(v, ev, rtol=1e-14)


def test_kernel_without_momentum_leaves_the_buffer_alone():
    w = np.array([1.0, -2.0])
    v = np.array([7.0, 8.0])
    update_kernel(w, v, np.array([0.5, 0.25]), Hyper(0.1, 0.0, 0.2), 4)
    np.testing.assert_allclose(w, [(1 - 0.02) * 1.0 - 0.025 * 0.5, (1 - 0.02) * -2.0 - 0.025 * 0.25])
    np.testing.assert_array_equal(v, [7.0, 8.0])


def test_bias_always_uses_the_momentum_form_with_decay():
    b, v = np.array([0.5]), np.array([0.0])
    update_bias(b, v, np.array([2.0]), Hyper(0.1, 0.0, 0.2), 4)
    expected_v = -0.1 * 0.2 * 0.5 - (0.1 / 4) * 2.0
    np.testing.assert_allclose(v, [expected_v])
    np.testing.assert_allclose(b, [0.5 + expected_v])


def test_float32_arrays_stay_float32():
    w = np.ones(3, np.float32)
    v = np.zeros(3, np.float32)
    update_kernel(w, v, np.ones(3, np.float32), Hyper(0.1, 0.9, 0.01), 10)
    assert w.dtype == np.float32 and v.dtype == np.float32
