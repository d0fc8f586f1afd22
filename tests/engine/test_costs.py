"""Cost functions of znn.train.costs against finite differences and explicit loops."""

from __future__ import annotations

import numpy as np
import pytest

from znn.train.costs import (
    COST_FUNCTIONS,
    compute_cost,
    malis_bce_metrics,
    pixel_error_count,
    softmax,
)

SHAPE = (2, 1, 3, 4)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _fd_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar f at x, one entry at a time."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def _random_case(rng: np.random.Generator, shape=SHAPE):
    mask = (rng.random(shape) < 0.7).astype(np.float64) * rng.uniform(0.5, 2.0, shape)
    return rng.random(shape), rng.random(shape), mask


@pytest.mark.parametrize("seed", range(3))
def test_square_loss_gradient_matches_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, lbl, m = _random_case(rng)
    res = compute_cost("square_loss", {"o": p}, {"o": lbl}, {"o": m})
    fd = _fd_grad(lambda q: compute_cost("square_loss", {"o": q}, {"o": lbl}, {"o": m}).cost, p)
    np.testing.assert_allclose(res.grads["o"], fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res.props["o"], p * m)
    assert res.cost == pytest.approx(np.sum(m * (p - lbl) ** 2))


@pytest.mark.parametrize("seed", range(3))
def test_square_square_gradient_matches_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, lbl, m = _random_case(rng)
    # Keep residuals away from the dead-zone edge |p - l| = 0.2 (a jump in the cost).
    bad = np.abs(np.abs(p - lbl) - 0.2) < 0.02
    p[bad] = np.clip(p[bad] + 0.1, 0, 1)
    assert not np.any(np.abs(np.abs(p - lbl) - 0.2) < 0.01)
    name = "square_square_loss"
    res = compute_cost(name, {"o": p}, {"o": lbl}, {"o": m})
    fd = _fd_grad(lambda q: compute_cost(name, {"o": q}, {"o": lbl}, {"o": m}).cost, p)
    np.testing.assert_allclose(res.grads["o"], fd, rtol=1e-6, atol=1e-8)
    r = np.where(np.abs(p - lbl) <= 0.2, 0.0, p - lbl)
    assert res.cost == pytest.approx(np.sum(m * r * r))
    np.testing.assert_allclose(res.props["o"], p * m)


def test_square_square_dead_zone_values() -> None:
    p = np.array([0.5, 0.5, 0.5, 0.5]).reshape(1, 1, 1, 4)
    lbl = np.array([0.5, 0.35, 0.2, 1.0]).reshape(1, 1, 1, 4)
    res = compute_cost("square_square_loss", {"o": p}, {"o": lbl})
    np.testing.assert_allclose(res.grads["o"].ravel(), [0, 0, 0.6, -1.0])
    assert res.cost == pytest.approx(0.09 + 0.25)


@pytest.mark.parametrize("seed", range(3))
def test_binomial_cross_entropy_gradient_is_wrt_logit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, SHAPE)
    _, lbl, m = _random_case(rng)
    lbl = np.where(rng.random(SHAPE) < 0.5, lbl, np.round(lbl))  # soft and hard labels
    name = "binomial_cross_entropy"
    res = compute_cost(name, {"o": _sigmoid(z)}, {"o": lbl}, {"o": m})
    fd = _fd_grad(lambda q: compute_cost(name, {"o": _sigmoid(q)}, {"o": lbl}, {"o": m}).cost, z)
    np.testing.assert_allclose(res.grads["o"], fd, rtol=1e-6, atol=1e-8)
    p = _sigmoid(z)
    expect = np.sum(m * (-lbl * np.log(p) - (1 - lbl) * np.log(1 - p)))
    assert res.cost == pytest.approx(expect)
    np.testing.assert_array_equal(res.props["o"], p)  # unmasked props


@pytest.mark.parametrize("channels", [2, 3])
def test_softmax_loss_gradient_is_wrt_linear_outputs(channels: int) -> None:
    rng = np.random.default_rng(channels)
    shape = (channels, 2, 2, 3)
    x = rng.normal(0, 2, shape)
    lbl = np.eye(channels)[rng.integers(0, channels, shape[1:])].transpose(3, 0, 1, 2)
    vox_mask = (rng.random(shape[1:]) < 0.7) * rng.uniform(0.5, 2.0, shape[1:])
    m = np.broadcast_to(vox_mask, shape).copy()  # equal in every channel, like ZNN's tiling
    name = "softmax_loss"
    res = compute_cost(name, {"o": x}, {"o": lbl}, {"o": m})
    fd = _fd_grad(lambda q: compute_cost(name, {"o": q}, {"o": lbl}, {"o": m}).cost, x)
    np.testing.assert_allclose(res.grads["o"], fd, rtol=1e-6, atol=1e-8)
    s = res.props["o"]
    np.testing.assert_allclose(s.sum(axis=0), 1.0)
    e = np.exp(x)
    np.testing.assert_allclose(s, e / e.sum(axis=0))
    assert res.cost == pytest.approx(np.sum(m * -lbl * np.log(s)))


@pytest.mark.parametrize("name", COST_FUNCTIONS)
def test_masked_voxels_contribute_nothing(name: str) -> None:
    rng = np.random.default_rng(7)
    p, lbl, _ = _random_case(rng)
    m = (rng.random(SHAPE[1:]) < 0.5).astype(float)
    m = np.broadcast_to(m, SHAPE).copy()
    base = compute_cost(name, {"o": p}, {"o": lbl}, {"o": m})
    p2, l2 = p.copy(), lbl.copy()
    off = m == 0
    p2[off] = rng.random(np.count_nonzero(off))
    l2[off] = rng.random(np.count_nonzero(off))
    other = compute_cost(name, {"o": p2}, {"o": l2}, {"o": m})
    assert other.cost == pytest.approx(base.cost)
    assert np.all(base.grads["o"][off] == 0)


@pytest.mark.parametrize("name", COST_FUNCTIONS)
def test_missing_mask_means_all_ones_and_inputs_untouched(name: str) -> None:
    rng = np.random.default_rng(3)
    p, lbl, m = _random_case(rng)
    outs = {"a": p, "b": p[::-1].copy()}
    lbls = {"a": lbl, "b": lbl[::-1].copy()}
    saved = [a.copy() for a in (*outs.values(), *lbls.values(), m)]
    none = compute_cost(name, outs, lbls)
    partial = compute_cost(name, outs, lbls, {"a": np.ones(SHAPE), "b": np.zeros(0)})
    ones = compute_cost(name, outs, lbls, {"a": np.ones(SHAPE), "b": np.ones(SHAPE)})
    compute_cost(name, outs, lbls, {"a": m, "b": m})
    for r in (partial, ones):
        assert r.cost == pytest.approx(none.cost)
        for k in outs:
            np.testing.assert_allclose(r.grads[k], none.grads[k])
            np.testing.assert_allclose(r.props[k], none.props[k])
    for before, after in zip(saved, (*outs.values(), *lbls.values(), m)):
        np.testing.assert_array_equal(before, after)
    single = sum(compute_cost(name, {k: outs[k]}, {k: lbls[k]}).cost for k in outs)
    assert none.cost == pytest.approx(single)


@pytest.mark.parametrize("name", COST_FUNCTIONS)
def test_dtype_of_outputs_is_kept(name: str) -> None:
    rng = np.random.default_rng(1)
    p, lbl, m = _random_case(rng)
    res = compute_cost(name, {"o": p.astype(np.float32)}, {"o": lbl}, {"o": m})
    assert res.props["o"].dtype == np.float32
    assert res.grads["o"].dtype == np.float32
    assert isinstance(res.cost, float)


@pytest.mark.parametrize("what", ["label", "mask"])
def test_shape_mismatch_raises_with_name_and_shapes(what: str) -> None:
    p = np.zeros(SHAPE)
    bad = np.zeros((2, 1, 3, 3))
    lbls = {"out1": bad if what == "label" else p}
    masks = {"out1": bad} if what == "mask" else None
    with pytest.raises(ValueError) as exc:
        compute_cost("square_loss", {"out1": p}, lbls, masks)
    msg = str(exc.value)
    assert "out1" in msg and str(SHAPE) in msg and str(bad.shape) in msg


def test_unknown_cost_and_missing_label_raise() -> None:
    with pytest.raises(ValueError, match="unknown cost"):
        compute_cost("hinge", {"o": np.zeros(SHAPE)}, {"o": np.zeros(SHAPE)})
    with pytest.raises(ValueError, match="no label"):
        compute_cost("square_loss", {"o": np.zeros(SHAPE)}, {})


def test_saturated_bce_and_large_softmax_stay_finite() -> None:
    p = np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32).reshape(1, 1, 1, 4)
    lbl = np.array([0.0, 1.0, 1.0, 0.0]).reshape(1, 1, 1, 4)
    res = compute_cost("binomial_cross_entropy", {"o": p}, {"o": lbl})
    assert np.isfinite(res.cost) and res.cost > 40  # two confidently wrong voxels
    np.testing.assert_array_equal(res.grads["o"].ravel(), [0, 0, -1, 1])
    x = np.array([[1000.0, -1000.0], [0.0, 0.0]]).reshape(2, 1, 1, 2)
    s = softmax(x)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s[:, 0, 0, 0], [1.0, 0.0])
    lbl2 = np.array([[0.0, 1.0], [1.0, 0.0]]).reshape(2, 1, 1, 2)
    res2 = compute_cost("softmax_loss", {"o": x}, {"o": lbl2})
    assert res2.cost == pytest.approx(1000.0 + 1000.0)


def test_pixel_error_count_matches_explicit_loop() -> None:
    rng = np.random.default_rng(11)
    props = {"a": rng.random((3, 2, 4, 5)), "b": rng.random((2, 1, 3, 3))}
    labels = {k: (rng.random(v.shape) < 0.5).astype(np.float32) for k, v in props.items()}
    props["a"][0, 0, 0, :2] = 0.5  # exactly 0.5 is "not > 0.5"
    labels["a"][0, 0, 0, :2] = [0.0, 1.0]
    expect = 0
    for k, p in props.items():
        for i in np.ndindex(p.shape):
            expect += int((p[i] > 0.5) != (labels[k][i] > 0.5))
    assert pixel_error_count(props, labels) == expect
    with pytest.raises(ValueError, match="a"):
        pixel_error_count({"a": props["a"]}, {"a": labels["b"]})


def test_malis_bce_metrics_matches_explicit_loop() -> None:
    rng = np.random.default_rng(5)
    shape = (3, 1, 3, 4)
    w = rng.random(shape) * 3
    p = rng.uniform(0.01, 0.99, shape)
    lbl = (rng.random(shape) < 0.5).astype(float)
    p[0, 0, 0, 0], lbl[0, 0, 0, 0] = 1.0, 1.0  # 0*log(0) = NaN: ignored, like np.nansum
    num_c = num_e = den = 0.0
    for i in np.ndindex(shape):
        den += w[i]
        num_c += w[i] * ((p[i] > 0.5) != (lbl[i] > 0.5))
        if i != (0, 0, 0, 0):
            num_e += w[i] * (-lbl[i] * np.log(p[i]) - (1 - lbl[i]) * np.log(1 - p[i]))
    cls, eng = malis_bce_metrics(w, p, lbl)
    assert cls == pytest.approx(num_c / den)
    assert eng == pytest.approx(num_e / den)
    assert malis_bce_metrics({"o": w}, {"o": p}, {"o": lbl}) == pytest.approx((cls, eng))
    assert all(np.isnan(v) for v in malis_bce_metrics(np.zeros(shape), p, lbl))
