"""The dock in napari's default window: every row of the Data tab at its natural height (the page
scrolls), so the label mode's reason is readable from start-up."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_the_label_mode_and_its_reason_are_not_squeezed_in_a_short_window(make_napari_viewer, new_dock, qtbot):
    viewer = make_napari_viewer(show=True)
    dock = new_dock(viewer, docked=True)
    viewer.open_sample("napari-znn", "synthetic_em")
    viewer.window._qt_window.resize(1000, 600)  # shorter than the dock's rows
    qtbot.waitUntil(lambda: dock.data.label_mode.reason.isVisible(), timeout=5_000)
    qtbot.wait(200)
    row = dock.data.label_mode
    assert row.reason.text().startswith("Guessed from 'synthetic labels'")
    assert row.mode.height() >= row.mode.sizeHint().height()
    assert row.reason.height() >= row.reason.heightForWidth(row.reason.width()), (
        row.reason.height(), row.reason.heightForWidth(row.reason.width()))
