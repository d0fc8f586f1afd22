"""Dock form for a job's settings: every `.cfg` key a napari user sets, as a Qt widget.

The form only edits a typed `znn.jobs.JobConfig`; the engine parses, checks and runs it.
Keys naming files or sample ranges are filled by the dock when it writes a job folder, and
legacy keys that do nothing are not shown, so neither appears here.
"""

from __future__ import annotations

from typing import Any, TypeVar

from qtpy.QtCore import QEvent, QLocale, QObject, Signal
from qtpy.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from napari_znn._job_fields import FORM_KEYS, TIPS, form_defaults, in_form_words, readable
from znn.base.modes import DTYPES, OPTIMIZERS, OUTPUT_KINDS
from znn.jobs import values as v
from znn.jobs.cfg import CFG_KEYS
from znn.jobs.job import JobConfig
from znn.jobs.rules import job_problems

_CFG = {key.znn_name: key for key in CFG_KEYS}
ERROR_STYLE = "border: 1px solid #d9534f;"
DOCK_CONV_MODES = ("optimize", "direct", "fft")  # gemm is what direct means; loop is for tests


# Fields the forward pass reads when it starts, so they stay editable while training runs.
_LIVE_KEYS = frozenset({"forward_conv_mode", "forward_outsz", "forward_ram_budget", "forward_tif"})
# Keys whose None is a setting of its own (off, random seed), not "unset": shown as such.
_NONE_MEANS = frozenset({"rebalance_mode", "seed", "em_aug_missing_section", "em_aug_misalignment",
                         "em_aug_intensity", "optimizer"})
_SECTIONS = {"network": "Network", "data": "Data", "training": "Training", "forward": "Forward pass"}
_W = TypeVar("_W", bound=QWidget)


def _cost_choice(text: str) -> str:
    """A combo entry for any cost_fn ZNN accepts (it matches by substring)."""
    if text in v.COST_FUNCTIONS or "auto" in text:
        return "auto" if "auto" in text else text
    effective = v.effective_cost_fn(text, None)
    return "square-square" if effective == "square_square_loss" else (effective or "auto")


class _FloatBox(QDoubleSpinBox):
    """A spin box that shows 0.0005 rather than 0.0005000000, with '.' in every locale."""

    def __init__(self, maximum: float, step: float) -> None:
        super().__init__()
        self.setLocale(QLocale.c())
        self.setDecimals(10)
        self.setRange(0.0, maximum)
        self.setSingleStep(step)

    def textFromValue(self, value: float) -> str:
        return f"{value:.10f}".rstrip("0").rstrip(".") or "0"


class _Triple(QWidget):
    """Three spin boxes z, y, x for a patch size."""

    def __init__(self, tip: str) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.boxes: list[QSpinBox] = []
        for axis in "zyx":
            box = QSpinBox()
            box.setRange(1, 9999)
            box.setPrefix(f"{axis} ")
            box.setToolTip(tip)
            layout.addWidget(box)
            self.boxes.append(box)

    def value(self) -> tuple[int, int, int]:
        z, y, x = (box.value() for box in self.boxes)
        return z, y, x

    def setValue(self, sizes: tuple[int, int, int]) -> None:
        for box, size in zip(self.boxes, sizes):
            box.setValue(int(size))


class JobSettingsForm(QWidget):
    """Edits the network, data, training and forward settings of a JobConfig.

    `changed` is emitted once per user edit (not by `load_from`); `problems()` lists
    cross-field conflicts ("Error: …" blocks a run, "Warning: …" does not).
    """

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self._running = False
        self.widgets: dict[str, QWidget] = {}
        self.fixed_seed = QCheckBox("fixed seed")
        self.forward_auto = QCheckBox("auto")
        self.messages = QLabel()  # errors (red) and warnings of the current values
        self.messages.setWordWrap(True)
        self.messages.setVisible(False)
        content = QWidget()
        column = QVBoxLayout(content)
        column.addWidget(self.messages)
        forms: dict[str, QFormLayout] = {}
        for group, title in _SECTIONS.items():
            column.addWidget(box := QGroupBox(title))
            forms[group] = QFormLayout(box)
            # A narrow dock puts the field under its label instead of scrolling sideways.
            forms[group].setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        column.addStretch(1)
        for key, tip in TIPS.items():
            widget = self._make(key)
            self.widgets[key] = widget
            extra = {"seed": self.fixed_seed, "forward_outsz": self.forward_auto}.get(key)
            for target in (widget, extra) if extra else (widget,):
                target.setToolTip(f"{readable(key)} ({key} in job.cfg): {tip}")
            forms[_CFG[key].group].addRow(readable(key), self._row(widget, extra))
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        self._scroll = scroll
        QVBoxLayout(self).addWidget(scroll)
        self.load_from(form_defaults())
        self._connect(content)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        """Wheel turns over an unfocused input scroll the dock instead of editing a value."""
        # Installed on spin boxes and combo boxes only (see _connect), so `watched` is a QWidget.
        if (event is not None and event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget)
                and not watched.hasFocus()):
            QApplication.sendEvent(self._scroll.verticalScrollBar(), event)
            return True
        return False

    def _make(self, key: str) -> QWidget:
        combos = {"out_type": OUTPUT_KINDS, "dtype": DTYPES,
                  "train_conv_mode": DOCK_CONV_MODES, "forward_conv_mode": DOCK_CONV_MODES,
                  "rebalance_mode": ("off", "global", "patch"), "cost_fn": v.COST_FUNCTIONS,
                  "optimizer": OPTIMIZERS,
                  "malis_norm_type": v.MALIS_NORM_TYPES}
        floats = {"eta": (100.0, 0.001), "anneal_factor": (1.0, 0.001), "momentum": (1.0, 0.05),
                  "weight_decay": (1.0, 0.0001), "em_aug_missing_section": (1.0, 0.01),
                  "em_aug_misalignment": (1.0, 0.01), "em_aug_intensity": (1.0, 0.05)}
        if key in combos:
            combo = QComboBox()
            combo.addItems(list(combos[key]))
            return combo
        if key in floats:
            return _FloatBox(*floats[key])
        if key in ("train_outsz", "forward_outsz"):
            return _Triple(f"{key}: {TIPS[key]}")
        if key == "forward_ram_budget":
            edit = QLineEdit()
            edit.setPlaceholderText("50%")
            return edit
        if key.startswith("is_") or key == "forward_tif":
            return QCheckBox()
        spin = QSpinBox()
        spin.setRange(0 if key in ("num_threads", "seed") else 1, 2**31 - 1 if key == "seed" else 10**9)
        if key == "num_threads":
            spin.setSpecialValueText("0 (all cores)")
        return spin

    def _row(self, widget: QWidget, extra: QWidget | None) -> QWidget:
        if extra is None:
            return widget
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(extra)
        layout.addWidget(widget, 1)
        return row

    def _connect(self, content: QWidget) -> None:
        spins: list[QSpinBox | QDoubleSpinBox] = [*content.findChildren(QSpinBox),
                                                  *content.findChildren(QDoubleSpinBox)]
        for spin in spins:
            spin.setKeyboardTracking(False)  # one `changed` per typed number, not per digit
            spin.valueChanged.connect(self._edited)
            spin.installEventFilter(self)
        for combo in content.findChildren(QComboBox):
            combo.currentIndexChanged.connect(self._edited)
            combo.installEventFilter(self)
        for check in content.findChildren(QCheckBox):
            check.toggled.connect(self._edited)
        self._field("forward_ram_budget", QLineEdit).textChanged.connect(self._edited)

    def _field(self, key: str, kind: type[_W]) -> _W:
        """The input of `key`, which `_make` built as a `kind`."""
        widget = self.widgets[key]
        assert isinstance(widget, kind), (key, widget)
        return widget

    def _edited(self, *_args: Any) -> None:
        self._sync_enabled()
        self._show_problems()
        if not self._loading:
            self.changed.emit()

    def _show_problems(self) -> None:
        """Mark fields with invalid values red and list every problem above the fields."""
        problems = self.problems()
        bad_budget = any(p.startswith(f"Error: {readable('forward_ram_budget')}") for p in problems)
        self._field("forward_ram_budget", QLineEdit).setStyleSheet(ERROR_STYLE if bad_budget else "")
        bad_eta = any(p.startswith(f"Error: {readable('eta')}") for p in problems)
        self._field("eta", QDoubleSpinBox).setStyleSheet(ERROR_STYLE if bad_eta else "")
        lines = [f"<span style='color:#d9534f'>{p}</span>" if p.startswith("Error") else p for p in problems]
        self.messages.setText("<br>".join(lines))
        self.messages.setVisible(bool(problems))

    def _sync_enabled(self) -> None:
        needs = {"seed": self.fixed_seed.isChecked(), "forward_outsz": not self.forward_auto.isChecked()}
        for key, widget in self.widgets.items():
            frozen = self._running and key not in _LIVE_KEYS
            widget.setEnabled(not frozen and needs.get(key, True))
        self.fixed_seed.setEnabled(not self._running)

    def load_from(self, job: JobConfig) -> None:
        """Show `job`'s settings. Fields that are None (unset) get the form defaults, except
        where None is itself a setting: rebalance_mode off, a random seed, EM augmentation off."""
        defaults = form_defaults()
        self._loading = True
        try:
            for key in FORM_KEYS:
                where = _CFG[key]
                value = getattr(getattr(job, where.group), where.field)
                fallback = getattr(getattr(defaults, where.group), where.field)
                self._show(key, fallback if value is None and key not in _NONE_MEANS else value)
        finally:
            self._loading = False
        self._sync_enabled()
        self._show_problems()
        self.changed.emit()  # once for the whole job, not per field

    def _show(self, key: str, value: Any) -> None:
        widget = self.widgets[key]
        if key == "seed":
            self.fixed_seed.setChecked(value is not None)
            self._field(key, QSpinBox).setValue(value if value is not None else 0)
        elif key == "forward_outsz":
            self.forward_auto.setChecked(isinstance(value, str))
            self._field(key, _Triple).setValue(value if not isinstance(value, str) else (5, 100, 100))
        elif isinstance(widget, QComboBox):
            normal = {"out_type": v.effective_output_kind, "cost_fn": _cost_choice,
                      "optimizer": lambda name: name or "sgd",
                      "train_conv_mode": v.effective_conv_mode,
                      "forward_conv_mode": v.effective_conv_mode,
                      "rebalance_mode": lambda mode: v.effective_rebalance_mode(mode) or "off"}
            widget.setCurrentText(normal.get(key, str)(value) or "")
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        elif isinstance(widget, QLineEdit):
            widget.setText(str(value or ""))
        elif isinstance(widget, _Triple):  # train_outsz: a size, never None here (see load_from)
            widget.setValue(value)
        else:
            assert isinstance(widget, QSpinBox | QDoubleSpinBox), (key, widget)
            widget.setValue(value or 0)

    def _read(self, key: str) -> Any:
        widget = self.widgets[key]
        if key == "seed":
            return self._field(key, QSpinBox).value() if self.fixed_seed.isChecked() else None
        if key == "forward_outsz" and self.forward_auto.isChecked():
            return "auto"
        if key == "rebalance_mode":
            mode = self._field(key, QComboBox).currentText()
            return None if mode == "off" else mode
        if key == "optimizer":  # ZNN's SGD stays out of the .cfg, as ZNN's files have no such key
            name = self._field(key, QComboBox).currentText()
            return None if name == "sgd" else name
        if key == "forward_ram_budget":
            text = self._field(key, QLineEdit).text().strip()
            return v.parse_ram_budget(text) if text else None  # BadValue while typing: see problems()
        if isinstance(widget, QComboBox):
            return widget.currentText()
        if isinstance(widget, QCheckBox):
            # Extension switches that are off stay out of the .cfg (None), like ZNN's files.
            return widget.isChecked() or (None if key == "forward_tif" else False)
        assert isinstance(widget, QSpinBox | QDoubleSpinBox | _Triple), (key, widget)
        value = widget.value()
        return (value or None) if key.startswith("em_aug_") else value

    def values_into(self, job: JobConfig) -> JobConfig:
        """Write the form into `job` (file and range keys untouched) and return it. A value
        still being typed that the engine cannot read (a RAM budget such as '8Gi') is left
        unset; `errors()` lists it and the dock keeps Train disabled meanwhile."""
        for key in FORM_KEYS:
            try:
                value = self._read(key)
            except v.BadValue:
                value = None
            setattr(getattr(job, _CFG[key].group), _CFG[key].field, value)
        return job

    def errors(self) -> list[str]:
        """The problems that make the job unrunnable (the dock disables Train on these)."""
        return [p.removeprefix("Error: ") for p in self.problems() if p.startswith("Error: ")]

    def problems(self) -> list[str]:
        """The job's cross-field rules on the form's values ('Error: …' lines, then 'Warning: …'), as
        `znn train` applies them to a .cfg (`znn.jobs.rules`) but in the form's names; and a RAM
        budget still being typed that cannot be read."""
        errors, warnings = [], []
        try:
            self._read("forward_ram_budget")
        except v.BadValue as bad:
            errors.append(f"{readable('forward_ram_budget')}: {bad.problem}.")
        for problem in job_problems(self.values_into(JobConfig())):
            text = in_form_words(problem.message)
            if problem.severity == "error":
                expected = f"; expected {in_form_words(problem.expected)}" if problem.expected else ""
                errors.append(f"{text}{expected}.")
            else:
                warnings.append(f"{text}.")
        return [f"Error: {e}" for e in errors] + [f"Warning: {m}" for m in warnings]

    def set_enabled_for_run(self, running: bool) -> None:
        """While training runs, lock what it already read; forward-pass settings stay editable."""
        self._running = running
        self._sync_enabled()
