"""Predicted maps to segmentations: the kind from the channel count, then watershed (boundary)
or waterz agglomeration (affinities), for one or several thresholds. Pure functions of arrays."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from znn.evaluate.agglomerate import segment_affinities
from znn.evaluate.segment import segment_boundary


def check_probability_maps(maps: np.ndarray) -> None:
    """Maps must be probabilities: floats in [0, 1] (or integers 0 and 1). A segmentation (ids 0..N), a
    raw image (0..255) or a map scaled to 8 bits would be thresholded as if it were one; ValueError."""
    if maps.dtype.kind == "f" and np.isnan(maps).any():
        raise ValueError("the maps hold NaN values (an unfinished blockwise output?)")
    low, high = float(np.min(maps)), float(np.max(maps))
    slack = 1e-3  # rounding of a stored float map
    if low >= -slack and high <= 1 + slack:
        return
    what = ("a segmentation or an image" if maps.dtype.kind in "iu" else "an image or an unscaled map")
    raise ValueError(f"not a probability map: {maps.dtype} values from {low:g} to {high:g}, like {what} "
                     "(maps hold probabilities from 0 to 1, as znn forward writes; rescale an 8-bit map by 1/255)")


def kind_of(maps: np.ndarray, kind: str = "auto") -> str:
    """'affinity' for 3 channels, else 'boundary' (unless `kind` names one)."""
    if kind != "auto":
        return kind
    return "affinity" if maps.shape[0] == 3 else "boundary"


def boundary_channel(maps: np.ndarray) -> np.ndarray:
    """The boundary probability: channel 1 of (object, boundary) maps, else the only channel."""
    if maps.shape[0] not in (1, 2):
        raise ValueError(f"boundary maps have 1 or 2 channels, not {maps.shape[0]} (use --kind affinity?)")
    return maps[-1]


def segment_maps(maps: np.ndarray, kind: str, thresholds: Sequence[float], *, per_section: bool = True,
                 min_size: int = 0) -> Iterator[tuple[float, np.ndarray]]:
    """(threshold, labels) for each threshold."""
    if kind == "affinity":
        yield from segment_affinities(maps, thresholds)
        return
    boundary = boundary_channel(maps)
    if not np.isfinite(boundary).all():
        raise ValueError("the boundary map holds NaN values (an unfinished blockwise output?)")
    for threshold in sorted(thresholds):
        yield threshold, segment_boundary(boundary, threshold=threshold, per_section=per_section, min_size=min_size)
