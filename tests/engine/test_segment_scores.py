"""Segmentation of true maps recovers the labels; ISBI foreground scores against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from znn.evaluate import adapted_rand_error
from znn.evaluate.agglomerate import segment_affinities
from znn.evaluate.isbi import foreground_scores, is_membrane_image, regions_of_membrane_image


def test_foreground_scores_by_hand():
    seg = np.array([[1, 1, 2, 2]])
    truth = np.array([[1, 1, 1, 0]])  # the last voxel is membrane: not scored
    scores = foreground_scores(seg, truth)
    # p = (2/3, 1/3) in one true segment: sum p^2 = 5/9, sum s^2 = 5/9, sum t^2 = 1
    assert scores.v_rand == pytest.approx(2 * (5 / 9) / (5 / 9 + 1))
    assert scores.v_rand_split == pytest.approx(5 / 9) and scores.v_rand_merge == pytest.approx(1.0)
    # one true segment: no information shared, H(T) = 0
    assert scores.v_info == pytest.approx(0.0) and scores.v_info_merge == pytest.approx(0.0)


def test_foreground_scores_of_a_merge_by_hand():
    seg = np.array([[5, 5, 5, 5, 9]])
    truth = np.array([[1, 1, 2, 2, 0]])
    scores = foreground_scores(seg, truth)
    # p = (1/2, 1/2) in one segment: sum p^2 = 1/2, sum s^2 = 1, sum t^2 = 1/2
    assert scores.v_rand == pytest.approx(2 * 0.5 / 1.5)
    assert scores.v_rand_split == pytest.approx(1.0) and scores.v_rand_merge == pytest.approx(0.5)
    h_t = math.log(2)
    assert scores.v_info == pytest.approx(0.0) and scores.v_info_split == pytest.approx(0.0 / h_t)


def test_relabelled_truth_scores_perfectly():
    truth = np.random.default_rng(0).integers(0, 6, (3, 20, 20))
    seg = (truth * 7 + 3) * (truth > 0)
    scores = foreground_scores(seg, truth)
    assert scores.v_rand == pytest.approx(1.0) and scores.v_info == pytest.approx(1.0)


def test_membrane_images_become_regions_per_section():
    image = np.array([[[255, 0, 255], [255, 0, 255]], [[255, 255, 255], [0, 0, 0]]], np.uint8)
    assert is_membrane_image(image) and not is_membrane_image(np.array([0, 1, 2]))
    regions = regions_of_membrane_image(image)
    np.testing.assert_array_equal(regions, [[[1, 0, 2], [1, 0, 2]], [[3, 3, 3], [0, 0, 0]]])


@pytest.fixture(scope="module")
def synthetic():
    from znn.io.synthetic import make_em_volume

    return make_em_volume((6, 96, 96), seed=2)


def test_watershed_of_the_true_boundary_map_recovers_the_labels(synthetic):
    from znn.evaluate import segment_boundary

    labels = synthetic.labels
    boundary = (labels == 0).astype(np.float32)
    seg = segment_boundary(boundary, threshold=0.5, per_section=True)
    per_section = [adapted_rand_error(seg[z], labels[z]).error for z in range(labels.shape[0])]
    assert max(per_section) < 0.01


def test_agglomerating_the_true_affinities_recovers_the_labels(synthetic):
    from znn.data.targets import affinity_from_labels

    labels = synthetic.labels
    affinities = affinity_from_labels(labels).astype(np.float32)
    results = list(segment_affinities(affinities, [0.5, 0.1]))
    assert [t for t, _ in results] == [0.1, 0.5]
    for _, seg in results:
        assert seg.shape == labels.shape and seg.dtype == np.uint64
        assert adapted_rand_error(seg, labels).error < 0.01
    assert results[0][1] is not results[1][1]  # each threshold's labels are its own array


def test_affinities_must_be_finite_and_three_channels():
    with pytest.raises(ValueError, match="NaN"):
        next(segment_affinities(np.full((3, 2, 4, 4), np.nan, np.float32), [0.5]))
    with pytest.raises(ValueError, match=r"\(3, z, y, x\)"):
        next(segment_affinities(np.zeros((2, 2, 4, 4), np.float32), [0.5]))
