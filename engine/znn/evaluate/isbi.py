"""The ISBI 2012 challenge's foreground-restricted scores, and ground truth from a membrane image.

With n_ij the voxels in segment i and true segment j, counted only where the truth is
foreground (label > 0), p_ij = n_ij / n, s_i = Σ_j p_ij and t_j = Σ_i p_ij
(Arganda-Carreras et al. 2015, Front. Neuroanat. 9:142):

* V_rand = Σ p_ij² / (½ Σ s_i² + ½ Σ t_j²): the Rand F-score (1 is perfect);
* V_info = I(S; T) / (½ H(S) + ½ H(T)): the information-theoretic F-score (1 is perfect).

Segment 0 of the segmentation (unassigned voxels) counts as one segment like any other.
ISBI 2012 labels are membrane images (0 = membrane, 255 = cell); their regions, labelled
section by section, are the true segments (`regions_of_membrane_image`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ForegroundScores:
    v_rand: float
    v_rand_split: float  # Σp² / Σt²: low when the segmentation splits true segments
    v_rand_merge: float  # Σp² / Σs²: low when it merges them
    v_info: float
    v_info_split: float  # I / H(T)
    v_info_merge: float  # I / H(S)


def _entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def foreground_scores(segmentation: np.ndarray, ground_truth: np.ndarray) -> ForegroundScores:
    """V_rand and V_info of `segmentation` against the foreground (label > 0) of `ground_truth`."""
    seg = np.asarray(segmentation)
    truth = np.asarray(ground_truth)
    if seg.shape != truth.shape:
        raise ValueError(f"shapes differ: {seg.shape} vs {truth.shape}")
    inside = truth > 0
    if not inside.any():
        raise ValueError("no voxels left to score (ground truth is all background)")
    _, seg_ids = np.unique(seg[inside], return_inverse=True)
    _, true_ids = np.unique(truth[inside], return_inverse=True)
    # One int64 code per (segment, true segment) pair: a 1-D unique is far faster than a 2-D one.
    width = int(true_ids.max()) + 1
    codes, counts = np.unique(seg_ids.ravel().astype(np.int64) * width + true_ids.ravel(), return_counts=True)
    p = counts / counts.sum()
    s = np.bincount(codes // width, weights=p)
    t = np.bincount(codes % width, weights=p)
    sum_p2, sum_s2, sum_t2 = float((p * p).sum()), float((s * s).sum()), float((t * t).sum())
    h_s, h_t, h_st = _entropy(s), _entropy(t), _entropy(p)
    mutual = h_s + h_t - h_st
    return ForegroundScores(
        v_rand=2 * sum_p2 / (sum_s2 + sum_t2), v_rand_split=sum_p2 / sum_t2, v_rand_merge=sum_p2 / sum_s2,
        v_info=2 * mutual / (h_s + h_t) if h_s + h_t > 0 else 1.0,
        v_info_split=mutual / h_t if h_t > 0 else 1.0, v_info_merge=mutual / h_s if h_s > 0 else 1.0)


def regions_of_membrane_image(membrane_image: np.ndarray) -> np.ndarray:
    """True segments of an ISBI-style label image (0 = membrane): the face-connected regions of
    each section's non-zero pixels, numbered consecutively over the stack; membrane stays 0."""
    image = np.asarray(membrane_image)
    stack = image[np.newaxis] if image.ndim == 2 else image
    out = np.zeros(stack.shape, np.uint32)
    offset = 0
    for z, section in enumerate(stack):
        labels, count = ndimage.label(section > 0)
        out[z] = np.where(labels > 0, labels + offset, 0)
        offset += count
    return out[0] if image.ndim == 2 else out


def is_membrane_image(labels: np.ndarray) -> bool:
    """Whether `labels` holds two values, 0 and one other: a membrane image, not segment ids."""
    values = np.unique(np.asarray(labels))
    return len(values) == 2 and values[0] == 0
