"""*New network…*: a template (N4-like 2-D boundary, VD2D3D-like, 3-D affinity) with depth, width
and kernel size, previewed (field of view, parameters) before it becomes an ordinary `.znn` text
in the editor (`znn.netspec.templates`)."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from znn.base.errors import ZnnError
from znn.netspec.graph import NetworkGraph
from znn.netspec.templates import DEFAULTS, LIMITS, TEMPLATES, TemplateChoice, template_text
from znn.netspec.znnfile import parse_znn


class NewNetworkDialog(QDialog):
    """`choice()` and `text()` once accepted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New network")
        self.template = QComboBox()
        for name, description in TEMPLATES.items():
            self.template.addItem(name)
            self.template.setItemData(self.template.count() - 1, description, 3)  # tooltip role
        self.spins: dict[str, QSpinBox] = {}
        form = QFormLayout()
        form.addRow("Template", self.template)
        tips = {"depth": "max-filter stages (each doubles the spacing of later kernels' taps)",
                "width": "feature maps of the first stage",
                "kernel": "in-plane kernel size of the convolutions"}
        for key, (low, high) in LIMITS.items():
            spin = QSpinBox()
            spin.setRange(low, high)
            spin.setToolTip(tips[key])
            spin.valueChanged.connect(self._preview)
            self.spins[key] = spin
            form.addRow(key.capitalize(), spin)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.description)
        layout.addWidget(self.preview)
        layout.addWidget(buttons)
        self.template.currentTextChanged.connect(self._template_changed)
        self._template_changed(self.template.currentText())

    def _template_changed(self, name: str) -> None:
        default = DEFAULTS[name]  # type: ignore[index]
        for key, spin in self.spins.items():
            spin.blockSignals(True)
            spin.setValue(getattr(default, key))
            spin.blockSignals(False)
        self.description.setText(TEMPLATES[name])  # type: ignore[index]
        self._preview()

    def choice(self) -> TemplateChoice:
        return TemplateChoice(self.template.currentText(), *(self.spins[k].value()  # type: ignore[arg-type]
                                                             for k in ("depth", "width", "kernel")))

    def text(self) -> str:
        return template_text(self.choice())

    def _preview(self) -> None:
        try:
            spec = parse_znn(self.text())
            graph = NetworkGraph(spec, (1, 1, 1))
        except ZnnError as error:
            self.preview.setText(str(error))
            return
        fov = "x".join(map(str, graph.fov))
        self.preview.setText(f"Field of view {fov}, {graph.parameter_count:,} parameters, "
                             f"{len(spec.nodes) - 1} layers")
