"""The dock's Data tab: which layers train, where runs go, how long a run lasts, and every
check that can be made before Train, phrased in terms of the user's layers.

Checks are made here, on the layers, so that the engine never has to refuse a job the dock
wrote (its messages name files of the run folder the user has never seen).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from napari_znn._label_mode import LabelModeRow
from napari_znn._layers import LayerChoice
from napari_znn._runs import Run, default_runs_root
from napari_znn._start_from import StartFromRow

if TYPE_CHECKING:
    import napari

    from znn.base.modes import OutputKind
    from znn.jobs import JobConfig
    from znn.netspec.spec import NetSpec

Budget = Literal["until stopped", "updates", "minutes"]
BUDGETS: tuple[Budget, ...] = ("until stopped", "updates", "minutes")


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


@dataclass(frozen=True)
class RunBudget:
    """How long one Train or Resume runs (it always ends with a checkpoint)."""

    updates: int | None = None  # this many more updates
    minutes: float | None = None  # or this long

    def describe(self) -> str:
        if self.updates:
            return f"{self.updates:,} updates"
        if self.minutes:
            return f"{self.minutes:g} minutes"
        return "until stopped"


def volume_of(layer: Any) -> tuple[int, int, int] | None:
    """The (z, y, x) extent a layer trains as (a 2-D image is one section), or None when it
    has another number of axes or colour channels."""
    shape = tuple(int(n) for n in np.shape(layer.data))
    if getattr(layer, "rgb", False):
        return None
    if len(shape) == 2:
        return (1, shape[0], shape[1])
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 else None


class DataTab(QWidget):
    """Image and labels layers, the runs folder, the run budget and the live preview."""

    changed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.image = LayerChoice(viewer, "image")
        self.labels = LayerChoice(viewer, "labels", exclude=self.image.layer)
        self.image.changed.connect(self.labels.refresh)  # the image picked is never offered as labels
        self.label_mode = LabelModeRow()
        self.start = StartFromRow()
        self.recipe_note = QLabel("")  # which settings suit the start and the labels (see _recipe_choice)
        self.recipe_note.setWordWrap(True)
        self.runs_root = QLineEdit(str(default_runs_root()))
        self.runs_root.setToolTip("Every Train makes a new run folder here (network.znn, data.spec, job.cfg, "
                                  "checkpoints in net/, predictions in out/); `znn train -c <run>/job.cfg` "
                                  "runs the same job headless")
        browse = QPushButton("…")
        browse.setToolTip("Choose the folder that holds the runs")
        browse.clicked.connect(self._browse)
        self.current_run = QLabel("none yet: Train starts one")
        self.current_run.setWordWrap(True)
        self.current_run.setToolTip("Resume continues this run; Predict uses its last checkpoint and its network")
        self.budget = QComboBox()
        self.budget.addItems(list(BUDGETS))
        self.budget.setToolTip("How long Train and Resume run; they always end with a checkpoint")
        self.budget_updates = QSpinBox()
        self.budget_updates.setRange(1, 10**8)
        self.budget_updates.setValue(1000)
        self.budget_updates.setSuffix(" updates")
        self.budget_minutes = QDoubleSpinBox()
        self.budget_minutes.setRange(0.1, 10**6)
        self.budget_minutes.setValue(10.0)
        self.budget_minutes.setSuffix(" min")
        self.preview_every = QSpinBox()
        self.preview_every.setRange(0, 100000)
        self.preview_every.setValue(20)
        self.preview_every.setToolTip("Update the live layer on the section in view every N updates (0 = never)")

        roots = QHBoxLayout()
        roots.setContentsMargins(0, 0, 0, 0)
        roots.addWidget(self.runs_root, 1)
        roots.addWidget(browse)
        root_row = QWidget()
        root_row.setLayout(roots)
        budget = QHBoxLayout()
        budget.setContentsMargins(0, 0, 0, 0)
        for widget in (self.budget, self.budget_updates, self.budget_minutes):
            budget.addWidget(widget)
        budget_row = QWidget()
        budget_row.setLayout(budget)
        form = QFormLayout(self)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("Image", self.image)
        form.addRow("Labels", self.labels)
        form.addRow("Label mode", self.label_mode)
        form.addRow("Start from", self.start)
        form.addRow("", self.recipe_note)
        form.addRow("Runs folder", root_row)
        form.addRow("Current run", self.current_run)
        form.addRow("Train for", budget_row)
        form.addRow("Live preview every", self.preview_every)
        for signal in (self.image.changed, self.labels.changed, self.label_mode.changed):
            signal.connect(self.changed)
        self._guessed_for: Any = None
        self.labels.changed.connect(self.guess_label_mode)
        self.budget.currentTextChanged.connect(self._budget_changed)
        self._budget_changed(self.budget.currentText())
        self.guess_label_mode()  # the layer picked at start-up is guessed as any later pick is

    def guess_label_mode(self) -> None:
        """Guess the label mode when another labels layer is picked (a choice by hand stays until then)."""
        layer = self.labels.layer()
        if layer is not self._guessed_for:
            self._guessed_for = layer
            shape = volume_of(layer) if layer is not None else None
            trainable = shape is not None and 0 not in shape  # problems() names what is wrong otherwise
            self.label_mode.guess(layer if trainable else None, self.label_mode.kind)

    def set_output_kind(self, kind: OutputKind) -> None:
        self.label_mode.set_kind(kind)

    def show_run(self, run: Run | None) -> None:
        self.current_run.setText(run.describe() if run is not None else "none yet: Train starts one")
        self.start.refresh(run)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the runs", self.runs_root.text())
        if folder:
            self.runs_root.setText(folder)

    def _budget_changed(self, text: str) -> None:
        self.budget_updates.setVisible(text == "updates")
        self.budget_minutes.setVisible(text == "minutes")

    def run_budget(self) -> RunBudget:
        kind = self.budget.currentText()
        if kind == "updates":
            return RunBudget(updates=self.budget_updates.value())
        if kind == "minutes":
            return RunBudget(minutes=self.budget_minutes.value())
        return RunBudget()

    # ------------------------------------------------------------------ checks

    def problems(self, spec: NetSpec | None, job: JobConfig | None) -> list[str]:
        """Why these layers cannot train this network with these settings, in layer terms."""
        image, labels = self.image.layer(), self.labels.layer()
        if image is None or labels is None:
            missing = [what for what, layer in (("an image layer", image),
                                                ("a labels layer (or an image layer of whole numbers)", labels))
                       if layer is None]
            return ["pick " + " and ".join(missing)]
        found = []
        image_volume, label_volume = volume_of(image), volume_of(labels)
        if image_volume is None:
            found.append(f"image layer '{image.name}' is {_shape(np.shape(image.data))}"
                         f"{' RGB' if getattr(image, 'rgb', False) else ''}; training needs one channel, "
                         "as sections (z, y, x) or a single 2-D image")
        if label_volume is None:
            found.append(f"labels layer '{labels.name}' is {_shape(np.shape(labels.data))}; labels need "
                         "(z, y, x) or a single 2-D image")
        elif not np.issubdtype(np.dtype(labels.data.dtype), np.integer):
            found.append(f"layer '{labels.name}' holds {np.dtype(labels.data.dtype)} values; labels need "
                         "whole numbers")
        if image_volume is not None and label_volume is not None and image_volume != label_volume:
            found.append(f"image '{image.name}' is {_shape(image_volume)} but labels '{labels.name}' are "
                         f"{_shape(label_volume)}; they must cover the same voxels")
        found += self.label_mode.problems(labels)
        if not found and spec is not None and job is not None and image_volume is not None:
            sparse = self.label_mode.current() == "sparse_strokes"
            found += self._patch_problems(image.name, image_volume, spec, job, split=not sparse)
        return found

    @staticmethod
    def _patch_problems(name: str, volume: tuple[int, int, int], spec: NetSpec, job: JobConfig, *,
                        split: bool = True) -> list[str]:
        """The training patch must fit the sections that train (the last fifth validates when the
        labels are dense; painted strokes are split by strokes, and both parts span the stack)."""
        from znn.app.job_folder import validation_split
        from znn.base.errors import ZnnError
        from znn.netspec.graph import NetworkGraph

        try:
            graph = NetworkGraph(spec, job.training.train_outsz)
        except ZnnError:
            return []  # the Network tab reports this
        train_range = validation_split(volume[0])[0] if split else ""
        trained = int(train_range.split(":")[1][:-1]) if train_range else volume[0]
        validated = volume[0] - trained if train_range else volume[0]
        available = (min(trained, validated), volume[1], volume[2])
        mirrored = job.data.is_bd_mirror
        need = graph.outsz if mirrored else graph.input_size
        if all(n <= a for n, a in zip(need, available)):
            return []
        what = "output patch" if mirrored else "input patch (output patch plus field of view − 1)"
        parts = (f"its training and validation parts (the last fifth of the sections validates) are at most "
                 f"{_shape(available)}" if split else "it is")
        return [f"image '{name}' is {_shape(volume)}: {parts}, smaller than the network's {what} "
                f"{_shape(need)}; lower the training patch (Settings › Training patch) or use a larger image"]
