"""The training dock end to end: train, live layer, stop, resume, predict, export, responsiveness."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.dock import EventLoopProbe, sample_dock, small_settings, train_for
from tests.helpers.paths import REPO

pytestmark = pytest.mark.gui

ARTIFACTS = REPO / "artifacts"


def test_train_stop_resume_predict_export(make_napari_viewer, new_dock, qtbot, tmp_path):
    from znn.io.h5net import load_network

    viewer = make_napari_viewer()
    viewer.open_sample("napari-znn", "synthetic_em")
    dock = new_dock(viewer, docked=True)
    dock.data.runs_root.setText(str(tmp_path / "runs"))
    small_settings(dock)
    dock.preview_every.setValue(5)
    dock.image.setCurrentText("synthetic EM")
    dock.labels.setCurrentText("synthetic labels")
    assert dock.train_button.isEnabled(), dock.problems()

    dock.train()
    qtbot.waitUntil(lambda: dock.state.iteration >= 5, timeout=180_000)  # data loading + compilation
    probe = EventLoopProbe()
    probe.start()
    qtbot.waitUntil(lambda: dock.state.iteration >= 20, timeout=120_000)
    probe.stop()
    print(f"longest event-loop gap while training: {max(probe.gaps) * 1000:.0f} ms over {len(probe.gaps)} ticks")
    live = dock.live_layer()
    assert live is not None and live.data.shape == viewer.layers["synthetic EM"].data.shape
    before = live.data.copy()
    qtbot.waitUntil(lambda: not np.array_equal(dock.live_layer().data, before), timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    dock.tabs.setCurrentIndex(3)  # the curve
    viewer.layers["synthetic labels"].visible = False  # show the live map over the EM image
    viewer.reset_view()
    viewer.screenshot(str(ARTIFACTS / "train-dock.png"), canvas_only=False)
    dock.stop()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    stopped = dock.state.iteration
    run = dock.run.folder
    assert run.parent == tmp_path / "runs" and (run / "net/net_current.h5").exists()
    assert max(probe.gaps) < 0.2, f"event loop blocked for {max(probe.gaps) * 1000:.0f} ms"

    dock.resume()
    qtbot.waitUntil(lambda: max(p[0] for p in dock.plot.points()["train"]) > stopped, timeout=120_000)
    assert dock.state.first_iteration == stopped + 1
    assert min(p[0] for p in dock.plot.points()["train"]) <= 5  # the stored curve was loaded and goes on
    dock.shutdown()  # what quitting napari does: stop, save, wait for the worker
    assert dock.worker is None
    assert dock.run.folder == run  # Resume continues the same run
    saved = load_network(run / "net/net_current.h5")
    assert saved.state["iteration"] == dock.state.iteration > stopped
    # <prefix>_curve.png, drawn by a child process from the last checkpoint: as znn train draws it
    from matplotlib.image import imread

    from znn.io.curve_plot import plot_learning_curve

    dock.curve_png.wait()
    expected = plot_learning_curve(saved.learning_curve, tmp_path / "expected.png", title="net")
    assert np.array_equal(imread(run / "net/net_curve.png"), imread(expected))

    dock.predict_on.setCurrentText("synthetic EM")
    assert dock.predict_button.isEnabled()
    dock.predict()
    name = "ZNN boundary (synthetic EM)"
    qtbot.waitUntil(lambda: name in viewer.layers and dock.predictor is None, timeout=180_000)
    image, boundary = viewer.layers["synthetic EM"], viewer.layers[name]
    assert boundary.data.shape == image.data.shape and boundary.data.dtype == np.float32
    np.testing.assert_array_equal(boundary.scale, image.scale)
    assert tuple(boundary.contrast_limits) == (0.0, 1.0)
    assert 0.0 <= boundary.data.min() and boundary.data.max() <= 1.0

    # Cancel: tiny tiles make the prediction long; nothing is added after Cancel.
    from znn.jobs import JobConfig

    job = dock.form.values_into(JobConfig())
    job.forward.forward_outsz = (1, 8, 8)
    dock.form.load_from(job)
    layers_before = len(viewer.layers)
    dock.predict()
    dock.cancel_prediction()
    qtbot.waitUntil(lambda: dock.predictor is None, timeout=60_000)
    assert len(viewer.layers) == layers_before

    from znn.commands.cli import main

    cfg = dock.export_job(tmp_path / "exported")
    assert main(["train", "-c", str(cfg), "--quiet", "--max-iter", "3"]) == 0


def test_a_curve_that_cannot_be_drawn_is_told_in_the_status_line(make_napari_viewer, new_dock, qtbot, tmp_path):
    dock = new_dock(make_napari_viewer())
    bad = tmp_path / "net_20.h5"
    bad.write_text("not a network")
    assert dock.curve_png.start(bad) == tmp_path / "net_curve.png"
    qtbot.waitUntil(lambda: "could not draw the learning curve" in dock.status.text(), timeout=60_000)
    assert dock.status.text() == (f"znn: could not draw the learning curve {tmp_path / 'net_curve.png'}: {bad}: "
                                  "not an HDF5 file; expected an HDF5 statistics file"), dock.status.text()
    assert not (tmp_path / "net_curve.png").exists() and not dock.curve_png.running


def test_invalid_network_text_shows_the_error_and_disables_train(make_napari_viewer, new_dock):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-znn", "synthetic_em")
    dock = new_dock(viewer)
    dock.image.setCurrentText("synthetic EM")
    dock.labels.setCurrentText("synthetic labels")
    assert dock.train_button.isEnabled()
    dock.editor.set_text("nodes input\ntype input\nsize 1\n\nedges conv1\ntype conv\ninit xavier\nsize 1,3,3\n"
                         "input input\noutput nowhere\n")
    status = dock.editor.status.text()
    assert "Invalid network" in status and "network:10: group 'conv1', key 'output'" in status
    assert not dock.train_button.isEnabled()
    assert "network is invalid" in dock.train_button.toolTip()


def test_the_export_and_import_buttons_ask_for_a_folder_and_tell_the_outcome(make_napari_viewer, new_dock, tmp_path,
                                                                             monkeypatch):
    from qtpy.QtWidgets import QFileDialog

    import napari_znn._job_transfer as transfer

    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path)
    told: list[tuple[str, str]] = []
    monkeypatch.setattr(transfer, "show_info", lambda text: told.append(("info", text)))
    monkeypatch.setattr(transfer, "show_error", lambda text: told.append(("error", text)))
    chosen = {"folder": str(tmp_path / "job")}
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *args: chosen["folder"]))
    dock.export_button.click()
    [cfg] = (tmp_path / "job").glob("*.cfg")
    assert told == [("info", f"wrote {cfg}")]
    chosen["folder"] = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    dock.import_button.click()  # no job there: one notification, the dock unchanged
    assert len(told) == 2 and told[1][0] == "error" and str(tmp_path / "empty") in told[1][1], told
    assert dock.run is None
    chosen["folder"] = ""  # the dialog cancelled
    dock.export_button.click()
    dock.import_button.click()
    assert len(told) == 2


def test_export_then_import_restores_network_settings_and_data(make_napari_viewer, new_dock, tmp_path):
    from znn.jobs import JobConfig

    viewer = make_napari_viewer()
    viewer.open_sample("napari-znn", "synthetic_em")
    dock = new_dock(viewer)
    dock.image.setCurrentText("synthetic EM")
    dock.labels.setCurrentText("synthetic labels")
    small_settings(dock)
    dock.editor.choice.setCurrentText("N4")
    cfg = dock.export_job(tmp_path / "job")

    other_viewer = make_napari_viewer()
    other = new_dock(other_viewer)
    other.import_job(cfg.parent)
    assert other.editor.network_text() == dock.editor.network_text()
    mine, theirs = dock.form.values_into(JobConfig()), other.form.values_into(JobConfig())
    assert (mine.training, mine.data, mine.network.out_type) == (theirs.training, theirs.data, theirs.network.out_type)
    image = other.image.layer()
    np.testing.assert_array_equal(image.data, viewer.layers["synthetic EM"].data)
    np.testing.assert_array_equal(other.labels.layer().data, viewer.layers["synthetic labels"].data)
    assert other.run.folder == cfg.parent  # the imported job is the current run
    assert not other.resume_button.isEnabled()  # it holds no checkpoint yet


def test_an_engine_error_becomes_a_notification_and_the_dock_recovers(make_napari_viewer, new_dock, qtbot,
                                                                     tmp_path):
    """A run whose data file went missing (moved to another disk): Resume fails in the engine,
    the toast names the file, and the dock is ready again."""
    from napari.utils.notifications import notification_manager

    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path)
    train_for(dock, 2)
    dock.train()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=180_000)
    assert dock.resume_button.isEnabled()
    (dock.run.folder / "data/image.h5").unlink()
    messages = []
    notification_manager.notification_ready.connect(lambda note: messages.append(str(note.message)))
    dock.resume()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=120_000)
    assert any("ZNN training stopped" in m and "image.h5" in m and "data.spec" in m for m in messages), messages
    assert dock.train_button.isEnabled() and not dock.stop_button.isEnabled()
    assert "error" in dock.status.text()
