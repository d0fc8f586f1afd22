"""Stroke coverage: the share of training patches (centred on painted voxels) that hold both
stroke kinds, against geometry worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from znn.data.stroke_coverage import ENOUGH_BOTH, smallest_patch_with_both, stroke_coverage

MEMBRANE, CELL = 1, 2


def _two_lines(gap: int, cell_rows: slice = slice(40, 200)) -> np.ndarray:
    """A membrane line at x=100 and a cell line `gap` pixels to its right, on one 256x256 section."""
    strokes = np.zeros((1, 256, 256), np.uint8)
    strokes[0, 40:200, 100] = MEMBRANE
    strokes[0, cell_rows, 100 + gap] = CELL
    return strokes


@pytest.mark.parametrize(("side", "expected"), [(32, 0.0), (64, 0.0), (96, 1.0), (128, 1.0)])
def test_a_patch_holds_both_kinds_when_half_its_side_spans_the_gap(side, expected):
    # A patch of side s centred on either line reaches s/2 to each side: it holds the other line iff gap < s/2.
    found = stroke_coverage(_two_lines(gap=40), MEMBRANE, CELL, (1, side, side))
    assert found.both == pytest.approx(expected)
    assert found.enough == (expected >= ENOUGH_BOTH)


def test_the_share_counts_centres_on_either_kind():
    # The cell line is a quarter as long as the membrane line: centred on the cell line (1/5 of the
    # painted voxels) a 1x32 patch holds membrane too; on the membrane line only the 40 rows beside
    # the cell line do, in y, so about (40 + 40) / 200 of the centres at most.
    strokes = _two_lines(gap=10, cell_rows=slice(80, 120))
    found = stroke_coverage(strokes, MEMBRANE, CELL, (1, 32, 32), samples=4000)
    membrane_rows = np.arange(40, 200)
    # a membrane centre at row r: window rows [r-16, r+16) meet the cell rows [80, 120)
    membrane_with_cell = np.count_nonzero((membrane_rows + 16 > 80) & (membrane_rows - 16 < 120))
    exact = (membrane_with_cell + 40) / (160 + 40)
    assert found.both == pytest.approx(exact, abs=0.03)


def test_strokes_of_one_kind_never_fill_a_patch_with_both():
    strokes = _two_lines(gap=10)
    strokes[strokes == CELL] = MEMBRANE
    assert stroke_coverage(strokes, MEMBRANE, CELL, (1, 256, 256)).both == 0.0


def test_nothing_painted_is_not_enough():
    found = stroke_coverage(np.zeros((1, 64, 64), np.uint8), MEMBRANE, CELL, (1, 32, 32))
    assert found.centres == 0 and not found.enough


def test_the_smallest_patch_that_works_is_named():
    better = smallest_patch_with_both(_two_lines(gap=40), MEMBRANE, CELL, (1, 32, 32))
    assert better is not None and better.outsz == (1, 96, 96) and better.both == 1.0
    # nothing larger than the section is proposed
    assert smallest_patch_with_both(_two_lines(gap=150), MEMBRANE, CELL, (1, 32, 32)) is None
