"""Job folders in and out of the dock: Export writes one for `znn train -c` (never beside a
trained run's checkpoints), Import opens one's image and labels as layers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QPushButton, QWidget

from napari_znn._runs import LayerLook, holds_checkpoints
from napari_znn._workers import NewRun, write_new_run
from znn.base.errors import ZnnError

if TYPE_CHECKING:
    import napari

    from znn.app.job_folder import JobFolder


def export_run(request: NewRun) -> Path:
    """Write the job folder of `request`; returns its .cfg."""
    if holds_checkpoints(request.folder):
        raise ZnnError(f"{request.folder} holds a trained run's checkpoints; export into a new or empty folder "
                       "(its checkpoints would no longer fit the job)")
    return write_new_run(request)


def open_job_layers(viewer: napari.viewer.Viewer, found: JobFolder,
                    looks: dict[str, LayerLook] | None = None) -> tuple[Any, Any]:
    """The job's image and labels (None if it has none) as layers, with the names, scale and
    translate of the layers the run trained on (`looks`; else named after the files). A layer of
    that name holding the same voxels is picked rather than added again."""
    from znn.io.volumes import read_volume

    looks = looks or {}
    image = _layer(viewer, read_volume(found.image), looks.get("image"), Path(found.image).stem, labels=False)
    if not found.labels:
        return image, None
    labels = _layer(viewer, read_volume(found.labels).astype(np.uint32), looks.get("labels"),
                    Path(found.labels).stem, labels=True)
    return image, labels


def _layer(viewer: napari.viewer.Viewer, data: np.ndarray, look: LayerLook | None, stem: str, *, labels: bool) -> Any:
    name = look.name if look is not None else stem
    if name in viewer.layers:
        existing = viewer.layers[name]
        if np.shape(existing.data) == data.shape and np.array_equal(np.asarray(existing.data), data):
            return existing
    geometry = dict(scale=look.scale, translate=look.translate) if look is not None and len(look.scale) == data.ndim \
        else {}
    if labels:
        return viewer.add_labels(data, name=name, **geometry)
    return viewer.add_image(data, name=name, **geometry)


class JobTransferButtons(QWidget):
    """Export job… and Import job…: a folder dialog each, errors as notifications."""

    def __init__(self, export_job: Callable[[str], Path], import_job: Callable[[str], None],
                 start_folder: Callable[[], str]) -> None:
        super().__init__()
        self._export_job, self._import_job, self._start_folder = export_job, import_job, start_folder
        self.export_button = QPushButton("Export job…")
        self.import_button = QPushButton("Import job…")
        self.export_button.setToolTip("Write a job folder without training (for `znn train -c` on a server)")
        self.import_button.setToolTip("Open a job or run folder: its network, settings and data; Resume and "
                                      "Predict then use it")
        self.export_button.clicked.connect(self._export_dialog)
        self.import_button.clicked.connect(self._import_dialog)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.addWidget(self.export_button)
        self._layout.addWidget(self.import_button)

    def add_button(self, button: QPushButton) -> None:
        """Another button in the row (Export model…)."""
        self._layout.addWidget(button)

    def _export_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the job into this folder", self._start_folder())
        if folder:
            _notify_errors(lambda: show_info(f"wrote {self._export_job(folder)}"))

    def _import_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a job or run folder", self._start_folder())
        if folder:
            _notify_errors(lambda: self._import_job(folder))


def _notify_errors(action: Callable[[], Any]) -> None:
    try:
        action()
    except (ZnnError, OSError, ValueError) as error:
        show_error(str(error))
