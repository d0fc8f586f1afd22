"""Affinity maps to segmentations: waterz's watershed fragments merged by mean affinity.

The network's affinity channels are ZNN's (x, y, z), each linking a voxel to its predecessor
along that axis; waterz takes the same links in (z, y, x) order. waterz scores a merge of two
regions by 1 − the mean affinity across their contact and merges, lowest score first, while
the score stays below the threshold: a higher threshold merges more.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def segment_affinities(affinities: np.ndarray, thresholds: Sequence[float], *, low: float = 0.0001,
                       high: float = 0.9999) -> Iterator[tuple[float, np.ndarray]]:
    """(threshold, uint64 labels (z, y, x)) for each threshold, in increasing order.

    `affinities` is (3, z, y, x) in ZNN's channel order (x, y, z). `low`/`high` bound the
    affinities of the initial watershed (waterz's aff_threshold_low/high).
    """
    import waterz

    affs = np.asarray(affinities)
    if affs.ndim != 4 or affs.shape[0] != 3:
        raise ValueError(f"affinities must be (3, z, y, x), got shape {affs.shape}")
    if not np.isfinite(affs).all():
        raise ValueError("affinities hold NaN or infinite values (an unfinished blockwise output?)")
    ordered = sorted(float(t) for t in thresholds)
    if not ordered:
        raise ValueError("give at least one threshold")
    zyx = np.ascontiguousarray(affs[::-1], dtype=np.float32)
    for threshold, labels in zip(ordered, waterz.agglomerate(zyx, ordered, aff_threshold_low=low,
                                                            aff_threshold_high=high)):
        yield threshold, np.array(labels, dtype=np.uint64)  # waterz reuses its array between thresholds
