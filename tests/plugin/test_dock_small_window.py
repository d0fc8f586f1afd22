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


def test_long_progress_and_status_lines_never_widen_the_dock(make_napari_viewer, new_dock, qtbot):
    # a wider dock shrinks napari's canvas, which then redraws: the dock must keep its width
    viewer = make_napari_viewer(show=True)
    dock = new_dock(viewer, docked=True)
    dock.predictor_panel.progress.setVisible(True)  # as while predicting
    qtbot.wait(100)
    before = dock.minimumSizeHint().width()
    long_line = "iteration 1,234 (1,234 this run) · 0.512 s/update · 3 min 05 s left · checkpoint saved " * 3
    for panel in (dock.progress, dock.predictor_panel.progress):
        panel.text.setText(long_line)
    dock.status.setText(long_line)
    qtbot.wait(100)  # the layout takes the new texts in
    assert dock.minimumSizeHint().width() <= before, (dock.minimumSizeHint().width(), before)
