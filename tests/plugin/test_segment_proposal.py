"""The Segment tab proposes the threshold that separates the maps, and says when a map is too weak
to segment (the truth: V_rand of the segmentations against the synthetic volume's labels)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from znn.io.synthetic import make_em_volume

pytestmark = pytest.mark.gui


@functools.cache
def _em():
    return make_em_volume((3, 128, 128), seed=5)


def _swollen_maps() -> np.ndarray:
    """(object, boundary) maps whose membranes are so thick at 0.5 that cells merge there."""
    distance = np.stack([ndimage.distance_transform_edt(section != 0) for section in _em().labels])
    boundary = (np.exp(-distance / 2.0) ** 0.03).astype(np.float32)
    return np.stack([1 - boundary, boundary])


def _panel(make_napari_viewer, new_dock, truth: bool = False):
    viewer = make_napari_viewer()
    image = viewer.add_image(_em().raw, name="EM")
    panel = new_dock(viewer).segmenter
    if truth:
        viewer.add_labels(_em().labels.astype(np.int32), name="truth")
        panel.truth.setCurrentText("truth")
    return image, panel


def _segment_v_rand(qtbot, panel) -> float:
    panel.segment()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=60_000)
    return float(panel.scores.text().split("V_rand ")[1].split()[0].rstrip(",;<"))


def test_maps_that_merge_at_one_half_get_a_threshold_that_segments_them(make_napari_viewer, new_dock, qtbot):
    image, panel = _panel(make_napari_viewer, new_dock, truth=True)
    assert panel.threshold_value == 0.5  # what a user meets
    panel.set_maps(image, _swollen_maps(), "boundary")
    qtbot.waitUntil(lambda: panel.advice is not None, timeout=30_000)
    proposed = panel.advice.proposed
    assert panel.threshold_value == pytest.approx(proposed) and proposed > 0.5
    assert f"Threshold set to {proposed:.2f}" in panel.proposal.text()
    assert "Segments per section" in panel.proposal.text()
    at_proposal = _segment_v_rand(qtbot, panel)
    panel.threshold.setValue(50)
    at_half = _segment_v_rand(qtbot, panel)
    assert at_proposal > at_half + 0.1, (at_proposal, at_half)
    # at one half a segment or two per section: the tab says which threshold to try
    assert "per section): try " + f"{proposed:.2f}" in panel.scores.text(), panel.scores.text()


def test_a_map_with_nothing_learnt_is_called_too_weak(make_napari_viewer, new_dock, qtbot):
    image, panel = _panel(make_napari_viewer, new_dock)
    boundary = np.clip(0.504 + np.random.default_rng(0).normal(0, 0.01, _em().raw.shape), 0, 1).astype(np.float32)
    panel.set_maps(image, np.stack([1 - boundary, boundary]), "boundary")
    qtbot.waitUntil(lambda: panel.advice is not None, timeout=30_000)
    assert "too weak to segment" in panel.proposal.text() and "pixel noise" in panel.proposal.text()
    assert panel.threshold_value == 0.5  # nothing proposed
    panel.segment()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=60_000)
    assert "too weak to segment" in panel.scores.text()


def test_a_threshold_the_user_chose_is_kept(make_napari_viewer, new_dock, qtbot):
    image, panel = _panel(make_napari_viewer, new_dock)
    panel.set_maps(image, _swollen_maps(), "boundary")
    panel.threshold.setValue(30)  # before the scan answers
    qtbot.waitUntil(lambda: panel.advice is not None, timeout=30_000)
    assert panel.threshold_value == pytest.approx(0.30)
    assert f"You chose 0.30; proposed: {panel.advice.proposed:.2f}" in panel.proposal.text()
