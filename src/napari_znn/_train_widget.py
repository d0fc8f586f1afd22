"""The ZNN training dock: data, network and settings in tabs; Train, Stop, Resume, Predict,
Export and Import buttons; a live learning curve; a live boundary (or affinity) layer.

The dock arranges things; the engine does the work. Every Train starts a new run folder (what
`znn train -c` runs headless), written by the worker, never beside another run's
checkpoints; Resume and Predict use the current run's own network and checkpoint. The
worker's events update `TrainingState`, the plot, the progress line and the live layer, all
on the main thread. Closing napari while training waits for the last update to be saved.
"""

from __future__ import annotations

import functools
import queue
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_error
from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QShowEvent
from qtpy.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from napari_znn._close_guard import CloseGuard
from napari_znn._curve_plot import LiveCurvePlot
from napari_znn._curve_png import CurveDrawing
from napari_znn._data_tab import DataTab
from napari_znn._job_form import JobSettingsForm
from napari_znn._job_transfer import JobTransferButtons, export_run, open_job_layers
from napari_znn._layers import LayerChoice, ensure_live_layer, live_layer_name
from napari_znn._live_preview import LivePreview
from napari_znn._model_export import ModelExport
from napari_znn._network_editor import NetworkEditor
from napari_znn._predict_panel import PredictPanel
from napari_znn._progress_panel import ProgressPanel
from napari_znn._recipe_choice import RecipeChoice
from napari_znn._run_buttons import RunButtons
from napari_znn._run_control import RunControl
from napari_znn._runs import LayerLook, Run, check_runs_root, layer_source, new_run_folder, read_layer_looks
from napari_znn._segment_panel import SegmentPanel
from napari_znn._session import IDLE, STARTING, STOPPING, TrainingState
from napari_znn._start_from import start_problems
from napari_znn._workers import NewRun, RunWritten, training_worker
from znn.app.job_folder import read_job_folder
from znn.base.errors import ZnnError
from znn.base.modes import OutputKind
from znn.jobs import JobConfig
from znn.train.events import Checkpoint, Failed, Finished, Preview, Show, Started, Step, Stop, Validation

if TYPE_CHECKING:
    import napari


READY = "Ready: press Train, or Export job… to train on a server with `znn train -c`."
NEEDS = "Train needs: "


class TrainingDock(QWidget):
    """Point-and-click ZNN training and prediction."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.state = TrainingState()
        self.worker: Any = None
        self.run: Run | None = None  # what Resume continues and Predict uses
        self._commands: queue.SimpleQueue = queue.SimpleQueue()  # to the running trainer
        self._close_guard: CloseGuard | None = None
        self._continue_after_stop: Run | None = None  # Continue pressed while training: after the stop
        self.control = RunControl()  # the run's phase (Qt-free; see _run_control)
        self._saved: str | None = None  # the running session's last checkpoint
        self._previous_run: Run | None = None  # current again if the new run's folder cannot be written
        self._new_live_layer = False  # the live layer was added for the starting run
        self._began = False  # the running session has sent Started
        self.curve_png = CurveDrawing(lambda line: setattr(self.state, "message", line))  # names the PNG

        self.data = DataTab(viewer)
        self.image, self.labels, self.preview_every = self.data.image, self.data.labels, self.data.preview_every
        self.editor = NetworkEditor()
        self.form = JobSettingsForm()
        self.plot = LiveCurvePlot(vertical=True)  # the dock is tall and narrow
        self.predictor_panel = PredictPanel(viewer, lambda: self.run, self._forward_job)
        self.predict_on: LayerChoice = self.predictor_panel.layer_choice
        self.predict_button = self.predictor_panel.button
        self.runner = self.predictor_panel.runner
        self.segmenter = SegmentPanel(viewer)
        self.live = LivePreview(viewer, self.image.layer, lambda: self.editor.spec, self._output_kind)
        self.progress = ProgressPanel()
        self.status = QLabel(READY)
        self.status.setWordWrap(True)

        self.buttons = RunButtons(self.continue_with_new_labels)
        self.train_button, self.stop_button, self.resume_button = (self.buttons.train, self.buttons.stop,
                                                                   self.buttons.resume)
        self.continue_button, self.auto_continue = self.buttons.continue_, self.buttons.auto_continue
        self.transfer = JobTransferButtons(self.export_job, self.import_job, self.data.runs_root.text)
        self.export_button, self.import_button = self.transfer.export_button, self.transfer.import_button
        self.model_export = ModelExport(lambda: self.run, self)
        self.transfer.add_button(self.model_export.button)
        self.recipes = RecipeChoice(self.data, self.form, self.editor, lambda: self.worker is not None)
        self._start_fit = functools.lru_cache(maxsize=4)(start_problems)  # reads the .h5: once per pick and text
        self._build_layout()
        self._connect()
        self.auto_continue.watch(self.labels.layer())
        self._refresh_buttons()
        app = QApplication.instance()
        if app is not None:  # quitting napari mid-training saves a checkpoint first
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ layout

    def _build_layout(self) -> None:
        tabs = QTabWidget()
        # pages of rows scroll in a short window instead of squeezing their rows (the label mode's reason
        # was crushed to a few pixels in napari's default window)
        tabs.addTab(scrolled(self.data), "Data")
        tabs.addTab(self.editor, "Network")
        tabs.addTab(self.form, "Settings")
        tabs.addTab(self.plot, "Curve")
        tabs.addTab(scrolled(self.segmenter), "Segment")
        layout = QVBoxLayout(self)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.predictor_panel)
        layout.addWidget(self.transfer)
        self.tabs = tabs

    def show_tab(self, page: QWidget) -> None:
        """Bring the tab holding `page` (e.g. `self.segmenter`) to the front."""
        for index in range(self.tabs.count()):
            tab = self.tabs.widget(index)
            if tab is page or (tab is not None and tab.isAncestorOf(page)):
                self.tabs.setCurrentIndex(index)

    def _connect(self) -> None:
        self.predictor_panel.changed.connect(self._work_changed)
        self.runner.maps_ready.connect(self.segmenter.set_maps)
        self.train_button.clicked.connect(self.train)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        self.continue_button.clicked.connect(self.continue_with_new_labels)
        self.editor.checked.connect(self._refresh_buttons)
        self.model_export.busy_changed.connect(lambda _busy: self._refresh_buttons())
        self.form.changed.connect(self._settings_changed)
        self.data.changed.connect(self._refresh_buttons)
        self.data.labels.changed.connect(lambda: self.auto_continue.watch(self.labels.layer()))
        # evented fields emit (new value, old value)
        self.state.events.status.connect(lambda *_: self._refresh_buttons())
        self.state.events.message.connect(lambda text, *_: self.status.setText(text))
        self.state.events.iteration.connect(lambda iteration, *_: self.progress.step(iteration))

    def _settings_changed(self) -> None:
        job = self._job_settings()
        self.editor.set_outsz(job.training.train_outsz, job.network.effective_train_conv_mode,
                              job.network.effective_num_threads)
        self.data.set_output_kind(self._output_kind())
        self._refresh_buttons()

    def sizeHint(self) -> QSize:
        # napari sizes its dock area from this: leave most of the window to the canvas
        return QSize(460, 800)

    def showEvent(self, event: QShowEvent | None) -> None:
        super().showEvent(event)
        window = self.window()
        if self._close_guard is None and window is not None and window is not self:  # docked: guard napari's window
            self._close_guard = CloseGuard(window, self.busy, self._stop_everything, parent=self)

    # ------------------------------------------------------------------ what can be pressed

    def problems(self) -> list[str]:
        """Why Train cannot start now (empty when it can), in terms of layers and settings."""
        found = [] if self.editor.valid else ["the network is invalid (see the Network tab)"]
        found += self.data.problems(self.editor.spec if self.editor.valid else None, self._job_settings())
        if self.editor.valid:
            found += self._start_fit(self.data.start.current(), self.editor.network_text())
        return found + list(self.form.errors())

    def busy(self) -> bool:
        return self.control.training or self.runner.worker is not None

    def _refresh_buttons(self) -> None:
        running = self.control.training
        problems = self.problems()
        self.train_button.setEnabled(self.control.can_train() and not problems)
        self.train_button.setToolTip("Cannot train: " + "; ".join(problems) if problems else
                                     "Train a new run (a new folder under the runs folder)")
        resumable = self.run is not None and self.run.checkpoint is not None
        self.resume_button.setEnabled(not running and resumable)
        self.continue_button.setEnabled(resumable and not problems and self.control.can_continue())
        self.resume_button.setToolTip(
            f"Continue {self.run.folder.name} from its last checkpoint" if resumable and self.run else
            "Nothing to resume yet: Train (or Import job…) a run first")
        self.stop_button.setEnabled(self.control.can_stop())
        self.model_export.refresh(self.run, running)
        self.predictor_panel.refresh()
        self.form.set_enabled_for_run(running)
        self.editor.setEnabled(not running)
        self.data.show_run(self.run)
        if problems and not running:
            self.status.setText(_needs(problems))
        elif self.status.text().startswith(NEEDS):
            self.status.setText(READY)

    def _work_changed(self) -> None:
        self._refresh_buttons()
        if self._close_guard is not None:
            self._close_guard.released()

    # ------------------------------------------------------------------ jobs

    def _job_settings(self) -> JobConfig:
        return self.form.values_into(JobConfig())

    def _forward_job(self, run: Run) -> JobConfig:
        """The run's own job (network, output kind, dtype) with the form's forward settings."""
        from znn.jobs import read_cfg

        job = read_cfg(run.cfg)
        form = self._job_settings()
        network = replace(job.network, forward_conv_mode=form.network.forward_conv_mode,
                          num_threads=form.network.num_threads)
        return replace(job, forward=form.forward, network=network)

    def _new_run(self, folder: Path, network_text: str | None = None, *, start: Path | None = None) -> NewRun:
        image, labels = self.image.layer(), self.labels.layer()
        return NewRun(folder, network_text or self.editor.network_text(), layer_source(image),
                      layer_source(labels), self._job_settings(), self.data.label_mode.settings(),
                      start, looks={"image": LayerLook.of(image), "labels": LayerLook.of(labels)})

    def export_job(self, folder: str | Path) -> Path:
        """Write a job folder for the current choices (not into a trained run); returns the .cfg."""
        problems = self.problems()
        if problems:
            raise ZnnError("cannot write the job: " + "; ".join(problems))
        return export_run(self._new_run(Path(folder)))

    def import_job(self, folder: str | Path) -> None:
        """Open a job or run folder: settings, network text, its image and labels as layers; it
        becomes the current run (Resume continues it, Predict uses its checkpoint)."""
        found = read_job_folder(folder)
        self.form.load_from(found.job)
        self.editor.set_text(found.network_text)
        assert found.job.source is not None  # a job read from its .cfg file knows its path
        self.run = Run(Path(found.job.source).parent)
        image, labels = open_job_layers(self.viewer, found, read_layer_looks(self.run.folder))
        self.image.select(image)
        if labels is not None:
            self.labels.select(labels)
            self.data.label_mode.set_mode(found.label_mode, f"As the job's data.spec says ({found.label_mode}).")
        self.progress.idle("")  # nothing of an earlier run's progress or errors stays
        self.state.message = (f"opened {self.run.folder}: Resume continues it, Predict uses "
                              f"{self.run.describe_weights()}" if self.run.checkpoint else
                              f"opened {self.run.folder}: no checkpoint yet, Train starts a run from its settings")
        self._refresh_buttons()

    # ------------------------------------------------------------------ training

    def train(self) -> None:
        """Train a new run, in a new folder under the runs folder."""
        problems = self.problems()
        if problems or not self.control.can_train():
            self.status.setText(_needs(problems) if problems else "a run is already training")
            return
        if self._labels_refused():
            return
        root = Path(self.data.runs_root.text()).expanduser()
        try:
            check_runs_root(root)
        except ZnnError as error:  # the current run stays current
            self.state.message = f"Cannot train: {error}"
            show_error(self.state.message)
            return
        folder = new_run_folder(root, self.editor.choice.currentText())
        self._start(self._new_run(folder, start=self.data.start.current().path))

    def continue_with_new_labels(self) -> None:
        """Continue the current run from its checkpoint with the labels as they are now (the
        paint, train, correct loop). While training runs, it stops (saving) and goes on."""
        run = self.run
        if run is None or run.checkpoint is None or self.problems() or self._labels_refused():
            return
        if self.control.training:
            self._continue_after_stop = run
            self.control.continue_after_stop()
            self._send_stop()
            self._refresh_buttons()
            return
        self._start(self._new_run(run.folder, run.network_text()), resumed=True)

    def _labels_refused(self) -> bool:
        """Checks of the labels' voxels (too slow for every refresh), made when training starts."""
        layer = self.labels.layer()
        outsz = self._job_settings().training.train_outsz
        trained = self.data.start.current().trained
        problems = self.data.label_mode.check_values(layer, outsz, trained_start=trained) if layer is not None else []
        if problems:
            self.status.setText(_needs(problems))
        return bool(problems)

    def resume(self) -> None:
        """Continue the current run from its last checkpoint, with its own network."""
        if self.run is not None and self.run.checkpoint is not None and self.control.can_train():
            self._start(self.run.cfg)

    def _start(self, request: NewRun | Path, resumed: bool = False) -> None:
        fresh = isinstance(request, NewRun)
        self._previous_run = None
        if isinstance(request, NewRun) and not resumed:
            self._previous_run, self.run = self.run, Run(request.folder)
            self.plot.clear()
        budget = self.data.run_budget()
        self.control.start()
        self.state.status = STARTING
        self.state.message = ""
        self.progress.begin(budget, ("writing the run folder, " if fresh else "") +
                            "loading the data and the compiled kernels…")
        self._commands = queue.SimpleQueue()
        self.live.reset(self._commands)
        self.worker = training_worker(request, self._commands, max_updates=budget.updates, minutes=budget.minutes)
        self.worker.yielded.connect(self._on_event)
        self.worker.errored.connect(self._on_error)
        self.worker.finished.connect(self._on_finished)
        self._new_live_layer, self._began = False, False
        if self.preview_every.value() and self.image.layer() is not None:
            self._new_live_layer = live_layer_name(self._output_kind()) not in self.viewer.layers
            ensure_live_layer(self.viewer, self.image.layer(), self._output_kind())
        self._refresh_buttons()
        self.worker.start()

    def stop(self) -> None:
        if self.control.can_stop():
            self.control.stop()
            self._send_stop()

    def _send_stop(self) -> None:
        self.state.status = STOPPING
        self.progress.stopping()
        self._commands.put(Stop())

    def _closing(self) -> bool:
        return self._close_guard is not None and self._close_guard.closing

    def _stop_everything(self) -> None:
        self._continue_after_stop = None
        self.stop()
        self.cancel_prediction()

    def shutdown(self, timeout_s: float = 120.0) -> None:
        """Stop training (saving a checkpoint) and cancel prediction, waiting for both workers
        (called when napari quits, so no update that was trained is lost)."""
        self._stop_everything()
        self.editor.estimate.close()
        deadline = time.monotonic() + timeout_s
        while self.busy() and time.monotonic() < deadline:
            QApplication.processEvents()  # delivers the workers' finished signals
            time.sleep(0.01)

    def _on_event(self, event: object) -> None:
        if isinstance(event, RunWritten):
            self._previous_run = None  # the new run is on disk: it stays current whatever happens
            self.data.show_run(self.run)
            return
        self.state.apply(event)
        if isinstance(event, Started):
            self.control.began()
            self._began = True
            self._started(event)
            if event.loaded_from:  # trained weights: their map is the first answer, before any update
                self.live.maybe_request(event.first_iteration - 1, self.preview_every.value(), False)
        elif isinstance(event, Step):
            self.live.maybe_request(event.iteration, self.preview_every.value(), self.state.status == STOPPING)
        elif isinstance(event, Show):
            self.plot.add_train_point(event.iteration, event.cost, event.pixel_error)
        elif isinstance(event, Validation):
            self.plot.add_validation_point(event.iteration, event.cost, event.pixel_error)
        elif isinstance(event, Preview):
            self.live.show(event, self.state)
        elif isinstance(event, Failed):
            show_error(f"{event.message}. {event.suggestion}")
        elif isinstance(event, Finished | Checkpoint):
            self._saved = event.path if isinstance(event, Checkpoint) else self._saved
            self._refresh_buttons()  # a checkpoint makes Predict and Resume possible

    def _started(self, event: Started) -> None:
        from znn.io.h5net import load_network

        if event.resumed_from:  # continue the stored curve
            curve = load_network(event.resumed_from, finite=False).learning_curve
            if curve is not None:
                self.plot.set_curve(curve.train_it, curve.train_err, curve.train_cls,
                                    curve.test_it, curve.test_err, curve.test_cls)
        self.progress.started(event.first_iteration, event.max_iter)

    def _on_error(self, error: Exception) -> None:
        if self._previous_run is not None or (self.run is not None and not self.run.exists):
            # the new run's folder could not be written: the run before it stays current
            self.run, self._previous_run = self._previous_run, None
            self._remove_unused_live_layer()
            line = f"Cannot train: the run folder could not be written ({error}); choose another Runs folder"
        else:
            line = f"ZNN training stopped: {error}"
        show_error(line)
        self.state.status = IDLE
        self.state.message = line

    def _remove_unused_live_layer(self) -> None:
        layer = self.live_layer()
        if self._new_live_layer and layer is not None and not layer.data.any():
            self.viewer.layers.remove(layer)
        self._new_live_layer = False

    def _on_finished(self) -> None:
        self.worker = None
        go_on = self.control.finished()
        if self._saved is not None:  # drawn out of this process: see _curve_png
            self.curve_png.start(self._saved)
            self._saved = None
        if self.state.status != IDLE:
            self.state.status = IDLE
        self.progress.idle(f"last update: iteration {self.state.iteration:,}"
                           if self.state.iteration and self._began else "")  # never an earlier run's
        self._work_changed()
        waiting, self._continue_after_stop = self._continue_after_stop, None
        if go_on and waiting is not None and waiting == self.run and not self._closing():
            self.continue_with_new_labels()

    # ------------------------------------------------------------------ prediction

    def predict(self) -> None:
        """Predict the chosen image layer with the current run's network and last checkpoint."""
        self.predictor_panel.predict()

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


def scrolled(page: QWidget) -> QScrollArea:
    """`page` in a frameless scroll area that keeps its rows at their natural height."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(page)
    return area


def _needs(problems: list[str]) -> str:
    """What Train waits for, one problem after another (each without its closing full stop)."""
    return NEEDS + "; ".join(problem.rstrip(".") for problem in problems)
