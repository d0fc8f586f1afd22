"""The Network tab's layer table and diagram driven as a user drives them: spin boxes, combos and
buttons; the text, the drawing and the summary numbers follow. Truths: the engine's graph of the
resulting text (parameters, field of view), the text before an edit that was undone, and the
groups of the text (every one named in the drawing)."""

from __future__ import annotations

import pytest

from tests.helpers.paths import NETWORKS

pytestmark = pytest.mark.gui


@pytest.fixture
def editor(qtbot):
    from napari_znn._network_editor import NetworkEditor

    widget = NetworkEditor()
    qtbot.addWidget(widget)
    widget.resize(460, 900)
    widget.load_file("N4")
    widget.set_outsz((1, 32, 32))
    return widget


def _row(editor, node):
    return next(i for i, r in enumerate(editor.table.rows) if r.node == node)


def _cell(editor, node, column):
    from napari_znn._layer_table import COLUMNS

    return editor.table.table.cellWidget(_row(editor, node), COLUMNS.index(column))


def _wait_for_text(qtbot, editor, before):
    qtbot.waitUntil(lambda: editor.network_text() != before, timeout=3000)
    return editor.network_text()


def _consistent(editor):
    """Status, table and drawing agree with the engine's graph of the text."""
    from znn.netspec.graph import NetworkGraph
    from znn.netspec.znnfile import parse_znn

    spec = parse_znn(editor.network_text())
    graph = NetworkGraph(spec, (1, 32, 32))
    assert f"{graph.parameter_count:,} parameters" in editor.status.text()
    assert f"field of view {'x'.join(map(str, graph.fov))}" in editor.status.text()
    assert sorted(editor.diagram.names()) == sorted([*spec.nodes, *spec.edges])
    assert [r.node for r in editor.table.rows] == [n for k, n in spec.order if k == "nodes"]
    return spec, graph


def test_maps_spin_rewrites_only_the_lines_it_is_about(qtbot, editor):
    original = editor.network_text()
    _cell(editor, "nconv2", "Maps").setValue(32)
    text = _wait_for_text(qtbot, editor, original)
    changed = [(a, b) for a, b in zip(original.splitlines(), text.splitlines()) if a != b]
    assert changed == [("size 48", "size 32"), ("size 48", "size 32")]  # nconv2 and the max-filter after it
    spec, _graph = _consistent(editor)
    assert spec.nodes["nconv2"].size == 32 and spec.nodes["npool2"].size == 32
    assert editor.is_modified and "modified" in editor.modified.text()
    editor.text.undo()  # a table edit is one step of the text's undo
    qtbot.waitUntil(lambda: editor.network_text() == original, timeout=3000)


def test_insert_then_remove_is_the_text_before(qtbot, editor):
    before = editor.network_text()
    editor.table.select("npool1")
    editor.table.insert_after_selected("convolution")
    text = _wait_for_text(qtbot, editor, before)
    spec, graph = _consistent(editor)
    assert "nconv7" in spec.nodes and editor.table.selected() == "nconv7"
    assert graph.fov == (1, 99, 99)  # a 3x3 kernel after one stride-2 max-filter: 2 taps x 2 apart more
    assert editor.diagram.boxes["nconv7"].pen().width() == 3  # the new layer is the chosen one
    editor.table.remove.click()
    qtbot.waitUntil(lambda: editor.network_text() != text, timeout=3000)
    assert editor.network_text() == before
    _consistent(editor)


def test_kernel_and_function_cells_and_the_kernels_switch(qtbot, editor):
    before = editor.network_text()
    _cell(editor, "nconv3", "Kernel").yx.setValue(3)
    text = _wait_for_text(qtbot, editor, before)
    assert "size 1,3,3" in text.split("edges conv3")[1].split("nodes")[0]
    _consistent(editor)
    combo = _cell(editor, "nconv5", "Function")
    combo.textActivated.emit("tanh")
    text2 = _wait_for_text(qtbot, editor, text)
    assert "function tanh" in text2.split("nodes nconv5")[1].split("edges")[0]
    editor.table.dims.textActivated.emit("3-D")
    text3 = _wait_for_text(qtbot, editor, text2)
    assert "size 4,4,4" in text3 and "stride 2,2,2" in text3  # conv1 and every max-filter, as deep as wide
    editor.table.dims.textActivated.emit("2-D")
    qtbot.waitUntil(lambda: editor.network_text() == text2, timeout=3000)


def test_refused_edits_say_why_and_leave_the_text(qtbot, editor):
    before = editor.network_text()
    editor.table.select("output")
    assert not editor.table.remove.isEnabled() and not editor.table.insert.isEnabled()
    editor.table.select("input")
    assert not editor.table.up.isEnabled()
    editor.table.select("nconv1")
    editor.table.up.click()  # the row above is the input
    assert "cannot move: the input" in editor.table.message.text()
    qtbot.wait(50)
    assert editor.network_text() == before


def test_picking_a_layer_marks_it_in_table_diagram_and_text(qtbot, editor):
    editor.diagram.layer_picked.emit("npool3")
    assert editor.table.selected() == "npool3"
    assert editor.diagram.boxes["npool3"].pen().width() == 3
    marked = [s.cursor.selectedText().replace("\u2029", "\n") for s in editor.text.extraSelections()]
    assert any(m.startswith("edges pool3") for m in marked) and any(m.startswith("nodes npool3") for m in marked)
    # the text cursor in a group chooses its layer
    cursor = editor.text.textCursor()
    cursor.setPosition(editor.network_text().index("edges conv4"))
    editor.text.setTextCursor(cursor)
    assert editor.table.selected() == "nconv4"


def test_text_edits_that_parse_refresh_the_table(qtbot, editor):
    text = editor.network_text().replace("output nconv1\nsize 1,4,4", "output nconv1\nsize 1,6,6")
    editor.text.setPlainText(text)
    editor.check()
    assert _cell(editor, "nconv1", "Kernel").yx.value() == 6
    _consistent(editor)
    # a max-filter cannot turn 20 maps into 48: no rows until the text parses again, and the table says so
    twenty = text.replace("nodes nconv1\ntype transfer\nsize 48", "nodes nconv1\ntype transfer\nsize 20")
    editor.text.setPlainText(twenty)
    editor.check()
    assert "Invalid network" in editor.status.text()
    assert editor.table.rows == [] and editor.diagram.names() == []
    assert "returns when it parses" in editor.table.message.text()
    editor.text.setPlainText(text)
    editor.check()
    assert len(editor.table.rows) == 11


def test_a_layout_over_memory_names_its_biggest_layer(qtbot, editor):
    editor.available_memory = 16 * 2**20
    editor.check()
    assert "Invalid network" in editor.status.text() and "layer 'nconv" in editor.status.text()
    from napari_znn._layer_table import BAD_ROW

    bad = [r.node for i, r in enumerate(editor.table.rows)
           if editor.table.table.item(i, 0).background().color() == BAD_ROW]
    assert len(bad) == 1 and bad[0] in editor.status.text()


def test_new_network_from_a_template(qtbot, editor):
    from napari_znn._new_network import NewNetworkDialog
    from znn.netspec.znnfile import parse_znn

    dialog = NewNetworkDialog(editor)
    qtbot.addWidget(dialog)
    dialog.template.setCurrentText("affinity-3d")
    dialog.spins["depth"].setValue(3)
    # kernels of 3 with taps 1, 2, 4 and 8 apart (+2, +4, +8, +16) and 2x2x2 max-filters (+1, +2, +4)
    assert "Field of view 38x38x38" in dialog.preview.text()
    editor.show_network("new affinity-3d", dialog.text())
    spec = parse_znn(editor.network_text())
    assert spec.nodes["output"].size == 3 and editor.table.dims.currentText() == "3-D"
    assert not editor.is_modified and editor.valid


def test_every_bundled_network_shows_as_rows_and_boxes(qtbot, editor):
    from znn.netspec.znnfile import parse_znn

    for path in sorted(NETWORKS.glob("*.znn")):
        editor.load_file(path)
        spec = parse_znn(path.read_text())
        assert len(editor.table.rows) == len(spec.nodes)
        assert sorted(editor.diagram.names()) == sorted([*spec.nodes, *spec.edges])  # VD2D3D too


def test_seconds_per_update_are_timed_once_per_machine_then_estimated(qtbot, tmp_path, monkeypatch):
    from napari_znn._network_editor import NetworkEditor
    from napari_znn._update_estimate import _seconds
    from znn.netspec.graph import NetworkGraph
    from znn.netspec.znnfile import parse_znn
    from znn.planning.update_cost import load_calibration, update_seconds

    monkeypatch.setenv("ZNN_CACHE_DIR", str(tmp_path))  # no calibration yet (the subprocess inherits it)
    editor = NetworkEditor()
    qtbot.addWidget(editor)
    editor.load_file("N4")
    editor.set_outsz((1, 32, 32), "optimize", 2)
    assert "timing this machine" not in editor.status.text()  # hidden: nothing is timed yet
    editor.show()  # shown: the machine is timed, in a process of its own
    qtbot.waitUntil(lambda: "timing this machine" in editor.status.text(), timeout=5000)
    qtbot.waitUntil(lambda: "per update on this machine" in editor.status.text(), timeout=180_000)
    found = load_calibration(2)
    assert found is not None and (tmp_path / "update-rates.json").is_file()
    graph = NetworkGraph(parse_znn(editor.network_text()), (1, 32, 32))
    assert f"about {_seconds(update_seconds(graph, rates=found.rates))} per update" in editor.status.text()
    again = NetworkEditor()  # a second dock reads the cache: no timing
    qtbot.addWidget(again)
    again.load_file("N4")
    again.set_outsz((1, 32, 32), "optimize", 2)
    assert "per update on this machine" in again.status.text()
