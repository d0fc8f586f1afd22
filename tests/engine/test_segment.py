"""Segmenting a boundary map built from known cells separated by thin membranes."""

from __future__ import annotations

import numpy as np
import pytest

from znn.evaluate import adapted_rand_error, segment_boundary


def cells() -> np.ndarray:
    """Two 12 x 12 sections of rectangles separated by 1- and 2-pixel zero (membrane) lines."""
    labels = np.zeros((2, 12, 12), dtype=np.int64)
    labels[0, 0:5, 0:6] = 1      # column 6: a 1-pixel membrane
    labels[0, 0:5, 7:12] = 2
    labels[0, 7:12, 0:12] = 3    # rows 5-6: a 2-pixel membrane
    labels[1, 0:12, 0:4] = 4     # columns 4-5: a 2-pixel membrane
    labels[1, 0:6, 6:12] = 5     # row 6: a 1-pixel membrane
    labels[1, 7:12, 6:12] = 6
    return labels


def boundary(labels: np.ndarray) -> np.ndarray:
    return (labels == 0).astype(np.float32)


def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two labelings group the voxels identically (a bijection between ids)."""
    pairs = np.unique(np.stack([first.ravel(), second.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(first)) == len(np.unique(second))


def test_components_recover_cells_exactly():
    labels = cells()
    result = segment_boundary(boundary(labels), method="components")
    assert result.dtype == np.uint32 and result.shape == labels.shape
    assert np.array_equal(result == 0, labels == 0)
    inside = labels > 0
    assert same_partition(result[inside], labels[inside])
    assert np.array_equal(np.unique(result[inside]), np.arange(1, 7))  # consecutive from 1


def test_watershed_labels_every_voxel():
    labels = cells()
    result = segment_boundary(boundary(labels))
    assert result.dtype == np.uint32 and (result > 0).all()
    inside = labels > 0
    assert same_partition(result[inside], labels[inside])  # seeds keep their cells
    assert adapted_rand_error(result, labels).error < 0.01
    assert np.array_equal(np.unique(result), np.arange(1, 7))


def test_per_section_ids_are_unique_across_sections():
    labels = cells()
    labels[1] = labels[0]  # identical sections: 2-D ids must still differ between them
    for method in ("components", "watershed"):
        result = segment_boundary(boundary(labels), method=method)
        first, second = set(np.unique(result[0])) - {0}, set(np.unique(result[1])) - {0}
        assert len(first) == len(second) == 3 and not first & second


def test_3d_joins_cells_that_touch_across_sections():
    labels = cells()
    labels[1] = labels[0]
    result = segment_boundary(boundary(labels), method="components", per_section=False)
    inside = labels > 0
    assert np.array_equal(result[0], result[1])
    assert same_partition(result[inside], labels[inside])
    grown = segment_boundary(boundary(labels), per_section=False)
    assert (grown > 0).all() and len(np.unique(grown)) == 3


def test_min_size_drops_a_tiny_seed():
    labels = cells()
    prob = boundary(labels)
    prob[0, 8:11, 2:5] = 1.0  # a ring of false membrane inside cell 3 ...
    prob[0, 9, 3] = 0.0       # ... around a one-voxel seed
    kept = segment_boundary(prob, method="components")
    assert kept[0, 9, 3] > 0 and len(np.unique(kept)) == 8  # 0, six cells and the speck
    dropped = segment_boundary(prob, method="components", min_size=2)
    assert dropped[0, 9, 3] == 0
    assert np.array_equal(np.unique(dropped), np.arange(0, 7))
    grown = segment_boundary(prob, min_size=2)
    assert (grown > 0).all() and np.array_equal(np.unique(grown), np.arange(1, 7))
    assert (grown[0, 8:11, 2:5] == grown[0, 11, 11]).all()  # the ring and speck join cell 3
    assert adapted_rand_error(grown, labels).error < 0.01


def test_threshold_and_soft_probabilities():
    labels = cells()
    prob = np.where(labels == 0, 0.8, 0.3)
    assert same_partition(segment_boundary(prob, threshold=0.5), segment_boundary(boundary(labels)))
    # Above every value: the whole section is one region.
    assert len(np.unique(segment_boundary(prob, threshold=0.9))) == 2


def test_section_without_cells_stays_zero_and_2d_input():
    prob = boundary(cells())
    prob[1] = 1.0
    result = segment_boundary(prob)
    assert (result[1] == 0).all() and (result[0] > 0).all()
    flat = segment_boundary(boundary(cells())[0])
    assert flat.shape == (12, 12) and np.array_equal(np.unique(flat), [1, 2, 3])


def test_bad_arguments():
    prob = boundary(cells())
    with pytest.raises(ValueError):
        segment_boundary(prob, method="agglomerate")
    with pytest.raises(ValueError):
        segment_boundary(prob, min_size=-1)
    with pytest.raises(ValueError):
        segment_boundary(prob[0, 0])
    prob[0, 0, 0] = np.nan
    with pytest.raises(ValueError):
        segment_boundary(prob)
