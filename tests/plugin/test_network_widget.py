"""The network dock: picking a network shows the engine's geometry; bad files show the error."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


def test_dock_shows_fov_and_reacts_to_output_size(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-znn", "Network")
    widget.network.setCurrentText("N4")
    assert "Field of view 1x95x95, input patch 1x194x194" in widget.status.text()
    assert "conv5" in widget.table.toPlainText()
    widget.outsz.setText("5,20,20")
    widget.refresh()
    assert "input patch 5x114x114" in widget.status.text()
    widget.outsz.setText("5,x,20")
    widget.refresh()
    assert "Invalid" in widget.status.text() and widget.table.toPlainText() == ""


def test_dock_reports_a_broken_network_file(make_napari_viewer, qtbot, tmp_path):
    from napari_znn._network_widget import NetworkInfoWidget

    bad = tmp_path / "broken.znn"
    bad.write_text("nodes input\ntype input\nsize 1\n\nedges conv1\ntype conv\ninit xavier\nsize 1,3,3\n"
                   "input input\noutput nowhere\n")
    widget = NetworkInfoWidget(make_napari_viewer())
    qtbot.addWidget(widget)  # deleted while the QApplication still exists
    widget.select_file(bad)
    assert f"{bad}:10: group 'conv1', key 'output': unknown node group" in widget.status.text()
