"""Scores of a boundary map over a sweep of thresholds, against regions computed independently."""

from __future__ import annotations

import numpy as np
import pytest

from znn.evaluate.sweep import score_boundary_map


def _membrane_image() -> np.ndarray:
    """Two sections of four square cells separated by 2-pixel membranes (0), cells 255."""
    labels = np.full((2, 40, 40), 255, np.uint8)
    labels[:, 19:21, :] = 0
    labels[:, :, 19:21] = 0
    return labels


def test_the_true_membrane_as_a_map_scores_perfectly_at_every_threshold():
    labels = _membrane_image()
    truth = (labels == 0).astype(np.float32)
    scores = score_boundary_map(truth, labels)
    assert scores.pixel_error == 0.0
    assert all(s.v_rand == pytest.approx(1.0) and s.v_info == pytest.approx(1.0) for s in scores.sweep)


def test_a_gap_merges_cells_until_the_threshold_closes_it():
    labels = _membrane_image()
    leaky = (labels == 0).astype(np.float32)
    leaky[:, 19:21, 5:9] = 0.45  # a weak stretch of membrane between the top and bottom cells
    scores = score_boundary_map(leaky, labels, thresholds=(0.3, 0.6))
    by_threshold = {s.threshold: s for s in scores.sweep}
    # at 0.6 the weak stretch is cell and the two left cells merge: per section the segments hold
    # 2n, n, n of the foreground (n = 19 x 19 per cell), the truth n, n, n, n, so V_rand =
    # sum n_ij^2 / (sum s_i^2 / 2 + sum t_j^2 / 2) = 4n^2 / (6n^2 / 2 + 4n^2 / 2) = 0.8
    assert by_threshold[0.3].v_rand == pytest.approx(1.0)
    assert by_threshold[0.6].v_rand == pytest.approx(0.8)
    assert scores.best.threshold == 0.3
    assert scores.pixel_error == pytest.approx(2 * 8 / labels.size)  # the gap's 2x4 pixels per section
    # the map calls the gap cell at 0.5: membrane is short of the truth by exactly those pixels
    assert scores.true_membrane_share == pytest.approx(np.mean(labels == 0))
    assert scores.membrane_share == pytest.approx(scores.true_membrane_share - 2 * 8 / labels.size)


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="one shape"):
        score_boundary_map(np.zeros((1, 4, 4)), np.zeros((1, 4, 5)))
