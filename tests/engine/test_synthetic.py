"""The synthetic EM generator: determinism, consistency of ground truth, EM-like contrast, defects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from znn.data import SyntheticEM, make_em_volume

SMALL = (12, 128, 128)


@pytest.fixture(scope="module")
def em() -> SyntheticEM:
    return make_em_volume(SMALL, seed=1)


def test_types_and_shapes(em):
    assert em.raw.shape == em.labels.shape == em.boundary.shape == SMALL
    assert em.raw.dtype == np.uint8
    assert em.labels.dtype == np.uint32
    assert em.boundary.dtype == np.uint8
    assert em.params["seed"] == 1 and em.params["anisotropy"] == 5.0


def test_same_seed_same_arrays_other_seed_differs(em):
    again = make_em_volume(SMALL, seed=1)
    np.testing.assert_array_equal(again.raw, em.raw)
    np.testing.assert_array_equal(again.labels, em.labels)
    other = make_em_volume(SMALL, seed=2)
    assert np.mean(other.raw != em.raw) > 0.5
    assert np.mean(other.labels != em.labels) > 0.5


def test_boundary_is_label_zero(em):
    np.testing.assert_array_equal(em.boundary, (em.labels == 0).astype(np.uint8))
    # membranes are a thin minority of the image, as in real EM
    assert 0.04 < em.boundary.mean() < 0.25


def test_membranes_and_mitochondria_are_dark(em):
    membrane = em.raw[em.labels == 0].astype(float)
    cells = em.raw[em.labels > 0].astype(float)
    assert membrane.mean() < cells.mean() - 50
    # Mitochondria are dark blobs *inside* cells: a clear dark tail of cell pixels that are
    # far from every membrane.
    far_inside = ndimage.distance_transform_edt(em.labels > 0, sampling=(100, 1, 1)) > 5
    assert np.mean(em.raw[far_inside] < membrane.mean() + 20) > 0.02


def test_ids_are_consecutive_and_cell_count_plausible(em):
    ids = np.unique(em.labels)
    assert ids[0] == 0
    np.testing.assert_array_equal(ids[1:], np.arange(1, len(ids)))
    assert em.params["n_cells"] == len(ids) - 1
    # about (12·5/2 × 128 × 128) / 40³ ≈ 8 cell volumes, plus the cells cut by the borders
    assert 10 <= len(ids) - 1 <= 120
    profiles_per_section = np.mean([len(np.unique(s)) - 1 for s in em.labels])
    assert 5 <= profiles_per_section <= 40


def test_cells_continue_across_sections(em):
    sections_per_cell = [len(np.unique(np.nonzero(em.labels == i)[0])) for i in range(1, em.labels.max() + 1)]
    assert np.median(sections_per_cell) >= 4
    # a cell seen in one section mostly overlaps itself in the next one
    same = (em.labels[1:] == em.labels[:-1]) & (em.labels[1:] > 0)
    assert same.sum() / np.count_nonzero(em.labels[1:]) > 0.8


def test_cells_are_compact_blobs_in_each_section(em):
    section = em.labels[SMALL[0] // 2]
    for cell in np.unique(section)[1:]:
        _, pieces = ndimage.label(section == cell)
        assert pieces <= 3  # one profile, maybe a sliver cut off by a wavy membrane


def test_missing_section_is_flat():
    volume = make_em_volume(SMALL, seed=4, missing_sections=2)
    missing = volume.params["missing"]
    assert len(missing) == 2 and 0 not in missing
    for z in missing:
        assert volume.raw[z].min() == volume.raw[z].max()
        assert volume.labels[z].max() > 0  # the tissue is there, only the image is lost
    intact = [z for z in range(SMALL[0]) if z not in missing]
    assert all(volume.raw[z].std() > 10 for z in intact)


def test_misaligned_section_is_shifted_against_its_neighbour():
    volume = make_em_volume((12, 160, 160), seed=5, misaligned_sections=1)
    ((z, (dy, dx)),) = volume.params["misaligned"].items()
    assert z >= 1 and max(abs(dy), abs(dx)) >= 3
    before = volume.raw[z - 1].astype(float)
    # skimage returns the shift that registers the moving image onto the reference
    shift, _, _ = phase_cross_correlation(before, volume.raw[z].astype(float))
    assert np.allclose(-shift, (dy, dx), atol=1.5)
    # labels follow the image: the boundary map is displaced the same way
    shift, _, _ = phase_cross_correlation(volume.boundary[z - 1].astype(float),
                                          volume.boundary[z].astype(float))
    assert np.allclose(-shift, (dy, dx), atol=1.5)
    # aligned neighbours are not displaced
    if z >= 2:
        shift, _, _ = phase_cross_correlation(volume.raw[z - 2].astype(float), before)
        assert np.allclose(shift, 0, atol=1.5)


def test_too_many_defects_is_an_error():
    with pytest.raises(ValueError, match="do not fit"):
        make_em_volume((4, 32, 32), misaligned_sections=2, missing_sections=2)
