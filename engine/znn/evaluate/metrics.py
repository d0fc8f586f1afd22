"""Scores of a boundary map or a segmentation against ground truth.

Conventions (checked against scikit-image 0.26):

* Label volumes are non-negative integer arrays; 0 in the *ground truth* is background
  (membrane / unlabelled) and is left out of the Rand and VI scores when
  `ignore_background=True`: every voxel whose ground-truth label is 0 is dropped,
  whatever the segmentation says there. Label 0 in the *segmentation* is never ignored:
  it is scored as one ordinary segment, so a segmentation that leaves its boundary
  voxels at 0 should be grown first (see `znn.evaluate.segment`).
* skimage's `adapted_rand_error` counts ordered pairs of *distinct* voxels, i.e. it uses
  sum n(n-1) over the contingency table, not sum n**2. Its returned precision and recall
  are swapped with respect to its own docstring (scikit-image issue #6485); here
  precision = pairs together in both / pairs together in the segmentation (low when the
  segmentation merges) and recall = pairs together in both / pairs together in the
  ground truth (low when it splits). The error (alpha = 0.5) is symmetric, so unaffected.
* skimage's `variation_of_information(image0, image1)` returns
  [H(image1 | image0), H(image0 | image1)] in bits. With image0 = ground truth, the first
  is the split (over-segmentation) term and the second the merge term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.metrics import adapted_rand_error as _skimage_are
from skimage.metrics import variation_of_information as _skimage_vi


@dataclass(frozen=True)
class BoundaryF1:
    """Tolerant boundary-pixel precision, recall and their harmonic mean."""

    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class RandScores:
    """Adapted Rand error (1 - F-score of the pair precision and recall)."""

    error: float
    precision: float
    recall: float


@dataclass(frozen=True)
class VIScores:
    """Variation of information in bits: split + merge = total."""

    split: float
    merge: float
    total: float


def pixel_error(boundary_prob: np.ndarray, true_boundary: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of voxels where `boundary_prob > threshold` disagrees with `true_boundary`.

    `true_boundary` is read as bool (any non-zero value is boundary).
    """
    prob = np.asarray(boundary_prob)
    truth = np.asarray(true_boundary).astype(bool, copy=False)
    _same_shape(prob, truth)
    if prob.size == 0:
        raise ValueError("pixel_error of an empty array is undefined")
    return float(np.count_nonzero((prob > threshold) != truth) / prob.size)


def boundary_f1(pred_boundary: np.ndarray, true_boundary: np.ndarray, tolerance: int = 1) -> BoundaryF1:
    """Boundary precision/recall where a match may be up to `tolerance` pixels away.

    Arrays are (y, x) or (z, y, x); matching is 2-D within each z-section (EM sections
    are anisotropic, so a boundary one section away is not "nearby"). Distance is
    Euclidean: a predicted pixel is correct when some true boundary pixel of the same
    section lies within `tolerance` (so tolerance 1 accepts the 4-neighbours, not the
    diagonals); recall is the same test with the roles swapped.

    Empty cases: with no predicted boundary precision is 1 (nothing claimed, nothing
    wrong); with no true boundary recall is 1 (nothing to find). F1 is the harmonic mean,
    0 when precision + recall is 0; so both empty gives 1/1/1 and exactly one empty
    gives F1 = 0.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    pred = _sections(np.asarray(pred_boundary).astype(bool, copy=False))
    truth = _sections(np.asarray(true_boundary).astype(bool, copy=False))
    _same_shape(pred, truth)

    pred_total = int(np.count_nonzero(pred))
    true_total = int(np.count_nonzero(truth))
    pred_hit = true_hit = 0
    for pred_section, true_section in zip(pred, truth):
        pred_hit += _matched(pred_section, true_section, tolerance)
        true_hit += _matched(true_section, pred_section, tolerance)

    precision = pred_hit / pred_total if pred_total else 1.0
    recall = true_hit / true_total if true_total else 1.0
    total = precision + recall
    f1 = 2.0 * precision * recall / total if total > 0 else 0.0
    return BoundaryF1(precision=float(precision), recall=float(recall), f1=float(f1))


def adapted_rand_error(segmentation: np.ndarray, ground_truth: np.ndarray, *,
                       ignore_background: bool = True) -> RandScores:
    """Adapted Rand error (SNEMI3D / ISBI 2013) of `segmentation` against `ground_truth`.

    Computed by skimage from pair counts (see the module docstring for what is ignored and
    for the precision/recall orientation, which is corrected here). A score whose pair
    count is 0 (every segment a single voxel) comes back as NaN from skimage.
    """
    seg, truth, ignore = _prepared(segmentation, ground_truth, ignore_background)
    error, skimage_precision, skimage_recall = _skimage_are(truth, seg, ignore_labels=ignore)
    # skimage divides by the ground-truth pair count for its "precision": swap back.
    return RandScores(error=float(error), precision=float(skimage_recall),
                      recall=float(skimage_precision))


def variation_of_information(segmentation: np.ndarray, ground_truth: np.ndarray, *,
                             ignore_background: bool = True) -> VIScores:
    """Variation of information (bits): split = H(seg | gt), merge = H(gt | seg)."""
    seg, truth, ignore = _prepared(segmentation, ground_truth, ignore_background)
    # image0 = ground truth: skimage ignores labels of image0 and returns [H(1|0), H(0|1)].
    split, merge = (float(value) for value in _skimage_vi(truth, seg, ignore_labels=ignore))
    # Clamp the tiny negative values floating point can leave for perfect agreement.
    split, merge = max(split, 0.0), max(merge, 0.0)
    return VIScores(split=split, merge=merge, total=split + merge)


def _prepared(segmentation: np.ndarray, ground_truth: np.ndarray, ignore_background: bool
              ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Checked, compact (flattened) label arrays and the ground-truth labels to ignore."""
    seg = np.asarray(segmentation)
    truth = np.asarray(ground_truth)
    _same_shape(seg, truth)
    if seg.size == 0:
        raise ValueError("cannot score empty label volumes")
    seg = _compact_labels(seg, "segmentation")
    truth = _compact_labels(truth, "ground_truth")
    ignore = (0,) if ignore_background else ()
    if ignore_background and not truth.any():
        raise ValueError("no voxels left to score (ground truth is all background)")
    return seg, truth, ignore


def _compact_labels(labels: np.ndarray, name: str) -> np.ndarray:
    """Labels as intp indices for skimage's sparse table, renumbered when ids are sparse.

    skimage sizes the table by the largest id, so huge ids (e.g. 64-bit hashes) would
    cost memory proportional to the id; renumbering keeps 0 at 0 (ids are sorted).
    """
    if labels.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if labels.dtype.kind == "i" and labels.min() < 0:
        raise ValueError(f"{name} has negative labels")
    if int(labels.max()) < labels.size:
        return labels.astype(np.intp, copy=False).reshape(-1)
    ids, inverse = np.unique(labels.reshape(-1), return_inverse=True)
    return (inverse + (0 if ids[0] == 0 else 1)).astype(np.intp, copy=False)


def _sections(array: np.ndarray) -> np.ndarray:
    """View a (y, x) image as one section of a (z, y, x) stack."""
    if array.ndim == 2:
        return array[np.newaxis]
    if array.ndim != 3:
        raise ValueError(f"expected a (y, x) or (z, y, x) array, got shape {array.shape}")
    return array


def _matched(source: np.ndarray, target: np.ndarray, tolerance: int) -> int:
    """How many `source` pixels have a `target` pixel within `tolerance` (2-D)."""
    if not source.any() or not target.any():
        return 0
    distance = ndimage.distance_transform_edt(~target)  # distance to the nearest target pixel
    return int(np.count_nonzero(source & (distance <= tolerance)))


def _same_shape(first: np.ndarray, second: np.ndarray) -> None:
    if first.shape != second.shape:
        raise ValueError(f"shapes differ: {first.shape} vs {second.shape}")
