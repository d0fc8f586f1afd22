"""Dock widget: pick a bundled or custom `.znn` network and see its layer table.

All numbers come from the engine (`znn.netspec`); this module only arranges them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qtpy.QtGui import QFontDatabase
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from znn.errors import ZnnError
from znn.netspec.graph import NetworkGraph
from znn.netspec.library import list_networks, network_path
from znn.netspec.summary import summary_text
from znn.netspec.znnfile import read_znn

if TYPE_CHECKING:
    import napari


def parse_outsz(text: str) -> tuple[int, int, int]:
    """`1,100,100` -> (1, 100, 100); raises ValueError with a readable message."""
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise ValueError(f"output size must be z,y,x integers, not {text!r}") from None
    if len(values) != 3 or min(values) < 1:
        raise ValueError(f"output size must be three positive integers z,y,x, not {text!r}")
    return values


class NetworkInfoWidget(QWidget):
    """Network picker with the field of view, patch sizes, parameters and memory."""

    def __init__(self, viewer: napari.viewer.Viewer | None = None) -> None:
        super().__init__()
        self.viewer = viewer
        self.network = QComboBox()
        self._paths: dict[str, Path] = dict(list_networks())
        self.network.addItems(list(self._paths))
        browse = QPushButton("Open .znn…")
        browse.clicked.connect(self._browse)
        picker = QHBoxLayout()
        picker.addWidget(self.network, 1)
        picker.addWidget(browse)

        self.outsz = QLineEdit("1,100,100")
        self.outsz.setToolTip("Output patch size z,y,x")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.table = QPlainTextEdit()
        self.table.setReadOnly(True)
        self.table.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.table.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        form = QFormLayout()
        form.addRow("Network", picker)
        form.addRow("Output patch", self.outsz)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)

        self.network.currentTextChanged.connect(self.refresh)
        self.outsz.editingFinished.connect(self.refresh)
        if "N4" in self._paths:
            self.network.setCurrentText("N4")
        self.refresh()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open ZNN network", "", "ZNN networks (*.znn)")
        if path:
            self.select_file(Path(path))

    def select_file(self, path: Path | str) -> None:
        """Add a network file (or a bundled network given by name) to the list and show it."""
        path = network_path(path)
        self._paths[path.name] = path
        if self.network.findText(path.name) < 0:
            self.network.addItem(path.name)
        self.network.setCurrentText(path.name)
        self.refresh()

    def refresh(self) -> None:
        name = self.network.currentText()
        if not name:
            return
        try:
            outsz = parse_outsz(self.outsz.text())
            spec = read_znn(self._paths[name])
            graph = NetworkGraph(spec, outsz)
        except (ZnnError, ValueError) as error:
            self.status.setText(f"<b>Invalid:</b> {error}")
            self.table.setPlainText("")
            return
        fov = "x".join(map(str, graph.fov))
        insz = "x".join(map(str, graph.input_size))
        self.status.setText(f"Field of view {fov}, input patch {insz}, "
                            f"{graph.parameter_count:,} parameters")
        self.table.setPlainText("\n".join(spec.warnings + [summary_text(graph)]))
