"""*Start from* in the dock: a bundled trained network brings its layout and the fine-tuning recipe,
its own map is the first answer, the run starts from its weights and keeps it as the best checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.dock import sample_dock

pytestmark = pytest.mark.gui

BUNDLED = "N4-isbi2012"


def _bundled_start():
    from napari_znn._start_from import bundled_starts

    return next(start for start in bundled_starts() if start.path.stem == BUNDLED)


def test_start_from_the_bundled_network_then_back_to_a_new_one(make_napari_viewer, new_dock, qtbot, tmp_path):
    from napari_znn._start_from import NEW
    from znn.forward.image import iter_predict_image
    from znn.io.h5net import load_network
    from znn.jobs import read_cfg
    from znn.jobs.recipes import FINE_TUNE, STROKES
    from znn.netspec.znnfile import parse_znn

    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path, labels="synthetic strokes")
    combo = dock.data.start.combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[0] == NEW.label and f"{BUNDLED} (bundled, trained)" in labels
    assert dock.editor.choice.currentText() == "tiny2d" and "painted strokes" in dock.data.recipe_note.text()

    start = _bundled_start()
    dock.data.start.pick(start)
    saved = load_network(start.path)
    # the Network tab shows the start's own layout; the Settings are the fine-tuning recipe's
    assert dock.editor.choice.currentText() == f"{BUNDLED} (trained start)"
    assert parse_znn(dock.editor.network_text()).edges.keys() == saved.spec.edges.keys()
    job = dock._job_settings()
    assert (job.training.optimizer, job.training.eta) == ("adam", FINE_TUNE.eta)
    assert job.training.train_outsz == FINE_TUNE.patch_for((24, 256, 256))
    assert "fine-tuning" in dock.data.recipe_note.text() and not dock.problems(), dock.problems()

    # Train: the first map in the live layer is the start's own prediction of the section in view
    section = int(np.argmax((viewer.layers["synthetic strokes"].data != 0).sum(axis=(1, 2))))
    viewer.dims.set_current_step(0, section)
    dock.preview_every.setValue(100000)  # no preview but the start's
    dock.train()
    qtbot.waitUntil(lambda: dock.live_layer() is not None and bool(np.any(dock.live_layer().data[section] != 0)),
                    timeout=300_000)
    image = viewer.layers["synthetic EM"].data
    run = iter_predict_image(image[section:section + 1], saved.spec, start.path, conv_mode="gemm",
                             outsz=(1, 256, 256))
    while True:
        try:
            next(run)
        except StopIteration as done:
            expected = next(iter(done.value.values()))[1, 0]
            break
    np.testing.assert_allclose(dock.live_layer().data[section], expected, atol=2e-4)
    qtbot.waitUntil(lambda: dock.state.iteration >= 2, timeout=300_000)
    dock.stop()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=120_000)

    # a new run from the bundled weights, counted from 0, its start kept as the best so far
    folder = dock.run.folder
    assert dock.state.first_iteration == 1
    initial = load_network(folder / "net" / "net_init.h5").params
    for name, kernel in saved.params.kernels.items():
        np.testing.assert_array_equal(initial.kernels[name], kernel)
    assert read_cfg(folder / "job.cfg").training.optimizer == "adam"
    assert dock.run.best is not None and dock.run.prediction_weights == dock.run.best
    assert "best checkpoint" in dock.predict_button.toolTip()

    # back to a new network: the layout shown before, the strokes recipe again
    dock.data.start.pick(NEW)
    assert dock.editor.choice.currentText() == "tiny2d"
    job = dock._job_settings()
    assert (job.training.optimizer, job.training.eta) == ("adam", STROKES.eta)
    assert "painted strokes" in dock.data.recipe_note.text()


def test_an_edited_layout_that_no_longer_fits_the_start_is_named(make_napari_viewer, new_dock, qtbot, tmp_path):
    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path, labels="synthetic strokes")
    dock.data.start.pick(_bundled_start())
    text = dock.editor.network_text()
    changed = text.replace("size 200", "size 150", 1)  # nconv5's maps: conv5's and conv6's kernels no longer fit
    assert changed != text
    dock.editor.set_text(changed)
    problems = dock.problems()
    assert any(f"start from {BUNDLED}" in p and "Start from: a new network" in p for p in problems), problems
    qtbot.waitUntil(lambda: not dock.train_button.isEnabled(), timeout=5000)
