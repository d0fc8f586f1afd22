"""The proposed threshold, judged by the truth it never sees: the V_rand of segmentations at every
threshold (znn.evaluate.sweep) of maps made from synthetic EM's true membranes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from znn.evaluate.sweep import score_boundary_map
from znn.evaluate.threshold import SCAN, propose_threshold
from znn.io.synthetic import make_em_volume


@pytest.fixture(scope="module")
def truth():
    volume = make_em_volume((3, 192, 192), seed=3)
    membrane = volume.labels == 0
    # a plausible boundary map: 1 on the membrane, falling off over a few pixels
    distance = np.stack([ndimage.distance_transform_edt(~m) for m in membrane])
    return np.exp(-distance / 2.0).astype(np.float32), volume.labels


def _variants(clean: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"clean": clean, "thick": clean ** 0.2, "thin": clean ** 4,
            "noisy": np.clip(clean + rng.normal(0, 0.2, clean.shape), 0, 1).astype(np.float32),
            "blurred": ndimage.gaussian_filter(clean, (0, 2, 2))}


@pytest.mark.parametrize("variant", ["clean", "thick", "thin", "noisy", "blurred"])
def test_the_proposal_scores_close_to_the_best_threshold(truth, variant):
    boundary = _variants(truth[0])[variant]
    advice = propose_threshold(boundary)
    scores = score_boundary_map(boundary, truth[1], SCAN)
    at = {s.threshold: s.v_rand for s in scores.sweep}
    assert at[advice.proposed] >= scores.best.v_rand - 0.03, (advice.summary(1), scores.best)
    assert advice.stable and not advice.weak and not advice.narrow


def test_a_map_with_swollen_membranes_is_segmented_better_at_the_proposal_than_at_one_half(truth):
    swollen = truth[0] ** 0.1  # membranes ten pixels thick at 0.5: cells merge or vanish there
    at = {s.threshold: s.v_rand for s in score_boundary_map(swollen, truth[1], SCAN).sweep}
    assert at[propose_threshold(swollen).proposed] > at[0.5] + 0.1


def test_a_map_that_barely_varies_is_weak(truth):
    rng = np.random.default_rng(1)
    flat = np.clip(0.504 + rng.normal(0, 0.01, truth[0].shape), 0, 1).astype(np.float32)
    advice = propose_threshold(flat)
    assert advice.weak and advice.narrow


def test_a_low_contrast_map_that_still_separates_is_narrow_not_weak(truth):
    squeezed = 0.5 + 0.08 * (truth[0] - 0.5)  # an early network: right order, little spread
    advice = propose_threshold(squeezed)
    at = {s.threshold: s.v_rand for s in score_boundary_map(squeezed, truth[1], SCAN).sweep}
    assert advice.narrow and not advice.weak and not advice.stable
    assert at[advice.proposed] == pytest.approx(max(at.values()), abs=0.03)


def test_counts_are_seeds_of_a_cell_size():
    # two 20x20 squares and one 2x2 speck below 0.5: the speck is not a cell
    section = np.ones((64, 64), np.float32)
    section[5:25, 5:25] = section[30:50, 30:50] = section[60:62, 60:62] = 0.0
    advice = propose_threshold(section, min_size=10)
    assert advice.count_at(0.5) == 2
