"""Fixtures of the plugin's GUI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def new_dock(qtbot):
    """Makes training docks; at teardown their workers are stopped before Qt objects go away."""
    from napari_znn._train_widget import TrainingDock

    made = []

    def make(viewer, docked: bool = False):
        dock = TrainingDock(viewer)
        if docked:
            viewer.window.add_dock_widget(dock, name="ZNN training")
        else:
            qtbot.addWidget(dock)  # closed and deleted while the QApplication still exists
        made.append(dock)
        return dock

    yield make
    for dock in made:
        dock.shutdown(timeout_s=60)
