"""The dock's Predict row: which layer, Predict and Cancel (each saying why when it cannot be
pressed), and the prediction's own progress line.

Predict uses the current run: its network as trained (not whatever the Network tab shows now) and
its best checkpoint (the lowest validation cost; the last checkpoint before any validation);
outputs go to the run's `out/` folder. *With* can instead pick a bioimage.io package with ONNX
weights (a zoo model, or one exported here), run tile by tile with onnxruntime into the same
layers, so that a lab can compare its network with a zoo model on the same stack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_error
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_znn._data_tab import RunBudget, volume_of
from napari_znn._layers import LayerChoice
from napari_znn._prediction import PredictionRunner
from napari_znn._progress_panel import ProgressPanel
from napari_znn._runs import Run
from znn.base.errors import ZnnError

if TYPE_CHECKING:
    import napari

    from znn.jobs import JobConfig


CURRENT_RUN = "the current run"
PACKAGE = "a bioimage.io package…"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


class PredictPanel(QWidget):
    """Predict the chosen image layer with the current run; `changed` when a prediction
    starts or ends."""

    changed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, current_run: Callable[[], Run | None],
                 forward_job: Callable[[Run], JobConfig]) -> None:
        super().__init__()
        self.current_run, self.forward_job = current_run, forward_job
        self.layer_choice = LayerChoice(viewer, "image")
        self.runner = PredictionRunner(viewer)
        self.button = QPushButton("Predict")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the prediction (nothing is added)")
        self.progress = ProgressPanel()
        self.progress.setVisible(False)
        self.result = QLabel()  # where the last prediction's maps were saved
        self.result.setWordWrap(True)
        self.result.setVisible(False)
        self._geometry: dict[Path, tuple[tuple[int, int, int], bool]] = {}  # run -> (fov, mirror)
        self.model_choice = QComboBox()
        self.model_choice.addItems([CURRENT_RUN, PACKAGE])
        self.model_choice.setToolTip("What predicts: the current run's network, or a bioimage.io package with "
                                     "ONNX weights (run with onnxruntime)")
        self.zoo: Any = None  # the package chosen, a znn.export.zoo.ZooModel
        self.model_choice.textActivated.connect(self._model_chosen)
        with_row = QHBoxLayout()
        with_row.setContentsMargins(0, 0, 0, 0)
        with_row.addWidget(QLabel("With"))
        with_row.addWidget(self.model_choice, 1)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Predict on"))
        row.addWidget(self.layer_choice, 1)
        row.addWidget(self.button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addLayout(with_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        self.button.clicked.connect(self.predict)
        self.cancel_button.clicked.connect(self.runner.cancel)
        self.layer_choice.changed.connect(self.refresh)
        self.runner.planned.connect(self._planned)
        self.runner.progressed.connect(self._progressed)
        self.runner.saved.connect(self._saved)
        self.runner.done.connect(self._done)

    def problems(self) -> list[str]:
        """Why Predict cannot run now (empty when it can)."""
        if self.runner.worker is not None:
            return ["a prediction is running (Cancel stops it)"]
        if self.using_package:
            layer = self.layer_choice.layer()
            if layer is None:
                return ["pick an image layer to predict"]
            return [] if volume_of(layer) is not None else [f"image layer '{layer.name}' has more than one channel"]
        run = self.current_run()
        if run is None:
            return ["no run yet: Train one, or Import job… a trained run folder"]
        if run.checkpoint is None:
            return [f"run {run.folder.name} has no checkpoint yet (training saves one every Num_iter_per_save "
                    "updates and when it stops)"]
        layer = self.layer_choice.layer()
        if layer is None:
            return ["pick an image layer to predict"]
        volume = volume_of(layer)
        if volume is None:
            return [f"image layer '{layer.name}' is {_shape(np.shape(layer.data))}"
                    f"{' RGB' if getattr(layer, 'rgb', False) else ''}; prediction needs one channel, as "
                    "sections (z, y, x) or a single 2-D image"]
        fov, mirror = self._run_geometry(run)
        if not mirror and any(n < f for n, f in zip(volume, fov)):
            return [f"image '{layer.name}' is {_shape(volume)}, smaller than the field of view {_shape(fov)} of "
                    f"the run's network; use a larger image or turn on Mirror borders in Settings"]
        return []

    @property
    def using_package(self) -> bool:
        return self.zoo is not None and self.model_choice.currentText() == self.zoo.name

    def _model_chosen(self, text: str) -> None:
        if text != PACKAGE:
            self.refresh()
            return
        path, _ = QFileDialog.getOpenFileName(self, "A bioimage.io package with ONNX weights", "",
                                              "bioimage.io packages (*.zip rdf.yaml)")
        if path:
            self.use_package(Path(path))
        else:
            self.model_choice.setCurrentText(self.zoo.name if self.zoo is not None else CURRENT_RUN)
        self.refresh()

    def use_package(self, path: Path) -> bool:
        """Predict with the package at `path` from now on; a package that cannot run here is named in one
        notification and the choice stays as it was."""
        from znn.export.zoo import open_zoo_model

        try:
            self.zoo = open_zoo_model(path)
        except (ZnnError, OSError, ValueError) as error:
            show_error(f"Cannot predict with this package: {error}")
            self.model_choice.setCurrentText(CURRENT_RUN)
            return False
        if self.model_choice.findText(self.zoo.name) < 0:
            self.model_choice.insertItem(1, self.zoo.name)
        self.model_choice.setCurrentText(self.zoo.name)
        self.refresh()
        return True

    def _run_geometry(self, run: Run) -> tuple[tuple[int, int, int], bool]:
        if run.folder not in self._geometry:
            from znn.jobs import read_cfg
            from znn.netspec.graph import NetworkGraph
            from znn.netspec.znnfile import parse_znn

            try:
                fov = NetworkGraph(parse_znn(run.network_text(), str(run.network_file)), (1, 1, 1)).fov
                mirror = bool(read_cfg(run.cfg).data.is_bd_mirror)
            except (ZnnError, OSError):
                return (1, 1, 1), True  # Predict reports what is wrong with the run
            self._geometry[run.folder] = (fov, mirror)
        return self._geometry[run.folder]

    def refresh(self) -> None:
        problems = self.problems()
        predicting = self.runner.worker is not None
        self.button.setEnabled(not problems)
        run = self.current_run()
        self.button.setToolTip("Cannot predict: " + "; ".join(problems) if problems else
                               f"Predict with the bioimage.io package {self.zoo.name} (onnxruntime)"
                               if self.using_package else
                               f"Predict with {run.describe_weights() if run else ''} of "
                               f"{run.folder.name if run else ''} and the network it was trained with")
        self.cancel_button.setEnabled(predicting)

    def predict(self) -> None:
        if self.using_package:
            self._predict_with_package()
            return
        problems = self.problems()
        run, layer = self.current_run(), self.layer_choice.layer()
        weights = run.prediction_weights if run is not None else None
        if problems or run is None or weights is None:
            show_error("Cannot predict: " + "; ".join(problems))
            return
        try:
            job = self.forward_job(run)
            out = run.folder / "out"
            out.mkdir(parents=True, exist_ok=True)
            self.progress.setVisible(True)
            self.result.setVisible(False)
            self.progress.begin(RunBudget(), f"predicting '{layer.name}' with {run.describe_weights()}: loading "
                                             "the network and planning the tile…")
            self.runner.start(layer, run.network_text(), weights, job, out,
                              save_to=functools.partial(run.output_paths, layer.name))
        except (ZnnError, OSError, ValueError) as error:
            self.progress.setVisible(False)
            show_error(f"Cannot predict: {error}")
        self.refresh()
        self.changed.emit()

    def _predict_with_package(self) -> None:
        problems, layer = self.problems(), self.layer_choice.layer()
        if problems or layer is None:
            show_error("Cannot predict: " + "; ".join(problems))
            return
        self.progress.setVisible(True)
        self.result.setVisible(False)
        self.progress.begin(RunBudget(), f"predicting '{layer.name}' with the package {self.zoo.name}…")
        self.runner.start_zoo(layer, self.zoo)
        self.refresh()
        self.changed.emit()

    def _planned(self, done: int, total: int, what: str) -> None:
        layer = self.layer_choice.layer()
        self.progress.count(done, total, f"predicting '{layer.name if layer else ''}': timing each layer's "
                                         f"convolution for the tile ({what}); layers")

    def _progressed(self, done: int, total: int) -> None:
        layer = self.layer_choice.layer()
        self.progress.count(done, total, f"predicting '{layer.name if layer else ''}': tiles")

    def _saved(self, text: str) -> None:
        self.result.setText(text)
        self.result.setVisible(True)

    def _done(self) -> None:
        self.progress.setVisible(False)
        self.refresh()
        self.changed.emit()
