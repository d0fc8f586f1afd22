"""From a boundary probability map to a label volume, so that it can be scored.

The network predicts, per voxel, the probability of membrane (1 = boundary). Cells are the
regions enclosed by boundary, so the simplest segmentation labels the connected regions
below a threshold. ISBI-style scores expect a label on every voxel, so by default those
regions are then used as seeds and grown over the boundary voxels by a watershed on the
probability map: each boundary voxel joins the cell it is flooded from first, i.e. the
boundary is split along its ridge of highest probability.

No erosion or smoothing is applied to the seeds: a single gap in a predicted membrane
merges two cells. A lower `threshold` counts weak membrane as boundary and so closes such
gaps (at the cost of smaller seeds); `min_size` removes the small spurious seeds that
noise in the cell interiors would otherwise leave.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.segmentation import watershed

METHODS = ("watershed", "components")
_MAX_ID = np.iinfo(np.uint32).max


def segment_boundary(boundary_prob: np.ndarray, *, threshold: float = 0.5, method: str = "watershed",
                     per_section: bool = True, min_size: int = 0) -> np.ndarray:
    """Label the cells of a boundary probability map in [0, 1] of shape (z, y, x).

    method "components": connected components of `prob < threshold`; boundary voxels
    (and voxels of dropped seeds) are 0. method "watershed": those components are seeds,
    grown by a watershed on `prob` until every voxel has a label (a voxel stays 0 only
    when its section, or with `per_section=False` the volume, has no seed at all).

    `per_section=True` segments each z-section in 2-D, as suits anisotropic EM stacks
    (labels never continue across sections); False segments in 3-D. Connectivity is by
    faces only (4 in 2-D, 6 in 3-D), so a one-voxel diagonal membrane still separates.
    Components with fewer than `min_size` voxels are dropped before growing. Ids are
    consecutive from 1 over the whole volume, in order of section then scan position.
    A (y, x) array is treated as one section and gives a (y, x) result.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    prob = np.asarray(boundary_prob)
    if prob.ndim not in (2, 3):
        raise ValueError(f"expected a (z, y, x) or (y, x) array, got shape {prob.shape}")
    if prob.dtype.kind != "f":
        prob = prob.astype(np.float64)
    if not np.isfinite(prob).all():
        raise ValueError("boundary probability map has NaN or infinite values")

    labels = np.zeros(prob.shape, dtype=np.uint32)
    if prob.ndim == 2 or not per_section:
        _segment_block(prob, labels, threshold, method, min_size, offset=0)
    else:
        offset = 0
        for z in range(prob.shape[0]):
            offset = _segment_block(prob[z], labels[z], threshold, method, min_size, offset)
    return labels


def _segment_block(prob: np.ndarray, out: np.ndarray, threshold: float, method: str,
                   min_size: int, offset: int) -> int:
    """Segment one section (or the whole volume) into `out`; returns the new last id."""
    seeds, count = _seeds(prob, threshold, min_size)
    if count == 0:
        return offset  # nothing to label or to grow from: the block stays 0
    if offset + count > _MAX_ID:
        raise ValueError(f"more than {_MAX_ID} segments do not fit in uint32 labels")
    if method == "watershed":
        # Markers keep their ids, so the result stays consecutive from 1 within the block.
        seeds = watershed(prob, markers=seeds, connectivity=1)
    inside = seeds > 0
    out[inside] = seeds[inside].astype(np.uint32) + np.uint32(offset)
    return offset + count


def _seeds(prob: np.ndarray, threshold: float, min_size: int) -> tuple[np.ndarray, int]:
    """Face-connected components of the non-boundary voxels, small ones removed, ids 1..n."""
    structure = ndimage.generate_binary_structure(prob.ndim, 1)
    seeds, count = ndimage.label(prob < threshold, structure=structure)
    if min_size > 1 and count:
        sizes = np.bincount(seeds.ravel(), minlength=count + 1)
        keep = sizes >= min_size
        keep[0] = False
        # Lookup table: kept components get consecutive ids, dropped ones (and 0) get 0.
        relabel = np.zeros(count + 1, dtype=seeds.dtype)
        count = int(np.count_nonzero(keep))
        relabel[keep] = np.arange(1, count + 1, dtype=seeds.dtype)
        seeds = relabel[seeds]
    return seeds, count
