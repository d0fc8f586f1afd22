"""Network editor for the training dock: pick a bundled `.znn`, a file or a template (New…), edit
it as a layer table, a live diagram or text, all three in step; see at once whether it is valid
(errors with line numbers) and trainable here (one input, one output, memory), its field of view,
patch sizes, parameters, memory for the conv mode the settings ask for and seconds per update on
this machine; whether it differs from the entry it was loaded from; save it as a `.znn`. All
numbers come from the engine (`znn.netspec`, `znn.planning.update_cost`)."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_error
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor, QTextFormat
from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from napari_znn._layer_table import LayerTable
from napari_znn._network_diagram import NetworkDiagram
from napari_znn._new_network import NewNetworkDialog
from napari_znn._update_estimate import UpdateEstimate
from znn.base.atomic import atomic_write_text
from znn.base.errors import WriteFailed, ZnnError
from znn.base.modes import ConvMode
from znn.netspec.graph import NetworkGraph
from znn.netspec.layertable import layer_memory, layer_of_group, memory_problem
from znn.netspec.library import list_networks, network_path
from znn.netspec.memory import estimate_memory
from znn.netspec.spec import NetSpec
from znn.netspec.summary import human_bytes, summary_text
from znn.netspec.znnedit import ZnnText
from znn.netspec.znnfile import check_znn, parse_znn

DEFAULT_NETWORK = "tiny2d"
CHECK_DELAY_MS = 300  # re-check after typing pauses, not on every key
CHOSEN_LINES = QColor("#4a4020")  # the chosen layer's groups in the text


class NetworkEditor(QWidget):
    """`validity_changed(bool)` fires when the text turns valid or invalid; `checked` after every check
    of a new text (a valid text can still change what a run needs, e.g. whether a trained start fits)."""

    validity_changed = Signal(bool)
    checked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._paths: dict[str, Path] = dict(list_networks())
        self._texts: dict[str, str] = {}  # entries that are not files: a trained start's network, a template
        self.choice = QComboBox()
        self.choice.addItems(list(self._paths))
        self.choice.setToolTip("A network from the bundled library (networks/), or one opened from a file")
        new_button = QPushButton("New…")
        open_button = QPushButton("Open…")
        save_button = QPushButton("Save as…")
        new_button.setToolTip("A new network from a template (N4-like, VD2D3D-like, 3-D affinity)")
        open_button.setToolTip("Open a .znn network file")
        save_button.setToolTip("Save the edited text as a .znn file")
        row = QHBoxLayout()
        self.modified = QLabel("")
        self.modified.setToolTip("The text differs from the network chosen in the list; Save as… keeps it")
        row.addWidget(self.choice, 1)
        row.addWidget(self.modified)
        for button in (new_button, open_button, save_button):
            row.addWidget(button)
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
        self.table = LayerTable()
        self.diagram = NetworkDiagram()
        self.views = QTabWidget()
        self.views.addTab(self.diagram, "Diagram")
        self.views.addTab(self.text, "Text")
        self.views.addTab(self.summary, "Details")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.views)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([300, 450])
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.outsz: tuple[int, int, int] = (1, 64, 64)
        self.conv_mode: ConvMode = "optimize"
        self.estimate = UpdateEstimate(self)
        self.available_memory = _total_ram()
        self._loaded = ""  # the text of the chosen entry as loaded or saved: edits differ from it
        self.spec: NetSpec | None = None
        self.graph: NetworkGraph | None = None
        self.parsed: NetSpec | None = None  # the text's network when it parses, trainable or not
        self.chosen: str | None = None  # the layer picked in the table, the diagram or the text
        self._valid: bool | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check)
        self.text.textChanged.connect(self._timer.start)
        self.text.cursorPositionChanged.connect(self._cursor_moved)
        self.table.text_edited.connect(self.replace_text)
        self.table.layer_picked.connect(self.pick)
        self.diagram.layer_picked.connect(self.pick)
        self.estimate.ready.connect(self.check)
        self.choice.currentTextChanged.connect(self._load_choice)
        new_button.clicked.connect(self._new)
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

    def replace_text(self, text: str) -> None:
        """Put an edit's text in place of the whole text, as one step the text's undo can take back."""
        cursor = QTextCursor(self.text.document())
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.insertText(text)
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
        """Show a network that is not a file (a trained start's, a template) under its own entry in the list."""
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

    def _new(self) -> None:
        dialog = NewNetworkDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            choice = dialog.choice()
            self.show_network(f"new {choice.name} ({choice.depth}, {choice.width}, {choice.kernel})",
                              dialog.text())

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

    # ------------------------------------------------------------------ the chosen layer

    def pick(self, node: str) -> None:
        """Show layer `node` as chosen in the table, the diagram and the text."""
        self.chosen = node
        self.table.select(node)
        self.diagram.highlight(node)
        self._mark_lines(node)

    def _mark_lines(self, node: str | None) -> None:
        selections = []
        document = self.text.document()
        if node is not None and self.parsed is not None and node in self.parsed.nodes and document is not None:
            doc = ZnnText(self.network_text())
            groups = [("nodes", node)] + [("edges", e.name) for e in self.parsed.incoming(node)]
            spans = [s for s in doc.groups() if (s.kind, s.name) in groups]
            for span in spans:
                selection = QTextEdit.ExtraSelection()
                selection.format = QTextCharFormat()
                selection.format.setBackground(CHOSEN_LINES)
                selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
                cursor = QTextCursor(document.findBlockByNumber(span.start))
                cursor.movePosition(QTextCursor.MoveOperation.Down, QTextCursor.MoveMode.KeepAnchor,
                                    span.last - span.start)
                cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
                selection.cursor = cursor
                selections.append(selection)
        self.text.setExtraSelections(selections)
        bar = self.text.verticalScrollBar()
        if selections and bar is not None and not self.text.hasFocus():  # bring the layer's lines into view
            first = selections[0].cursor.selectionStart()
            block = document.findBlock(first).blockNumber() if document is not None else 0
            bar.setValue(max(0, block - 2))

    def _cursor_moved(self) -> None:
        spec = self.parsed
        if spec is None or self.text.textCursor().hasSelection():
            return
        line = self.text.textCursor().blockNumber()
        for span in ZnnText(self.network_text()).groups():
            if span.start <= line < span.end:
                node = span.name if span.kind == "nodes" else getattr(spec.edges.get(span.name), "output", None)
                if node in spec.nodes and node != self.chosen:
                    self.chosen = node
                    self.table.select(node)
                    self.diagram.highlight(node)
                    self._mark_lines(node)
                return

    # ------------------------------------------------------------------ checking

    def set_outsz(self, outsz: tuple[int, int, int], conv_mode: ConvMode | None = None,
                  num_threads: int | None = None) -> None:
        """The training patch the summary describes, the conv mode its memory is estimated for and
        the threads of the seconds-per-update estimate."""
        threads = num_threads or self.estimate.num_threads
        if outsz == self.outsz and (conv_mode is None or conv_mode == self.conv_mode) \
                and threads == self.estimate.num_threads:
            return
        self.outsz = outsz
        self.conv_mode = conv_mode or self.conv_mode
        self.estimate.num_threads = threads
        self.check()

    def showEvent(self, event: object) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)  # type: ignore[arg-type]
        if self.graph is not None and self.estimate.calibration(may_measure=False) is None:
            self.check()  # now shown: time the machine for the seconds-per-update estimate

    @property
    def valid(self) -> bool:
        return bool(self._valid)

    def check(self) -> bool:
        """Parse and describe the text now; returns whether it is a valid network."""
        self._timer.stop()
        text = self.network_text()
        errors, warnings = check_znn(text, "network")
        lines: list[str] = []
        self.spec = self.graph = self.parsed = None
        if errors:
            lines = [str(e) for e in errors]
            self.summary.setPlainText("")
            self.table.clear_network("The text has errors (below); the table returns when it parses.")
            self.diagram.clear_graph()
        else:
            spec = self.parsed = parse_znn(text, "network")
            try:
                graph = NetworkGraph(spec, self.outsz)
            except ZnnError as error:
                row = layer_of_group(spec, getattr(error, "group", None))
                lines = [f"layer '{row}' cannot train: {error}" if row else str(error)]
                self.table.show_network(text, spec, None, bad={row} if row else set())
                self.summary.setPlainText("")
                self.diagram.clear_graph()
            else:
                lines = _not_trainable_here(spec)
                modes: tuple[ConvMode, ...] = ("direct", "fft") if self.conv_mode == "optimize" else (self.conv_mode,)
                least = min(estimate_memory(graph, conv_mode=m, training=True).total for m in modes)
                over = memory_problem(graph, least, self.available_memory)
                if over:
                    lines.append(over[1])
                self.table.show_network(text, spec, graph, bad={over[0]} if over else set(),
                                        memory=layer_memory(graph))
                self.diagram.show_graph(graph)
                if not lines:
                    self.spec, self.graph = spec, graph
                fov = "x".join(map(str, graph.fov))
                insz = "x".join(map(str, graph.input_size))
                outsz = "x".join(map(str, graph.outsz))
                self.status.setText(f"Valid: field of view {fov}; training patch {outsz} needs input {insz}; "
                                    f"{graph.parameter_count:,} parameters; {self._memory(graph)}; "
                                    f"{self.estimate.describe(graph, self.conv_mode, self.isVisible())}")
                self.summary.setPlainText("\n".join(warnings + [summary_text(graph)]))
                if self.chosen is not None:
                    self.diagram.highlight(self.chosen)
                    self.table.select(self.chosen)
                self._mark_lines(self.chosen)
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


def _total_ram() -> int:
    from znn.planning.planner import PlanError, total_ram_bytes

    try:
        return total_ram_bytes()
    except PlanError:
        return 2**62  # unknown: nothing is refused for memory
