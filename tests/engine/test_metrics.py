"""Evaluation metrics against values counted by hand on tiny label images."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from znn.evaluate import (
    BoundaryF1,
    adapted_rand_error,
    boundary_f1,
    pixel_error,
    variation_of_information,
)

# Ground truth with one background voxel (bottom left) and a segmentation cutting rows.
GT = np.array([[1, 1, 2],
               [1, 2, 2],
               [0, 3, 3]])
SEG = np.array([[1, 1, 1],
                [2, 2, 2],
                [3, 3, 3]])


def counts(seg, gt, ignore_background):
    """Contingency table {(gt, seg): voxels} and the marginals, by explicit loops."""
    table, gt_sizes, seg_sizes = {}, {}, {}
    for s, t in zip(np.ravel(seg).tolist(), np.ravel(gt).tolist()):
        if ignore_background and t == 0:
            continue
        table[t, s] = table.get((t, s), 0) + 1
        gt_sizes[t] = gt_sizes.get(t, 0) + 1
        seg_sizes[s] = seg_sizes.get(s, 0) + 1
    return table, gt_sizes, seg_sizes


def rand_by_table(seg, gt, ignore_background=True):
    """(error, precision, recall) from the table; skimage counts pairs of distinct voxels."""
    table, gt_sizes, seg_sizes = counts(seg, gt, ignore_background)
    both = sum(n * (n - 1) for n in table.values())
    in_seg = sum(n * (n - 1) for n in seg_sizes.values())
    in_gt = sum(n * (n - 1) for n in gt_sizes.values())
    precision, recall = both / in_seg, both / in_gt
    return 1 - 2 * both / (in_seg + in_gt), precision, recall


def rand_by_pairs(seg, gt):
    """The same by visiting every unordered pair of (non-background) voxels."""
    voxels = [(s, t) for s, t in zip(np.ravel(seg).tolist(), np.ravel(gt).tolist()) if t != 0]
    both = in_seg = in_gt = 0
    for (s1, t1), (s2, t2) in itertools.combinations(voxels, 2):
        in_seg += s1 == s2
        in_gt += t1 == t2
        both += s1 == s2 and t1 == t2
    return 1 - 2 * both / (in_seg + in_gt), both / in_seg, both / in_gt


def vi_by_entropy(seg, gt, ignore_background=True):
    """(split, merge) = (H(seg | gt), H(gt | seg)) in bits, summed term by term."""
    table, gt_sizes, seg_sizes = counts(seg, gt, ignore_background)
    total = sum(table.values())
    split = merge = 0.0
    for (t, s), n in table.items():
        p = n / total
        split -= p * math.log2(n / gt_sizes[t])
        merge -= p * math.log2(n / seg_sizes[s])
    return split, merge


def test_pixel_error_by_hand():
    prob = np.array([[0.1, 0.6, 0.5], [0.9, 0.2, 0.7]])
    truth = np.array([[0, 1, 1], [1, 1, 0]], dtype=bool)
    # prob > 0.5: [[F, T, F], [T, F, T]]; wrong at (0,2), (1,1), (1,2). 0.5 itself is not > 0.5.
    assert pixel_error(prob, truth) == pytest.approx(3 / 6)
    # prob > 0.15: [[F, T, T], [T, T, T]]; wrong only at (1,2).
    assert pixel_error(prob, truth, threshold=0.15) == pytest.approx(1 / 6)
    assert pixel_error(prob, truth.astype(np.float32)) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pixel_error(prob, truth[:, :2])


def test_adapted_rand_counted_by_hand():
    # Table without the background voxel: n(1,1)=2 n(2,1)=1 n(1,2)=1 n(2,2)=2 n(3,3)=2, so
    # sum n(n-1) = 6; both sides have sizes 3, 3, 2: sum = 14; F = 6/14, error = 4/7.
    assert rand_by_table(SEG, GT) == pytest.approx((4 / 7, 6 / 14, 6 / 14))
    assert rand_by_pairs(SEG, GT) == pytest.approx((4 / 7, 6 / 14, 6 / 14))
    scores = adapted_rand_error(SEG, GT)
    assert (scores.error, scores.precision, scores.recall) == pytest.approx((4 / 7, 3 / 7, 3 / 7))
    # With sum n**2 (self-pairs counted) it would be 1 - 14/22 instead: skimage counts pairs.
    assert scores.error != pytest.approx(1 - 14 / 22)


def test_adapted_rand_background_counted_when_asked():
    # The background voxel becomes gt segment 0 (size 1) and joins seg segment 3 (size 3).
    expected = rand_by_table(SEG, GT, ignore_background=False)
    assert expected == pytest.approx((1 - 12 / 32, 6 / 18, 6 / 14))
    scores = adapted_rand_error(SEG, GT, ignore_background=False)
    assert (scores.error, scores.precision, scores.recall) == pytest.approx(expected)


def test_adapted_rand_orientation_split_and_merge():
    whole = np.ones((2, 4), dtype=np.int64)
    halves = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    # Splitting one object: no false merge (precision 1), recall = 2*(4*3) / (8*7) = 3/7.
    split = adapted_rand_error(halves, whole)
    assert (split.precision, split.recall) == pytest.approx((1.0, 3 / 7))
    assert split.error == pytest.approx(rand_by_table(halves, whole)[0])
    merged = adapted_rand_error(whole, halves)
    assert (merged.precision, merged.recall) == pytest.approx((3 / 7, 1.0))


def test_adapted_rand_zero_in_segmentation_is_a_segment():
    gt = np.array([[1, 1, 2, 2]])
    seg = np.array([[1, 0, 0, 2]])  # the two 0 voxels straddle the gt objects: a merge
    scores = adapted_rand_error(seg, gt)
    assert scores.precision == 0.0 and scores.error == 1.0


def test_adapted_rand_perfect_and_huge_ids():
    gt = np.array([[5, 5, 0], [7, 7, 7]], dtype=np.uint64)
    seg = np.where(gt == 5, 2**40, 2**50).astype(np.uint64)
    assert adapted_rand_error(seg, gt).error == pytest.approx(0.0)
    with pytest.raises(ValueError):
        adapted_rand_error(seg, np.zeros_like(gt))
    with pytest.raises(TypeError):
        adapted_rand_error(seg.astype(float), gt)


def test_variation_of_information_by_entropy_sums():
    split, merge = vi_by_entropy(SEG, GT)
    # By hand: gt 1 -> seg {1: 2, 2: 1}, gt 2 -> seg {1: 1, 2: 2}, gt 3 -> seg {3: 2}, over 8
    # voxels: H(seg|gt) = 2 * (3/8) * H(1/3, 2/3); the seg side is the same by symmetry.
    h = -(1 / 3) * math.log2(1 / 3) - (2 / 3) * math.log2(2 / 3)
    assert (split, merge) == pytest.approx((0.75 * h, 0.75 * h))
    scores = variation_of_information(SEG, GT)
    assert (scores.split, scores.merge) == pytest.approx((split, merge))
    assert scores.total == pytest.approx(split + merge)
    unignored = variation_of_information(SEG, GT, ignore_background=False)
    assert (unignored.split, unignored.merge) == pytest.approx(vi_by_entropy(SEG, GT, False))


def test_variation_of_information_split_is_oversegmentation():
    whole = np.ones((2, 4), dtype=np.int64)
    halves = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    over = variation_of_information(halves, whole)
    assert over.split == pytest.approx(1.0) and over.merge == 0.0  # one bit: which half
    under = variation_of_information(whole, halves)
    assert under.split == 0.0 and under.merge == pytest.approx(1.0)
    same = variation_of_information(halves, halves)
    assert same == type(same)(0.0, 0.0, 0.0)


def vertical_line(column, rows=slice(None), shape=(8, 8)):
    image = np.zeros(shape, dtype=bool)
    image[rows, column] = True
    return image


def test_boundary_f1_shifted_by_one_pixel():
    truth, shifted = vertical_line(3), vertical_line(4)
    assert boundary_f1(shifted, truth, tolerance=1) == BoundaryF1(1.0, 1.0, 1.0)
    assert boundary_f1(shifted, truth, tolerance=0) == BoundaryF1(0.0, 0.0, 0.0)
    assert boundary_f1(truth, truth, tolerance=0) == BoundaryF1(1.0, 1.0, 1.0)
    # Rows 0-3 in place, rows 4-7 two pixels off: 4 of 8 predicted pixels match; true
    # pixels of rows 0-3 match, and so does (4, 3), one row below the predicted (3, 3): 5/8.
    half = vertical_line(3, slice(0, 4)) | vertical_line(5, slice(4, 8))
    scores = boundary_f1(half, truth, tolerance=1)
    f1 = 2 * (4 / 8) * (5 / 8) / (4 / 8 + 5 / 8)
    assert (scores.precision, scores.recall, scores.f1) == pytest.approx((4 / 8, 5 / 8, f1))
    assert boundary_f1(half, truth, tolerance=2).f1 == 1.0


def test_boundary_f1_is_per_section_and_euclidean():
    truth = np.stack([vertical_line(3), np.zeros((8, 8), bool)])
    above = np.stack([np.zeros((8, 8), bool), vertical_line(3)])
    assert boundary_f1(above, truth, tolerance=1).f1 == 0.0  # a section away does not count
    point, diagonal = np.zeros((5, 5), bool), np.zeros((5, 5), bool)
    point[2, 2], diagonal[3, 3] = True, True
    assert boundary_f1(diagonal, point, tolerance=1).f1 == 0.0  # sqrt(2) > 1
    assert boundary_f1(diagonal, point, tolerance=2).f1 == 1.0


def test_boundary_f1_empty_cases():
    empty, line = np.zeros((8, 8), bool), vertical_line(3)
    assert boundary_f1(empty, empty) == BoundaryF1(1.0, 1.0, 1.0)
    assert boundary_f1(empty, line) == BoundaryF1(1.0, 0.0, 0.0)  # nothing found
    assert boundary_f1(line, empty) == BoundaryF1(0.0, 1.0, 0.0)  # all false alarms
    with pytest.raises(ValueError):
        boundary_f1(line, line, tolerance=-1)
