"""Run folders as a new user meets them: a runs folder that cannot be written leaves the trained
run current; Import job… opens a run's layers as they were; Predict saves what `znn forward`
saves."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.helpers.dock import sample_dock, train_for
from tests.helpers.paths import REPO

pytestmark = pytest.mark.gui

ARTIFACTS = REPO / "artifacts"


def _trained(viewer, dock, qtbot, tmp_path):
    sample_dock(viewer, dock, tmp_path)
    dock.preview_every.setValue(0)
    train_for(dock, 3)
    dock.train()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=240_000)
    assert dock.run is not None and dock.run.checkpoint is not None, dock.status.text()
    return dock.run


def _errors():
    from napari.utils.notifications import notification_manager

    return [n.message for n in notification_manager.records if "error" in str(n.severity).lower()]


def test_an_unwritable_runs_folder_keeps_the_trained_run_current(make_napari_viewer, new_dock, qtbot, tmp_path):
    viewer = make_napari_viewer()
    dock = new_dock(viewer, docked=True)
    trained = _trained(viewer, dock, qtbot, tmp_path)
    dock.preview_every.setValue(5)
    layers_before = [layer.name for layer in viewer.layers]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs folder should be")
    dock.data.runs_root.setText(str(blocker / "runs"))

    dock.train()
    qtbot.wait(200)
    assert dock.worker is None  # refused before any work
    assert dock.run == trained
    assert dock.resume_button.isEnabled() and dock.predict_button.isEnabled()
    line = dock.status.text()
    assert str(blocker) in line and "not a folder" in line and "Runs folder" in line, line
    assert "\n" not in line
    assert [layer.name for layer in viewer.layers] == layers_before  # no empty live layer over the image
    assert "last update: iteration 3" in dock.progress.text.text()
    ARTIFACTS.mkdir(exist_ok=True)
    viewer.screenshot(str(ARTIFACTS / "dock-unwritable-runs-folder.png"), canvas_only=False)


def test_a_run_folder_that_fails_while_written_leaves_the_previous_run(make_napari_viewer, new_dock, qtbot,
                                                                       tmp_path, monkeypatch):
    """A failure the up-front check cannot see (the disk fills while the data is written)."""
    import napari_znn._workers as workers

    viewer = make_napari_viewer()
    dock = new_dock(viewer, docked=True)
    trained = _trained(viewer, dock, qtbot, tmp_path)
    live_name = "ZNN boundary (live)"
    if live_name in viewer.layers:
        viewer.layers.remove(live_name)
    dock.preview_every.setValue(5)

    def full_disk(run):
        raise OSError(28, "No space left on device", str(run.folder / "data" / "image.h5"))

    monkeypatch.setattr(workers, "write_new_run", full_disk)
    dock.train()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert dock.run == trained and dock.resume_button.isEnabled() and dock.predict_button.isEnabled()
    line = dock.status.text()
    assert "No space left on device" in line and "run folder could not be written" in line, line
    assert dock.live_layer() is None  # the empty live layer made for the failed run is gone
    assert "last update" not in dock.progress.text.text()  # no figure of the earlier run as if it were this one

    dock.import_job(trained.folder)  # opening a run clears the failure
    assert "No space left" not in dock.status.text() and str(trained.folder) in dock.status.text()


def test_import_restores_names_and_scale_and_predict_saves_what_forward_writes(make_napari_viewer, new_dock, qtbot,
                                                                               tmp_path):
    from znn.forward.job import SampleWritten, run_forward
    from znn.jobs import read_cfg

    viewer = make_napari_viewer()
    dock = new_dock(viewer, docked=True)
    run = _trained(viewer, dock, qtbot, tmp_path)
    image = viewer.layers["synthetic EM"]
    assert image.scale[0] > 1  # the sample's sections are thicker than its pixels

    dock.predict_on.setCurrentText("synthetic EM")
    panel = dock.predictor_panel
    shown: list[str] = []  # the progress line at each planning step and tile
    panel.runner.planned.connect(lambda *_: shown.append(panel.progress.text.text()))
    panel.runner.progressed.connect(lambda *_: shown.append(panel.progress.text.text()))
    dock.predict()
    qtbot.waitUntil(lambda: dock.predictor is None, timeout=240_000)
    # the conv choice for the tile is shown layer by layer before any tile (forward conv mode optimize)
    assert "timing each layer's convolution for the tile" in shown[0] and "layers: 1 / " in shown[0], shown[:3]
    first_tile = next(k for k, text in enumerate(shown) if "tiles: 1 /" in text)
    assert all("timing each layer" in text for text in shown[:first_tile])
    saved = run.folder / "out" / "net_sample3_output.h5"
    assert saved.is_file(), sorted(p.name for p in (run.folder / "out").iterdir())
    assert str(saved) in dock.predictor_panel.result.text()
    with h5py.File(saved, "r") as handle:
        ours = handle["main"][:]
    np.testing.assert_allclose(ours[-1], viewer.layers["ZNN boundary (synthetic EM)"].data, atol=1e-6)

    job = read_cfg(run.cfg)  # what `znn forward -c <run>/job.cfg` writes, into another folder
    job.forward.output_prefix = str(tmp_path / "forward" / "net")
    events = run_forward(job.require_forward(), net_path=run.prediction_weights)
    written = [e for e in events if isinstance(e, SampleWritten)]
    with h5py.File(written[0].paths[0], "r") as handle:
        theirs = handle["main"][:]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-4)

    other_viewer = make_napari_viewer()
    other = new_dock(other_viewer, docked=True)
    other.import_job(run.folder)
    names = [layer.name for layer in other_viewer.layers]
    assert "synthetic EM" in names and "synthetic labels" in names, names
    for name in ("synthetic EM", "synthetic labels"):
        np.testing.assert_array_equal(other_viewer.layers[name].scale, viewer.layers[name].scale)
    assert other_viewer.dims.range[0] == viewer.dims.range[0]  # the z slider spans the same stack
    assert other.image.layer().name == "synthetic EM" and other.labels.layer().name == "synthetic labels"
    assert "Predict uses the best checkpoint" in other.status.text() or "Predict uses" in other.status.text()
    other_viewer.screenshot(str(ARTIFACTS / "dock-imported-run.png"), canvas_only=False)
