"""The dock on a zarr-backed layer: blockwise prediction into a zarr-backed layer that fills in
live, then Segment at a threshold and scores against a Labels layer, without re-running the net."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _predicted(image, weights):
    from znn.forward.image import iter_predict_image
    from znn.netspec.library import network_path
    from znn.netspec.znnfile import read_znn

    run = iter_predict_image(image, read_znn(network_path("tiny2d")), weights, softmax=True, outsz=(1, 32, 32))
    while True:
        try:
            next(run)
        except StopIteration as done:
            return done.value["output"]


def test_zarr_layer_predicts_blockwise_then_segments_and_scores(make_napari_viewer, qtbot, tmp_path):
    from napari_znn._train_widget import TrainingDock
    from znn.blockwise.store import done_flags
    from znn.evaluate.maps import segment_maps
    from znn.evaluate.report import score_segmentation
    from znn.io.h5net import save_network
    from znn.io.synthetic import make_em_volume
    from znn.io.volumes import write_volume
    from znn.netspec.library import network_path
    from znn.netspec.znnfile import read_znn
    from znn.network.net import Network

    em = make_em_volume((3, 90, 100), seed=4)
    write_volume(tmp_path / "em.zarr", em.raw, dataset="raw")
    from napari_znn._job_fields import form_defaults
    from znn.app.job_folder import write_job_folder

    # a trained run of tiny2d: its job folder and a checkpoint in it
    write_job_folder(tmp_path / "run", network_text=network_path("tiny2d").read_text(), image=em.raw,
                     labels=em.labels, job=form_defaults())
    weights = tmp_path / "run" / "net" / "net_current.h5"
    weights.parent.mkdir(parents=True)
    spec = read_znn(network_path("tiny2d"))
    with Network(spec, (1, 4, 4), seed=1) as net:
        save_network(weights, spec, net.params, stdio=True)

    viewer = make_napari_viewer()
    [image] = viewer.open(str(tmp_path / "em.zarr"), plugin="napari-znn")
    viewer.add_labels(em.labels, name="truth")
    dock = TrainingDock(viewer)
    viewer.window.add_dock_widget(dock, name="ZNN training")  # owned by the window, closed with it
    dock.import_job(tmp_path / "run")  # Predict uses the current run's network and checkpoint
    dock.predict_on.setCurrentText(image.name)
    dock._refresh_buttons()
    assert dock.predict_button.isEnabled()

    seen_when_added = []
    name = f"ZNN boundary ({image.name})"

    def on_insert(event):
        if event.value.name == name:
            store = next((tmp_path / "run" / "out").glob("*_maps.zarr"))
            seen_when_added.append(int(done_flags(store).sum()))

    viewer.layers.events.inserted.connect(on_insert)
    dock.predict()
    qtbot.waitUntil(lambda: dock.predictor is None, timeout=180_000)
    dock.shutdown()
    assert seen_when_added and seen_when_added[0] == 0  # the output layer was there before any block
    layer = viewer.layers[name]
    shown = np.asarray(layer.data)
    expected = _predicted(em.raw, weights)[1]
    assert shown.shape == em.raw.shape and not np.isnan(shown).any()
    assert np.abs(shown - expected).max() <= 1e-5
    np.testing.assert_array_equal(layer.scale, image.scale)
    assert tuple(layer.contrast_limits) == (0.0, 1.0)

    panel = dock.segmenter
    assert panel.segment_button.isEnabled()
    panel.truth.setCurrentText("truth")
    for percent in (20, 50):
        panel.threshold.setValue(percent)
        panel.segment()
        qtbot.waitUntil(lambda: panel.worker is None, timeout=60_000)
        labels = viewer.layers[f"ZNN segmentation ({image.name})"].data
        (_, direct), = segment_maps(_predicted(em.raw, weights), "boundary", [percent / 100])
        np.testing.assert_array_equal(labels, direct)
        scores = score_segmentation(direct, em.labels, per_section=True)
        assert f"adapted Rand error {scores.adapted_rand_error:.4f}" in panel.scores.text()
        assert f"V_rand {scores.v_rand:.4f}" in panel.scores.text()
    assert dock.predictor is None  # segmenting never ran the network again

    # Training went on (new weights in the checkpoint): Predict again replaces the stored maps.
    with Network(spec, (1, 4, 4), seed=2) as net:
        save_network(weights, spec, net.params, stdio=True)
    dock.predict()
    qtbot.waitUntil(lambda: dock.predictor is None, timeout=180_000)
    renewed = np.asarray(viewer.layers[name].data)
    assert np.abs(renewed - _predicted(em.raw, weights)[1]).max() <= 1e-5
    assert np.abs(renewed - expected).max() > 1e-3

    from tests.helpers.paths import REPO

    dock.show_tab(panel)
    (REPO / "artifacts").mkdir(exist_ok=True)
    viewer.screenshot(str(REPO / "artifacts" / "segment-tab.png"), canvas_only=False)
