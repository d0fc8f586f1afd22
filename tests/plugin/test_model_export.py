"""Export model… in the dock, driven as a user would: disabled with the reason until the run has a
checkpoint; then a package of the run's latest checkpoint whose ONNX graph gives the maps the
engine gives (onnxruntime against the checkpoint's own forward pass)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.dock import sample_dock, train_for
from tests.helpers.paths import REPO

pytestmark = pytest.mark.gui
pytest.importorskip("onnxruntime", reason="the 'export' extra (onnx, onnxruntime) is not installed")
pytest.importorskip("bioimageio.spec", reason="the 'export' extra (bioimageio.spec) is not installed")


def test_export_model_button(make_napari_viewer, new_dock, qtbot, tmp_path, monkeypatch):
    import zipfile

    import onnxruntime as ort

    from napari_znn import _model_export
    from znn.export.package import PackageInfo
    from znn.io.h5net import load_network
    from znn.io.trained_network import load_trained

    viewer, dock = sample_dock(make_napari_viewer(), lambda v: new_dock(v, docked=True), tmp_path)
    button = dock.model_export.button
    assert not button.isEnabled() and "no run yet" in button.toolTip()
    train_for(dock, 10)
    dock.train()
    qtbot.waitUntil(lambda: dock.worker is not None, timeout=10_000)
    assert not button.isEnabled() and "stop it first" in button.toolTip()
    qtbot.waitUntil(lambda: dock.worker is None and dock.run is not None and dock.run.checkpoint is not None,
                    timeout=240_000)
    assert button.isEnabled(), button.toolTip()

    shown: list[str] = []
    monkeypatch.setattr(_model_export, "show_info", shown.append)
    monkeypatch.setattr(_model_export, "show_error", shown.append)
    path = tmp_path / "model.zip"
    dock.model_export.start(dock.run, path, PackageInfo(name="synthetic test", authors=("A. Tester",)))
    assert not button.isEnabled() and "exporting" in button.toolTip()
    dock.show_tab(dock.editor)
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    viewer.screenshot(str(artifacts / "dock-export-model.png"), canvas_only=False)
    qtbot.waitUntil(lambda: bool(shown), timeout=120_000)
    assert shown == [f"Model exported: wrote {path}"]
    assert button.isEnabled()

    saved = load_network(dock.run.checkpoint)
    with zipfile.ZipFile(path) as archive:
        onnx_bytes = archive.read("weights.onnx")
    with load_trained(dock.run.checkpoint, (1, 6, 6), phase="test", num_threads=1) as net:
        rng = np.random.default_rng(0)
        inputs = {n: rng.normal(0, 1, s).astype("float32") for n, s in net.graph.input_sizes.items()}
        maps = net.forward(inputs)[saved.spec.output_names[0]]
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, {n: x[None] for n, x in inputs.items()})[0][0]
    expected = np.exp(maps - maps.max(axis=0)) / np.exp(maps - maps.max(axis=0)).sum(axis=0)  # boundary: softmax
    assert float(np.abs(got - expected).max()) < 1e-4


def test_a_failed_export_is_one_notification(make_napari_viewer, new_dock, qtbot, tmp_path, monkeypatch):
    from napari_znn import _model_export
    from napari_znn._runs import Run
    from znn.export.package import PackageInfo

    _viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path)
    shown: list[str] = []
    monkeypatch.setattr(_model_export, "show_error", shown.append)
    dock.model_export.start(Run(tmp_path / "no-such-run"), tmp_path / "m.zip", PackageInfo())
    qtbot.waitUntil(lambda: bool(shown), timeout=30_000)
    assert len(shown) == 1 and shown[0].startswith("Model not exported:") and "job.cfg" in shown[0]
    assert not (tmp_path / "m.zip").exists()


def test_predict_with_a_bioimageio_package(make_napari_viewer, new_dock, qtbot, tmp_path, monkeypatch):
    """No run needed: the package predicts the image into the usual boundary layer, as the engine would."""
    from napari_znn import _predict_panel
    from tests.helpers.paths import NETWORKS
    from znn.export.package import ExportSource, write_package
    from znn.export.sources import from_files
    from znn.export.zoo import iter_predict_zoo, open_zoo_model

    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path)
    panel = dock.predictor_panel
    assert not panel.button.isEnabled()  # no run yet
    base = from_files(NETWORKS / "tiny2d.znn", None)
    package = write_package(ExportSource(base.spec, base.kernels, base.biases, "boundary", True, "standard2D"),
                            tmp_path / "tiny.zip")
    errors: list[str] = []
    monkeypatch.setattr(_predict_panel, "show_error", errors.append)
    broken = tmp_path / "broken.zip"
    broken.write_text("no")
    assert not panel.use_package(broken) and len(errors) == 1 and "broken.zip" in errors[0]
    assert panel.use_package(package)
    assert panel.button.isEnabled(), panel.button.toolTip()
    assert "onnxruntime" in panel.button.toolTip()
    panel.layer_choice.setCurrentText("synthetic EM")
    panel.predict()
    name = "ZNN boundary (synthetic EM)"
    qtbot.waitUntil(lambda: panel.runner.worker is None and name in viewer.layers, timeout=120_000)
    image = viewer.layers["synthetic EM"].data
    run = iter_predict_zoo(open_zoo_model(package), np.asarray(image))
    try:
        while True:
            next(run)
    except StopIteration as stop:
        expected = stop.value["output"][1]
    assert np.abs(viewer.layers[name].data - expected).max() < 1e-5
