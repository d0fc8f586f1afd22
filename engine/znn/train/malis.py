"""MALIS weights (reference §4.4) and ZNN's rand error of an affinity graph (§4.5).

Affinities are (3, z, y, x) arrays; channel 0/1/2 is the x/y/z affinity (last, middle,
first numpy axis) and the value at voxel v belongs to the edge between v and v − e_c.

Both measures run Kruskal's algorithm on the voxel graph, strongest edge first. When an
edge joins clusters A and B, every pair (i ∈ A, j ∈ B) of non-boundary voxels has that edge
as its maximin edge: pairs from the same true segment add to the edge's splitter weight,
pairs from different segments to its merger weight. Each cluster keeps a map
{true segment: voxel count}; the smaller map (fewer segments) is merged into the larger so
the work is O(n log n) map operations. Maps live in one numba dict keyed by
(root, segment); clusters holding a single segment are handled without touching it.

Tie-breaking, chosen to match ZNN's `std::sort` of (a, v1, v2) tuples with std::greater:
edges with equal a are taken in decreasing order of the lower-index vertex (the one at
v − e_c, raster index), and for the same lower vertex the z edge before the y edge before
the x edge (i.e. decreasing higher-vertex index). Ties are frequent after clipping at
`high`, so this changes which edge receives a weight, never the totals.

Pair tallies follow ZNN exactly: a same-segment pair is FN if a < 0.5 else TP, a
different-segment pair FP if a > 0.5 else TN, using the (clipped) a of the maximin edge;
with 'frac' normalisation the tallies use the same fractional pair weights as the MALIS
weights (ZNN does this too). NaN predictions are treated as absent edges (ZNN's sort is
undefined for them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import types
from numba.typed import Dict

from znn.base.jit import cached_njit


@cached_njit(nogil=True)
def _find(parent, v):
    root = v
    while parent[root] != root:
        root = parent[root]
    while parent[v] != root:  # path compression
        nxt = parent[v]
        parent[v] = root
        v = nxt
    return root


@cached_njit(nogil=True)
def _segment_kernel(true_aff):
    nz, ny, nx = true_aff.shape[1], true_aff.shape[2], true_aff.shape[3]
    n = nz * ny * nx
    parent = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                v = (z * ny + y) * nx + x
                for c in range(3):
                    if c == 0:
                        ok, u = x > 0, v - 1
                    elif c == 1:
                        ok, u = y > 0, v - nx
                    else:
                        ok, u = z > 0, v - ny * nx
                    if ok and true_aff[c, z, y, x] > 0.5:
                        ra, rb = _find(parent, v), _find(parent, u)
                        if ra != rb:
                            if size[ra] < size[rb]:
                                ra, rb = rb, ra
                            parent[rb] = ra
                            size[ra] += size[rb]
    seg = np.zeros(n, dtype=np.int64)
    remap = np.zeros(n, dtype=np.int64)
    next_id = 1
    for v in range(n):
        r = _find(parent, v)
        if size[r] > 1:
            if remap[r] == 0:
                remap[r] = next_id
                next_id += 1
            seg[v] = remap[r]
    return seg.reshape((nz, ny, nx))


@cached_njit(nogil=True)
def _entry_of(root, s, nseg, head, nent, ent_seg, table):
    """Index of the map entry of segment s in cluster `root`, or -1."""
    if nent[root] == 0:
        return -1
    if nent[root] == 1:
        e = head[root]
        return e if ent_seg[e] == s else -1
    key = root * (nseg + 1) + s
    if key in table:
        return table[key]
    return -1


@cached_njit(nogil=True)
def _kruskal_kernel(pred, seg, nseg, high, low, frac):
    nz, ny, nx = pred.shape[1], pred.shape[2], pred.shape[3]
    n = nz * ny * nx
    flat_seg = seg.ravel()
    seg_size = np.zeros(nseg + 1, dtype=np.int64)
    for v in range(n):
        seg_size[flat_seg[v]] += 1

    # Edges listed by decreasing lower vertex, then z, y, x; a stable sort on -a keeps that
    # order among equal a (the tie rule in the module docstring).
    ea = np.empty(3 * n, dtype=np.float64)
    elo = np.empty(3 * n, dtype=np.int64)  # lower (earlier) vertex
    ehi = np.empty(3 * n, dtype=np.int64)  # higher vertex, where the affinity is stored
    ech = np.empty(3 * n, dtype=np.int64)  # channel
    k = 0
    for lo in range(n - 1, -1, -1):
        x = lo % nx
        y = (lo // nx) % ny
        z = lo // (nx * ny)
        for c in range(2, -1, -1):
            if c == 2:
                ok, hi, zz, yy, xx = z + 1 < nz, lo + ny * nx, z + 1, y, x
            elif c == 1:
                ok, hi, zz, yy, xx = y + 1 < ny, lo + nx, z, y + 1, x
            else:
                ok, hi, zz, yy, xx = x + 1 < nx, lo + 1, z, y, x + 1
            if not ok:
                continue
            a = pred[c, zz, yy, xx]
            if a > high:  # min(pred, high); a NaN stays NaN and fails the next test
                a = high
            if a > low:  # false for NaN
                ea[k], elo[k], ehi[k], ech[k] = a, lo, hi, c
                k += 1
    order = np.argsort(-ea[:k], kind="mergesort")

    parent = np.arange(n)
    head = np.full(n, -1, dtype=np.int64)  # first map entry of a cluster
    nent = np.zeros(n, dtype=np.int64)  # number of distinct segments in a cluster
    tot = np.zeros(n, dtype=np.int64)  # non-boundary voxels in a cluster
    totf = np.zeros(n, dtype=np.float64)  # sum of |A∩s|/|s| over segments
    ent_seg = flat_seg.copy()  # entry v starts as voxel v's own one-voxel map
    ent_cnt = np.ones(n, dtype=np.int64)
    ent_next = np.full(n, -1, dtype=np.int64)
    for v in range(n):
        if flat_seg[v] > 0:
            head[v] = v
            nent[v] = 1
            tot[v] = 1
            totf[v] = 1.0 / seg_size[flat_seg[v]]
    table = Dict.empty(key_type=types.int64, value_type=types.int64)

    merger = np.zeros(3 * n, dtype=np.float64)
    splitter = np.zeros(3 * n, dtype=np.float64)
    tp = fp = tn = fn = 0.0
    for t in range(k):
        i = order[t]
        ra = _find(parent, elo[i])
        rb = _find(parent, ehi[i])
        if ra == rb:
            continue
        if nent[ra] < nent[rb]:
            ra, rb = rb, ra  # ra keeps the larger map
        same = 0
        same_f = 0.0
        e = head[rb]
        while e != -1:
            hit = _entry_of(ra, ent_seg[e], nseg, head, nent, ent_seg, table)
            if hit >= 0:
                same += ent_cnt[e] * ent_cnt[hit]
                sz = seg_size[ent_seg[e]]
                same_f += (ent_cnt[e] * ent_cnt[hit]) / (sz * sz)
            e = ent_next[e]
        diff = tot[ra] * tot[rb] - same
        if frac:
            n_same = same_f
            # diff == 0 means no cross-segment pair: keep it exactly 0, free of rounding.
            n_diff = totf[ra] * totf[rb] - same_f if diff > 0 else 0.0
        else:
            n_same = float(same)
            n_diff = float(diff)
        a = ea[i]
        w_at = ech[i] * n + ehi[i]
        splitter[w_at] += n_same
        merger[w_at] += n_diff
        if a < 0.5:
            fn += n_same
        else:
            tp += n_same
        if a > 0.5:
            fp += n_diff
        else:
            tn += n_diff

        # Merge rb's map into ra's; rb never becomes a root again, so its keys go stale.
        e = head[rb]
        while e != -1:
            nxt = ent_next[e]
            s = ent_seg[e]
            hit = _entry_of(ra, s, nseg, head, nent, ent_seg, table)
            if hit >= 0:
                ent_cnt[hit] += ent_cnt[e]
            else:
                if nent[ra] == 1:  # leaving the one-segment fast path: index the old entry
                    h = head[ra]
                    table[ra * (nseg + 1) + ent_seg[h]] = h
                if nent[ra] >= 1:
                    table[ra * (nseg + 1) + s] = e
                ent_next[e] = head[ra]
                head[ra] = e
                nent[ra] += 1
            e = nxt
        parent[rb] = ra
        tot[ra] += tot[rb]
        totf[ra] += totf[rb]
    tallies = np.array([tp, fp, tn, fn])
    return merger.reshape(pred.shape), splitter.reshape(pred.shape), tallies


def _check_aff(name: str, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 4 or arr.shape[0] != 3:
        raise ValueError(f"{name} must have shape (3, z, y, x), got {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _check_pair(pred_aff: np.ndarray, true_aff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = _check_aff("pred_aff", pred_aff)
    true = _check_aff("true_aff", true_aff)
    if pred.shape != true.shape:
        raise ValueError(f"pred_aff has shape {pred.shape} but true_aff has shape {true.shape}")
    return pred, true


def affinity_segmentation(true_aff: np.ndarray) -> np.ndarray:
    """True segmentation of an affinity patch (§4.4 item 1), int64 (z, y, x).

    A voxel joins its −x/−y/−z neighbour when that channel's value at the voxel is > 0.5.
    Components of one voxel get id 0 (boundary); the others 1, 2, ... in order of their
    first voxel in raster (C) order.
    """
    return _segment_kernel(_check_aff("true_aff", true_aff))


@dataclass
class MalisResult:
    """MALIS weights of one affinity patch and the pair tallies of the same Kruskal pass."""

    weights: np.ndarray  # (3,z,y,x): merger + splitter, divided per norm type ('num'/'pair')
    merger: np.ndarray  # (3,z,y,x), before the 'num'/'pair' division
    splitter: np.ndarray  # (3,z,y,x), before the 'num'/'pair' division
    n_voxels: int  # N, voxels with a non-zero true id; the trainer skips the patch if N <= 1
    rand_error: float  # (FP+FN) / (N(N-1)/2); for constrained see `malis_weights`
    tp: float  # pair tallies (fractional with 'frac'); see the module docstring
    fp: float
    tn: float
    fn: float


def _parse_norm(norm_type: str) -> tuple[bool, str | None]:
    # ZNN tests substrings of `malis_norm_type`: 'frac' toggles fractional pair weights,
    # then 'num' wins over 'pair'. Strings naming none of them (other than 'none') are
    # rejected here rather than silently meaning 'none'.
    s = norm_type.lower()
    frac = "frac" in s
    div = "num" if "num" in s else ("pair" if "pair" in s else None)
    if not frac and div is None and s not in ("none", ""):
        raise ValueError(
            f"unknown malis_norm_type {norm_type!r}; expected 'none' or a name containing "
            "'frac', 'num' or 'pair'"
        )
    return frac, div


def malis_weights(
    pred_aff: np.ndarray,
    true_aff: np.ndarray,
    *,
    norm_type: str = "none",
    constrained: bool = False,
) -> MalisResult:
    """MALIS weights of predicted vs true affinities (§4.4 items 1-7).

    Plain MALIS: one Kruskal pass with a = min(pred, 1), edges kept if a > 0; 'frac' in
    `norm_type` divides every |A∩s| by |s|. `weights` = merger + splitter, then divided by N
    ('num') or N(N−1) ('pair').

    constrained=True (ZNN's `constrained_malis`, which never applies 'frac'):
      merger pass on pred with 1 wherever true > 0 (high 1, low 0.5), merger weights divided
      by that pass' FP+TN (zero if that is 0); splitter pass on pred with 0 wherever
      true == 0 (high 0.5, low 0), splitter weights divided by that pass' TP+FN (same
      rule); weights = sum, then 'num'/'pair' as above. Reported tallies are FP, TN of the
      merger pass and TP, FN of the splitter pass; rand_error is ZNN's
      (FP_m + FN_s) / (TP_m + TN_m + FP_m + FN_m), 0.0 when that denominator is 0. As the
      splitter pass clips at 0.5, nearly every same-segment pair counts as FN there, so this
      number is not comparable with the plain rand error (kept for compatibility).

    If N <= 1 every weight is zero and the tallies/rand error are 0; check `n_voxels`.
    """
    frac, div = _parse_norm(norm_type)
    pred, true = _check_pair(pred_aff, true_aff)
    dtype = np.asarray(pred_aff).dtype  # weights come back in the prediction's float type
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)
    seg = _segment_kernel(true)
    n_vox = int(np.count_nonzero(seg))
    if n_vox <= 1:
        zero = np.zeros(pred.shape, dtype=dtype)
        return MalisResult(zero, zero.copy(), zero.copy(), n_vox, 0.0, 0.0, 0.0, 0.0, 0.0)
    nseg = int(seg.max())

    if not constrained:
        merger, splitter, tl = _kruskal_kernel(pred, seg, nseg, 1.0, 0.0, frac)
        tp, fp, tn, fn = (float(v) for v in tl)
        rand = (fp + fn) / (n_vox * (n_vox - 1) / 2.0)
    else:
        mpred = pred.copy()
        mpred[true > 0] = 1.0
        merger, _, tm = _kruskal_kernel(mpred, seg, nseg, 1.0, 0.5, False)
        spred = pred.copy()
        spred[true == 0] = 0.0
        _, splitter, ts = _kruskal_kernel(spred, seg, nseg, 0.5, 0.0, False)
        m_tp, m_fp, m_tn, m_fn = (float(v) for v in tm)
        s_tp, _s_fp, _s_tn, s_fn = (float(v) for v in ts)
        merger = merger / (m_fp + m_tn) if m_fp + m_tn > 0 else np.zeros_like(merger)
        splitter = splitter / (s_tp + s_fn) if s_tp + s_fn > 0 else np.zeros_like(splitter)
        tp, fp, tn, fn = s_tp, m_fp, m_tn, s_fn
        denom = m_tp + m_tn + m_fp + m_fn
        rand = (m_fp + s_fn) / denom if denom > 0 else 0.0

    w = merger + splitter
    if div == "num":
        w = w / n_vox
    elif div == "pair":
        w = w / (n_vox * (n_vox - 1.0))
    return MalisResult(
        w.astype(dtype, copy=False), merger.astype(dtype, copy=False),
        splitter.astype(dtype, copy=False), n_vox, rand, tp, fp, tn, fn,
    )


def rand_error(pred_aff: np.ndarray, true_aff: np.ndarray) -> float:
    """ZNN's `get_rand_error` (§4.5): Kruskal over all edges, no clipping or threshold.

    Returns (FP+FN) / (N(N−1)/2) for the N non-boundary voxels, 0.0 when N <= 1.
    """
    pred, true = _check_pair(pred_aff, true_aff)
    seg = _segment_kernel(true)
    n_vox = int(np.count_nonzero(seg))
    if n_vox <= 1:
        return 0.0
    _, _, tl = _kruskal_kernel(pred, seg, int(seg.max()), np.inf, -np.inf, False)
    return float(tl[1] + tl[3]) / (n_vox * (n_vox - 1) / 2.0)
