"""All segmentation scores of one comparison, for `znn evaluate`, `znn segment --gt` and the dock."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from znn.evaluate.isbi import foreground_scores, is_membrane_image, regions_of_membrane_image
from znn.evaluate.metrics import adapted_rand_error, variation_of_information


@dataclass(frozen=True)
class SegmentationScores:
    adapted_rand_error: float
    rand_precision: float
    rand_recall: float
    vi_split: float  # bits
    vi_merge: float
    v_rand: float  # ISBI 2012, foreground-restricted
    v_info: float
    sections: int  # 0 when scored as one volume

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def lines(self) -> list[str]:
        where = f"mean over {self.sections} sections" if self.sections else "whole volume"
        return [f"adapted Rand error {self.adapted_rand_error:.4f} (precision {self.rand_precision:.4f}, "
                f"recall {self.rand_recall:.4f}; lower is better, 0 = perfect)",
                f"VI split {self.vi_split:.4f} bits, merge {self.vi_merge:.4f} bits (lower is better, "
                "0 = perfect)",
                f"ISBI 2012 foreground-restricted: V_rand {self.v_rand:.4f}, V_info {self.v_info:.4f} "
                "(higher is better, 1 = perfect)",
                f"({where}; ground-truth label 0 is not scored)"]


def ground_truth_segments(labels: np.ndarray) -> tuple[np.ndarray, bool]:
    """Segment ids of a ground truth; a membrane image (0 and one other value) becomes its
    regions, section by section. Returns the ids and whether that conversion happened."""
    if is_membrane_image(labels):
        return regions_of_membrane_image(labels), True
    return np.asarray(labels), False


def score_segmentation(segmentation: np.ndarray, ground_truth: np.ndarray, *,
                       per_section: bool = False) -> SegmentationScores:
    """Adapted Rand error, VI and the ISBI scores; `per_section` averages 2-D scores over z."""
    seg = np.asarray(segmentation)
    truth = np.asarray(ground_truth)
    if seg.shape != truth.shape:
        raise ValueError(f"segmentation and ground truth differ in shape: {seg.shape} vs {truth.shape}")
    if seg.dtype.kind not in "iub":
        raise ValueError(f"the segmentation holds {seg.dtype} values, not labels; segment the maps first "
                         "(znn segment)")
    pairs = [(seg[z], truth[z]) for z in range(seg.shape[0]) if truth[z].any()] if per_section else [(seg, truth)]
    if not pairs:
        raise ValueError("the ground truth is all background (label 0): nothing to score")
    rows = []
    for s, t in pairs:
        rand, vi, isbi = adapted_rand_error(s, t), variation_of_information(s, t), foreground_scores(s, t)
        rows.append((rand.error, rand.precision, rand.recall, vi.split, vi.merge, isbi.v_rand, isbi.v_info))
    are, precision, recall, split, merge, v_rand, v_info = (float(v) for v in np.mean(np.array(rows), axis=0))
    return SegmentationScores(are, precision, recall, split, merge, v_rand, v_info,
                              sections=len(pairs) if per_section else 0)
