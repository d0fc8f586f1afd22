"""The update rules against their formulas, iterated by hand: ZNN's SGD (reference §3.3) and Adam
(Kingma & Ba 2015, Algorithm 1, with AdamW's decoupled weight decay)."""

from __future__ import annotations

import numpy as np
import pytest

from znn.passes.update import AdamStep, Hyper, update_bias, update_kernel


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


@pytest.mark.parametrize("update", [update_kernel, update_bias])
def test_adam_five_steps_follow_the_paper(update):
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=7)
    grads = [rng.normal(size=7) * scale for scale in (1.0, 10.0, 0.1, 3.0, 1.0)]
    eta, beta1, beta2, eps, decay = 0.01, 0.9, 0.999, 1e-8, 0.02
    w, m, v = w0.copy(), np.zeros(7), np.zeros(7)
    ew, em, ev = w0.copy(), np.zeros(7), np.zeros(7)
    for t, g in enumerate(grads, start=1):
        update(w, m, g, Hyper(eta, beta1, decay, AdamStep(t, beta1, beta2, eps)), 99, v)
        em = beta1 * em + (1 - beta1) * g
        ev = beta2 * ev + (1 - beta2) * g * g
        m_hat, v_hat = em / (1 - beta1 ** t), ev / (1 - beta2 ** t)
        ew = ew - eta * decay * ew - eta * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(w, ew, rtol=1e-12)
    np.testing.assert_allclose(m, em, rtol=1e-12)
    np.testing.assert_allclose(v, ev, rtol=1e-12)


def test_adam_steps_do_not_depend_on_the_gradient_scale():
    """Why strokes train with Adam: a patch with few painted voxels moves the weights as far."""
    moved = []
    for scale in (1.0, 1e-3):
        w, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
        update_kernel(w, m, np.array([1.0, -2.0, 0.5]) * scale, Hyper(0.001, 0.9, 0.0, AdamStep(1, 0.9)), 1, v)
        moved.append(w)
    np.testing.assert_allclose(moved[0], moved[1], rtol=1e-4)
    np.testing.assert_allclose(moved[0], [-0.001, 0.001, -0.001], rtol=1e-4)


def test_adam_without_its_second_moment_buffer_is_refused():
    with pytest.raises(ValueError, match="second-moment"):
        update_kernel(np.zeros(2), np.zeros(2), np.ones(2), Hyper(0.1, 0.9, 0.0, AdamStep(1, 0.9)), 1)
    with pytest.raises(ValueError, match="count from 1"):
        AdamStep(0, 0.9)
