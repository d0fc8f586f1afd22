"""The dock's network editor: validity, geometry, parameters and memory come from the engine."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def editor(qtbot):
    from napari_znn._network_editor import NetworkEditor

    widget = NetworkEditor()
    qtbot.addWidget(widget)
    return widget


def test_bundled_network_is_described_with_engine_numbers(editor):
    from znn.netspec.graph import NetworkGraph
    from znn.netspec.memory import estimate_memory
    from znn.netspec.summary import human_bytes
    from znn.netspec.znnfile import parse_znn

    editor.choice.setCurrentText("N4")
    editor.set_outsz((1, 20, 20))
    graph = NetworkGraph(parse_znn(editor.network_text()), (1, 20, 20))
    status = editor.status.text()
    assert editor.valid
    assert "field of view 1x95x95" in status and "training patch 1x20x20 needs input 1x114x114" in status
    assert f"{graph.parameter_count:,} parameters" in status
    assert human_bytes(estimate_memory(graph, conv_mode="fft", training=True).total) in status
    assert "conv5" in editor.summary.toPlainText()


def test_editing_a_kernel_changes_the_field_of_view(editor):
    editor.choice.setCurrentText("tiny2d")
    before = editor.status.text()
    text = editor.network_text()
    kernel_line = next(line for line in text.splitlines() if line.startswith("size 1,") and "," in line[5:])
    z, y, x = (int(v) for v in kernel_line[5:].split(","))
    editor.set_text(text.replace(kernel_line, f"size {z},{y + 2},{x + 2}", 1))
    assert editor.valid and editor.status.text() != before
    from znn.netspec.graph import NetworkGraph
    from znn.netspec.znnfile import parse_znn

    fov = NetworkGraph(parse_znn(editor.network_text()), editor.outsz).fov
    assert f"field of view {'x'.join(map(str, fov))}" in editor.status.text()


def test_invalid_text_names_the_line_and_a_saved_file_reads_back(editor, tmp_path):
    from znn.netspec.znnfile import parse_znn

    editor.choice.setCurrentText("tiny2d")
    good = editor.network_text()
    seen = []
    editor.validity_changed.connect(seen.append)
    editor.set_text(good.replace("type conv", "type convolution", 1))
    assert not editor.valid and seen == [False]
    assert "Invalid network" in editor.status.text() and "network:" in editor.status.text()
    editor.set_text(good)
    assert editor.valid and seen == [False, True]
    editor.save_to(tmp_path / "mine.znn")
    assert parse_znn((tmp_path / "mine.znn").read_text()) == parse_znn(good)
    assert editor.choice.currentText() == "mine.znn" and editor.network_text() == good


def test_a_save_that_fails_midway_keeps_the_file_and_names_it(editor, tmp_path, monkeypatch):
    from napari.utils.notifications import notification_manager

    import napari_znn._network_editor as module
    from tests.helpers.filesize import writes_fail_past

    def failing_midway(path, text):  # the limit covers the save only, not napari's own logging
        with writes_fail_past(64):  # as a full disk would, after the first bytes
            module_write(path, text)

    module_write = module.atomic_write_text

    path = tmp_path / "mine.znn"
    path.write_text("# my earlier network\n" * 10, encoding="utf-8")
    before = path.read_bytes()
    editor.choice.setCurrentText("N4")
    messages: list[str] = []
    notification_manager.notification_ready.connect(lambda note: messages.append(str(note.message)))
    monkeypatch.setattr(module, "atomic_write_text", failing_midway)
    saved = editor.save_to(path)
    monkeypatch.undo()
    assert not saved and path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.znn"]  # no temporary left
    assert messages == [f"cannot write {path}: file too large; the network was not saved"]
    assert editor.choice.findText("mine.znn") < 0  # not offered: it does not hold this network
    assert editor.save_to(path) and path.read_text(encoding="utf-8") == editor.network_text()
    assert editor.choice.currentText() == "mine.znn"


BRANCH = """
edges extra
type conv
input nconv3
output side
size 1,1,1
stride 1,1,1
init xavier

nodes side
type transfer
size 2
function linear
"""


def test_a_pasted_branch_that_makes_a_second_output_is_not_trainable_here(editor):
    from znn.netspec.znnfile import parse_znn

    editor.choice.setCurrentText("tiny2d")
    text = editor.network_text() + BRANCH
    assert sorted(parse_znn(text).output_names) == ["output", "side"]  # what `znn info` lists
    editor.set_text(text)
    status = editor.status.text()
    assert not editor.valid and "Invalid network" in status
    assert "2 output nodes (" in status and "side" in status and "one output" in status, status


def test_an_edit_is_marked_modified_until_saved(editor, tmp_path):
    editor.choice.setCurrentText("tiny2d")
    assert editor.modified.text() == "" and not editor.is_modified
    editor.text.setPlainText(editor.network_text().replace("size 16", "size 20"))
    editor.check()
    assert editor.is_modified and "modified" in editor.modified.text()
    assert editor.save_to(tmp_path / "wider.znn")
    assert editor.modified.text() == "" and editor.choice.currentText() == "wider.znn"
    editor.choice.setCurrentText("N4")
    assert editor.modified.text() == ""


def test_the_headline_memory_follows_the_conv_mode_of_the_settings(editor):
    from znn.netspec.graph import NetworkGraph
    from znn.netspec.memory import estimate_memory
    from znn.netspec.summary import human_bytes
    from znn.netspec.znnfile import parse_znn

    editor.choice.setCurrentText("N4")
    graph = NetworkGraph(parse_znn(editor.network_text()), (1, 64, 64))
    fft, gemm = (human_bytes(estimate_memory(graph, conv_mode=mode, training=True).total) for mode in ("fft", "direct"))
    assert fft != gemm  # the premise: the two differ for N4
    editor.set_outsz((1, 64, 64), "direct")
    assert f"about {gemm} to train (GEMM" in editor.status.text() and fft not in editor.status.text()
    editor.set_outsz((1, 64, 64), "fft")
    assert f"about {fft} to train (FFT" in editor.status.text()
    editor.set_outsz((1, 64, 64), "optimize")
    assert f"{gemm} to train with GEMM, {fft} with FFT" in editor.status.text()
