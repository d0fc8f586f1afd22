"""*Export model…*: the current run's latest checkpoint as a bioimage.io package (ONNX weights), for
ilastik, deepImageJ, the BioImage Model Zoo and any ONNX runtime. A dialog asks for the file, the
model's name, authors, licence and the data it was trained on; the export (`znn.export`, about ten
seconds) runs on a worker thread and a notification names the file written or says what failed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from napari_znn._runs import Run
from znn.base.errors import ZnnError

LICENCES = ("CC-BY-4.0", "CC0-1.0", "MIT", "BSD-3-Clause", "Apache-2.0")


class ExportModelDialog(QDialog):
    def __init__(self, run: Run, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export model (bioimage.io package)")
        self.path = QLineEdit(str(run.folder / f"{run.folder.name}.bioimageio.zip"))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        self.name = QLineEdit(run.folder.name)
        self.authors = QLineEdit("")
        self.authors.setPlaceholderText("names, separated by commas")
        self.licence = QComboBox()
        self.licence.addItems(list(LICENCES))
        self.licence.setEditable(True)
        self.training_data = QLineEdit("")
        self.training_data.setPlaceholderText("e.g. ISBI 2012, sections 1-20")
        form = QFormLayout(self)
        form.addRow("File", where)
        form.addRow("Name", self.name)
        form.addRow("Authors", self.authors)
        form.addRow("Licence", self.licence)
        form.addRow("Trained on", self.training_data)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export model", self.path.text(), "bioimage.io package (*.zip)")
        if path:
            self.path.setText(path)

    def values(self) -> tuple[Path, dict[str, object]]:
        from znn.export.package import PackageInfo

        authors = tuple(a.strip() for a in self.authors.text().split(",") if a.strip()) or ("napari-znn user",)
        info = PackageInfo(name=self.name.text().strip() or "ZNN network", authors=authors,
                           license=self.licence.currentText().strip() or "CC-BY-4.0",
                           training_data=self.training_data.text().strip() or "not named")
        return Path(self.path.text()).expanduser(), {"info": info}


def export_model(run: Run, path: Path, info: object) -> Path:
    """The run's latest checkpoint as a package at `path` (the engine's export; no Qt)."""
    from znn.export.package import PackageInfo, write_package
    from znn.export.sources import from_job

    if path.suffix.lower() != ".zip":
        raise ZnnError(f"{path}: a bioimage.io package is a .zip file")
    assert isinstance(info, PackageInfo)
    return write_package(from_job(run.cfg, run.checkpoint), path, info)


class ModelExport(QObject):
    """The button and its work; `refresh(run, running)` enables it with the reason in its tooltip."""

    finished = Signal(object)  # the written path, or the error
    busy_changed = Signal(bool)

    def __init__(self, current_run: Callable[[], Run | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._run = current_run
        self.button = QPushButton("Export model…")
        self.button.clicked.connect(self.ask)
        self.finished.connect(self._done)
        self.busy = False

    def refresh(self, run: Run | None, running: bool) -> None:
        why = ("exporting…" if self.busy else "training: stop it first" if running else
               "no run yet: Train (or Import job…) first" if run is None else
               "the run has no checkpoint yet" if run.checkpoint is None else "")
        self.button.setEnabled(not why)
        self.button.setToolTip(f"Cannot export a model: {why}" if why else
                               "Write the run's latest checkpoint as a bioimage.io package (ONNX weights) for "
                               "ilastik, deepImageJ, the BioImage Model Zoo and any ONNX runtime")

    def ask(self) -> None:
        run = self._run()
        if run is None or run.checkpoint is None:
            return
        dialog = ExportModelDialog(run, self.button)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        path, options = dialog.values()
        self.start(run, path, options["info"])

    def start(self, run: Run, path: Path, info: object) -> None:
        """Export on a worker thread; `finished` comes back on the GUI thread."""
        self._set_busy(True)

        def work() -> None:
            try:
                self.finished.emit(export_model(run, path, info))
            except (ZnnError, OSError, ValueError) as error:
                self.finished.emit(error)

        threading.Thread(target=work, name="znn-export", daemon=True).start()

    def _done(self, result: object) -> None:
        self._set_busy(False)
        if isinstance(result, Exception):
            show_error(f"Model not exported: {result}")
        else:
            show_info(f"Model exported: wrote {result}")

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.busy_changed.emit(busy)
