"""The ZNN training dock: data, network and settings in tabs; Train, Stop, Resume, Predict,
Export and Import buttons; a live learning curve; a live boundary (or affinity) layer.

The dock arranges things; the engine does the work. Train writes a job folder (what `znn train
-c` runs headless) and starts a worker on it; the worker's events update `TrainingState`, the
plot, napari's progress bar and the live layer, all on the main thread.
"""

from __future__ import annotations

import math
import queue
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils import progress
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import (
    QApplication,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_znn._curve_plot import LiveCurvePlot
from napari_znn._job_form import JobSettingsForm
from napari_znn._layers import (
    LayerChoice,
    ensure_live_layer,
    live_layer_name,
    update_live_layer,
    view_slab,
)
from napari_znn._network_editor import NetworkEditor
from napari_znn._prediction import PredictionRunner
from napari_znn._segment_panel import SegmentPanel
from napari_znn._session import IDLE, STARTING, STOPPING, TrainingState
from napari_znn._workers import training_worker
from znn.errors import ZnnError
from znn.jobs import JobConfig
from znn.jobs.folder import read_job_folder, write_job_folder
from znn.modes import OutputKind
from znn.train.events import (
    Checkpoint,
    Failed,
    Finished,
    PredictNow,
    Preview,
    Show,
    Started,
    Step,
    Stop,
    Validation,
)

if TYPE_CHECKING:
    import napari


READY = "Ready: press Train, or Export job… to train on a server with `znn train -c`."
NEEDS = "Train needs: "


def default_run_folder() -> Path:
    return Path.home() / "napari-znn" / time.strftime("run-%Y%m%d-%H%M%S")


class TrainingDock(QWidget):
    """Point-and-click ZNN training and prediction."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.state = TrainingState()
        self.worker: Any = None
        self._commands: queue.SimpleQueue = queue.SimpleQueue()  # to the running trainer
        self._progress: progress | None = None
        self._live_sections: dict[str, tuple[int, int, int, int]] = {}  # preview tag -> where it goes

        self.image = LayerChoice(viewer, "image")
        self.labels = LayerChoice(viewer, "labels")
        self.predict_on = LayerChoice(viewer, "image")
        self.folder = QLineEdit(str(default_run_folder()))
        self.folder.setToolTip("The job folder: network.znn, data.spec, job.cfg, checkpoints (net/) and "
                               "predictions (out/). `znn train -c <folder>/job.cfg` runs the same job headless.")
        self.preview_every = QSpinBox()
        self.preview_every.setRange(0, 100000)
        self.preview_every.setValue(20)
        self.preview_every.setToolTip("Update the live layer on the section in view every N updates (0 = never)")
        self.editor = NetworkEditor()
        self.form = JobSettingsForm()
        self.plot = LiveCurvePlot(vertical=True)  # the dock is tall and narrow
        self.runner = PredictionRunner(viewer)
        self.segmenter = SegmentPanel(viewer)
        self.status = QLabel(READY)
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m updates")

        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.predict_button = QPushButton("Predict")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export job…")
        self.import_button = QPushButton("Import job…")
        tips = {self.train_button: "Write the job folder and train from scratch (or resume if it has a checkpoint)",
                self.stop_button: "Finish the current update, save a checkpoint and stop",
                self.resume_button: "Continue training from the job folder's last checkpoint",
                self.predict_button: "Run the latest checkpoint over the chosen image layer",
                self.cancel_button: "Cancel the prediction (nothing is added)",
                self.export_button: "Write the job folder without training (for `znn train -c` on a server)",
                self.import_button: "Load a job folder's network, settings and data"}
        for button, tip in tips.items():
            button.setToolTip(tip)
        self._build_layout()
        self._connect()
        self._refresh_buttons()
        app = QApplication.instance()
        if app is not None:  # closing napari mid-training saves a checkpoint first
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ layout

    def _build_layout(self) -> None:
        data = QWidget()
        form = QFormLayout(data)
        form.addRow("Image", self.image)
        form.addRow("Labels", self.labels)
        form.addRow("Job folder", self.folder)
        form.addRow("Live preview every", self.preview_every)
        tabs = QTabWidget()
        tabs.addTab(data, "Data")
        tabs.addTab(self.editor, "Network")
        tabs.addTab(self.form, "Settings")
        tabs.addTab(self.plot, "Curve")
        tabs.addTab(self.segmenter, "Segment")
        run = QHBoxLayout()
        for button in (self.train_button, self.stop_button, self.resume_button):
            run.addWidget(button)
        predict = QHBoxLayout()
        predict.addWidget(QLabel("Predict on"))
        predict.addWidget(self.predict_on, 1)
        predict.addWidget(self.predict_button)
        predict.addWidget(self.cancel_button)
        jobs = QHBoxLayout()
        jobs.addWidget(self.export_button)
        jobs.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs, 1)
        layout.addLayout(run)
        layout.addLayout(predict)
        layout.addLayout(jobs)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        self.tabs = tabs

    def _connect(self) -> None:
        self.runner.done.connect(self._refresh_buttons)
        self.runner.maps_ready.connect(self.segmenter.set_maps)
        self.train_button.clicked.connect(self.train)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.predict_button.clicked.connect(self.predict)
        self.cancel_button.clicked.connect(self.cancel_prediction)
        self.export_button.clicked.connect(self._export_dialog)
        self.import_button.clicked.connect(self._import_dialog)
        self.editor.validity_changed.connect(lambda _valid: self._refresh_buttons())
        self.form.changed.connect(self._settings_changed)
        self.image.changed.connect(self._refresh_buttons)
        self.labels.changed.connect(self._refresh_buttons)
        # evented fields emit (new value, old value)
        self.state.events.status.connect(lambda *_: self._refresh_buttons())
        self.state.events.message.connect(lambda text, *_: self.status.setText(text))
        self.state.events.iteration.connect(lambda iteration, *_: self._show_progress(iteration))

    def _settings_changed(self) -> None:
        job = self.form.values_into(JobConfig())
        self.editor.set_outsz(job.training.train_outsz)
        self._refresh_buttons()

    # ------------------------------------------------------------------ what can be pressed

    def problems(self) -> list[str]:
        """Why Train cannot start now (empty when it can)."""
        found = []
        if not self.editor.valid:
            found.append("the network is invalid (see the Network tab)")
        if self.image.layer() is None or self.labels.layer() is None:
            found.append("pick an image layer and a labels layer")
        elif np.shape(self.image.layer().data) != np.shape(self.labels.layer().data):
            found.append("image and labels differ in shape")
        return found + list(self.form.errors())

    def _refresh_buttons(self) -> None:
        running = self.worker is not None
        problems = self.problems()
        self.train_button.setEnabled(not running and not problems)
        self.train_button.setToolTip("; ".join(problems) if problems else "Write the job folder and train")
        has_job = (Path(self.folder.text()) / "job.cfg").exists()
        self.resume_button.setEnabled(not running and has_job)
        self.stop_button.setEnabled(running and self.state.status != STOPPING)
        predicting = self.predictor is not None
        self.predict_button.setEnabled(not predicting and self._weights() is not None and self.editor.valid)
        self.cancel_button.setEnabled(predicting)
        self.form.set_enabled_for_run(running)
        self.editor.setEnabled(not running)
        if problems and not running:
            self.status.setText(NEEDS + "; ".join(problems))
        elif self.status.text().startswith(NEEDS):
            self.status.setText(READY)

    # ------------------------------------------------------------------ jobs

    def _job_settings(self) -> JobConfig:
        return self.form.values_into(JobConfig())

    def _source(self, layer: Any) -> Any:
        """A file path for layers read from a plain volume file, else the array."""
        path = getattr(getattr(layer, "source", None), "path", None)
        if path and Path(path).suffix.lower() in (".tif", ".tiff", ".h5", ".hdf5") and Path(path).is_file():
            return Path(path)
        return np.asarray(layer.data)

    def export_job(self, folder: str | Path) -> Path:
        """Write the job folder for the current choices; returns the .cfg path."""
        problems = self.problems()
        if problems:
            raise ZnnError("cannot write the job: " + "; ".join(problems))
        return write_job_folder(folder, network_text=self.editor.network_text(),
                                image=self._source(self.image.layer()), labels=self._source(self.labels.layer()),
                                job=self._job_settings(), name="net")

    def import_job(self, folder: str | Path) -> None:
        """Load a job folder: settings, network text, and its image and labels as layers."""
        from znn.io.volumes import read_volume

        found = read_job_folder(folder)
        self.form.load_from(found.job)
        self.editor.set_text(found.network_text)
        assert found.job.source is not None  # a job read from its .cfg file knows its path
        self.folder.setText(str(Path(found.job.source).parent))
        image = self.viewer.add_image(read_volume(found.image), name=Path(found.image).stem)
        self.image.select(image)
        if found.labels:
            labels = self.viewer.add_labels(read_volume(found.labels).astype(np.uint32), name=Path(found.labels).stem)
            self.labels.select(labels)
        self._refresh_buttons()

    def _export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the job into this folder", self.folder.text())
        if folder:
            self._guard(lambda: show_info(f"wrote {self.export_job(folder)}"))

    def _import_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a job folder")
        if folder:
            self._guard(lambda: self.import_job(folder))

    def _guard(self, action: Any) -> None:
        try:
            action()
        except (ZnnError, OSError, ValueError) as error:
            show_error(str(error))

    # ------------------------------------------------------------------ training

    def train(self) -> None:
        """Write the job folder and train (a folder with a checkpoint resumes)."""
        self._guard(lambda: self._start(self.export_job(self.folder.text())))

    def resume(self) -> None:
        self._guard(lambda: self._start(Path(self.folder.text()) / "job.cfg"))

    def _start(self, cfg: Path) -> None:
        if self.preview_every.value() and self.image.layer() is not None:
            ensure_live_layer(self.viewer, self.image.layer(), self._output_kind())
        self.state.job_cfg = str(cfg)
        self.state.status = STARTING
        self.state.message = "starting: loading data and compiling kernels…"
        self._commands = queue.SimpleQueue()
        self.worker = training_worker(str(cfg), self._commands)
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self._refresh_buttons()
        self.worker.start()

    def stop(self) -> None:
        if self.worker is not None:
            self.state.status = STOPPING
            self.state.message = "stopping after this update and saving…"
            self._commands.put(Stop())

    def shutdown(self, timeout_s: float = 120.0) -> None:
        """Stop training (saving a checkpoint) and cancel prediction, waiting for both workers.

        Called when napari quits, so no worker thread outlives the application and no
        update that was trained is lost.
        """
        self.stop()
        self.cancel_prediction()
        deadline = time.monotonic() + timeout_s
        while (self.worker is not None or self.predictor is not None) and time.monotonic() < deadline:
            QApplication.processEvents()  # delivers the workers' finished signals
            time.sleep(0.01)

    def _on_event(self, event: object) -> None:
        self.state.apply(event)
        if isinstance(event, Started):
            self._started(event)
        elif isinstance(event, Step):
            self._maybe_preview(event.iteration)
        elif isinstance(event, Show):
            self.plot.add_train_point(event.iteration, event.cost, event.pixel_error)
        elif isinstance(event, Validation):
            self.plot.add_validation_point(event.iteration, event.cost, event.pixel_error)
        elif isinstance(event, Preview):
            self._show_preview(event)
        elif isinstance(event, Failed):
            show_error(f"{event.message}. {event.suggestion}")
        elif isinstance(event, Finished | Checkpoint):
            self._refresh_buttons()  # a checkpoint makes Predict possible

    def _started(self, event: Started) -> None:
        from znn.io.h5net import load_network

        self.plot.clear()
        if event.resumed_from:  # continue the stored curve
            curve = load_network(event.resumed_from).learning_curve
            if curve is not None:
                self.plot.set_curve(curve.train_it, curve.train_err, curve.train_cls,
                                    curve.test_it, curve.test_err, curve.test_cls)
        self._close_progress()
        self._progress = progress(total=event.max_iter, desc="ZNN training")
        self._progress.n = event.first_iteration - 1
        self.bar.setRange(0, event.max_iter)

    def _show_progress(self, iteration: int) -> None:
        self.bar.setValue(min(iteration, self.bar.maximum()))
        if self._progress is not None:
            self._progress.update(max(0, iteration - self._progress.n))
            eta = self.state.eta_seconds
            left = "" if math.isnan(eta) else f", {eta / 60:.0f} min left"
            self._progress.set_description(f"ZNN training: {self.state.seconds_per_update:.2f} s/update{left}")

    def _maybe_preview(self, iteration: int) -> None:
        every = self.preview_every.value()
        layer = self.image.layer()
        if not every or iteration % every or layer is None or self.state.status == STOPPING:
            return
        slab, section = view_slab(self.viewer, layer, self.editor.spec)
        tag = f"live-{iteration}"  # the view may move before the preview comes back
        self._live_sections[tag] = section
        self._commands.put(PredictNow(slab, pp_type="standard2D", tag=tag))

    def _show_preview(self, event: Preview) -> None:
        section = self._live_sections.pop(event.tag, None)
        if event.error:
            self.state.message = f"live preview skipped: {event.error}"
            return
        if section is None or self.image.layer() is None:
            return
        update_live_layer(self.viewer, self.image.layer(), event.outputs, section, kind=self._output_kind())

    def _on_error(self, error: Exception) -> None:
        show_error(f"ZNN training stopped: {error}")
        self.state.status = IDLE
        self.state.message = f"error: {error}"

    def _on_finished(self) -> None:
        self.worker = None
        if self.state.status != IDLE:
            self.state.status = IDLE
        self._close_progress()
        self._refresh_buttons()

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    # ------------------------------------------------------------------ prediction

    def _weights(self) -> Path | None:
        current = Path(self.folder.text()) / "net" / "net_current.h5"
        return current if current.exists() else None

    def predict(self) -> None:
        """Predict the chosen image layer with the latest checkpoint (blockwise for zarr layers)."""
        layer, weights = self.predict_on.layer(), self._weights()
        if layer is None or weights is None:
            show_error("Predict needs an image layer and a trained checkpoint (train first)")
            return
        out = Path(self.folder.text()) / "out"
        out.mkdir(parents=True, exist_ok=True)
        self._guard(lambda: self.runner.start(layer, self.editor.network_text(), weights, self._job_settings(), out))
        self._refresh_buttons()

    @property
    def predictor(self) -> Any:
        """The running prediction's worker, or None."""
        return self.runner.worker

    def cancel_prediction(self) -> None:
        self.runner.cancel()

    def _output_kind(self) -> OutputKind:
        # resolved as Predict resolves it, so the live layer and Predict's layers agree
        return self._job_settings().forward_settings().output_kind

    def live_layer(self) -> Any:
        name = live_layer_name(self._output_kind())
        return self.viewer.layers[name] if name in self.viewer.layers else None
