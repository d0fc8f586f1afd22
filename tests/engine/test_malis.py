"""MALIS weights, pair tallies, rand error and the true segmentation against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from znn.train.costs import compute_cost
from znn.train.malis import affinity_segmentation, malis_weights, rand_error

SHAPES = [(1, 3, 4), (2, 3, 3), (3, 1, 5), (2, 2, 3)]
NORMS = ["none", "frac", "num", "pair"]


# ---------------------------------------------------------------- independent helpers
def aff_from_labels(lbl: np.ndarray) -> np.ndarray:
    """True affinities (x, y, z channels): 1 where v and v - e_c share a non-zero label."""
    aff = np.zeros((3,) + lbl.shape)
    aff[0][:, :, 1:] = (lbl[:, :, 1:] == lbl[:, :, :-1]) & (lbl[:, :, 1:] > 0)
    aff[1][:, 1:, :] = (lbl[:, 1:, :] == lbl[:, :-1, :]) & (lbl[:, 1:, :] > 0)
    aff[2][1:, :, :] = (lbl[1:] == lbl[:-1]) & (lbl[1:] > 0)
    return aff


def graph_edges(shape):
    """(channel, (z, y, x) of the higher voxel, lower raster index, higher raster index)."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    out = []
    for z, y, x in itertools.product(*map(range, shape)):
        for c, (dz, dy, dx) in enumerate([(0, 0, 1), (0, 1, 0), (1, 0, 0)]):
            if z - dz >= 0 and y - dy >= 0 and x - dx >= 0:
                out.append((c, (z, y, x), idx[z - dz, y - dy, x - dx], idx[z, y, x]))
    return out


def true_ids(true_aff: np.ndarray) -> np.ndarray:
    """Flat segment ids from scipy's connected components; one-voxel components -> 0."""
    shape = true_aff.shape[1:]
    n = int(np.prod(shape))
    pairs = [(lo, hi) for c, zyx, lo, hi in graph_edges(shape) if true_aff[(c, *zyx)] > 0.5]
    rows = [p[0] for p in pairs]
    cols = [p[1] for p in pairs]
    graph = coo_matrix((np.ones(len(pairs)), (rows, cols)), shape=(n, n))
    _, lab = connected_components(graph, directed=False)
    sizes = np.bincount(lab)
    return np.where(sizes[lab] > 1, lab + 1, 0)


def _pair_update(ids, sizes, frac, i, j, a, loc, merger, splitter, tally):
    w = 1.0 / (sizes[ids[i]] * sizes[ids[j]]) if frac else 1.0
    if ids[i] == ids[j]:
        splitter[loc] += w
        tally["fn" if a < 0.5 else "tp"] += w
    else:
        merger[loc] += w
        tally["fp" if a > 0.5 else "tn"] += w


def brute_widest_path(pred, true_aff, high=1.0, low=0.0, frac=False):
    """Maximin edge of every pair by Floyd-Warshall on bottleneck values (distinct a only)."""
    shape = pred.shape[1:]
    n = int(np.prod(shape))
    ids = true_ids(true_aff)
    sizes = np.bincount(ids)
    best = np.full((n, n), -np.inf)
    where = {}
    for c, zyx, lo, hi in graph_edges(shape):
        a = min(pred[(c, *zyx)], high)
        if a > low:
            assert a not in where, "the widest-path brute force needs distinct weights"
            where[a] = (c, *zyx)
            best[lo, hi] = best[hi, lo] = a
    for k in range(n):
        best = np.maximum(best, np.minimum(best[:, k : k + 1], best[k : k + 1, :]))
    merger, splitter = np.zeros(pred.shape), np.zeros(pred.shape)
    tally = dict(tp=0.0, fp=0.0, tn=0.0, fn=0.0)
    for i, j in itertools.combinations(range(n), 2):
        if ids[i] and ids[j] and best[i, j] > -np.inf:
            a = best[i, j]
            _pair_update(ids, sizes, frac, i, j, a, where[a], merger, splitter, tally)
    return merger, splitter, tally, int(np.count_nonzero(ids))


def brute_kruskal(pred, true_aff, high=1.0, low=0.0, frac=False):
    """Edges by decreasing (a, lower index, higher index); pairs enumerated per join."""
    shape = pred.shape[1:]
    n = int(np.prod(shape))
    ids = true_ids(true_aff)
    sizes = np.bincount(ids)
    edges = []
    for c, zyx, lo, hi in graph_edges(shape):
        a = min(pred[(c, *zyx)], high)
        if a > low:
            edges.append((a, lo, hi, (c, *zyx)))
    edges.sort(key=lambda e: (e[0], e[1], e[2]), reverse=True)
    comp = np.arange(n)
    merger, splitter = np.zeros(pred.shape), np.zeros(pred.shape)
    tally = dict(tp=0.0, fp=0.0, tn=0.0, fn=0.0)
    for a, lo, hi, loc in edges:
        ca, cb = comp[lo], comp[hi]
        if ca == cb:
            continue
        for i in np.flatnonzero(comp == ca):
            for j in np.flatnonzero(comp == cb):
                if ids[i] and ids[j]:
                    _pair_update(ids, sizes, frac, i, j, a, loc, merger, splitter, tally)
        comp[comp == cb] = ca
    return merger, splitter, tally, int(np.count_nonzero(ids))


def random_labels(rng, shape, n_ids=3):
    """A label volume with boundary voxels and at least two non-boundary voxels."""
    while True:
        lbl = rng.integers(0, n_ids + 1, shape)
        if np.count_nonzero(true_ids(aff_from_labels(lbl))) >= 3:
            return lbl


def distinct_pred(rng, shape):
    vals = rng.permutation(3 * int(np.prod(shape))) + 1.0
    pred = (vals / (vals.max() + 1)).reshape((3,) + shape)
    flat = pred.reshape(-1)
    flat[rng.choice(flat.size, 3, replace=False)] = 0.0  # a = 0 is not > low: edge dropped
    flat[np.argmax(flat)] = 1.7  # clipped to high = 1, still unique
    return pred


def normalised(w, norm, n):
    return w / n if norm == "num" else (w / (n * (n - 1)) if norm == "pair" else w)


def check(res, merger, splitter, tally, n, norm):
    np.testing.assert_allclose(res.merger, merger, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.splitter, splitter, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.weights, normalised(merger + splitter, norm, n), rtol=1e-12)
    assert res.n_voxels == n
    for k in ("tp", "fp", "tn", "fn"):
        assert getattr(res, k) == pytest.approx(tally[k], abs=1e-12), k


# ---------------------------------------------------------------- MALIS
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("norm", NORMS)
def test_malis_matches_widest_path_brute_force(shape, seed, norm) -> None:
    rng = np.random.default_rng(100 * seed + len(shape) + shape[0])
    true = aff_from_labels(random_labels(rng, shape))
    pred = distinct_pred(rng, shape)
    merger, splitter, tally, n = brute_widest_path(pred, true, frac=norm == "frac")
    res = malis_weights(pred, true, norm_type=norm)
    check(res, merger, splitter, tally, n, norm)
    assert res.rand_error == pytest.approx((tally["fp"] + tally["fn"]) / (n * (n - 1) / 2))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", NORMS)
def test_malis_ties_follow_the_documented_order(shape, norm) -> None:
    rng = np.random.default_rng(sum(shape))
    true = aff_from_labels(random_labels(rng, shape))
    pred = rng.choice([0.0, 0.2, 0.5, 0.8, 1.0, 1.3], size=(3,) + shape)
    merger, splitter, tally, n = brute_kruskal(pred, true, frac=norm == "frac")
    check(malis_weights(pred, true, norm_type=norm), merger, splitter, tally, n, norm)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", ["none", "num", "pair"])
def test_constrained_malis_matches_its_definition(shape, norm) -> None:
    rng = np.random.default_rng(7 + sum(shape))
    true = aff_from_labels(random_labels(rng, shape))
    pred = distinct_pred(rng, shape)
    pred_before = pred.copy()
    mp = np.where(true > 0, 1.0, pred)
    mm, _, mt, n = brute_kruskal(mp, true, high=1.0, low=0.5)
    sp = np.where(true == 0, 0.0, pred)
    _, ss, st, _ = brute_kruskal(sp, true, high=0.5, low=0.0)
    merger = mm / (mt["fp"] + mt["tn"]) if mt["fp"] + mt["tn"] > 0 else 0 * mm
    splitter = ss / (st["tp"] + st["fn"]) if st["tp"] + st["fn"] > 0 else 0 * ss
    tally = dict(tp=st["tp"], fn=st["fn"], fp=mt["fp"], tn=mt["tn"])
    res = malis_weights(pred, true, norm_type=norm, constrained=True)
    check(res, merger, splitter, tally, n, norm)
    total = sum(mt.values())
    assert res.rand_error == pytest.approx((mt["fp"] + st["fn"]) / total if total else 0.0)
    np.testing.assert_array_equal(pred, pred_before)


def test_totals_without_threshold_count_every_pair_once() -> None:
    rng = np.random.default_rng(0)
    lbl = np.repeat(np.repeat(rng.integers(0, 6, (3, 4, 4)), 2, axis=1), 2, axis=2)
    true = aff_from_labels(lbl)
    pred = rng.uniform(0.01, 0.99, (3,) + lbl.shape).astype(np.float32)
    res = malis_weights(pred, true)
    ids = true_ids(true)
    n = np.count_nonzero(ids)
    sizes = np.bincount(ids)[1:]
    sizes = sizes[sizes > 0]
    assert res.weights.dtype == np.float32
    assert res.merger.sum(dtype=np.float64) + res.splitter.sum(dtype=np.float64) == n * (n - 1) / 2
    assert res.splitter.sum(dtype=np.float64) == np.sum(sizes * (sizes - 1) / 2)
    assert res.tp + res.fp + res.tn + res.fn == n * (n - 1) / 2
    frac = malis_weights(pred, true, norm_type="frac")
    assert frac.splitter.sum(dtype=np.float64) == pytest.approx(np.sum((sizes - 1) / (2.0 * sizes)))


@pytest.mark.parametrize("constrained", [False, True])
def test_at_most_one_segment_voxel_gives_zero_weights(constrained) -> None:
    pred = np.full((3, 2, 3, 3), 0.7)
    true = np.zeros_like(pred)
    res = malis_weights(pred, true, norm_type="pair", constrained=constrained)
    assert res.n_voxels == 0 and not np.any(res.weights) and res.rand_error == 0.0
    assert rand_error(pred, true) == 0.0


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="3, z, y, x"):
        malis_weights(np.zeros((2, 1, 3, 3)), np.zeros((2, 1, 3, 3)))
    with pytest.raises(ValueError, match="true_aff"):
        malis_weights(np.zeros((3, 1, 3, 3)), np.zeros((3, 1, 3, 4)))
    with pytest.raises(ValueError, match="malis_norm_type"):
        malis_weights(np.zeros((3, 1, 3, 3)), np.zeros((3, 1, 3, 3)), norm_type="bogus")


@pytest.mark.parametrize("shape", SHAPES)
def test_rand_error_matches_brute_force(shape) -> None:
    rng = np.random.default_rng(sum(shape) * 3)
    true = aff_from_labels(random_labels(rng, shape))
    pred = rng.permutation(3 * int(np.prod(shape))).reshape((3,) + shape) / 10.0 - 0.5
    _, _, tally, n = brute_widest_path(pred, true, high=np.inf, low=-np.inf)
    assert sum(tally.values()) == n * (n - 1) / 2  # every pair gets its maximin edge
    assert rand_error(pred, true) == pytest.approx((tally["fp"] + tally["fn"]) / (n * (n - 1) / 2))


def test_malis_weighted_bce_gradient_with_weights_held_fixed() -> None:
    rng = np.random.default_rng(42)
    shape = (2, 4, 4)
    lbl = np.array([[1, 1, 0, 2], [1, 1, 0, 2], [0, 0, 0, 2], [3, 3, 3, 0]])
    lbl_aff = aff_from_labels(np.stack([lbl, lbl]))
    z = rng.normal(0, 1.5, (3,) + shape)

    def sigmoid(q):
        return 1.0 / (1.0 + np.exp(-q))

    def loss(q):
        p = sigmoid(q)
        w = malis_weights(p, lbl_aff, norm_type="num").weights
        return np.sum(w * (-lbl_aff * np.log(p) - (1 - lbl_aff) * np.log(1 - p)))

    p = sigmoid(z)
    w = malis_weights(p, lbl_aff, norm_type="num").weights
    assert np.count_nonzero(w) > 10
    grad = compute_cost("binomial_cross_entropy", {"o": p}, {"o": lbl_aff}).grads["o"] * w
    np.testing.assert_allclose(grad, w * (p - lbl_aff))
    h = 1e-6
    fd = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        fd[i] = (loss(zp) - loss(zm)) / (2 * h)
    np.testing.assert_allclose(fd, grad, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------- true segmentation
def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist()))
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def test_segmentation_of_label_affinities_matches_ndimage_label() -> None:
    rng = np.random.default_rng(3)
    lbl = rng.integers(0, 4, (3, 6, 7))
    seg = affinity_segmentation(aff_from_labels(lbl))
    expect = np.zeros(lbl.shape, dtype=np.int64)
    offset = 0
    for v in range(1, 4):
        comp, k = ndimage.label(lbl == v)  # face connectivity, as affinities are
        expect[comp > 0] = comp[comp > 0] + offset
        offset += k
    sizes = np.bincount(expect.ravel())
    expect[sizes[expect] == 1] = 0  # one-voxel components are boundary
    expect[lbl == 0] = 0
    assert seg.dtype == np.int64 and seg.shape == lbl.shape
    np.testing.assert_array_equal(seg == 0, expect == 0)
    assert same_partition(seg, expect)
    ids, first = np.unique(seg.ravel(), return_index=True)
    assert list(ids) == list(range(ids.size))  # 0, 1, ..., K
    assert np.all(np.diff(first[1:]) > 0)  # numbered in raster order of first voxel


def test_segmentation_of_random_affinities_and_single_voxel_rule() -> None:
    rng = np.random.default_rng(9)
    aff = rng.random((3, 3, 5, 4))
    seg = affinity_segmentation(aff)
    assert same_partition(seg.ravel(), true_ids(aff))
    np.testing.assert_array_equal(seg.ravel() == 0, true_ids(aff) == 0)
    one = np.zeros((3, 1, 2, 3))
    one[0, 0, 1, 2] = 0.9  # joins (0,1,1)-(0,1,2); everything else single
    one[1, 0, 0, 0] = 0.9  # first row has no -y neighbour: ignored
    one[0, 0, 0, 1] = 0.5  # not > 0.5
    np.testing.assert_array_equal(affinity_segmentation(one)[0], [[0, 0, 0], [0, 1, 1]])
