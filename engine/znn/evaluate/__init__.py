"""Evaluating a trained network's output against ground truth.

`metrics` scores boundary maps (pixel error, tolerant boundary F1) and segmentations
(adapted Rand error, variation of information); `segment` turns a boundary probability
map into a label volume so that it can be scored as a segmentation. Both are pure
functions of NumPy arrays, with no state and no I/O.
"""

from __future__ import annotations

from znn.evaluate.metrics import (
    BoundaryF1,
    RandScores,
    VIScores,
    adapted_rand_error,
    boundary_f1,
    pixel_error,
    variation_of_information,
)
from znn.evaluate.segment import segment_boundary

__all__ = [
    "BoundaryF1",
    "RandScores",
    "VIScores",
    "adapted_rand_error",
    "boundary_f1",
    "pixel_error",
    "segment_boundary",
    "variation_of_information",
]
