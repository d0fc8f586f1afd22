"""The Network tab's layer table: one row per layer (`znn.netspec.layertable`), its values edited
with spin boxes and combos, rows inserted, removed and moved from the buttons above it. The table
never writes the network itself: every edit asks the engine for the edited `.znn` text and sends
it out (`text_edited`); the editor puts it in the text, checks it and shows the table again.
Refused edits (the output cannot be removed, a joined branch cannot be rewired) say why in the
line under the buttons."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from znn.base.errors import ZnnError
from znn.netspec import layertable as lt
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.summary import human_bytes

COLUMNS = ("Layer", "Kind", "Kernel", "Stride", "Maps", "Function", "Init", "Output", "Field of view",
           "Parameters", "Memory")
TIPS = {
    "Layer": "The node group the layer ends in (its edge groups in the tooltip)",
    "Kind": "convolution (+ transfer function), max-filter, pooling, dropout, crop; 'from' names the inputs "
            "of a layer that joins branches or does not follow the row above",
    "Kernel": "Window z and y=x (depth x width); for dropout the keep probability",
    "Stride": "Convolution: kernel sparseness; max-filter: its step, which dilates every later kernel (dense "
              "output)",
    "Maps": "Feature maps; pooling, dropout and crop layers keep their input's",
    "Output": "Map size of this layer for the training patch in Settings",
    "Field of view": "Input voxels one output voxel of this layer sees",
    "Memory": "This layer's maps (activations and gradients) and kernels (with gradients and momentum) for "
              "one update; the total in the line below adds spectra and buffers",
}
BAD_ROW = QColor("#7a2e2e")


def _compact(spin: QAbstractSpinBox, width: int = 42) -> None:
    """A spin box that fits a table cell: no arrow buttons (arrow keys and the wheel still step)."""
    spin.setButtonSymbols(QAbstractSpinBox.ButtonSymbols.NoButtons)
    spin.setFixedWidth(width)
    spin.setKeyboardTracking(False)  # one edit per value typed, not per digit


def _xy(t: tuple[int, int, int] | None) -> str:
    return "x".join(map(str, t)) if t else "-"


class _TripleEdit(QWidget):
    """z and y=x of a window or stride, as two spin boxes; `edited` with the new (z, y, x)."""

    def __init__(self, value: tuple[int, int, int], edited: Callable[[tuple[int, int, int]], None]) -> None:
        super().__init__()
        self.z, self.yx = QSpinBox(), QSpinBox()
        for spin, v, tip in ((self.z, value[0], "depth (sections)"), (self.yx, value[2], "width and height")):
            spin.setRange(1, 99)
            spin.setValue(v)
            _compact(spin, 34)
            spin.setToolTip(tip)
            spin.valueChanged.connect(lambda _v: edited((self.z.value(), self.yx.value(), self.yx.value())))
        self.anisotropic = value[1] != value[2]
        if self.anisotropic:  # y and x differ: the text is the place to keep them apart
            self.yx.setEnabled(False)
            self.yx.setToolTip(f"y={value[1]}, x={value[2]}: edit in the text to keep them different")
        row = QHBoxLayout(self)
        row.setContentsMargins(1, 0, 1, 0)
        row.setSpacing(1)
        row.addWidget(self.z)
        row.addWidget(QLabel("x"))
        row.addWidget(self.yx)
        row.addStretch(1)


class LayerTable(QWidget):
    """`show_network(text, spec, graph)` fills the rows; `text_edited(text)` after an edit;
    `layer_picked(node)` when the user selects a row."""

    text_edited = Signal(str)
    layer_picked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, name in enumerate(COLUMNS):
            header = self.table.horizontalHeaderItem(column)
            if header is not None and name in TIPS:
                header.setToolTip(TIPS[name])
        vertical, horizontal = self.table.verticalHeader(), self.table.horizontalHeader()
        if vertical is not None and horizontal is not None:
            vertical.setVisible(False)
            horizontal.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # napari's theme gives every spin box 70 px; in a table cell a value needs far less
        self.table.setStyleSheet("QAbstractSpinBox { min-width: 10px; padding: 0px 2px; }")
        self.insert = QToolButton()
        self.insert.setText("Insert after ▾")
        self.insert.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.insert)
        for kind in lt.INSERT_KINDS:
            menu.addAction(kind, lambda k=kind: self.insert_after_selected(k))
        self.insert.setMenu(menu)
        self.remove = QPushButton("Remove")
        self.up, self.down = QPushButton("Up"), QPushButton("Down")
        self.dims = QComboBox()
        self.dims.addItems(["2-D", "3-D"])
        self.dims.setToolTip("Kernels of the whole network: 2-D (1xkxk) or 3-D (kxkxk); 'mixed' when the "
                             "network has both (choosing one rewrites every window)")
        self.insert.setToolTip("Insert a layer after the selected one (it feeds what the selected one fed)")
        self.remove.setToolTip("Remove the selected layer (what it fed is fed by its input)")
        self.up.setToolTip("Move the selected layer one step towards the input")
        self.down.setToolTip("Move the selected layer one step towards the output")
        buttons = QHBoxLayout()
        for widget in (self.insert, self.remove, self.up, self.down):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Kernels"))
        buttons.addWidget(self.dims)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self.text = ""
        self.rows: list[lt.Layer] = []
        self._bad: set[str] = set()
        self.remove.clicked.connect(lambda: self._edit_selected(lambda t, n: lt.remove(t, n)))
        self.up.clicked.connect(lambda: self._edit_selected(lambda t, n: lt.move(t, n, -1), keep=True))
        self.down.clicked.connect(lambda: self._edit_selected(lambda t, n: lt.move(t, n, 1), keep=True))
        self.dims.textActivated.connect(self._set_dims)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self._refresh_buttons()

    # ------------------------------------------------------------------ showing

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def selected(self) -> str | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        return self.rows[rows.pop()].node if len(rows) == 1 and self.rows else None

    def select(self, node: str | None) -> None:
        """Select the row of `node` without telling anyone (the caller already knows)."""
        self.table.blockSignals(True)
        self.table.clearSelection()
        for index, row in enumerate(self.rows):
            if row.node == node:
                self.table.selectRow(index)
                self.table.scrollToItem(self.table.item(index, 0))
        self.table.blockSignals(False)
        self._refresh_buttons()

    def clear_network(self, why: str) -> None:
        """No valid network: no rows, the reason in the message line."""
        self.rows, self.text = [], ""
        self.table.setRowCount(0)
        self._say(why)
        self._refresh_buttons()

    def show_network(self, text: str, spec: NetSpec, graph: NetworkGraph | None, bad: set[str] | None = None,
                     memory: dict[str, int] | None = None) -> None:
        """Rows for `spec` (sizes from `graph` when the patch fits it); `bad` layers shaded."""
        chosen = self.selected()
        self.text, self.rows, self._bad = text, lt.layers(spec), set(bad or ())
        self.table.setRowCount(0)
        self.table.setRowCount(len(self.rows))
        previous: str | None = None
        for index, row in enumerate(self.rows):
            self._fill(index, row, spec, graph, previous, (memory or {}).get(row.node))
            previous = row.node
        dims = lt.dimensionality(spec)
        self.dims.blockSignals(True)
        if self.dims.count() > 2:
            self.dims.removeItem(2)
        if dims == "mixed":
            self.dims.addItem("mixed")
        self.dims.setCurrentText(dims)
        self.dims.blockSignals(False)
        self._say("")
        self.select(chosen)

    def _fill(self, index: int, row: lt.Layer, spec: NetSpec, graph: NetworkGraph | None, previous: str | None,
              memory: int | None) -> None:
        follows = len(row.inputs) == 1 and row.inputs[0] == previous
        kind = row.kind + ("" if follows or not row.inputs else " from " + ", ".join(row.inputs))
        if row.is_output:
            kind += " (output)"
        cells = {"Layer": row.node, "Kind": kind, "Kernel": _xy(row.kernel), "Stride": _xy(row.stride),
                 "Maps": str(row.maps), "Function": row.function or "-", "Init": row.init or "-"}
        if graph is not None:
            node = graph.nodes[row.node]
            params = sum(graph.edges[e].parameters for e in row.edges) + (node.maps if spec.nodes[row.node].has_bias
                                                                         else 0)
            cells |= {"Output": _xy(node.size), "Field of view": _xy(node.fov), "Parameters": f"{params:,}"}
        if memory is not None:
            cells["Memory"] = human_bytes(memory)
        for column, name in enumerate(COLUMNS):
            item = QTableWidgetItem(cells.get(name, "-"))
            item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
            if name == "Layer":
                item.setToolTip(f"node group {row.node}" + (f"; edge groups {', '.join(row.edges)}" if row.edges
                                                            else ""))
            if row.node in self._bad:
                item.setBackground(BAD_ROW)
            self.table.setItem(index, column, item)
        self._editors(index, row)

    def _editors(self, index: int, row: lt.Layer) -> None:
        node = row.node
        if row.kernel is not None and row.edge is not None:
            self._put(index, "Kernel", _TripleEdit(row.kernel, lambda v: self._edit(lt.set_kernel, node, v)))
        if row.ratio is not None or row.kind == "dropout":
            spin = QDoubleSpinBox()
            spin.setRange(0.05, 1.0)
            spin.setSingleStep(0.05)
            spin.setPrefix("keep ")
            spin.setValue(row.ratio if row.ratio is not None else 0.5)
            _compact(spin, 80)
            spin.valueChanged.connect(lambda v: self._edit(lt.set_ratio, node, round(v, 4)))
            self._put(index, "Kernel", spin)
        if row.stride is not None:
            self._put(index, "Stride", _TripleEdit(row.stride, lambda v: self._edit(lt.set_stride, node, v)))
        if row.own_maps:
            maps = QSpinBox()
            maps.setRange(1, 4096)
            maps.setValue(row.maps)
            _compact(maps, 52)
            maps.valueChanged.connect(lambda v: self._edit(lt.set_maps, node, v))
            self._put(index, "Maps", maps)
        if row.function is not None:
            self._put(index, "Function", self._combo(lt.FUNCTIONS, row.function, lt.set_function, node))
        if row.init is not None:
            self._put(index, "Init", self._combo(lt.KERNEL_INITS, row.init, lt.set_init, node))

    def _combo(self, choices: tuple[str, ...], value: str, edit: Callable[[str, str, str], str],
               node: str) -> QComboBox:
        combo = QComboBox()
        combo.addItems(list(choices))
        combo.setCurrentText(value)
        combo.textActivated.connect(lambda v: self._edit(edit, node, v))
        return combo

    def _put(self, index: int, column: str, widget: QWidget) -> None:
        item = self.table.item(index, COLUMNS.index(column))
        if item is not None:
            item.setText("")  # the editor shows the value; text behind it would show between its boxes
        self.table.setCellWidget(index, COLUMNS.index(column), widget)

    # ------------------------------------------------------------------ editing

    def _edit(self, edit: Callable[..., str], node: str, value: object) -> None:
        try:
            text = edit(self.text, node, value)
        except ZnnError as error:
            self._say(f"<b>Not changed:</b> {error}")
            return
        self._send(text, node)

    def _send(self, text: str, chosen: str | None) -> None:
        if text == self.text:
            return
        self.text = text
        # After the widget that asked has returned: the rows (and it) are rebuilt from the new text.
        QTimer.singleShot(0, lambda: self._deliver(text, chosen))

    def _deliver(self, text: str, chosen: str | None) -> None:
        self.text_edited.emit(text)
        if chosen is not None:
            self.layer_picked.emit(chosen)  # the editor marks it everywhere
        else:
            self.select(None)

    def _edit_selected(self, edit: Callable[[str, str], str], keep: bool = False) -> None:
        node = self.selected()
        if node is None:
            return
        try:
            text = edit(self.text, node)
        except ZnnError as error:
            self._say(f"<b>Not changed:</b> {error}")
            return
        self._send(text, node if keep else None)

    def insert_after_selected(self, kind: lt.InsertKind) -> None:
        node = self.selected()
        if node is None:
            self._say("Select the row the new layer should follow")
            return
        try:
            text, new = lt.insert_after(self.text, node, kind)
        except ZnnError as error:
            self._say(f"<b>Not changed:</b> {error}")
            return
        self._send(text, new)

    def _set_dims(self, target: str) -> None:
        if target in ("2-D", "3-D"):
            try:
                self._send(lt.set_dimensionality(self.text, target), self.selected())  # type: ignore[arg-type]
            except ZnnError as error:
                self._say(f"<b>Not changed:</b> {error}")

    def _selection_changed(self) -> None:
        self._refresh_buttons()
        node = self.selected()
        if node is not None:
            self.layer_picked.emit(node)

    def _refresh_buttons(self) -> None:
        node = self.selected()
        row = next((r for r in self.rows if r.node == node), None)
        self.insert.setEnabled(row is not None and not row.is_output)
        movable = row is not None and row.chained and not row.is_output and row.kind != "input"
        self.remove.setEnabled(movable)
        self.up.setEnabled(movable)
        self.down.setEnabled(movable)
