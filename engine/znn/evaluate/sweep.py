"""Scores of a boundary probability map against dense labels, over a sweep of thresholds.

What a segmentation of a map scores depends on the threshold it is cut at (`segment_boundary`):
too low and noise in the cells splits them, too high and gaps in the membranes merge them. The
fair comparison of two maps is therefore each at its best threshold, as the ISBI 2012 challenge
scored its entries. `score_boundary_map` segments the map section by section at every threshold of
the sweep, scores each against the true regions (V_rand and V_info, ISBI's foreground-restricted
scores, averaged over sections), and reports the best V_rand with its threshold; the pixel error
is the map's at 0.5, as a classifier's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from znn.evaluate.isbi import foreground_scores, regions_of_membrane_image
from znn.evaluate.segment import segment_boundary

SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class ThresholdScore:
    threshold: float
    v_rand: float
    v_info: float


@dataclass(frozen=True)
class MapScores:
    pixel_error: float  # (map > 0.5) against the true membrane
    best: ThresholdScore  # the threshold with the highest V_rand
    sweep: tuple[ThresholdScore, ...]
    membrane_share: float  # of the voxels, those the map calls membrane (> 0.5): thick or thin membranes
    true_membrane_share: float

    def as_dict(self) -> dict[str, float]:
        return {"pixel_error": self.pixel_error, "threshold": self.best.threshold, "v_rand": self.best.v_rand,
                "v_info": self.best.v_info, "membrane_share": self.membrane_share,
                "true_membrane_share": self.true_membrane_share}


def score_boundary_map(boundary: np.ndarray, membrane_labels: np.ndarray,
                       thresholds: tuple[float, ...] = SWEEP) -> MapScores:
    """Scores of `boundary` (z, y, x, membrane probability) against `membrane_labels` (z, y, x; 0 =
    membrane, any other value = cell, as ISBI 2012's labels), section by section."""
    prob = np.asarray(boundary)
    labels = np.asarray(membrane_labels)
    if prob.shape != labels.shape or prob.ndim != 3:
        raise ValueError(f"the map and the labels must be (z, y, x) volumes of one shape, not {prob.shape} "
                         f"and {labels.shape}")
    if not thresholds:
        raise ValueError("at least one threshold is needed")
    truth = regions_of_membrane_image(labels)
    scored = [z for z in range(truth.shape[0]) if truth[z].any()]
    if not scored:
        raise ValueError("the labels hold no cell (every voxel is membrane): nothing to score")
    called, membrane = prob > 0.5, labels == 0
    pixel_error = float(np.mean(called != membrane))
    sweep = []
    for threshold in thresholds:
        segments = segment_boundary(prob[scored], threshold=float(threshold))
        per_section = [foreground_scores(segments[k], truth[z]) for k, z in enumerate(scored)]
        sweep.append(ThresholdScore(float(threshold), float(np.mean([s.v_rand for s in per_section])),
                                    float(np.mean([s.v_info for s in per_section]))))
    best = max(sweep, key=lambda score: score.v_rand)
    return MapScores(pixel_error, best, tuple(sweep), float(np.mean(called)), float(np.mean(membrane)))
