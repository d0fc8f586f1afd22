"""Network editor for the training dock: pick a bundled `.znn` or a file, edit it, see at once
whether it is valid (errors with line numbers) and trainable here (one input, one output), its
field of view, patch sizes, parameters and estimated memory for the conv mode the settings ask
for; whether it differs from the entry it was loaded from; save it as a `.znn`. All numbers come
from the engine (`znn.netspec`)."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer, Signal
from qtpy.QtGui import QFontDatabase
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from znn.errors import WriteFailed, ZnnError
from znn.io.h5atomic import atomic_write_text
from znn.modes import ConvMode
from znn.netspec.graph import NetworkGraph
from znn.netspec.library import list_networks, network_path
from znn.netspec.memory import estimate_memory
from znn.netspec.spec import NetSpec
from znn.netspec.summary import human_bytes, summary_text
from znn.netspec.znnfile import check_znn, parse_znn

DEFAULT_NETWORK = "tiny2d"
CHECK_DELAY_MS = 300  # re-check after typing pauses, not on every key


class NetworkEditor(QWidget):
    """`validity_changed(bool)` fires when the text turns valid or invalid; `checked` after every check
    of a new text (a valid text can still change what a run needs, e.g. whether a trained start fits)."""

    validity_changed = Signal(bool)
    checked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._paths: dict[str, Path] = dict(list_networks())
        self._texts: dict[str, str] = {}  # entries that are not files: a trained start's network
        self.choice = QComboBox()
        self.choice.addItems(list(self._paths))
        self.choice.setToolTip("A network from the bundled library (networks/), or one opened from a file")
        open_button = QPushButton("Open…")
        save_button = QPushButton("Save as…")
        open_button.setToolTip("Open a .znn network file")
        save_button.setToolTip("Save the edited text as a .znn file")
        row = QHBoxLayout()
        self.modified = QLabel("")
        self.modified.setToolTip("The text differs from the network chosen in the list; Save as… keeps it")
        row.addWidget(self.choice, 1)
        row.addWidget(self.modified)
        row.addWidget(open_button)
        row.addWidget(save_button)
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.text = QPlainTextEdit()
        self.text.setFont(fixed)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.summary = QPlainTextEdit()
        self.summary.setReadOnly(True)
        self.summary.setFont(fixed)
        self.summary.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.text, 2)
        layout.addWidget(self.status)
        layout.addWidget(self.summary, 1)
        self.outsz: tuple[int, int, int] = (1, 64, 64)
        self.conv_mode: ConvMode = "optimize"
        self._loaded = ""  # the text of the chosen entry as loaded or saved: edits differ from it
        self.spec: NetSpec | None = None
        self._valid: bool | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check)
        self.text.textChanged.connect(self._timer.start)
        self.choice.currentTextChanged.connect(self._load_choice)
        open_button.clicked.connect(self._open)
        save_button.clicked.connect(self._save)
        self.choice.setCurrentText(DEFAULT_NETWORK)
        self._load_choice(self.choice.currentText())

    # ------------------------------------------------------------------ text in and out

    def network_text(self) -> str:
        return self.text.toPlainText()

    def set_text(self, text: str) -> None:
        self._loaded = text
        self.text.setPlainText(text)
        self.check()

    @property
    def is_modified(self) -> bool:
        """The text was edited since its entry was loaded or saved."""
        return self.network_text() != self._loaded

    def _show_modified(self) -> None:
        self.modified.setText("<i>modified</i>" if self.is_modified else "")

    def _load_choice(self, name: str) -> None:
        if name in self._paths:
            self.set_text(self._paths[name].read_text(encoding="utf-8"))
        elif name in self._texts:
            self.set_text(self._texts[name])

    def show_network(self, name: str, text: str) -> None:
        """Show a network that is not a file (a trained start's) under its own entry in the list."""
        self._texts[name] = text
        if self.choice.findText(name) < 0:
            self.choice.addItem(name)
        self.choice.setCurrentText(name)
        self._load_choice(name)

    def is_file_entry(self, name: str) -> bool:
        """Whether `name` in the list is a .znn file (bundled or opened), not a trained start's network."""
        return name in self._paths

    def load_file(self, path: Path | str) -> None:
        """Show a `.znn` file, or a bundled network given by name (`N4`)."""
        path = network_path(path)
        self._paths[path.name] = path
        if self.choice.findText(path.name) < 0:
            self.choice.addItem(path.name)
        self.choice.setCurrentText(path.name)
        self._load_choice(path.name)

    def _open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open ZNN network", "", "ZNN networks (*.znn)")
        if path:
            self.load_file(Path(path))

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save ZNN network", "network.znn", "ZNN networks (*.znn)")
        if path:
            self.save_to(Path(path))

    def save_to(self, path: Path) -> bool:
        """Write the edited text as a `.znn` file and offer it in the network list. A file that
        cannot be written is named in one notification and left as it was (False)."""
        try:
            atomic_write_text(path, self.network_text())
        except OSError as error:
            show_error(str(WriteFailed.from_os_error(error, file=path, context="the network was not saved")))
            return False
        self._loaded = self.network_text()
        self._show_modified()
        self._paths[path.name] = path
        if self.choice.findText(path.name) < 0:
            self.choice.blockSignals(True)  # the text is already there; do not reload it
            self.choice.addItem(path.name)
            self.choice.setCurrentText(path.name)
            self.choice.blockSignals(False)
        return True

    # ------------------------------------------------------------------ checking

    def set_outsz(self, outsz: tuple[int, int, int], conv_mode: ConvMode | None = None) -> None:
        """The training patch the summary describes, and the conv mode its memory is estimated for."""
        if outsz == self.outsz and (conv_mode is None or conv_mode == self.conv_mode):
            return
        self.outsz = outsz
        self.conv_mode = conv_mode or self.conv_mode
        self.check()

    @property
    def valid(self) -> bool:
        return bool(self._valid)

    def check(self) -> bool:
        """Parse and describe the text now; returns whether it is a valid network."""
        self._timer.stop()
        text = self.network_text()
        errors, warnings = check_znn(text, "network")
        lines: list[str] = []
        self.spec = None
        if errors:
            lines = [str(e) for e in errors]
            self.summary.setPlainText("")
        else:
            try:
                self.spec = parse_znn(text, "network")
                graph = NetworkGraph(self.spec, self.outsz)
            except ZnnError as error:
                lines = [str(error)]
                self.spec = None
                self.summary.setPlainText("")
            else:
                lines = _not_trainable_here(self.spec)
                if lines:
                    self.spec = None
                fov = "x".join(map(str, graph.fov))
                insz = "x".join(map(str, graph.input_size))
                outsz = "x".join(map(str, graph.outsz))
                self.status.setText(f"Valid: field of view {fov}; training patch {outsz} needs input {insz}; "
                                    f"{graph.parameter_count:,} parameters; {self._memory(graph)}")
                self.summary.setPlainText("\n".join(warnings + [summary_text(graph)]))
        if lines:
            self.status.setText("<b>Invalid network</b><br>" + "<br>".join(lines[:6]))
        self._show_modified()
        valid = self.spec is not None
        if valid != self._valid:
            self._valid = valid
            self.validity_changed.emit(valid)
        self.checked.emit()
        return valid

    def _memory(self, graph: NetworkGraph) -> str:
        """The memory to train, for the conv mode the settings ask for (optimize: the range it picks from)."""
        def total(mode: ConvMode) -> str:
            return human_bytes(estimate_memory(graph, conv_mode=mode, training=True).total)

        if self.conv_mode == "optimize":
            return (f"about {total('direct')} to train with GEMM, {total('fft')} with FFT (optimize picks per "
                    "layer when training starts)")
        name = {"fft": "FFT", "direct": "GEMM", "gemm": "GEMM", "loop": "loops"}.get(self.conv_mode, self.conv_mode)
        return f"about {total(self.conv_mode)} to train ({name}, as Settings ask)"


def _not_trainable_here(spec: NetSpec) -> list[str]:
    """Why the dock cannot train `spec` (one image layer in, one labels layer to learn): a pasted branch
    that ends nowhere makes a second output."""
    found = []
    for role, names in (("input", spec.input_names), ("output", spec.output_names)):
        if len(names) != 1:
            found.append(f"{len(names)} {role} nodes ({', '.join(names)}): the dock trains networks with one "
                         f"{role} (a {'node with no edge into it' if role == 'input' else 'node no edge leaves'} "
                         f"is an {role}); remove or connect the extra branch")
    return found
