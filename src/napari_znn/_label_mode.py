"""The Data tab's label mode: what the values of the labels layer mean.

*dense boundary* is ZNN's convention (0 = membrane, other values = cells), *dense instances*
napari's (0 = background, one id per cell, cells may touch), *sparse strokes* what a user
paints on a few sections (0 = unlabelled and left out of training; for a boundary network
one value = membrane, another = cell; for an affinity network one id per object). The mode
is guessed when a labels layer is picked, with the reason shown; picking a mode by hand
keeps it until another layer is picked. It goes into the run's .spec (`label_mode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from znn.base.modes import LABEL_MODES, LabelMode, OutputKind
from znn.data.sampling import centre_region

MODE_NAMES: dict[LabelMode, str] = {
    "dense_boundary": "dense boundary (0 = membrane)",
    "dense_instances": "dense instances (0 = background, an id per cell)",
    "sparse_strokes": "sparse strokes (0 = unlabelled)",
}
GUESS_SECTIONS = 16  # sections read to guess the mode of a large (or lazy) labels layer


@dataclass(frozen=True)
class LabelSettings:
    """How the worker writes the labels into the run's .spec."""

    mode: LabelMode = "dense_boundary"
    membrane: int = 1  # sparse strokes on a boundary network: the painted values
    cell: int = 2


def sample_sections(data: Any) -> np.ndarray:
    """At most GUESS_SECTIONS evenly spaced sections of a (z, y, x) or 2-D layer, read into memory."""
    if np.ndim(data) == 2:
        return np.asarray(data)[np.newaxis]
    depth = int(np.shape(data)[0])
    picks = np.unique(np.linspace(0, depth - 1, min(depth, GUESS_SECTIONS)).round().astype(int))
    return np.stack([np.asarray(data[int(z)]) for z in picks])


class LabelModeRow(QWidget):
    """A mode combo, the guess's reason, and the stroke values (sparse strokes, boundary nets)."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.mode = QComboBox()
        for mode in LABEL_MODES:
            self.mode.addItem(MODE_NAMES[mode], mode)
        self.mode.setToolTip("What the labels' values mean (label_mode in the run's data.spec)")
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        self.membrane = QSpinBox()
        self.cell = QSpinBox()
        for box, value, what in ((self.membrane, 1, "membrane"), (self.cell, 2, "cell (inside)")):
            box.setRange(1, 2**31 - 1)
            box.setValue(value)
            box.setToolTip(f"The painted value that marks {what} (stroke_{what.split()[0]} in data.spec)")
        self.values = QWidget()
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("membrane =", self.membrane)
        form.addRow("cell =", self.cell)
        self.values.setLayout(form)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.mode)
        layout.addWidget(self.reason)
        layout.addWidget(self.values)
        self.kind: OutputKind = "boundary"
        self._guessing = False
        self.mode.currentIndexChanged.connect(self._picked)
        self.membrane.valueChanged.connect(lambda _v: self.changed.emit())
        self.cell.valueChanged.connect(lambda _v: self.changed.emit())
        self._show_values()

    def settings(self) -> LabelSettings:
        return LabelSettings(self.current(), self.membrane.value(), self.cell.value())

    def current(self) -> LabelMode:
        return self.mode.currentData()

    def set_mode(self, mode: LabelMode, reason: str) -> None:
        self._guessing = True
        try:
            self.mode.setCurrentIndex(LABEL_MODES.index(mode))
        finally:
            self._guessing = False
        self.reason.setText(reason)
        self._show_values()
        self.changed.emit()

    def guess(self, layer: Any, kind: OutputKind) -> None:
        """Guess the mode of `layer` (None: nothing to guess) and say why."""
        from znn.data.label_modes import guess_label_mode

        self.kind = kind
        if layer is None:
            self.reason.setText("")
            return
        mode, why = guess_label_mode(sample_sections(layer.data), kind)
        self.set_mode(mode, f"Guessed from '{layer.name}': {why}.")

    def set_kind(self, kind: OutputKind) -> None:
        self.kind = kind
        self._show_values()

    def _picked(self, _index: int) -> None:
        if not self._guessing:
            self.reason.setText("Chosen by you; picking another labels layer guesses again.")
        self._show_values()
        self.changed.emit()

    def _show_values(self) -> None:
        # affinity nets read painted values as object ids: no membrane/cell values to name
        self.values.setVisible(self.current() == "sparse_strokes" and self.kind == "boundary")

    def problems(self, layer: Any) -> list[str]:
        """What is wrong with these settings for `layer`, cheaply (no scan of the voxels)."""
        strokes = self.current() == "sparse_strokes" and self.kind == "boundary"
        if strokes and self.membrane.value() == self.cell.value():
            return [f"labels '{layer.name}': the membrane and cell values of the strokes must differ"]
        return []

    def check_values(self, layer: Any, outsz: tuple[int, int, int], *, trained_start: bool = False) -> list[str]:
        """The voxel checks made when Train is pressed: strokes painted, only the named values, some
        where a training patch of `outsz` can be centred and, for a new network, patches that hold both
        kinds (a trained start may be corrected with strokes of one kind)."""
        if self.current() != "sparse_strokes":
            return []
        data = np.asarray(layer.data)
        values = np.unique(data)
        painted = values[values != 0]
        if painted.size == 0:
            return [f"labels '{layer.name}' have nothing painted yet: paint a few strokes (sparse strokes mode)"]
        volume = data if data.ndim == 3 else data[np.newaxis]
        if not volume[centre_region(volume.shape, outsz, self.kind)].any():
            margin = "x".join(str(n // 2) for n in outsz[1:])
            return [f"labels '{layer.name}': no stroke lies far enough from the image's border for a training patch "
                    f"of {'x'.join(map(str, outsz))} (about {margin} pixels); paint nearer the middle or lower "
                    "Settings › Training patch"]
        if self.kind == "boundary":
            named = {self.membrane.value(), self.cell.value()}
            other = [int(v) for v in painted if int(v) not in named]
            if other:
                shown = ", ".join(str(v) for v in other[:5])
                return [f"labels '{layer.name}' hold value{'s' if len(other) > 1 else ''} {shown}; sparse strokes "
                        f"for a boundary network use {self.membrane.value()} = membrane and {self.cell.value()} "
                        "= cell (set them under Label mode) and 0 = unlabelled"]
            if not trained_start:
                return self._coverage_problems(layer.name, volume, outsz, {int(v) for v in painted})
        return []

    def _coverage_problems(self, name: str, volume: np.ndarray, outsz: tuple[int, int, int],
                           kinds: set[int]) -> list[str]:
        """Patches that mostly hold one stroke kind teach a constant map: refuse them, naming a patch that works."""
        from znn.data.stroke_coverage import ENOUGH_BOTH, smallest_patch_with_both, stroke_coverage

        membrane, cell = self.membrane.value(), self.cell.value()
        found = stroke_coverage(volume, membrane, cell, outsz)
        if found.enough:
            return []
        patch = "x".join(map(str, outsz))
        if len(kinds) == 1:
            (painted,) = kinds
            missing, value = ("cell", cell) if painted == membrane else ("membrane", membrane)
            return [f"labels '{name}' hold {'membrane' if painted == membrane else 'cell'} strokes only: paint some "
                    f"{missing} too (value {value}), or the network learns one answer for everything"]
        better = smallest_patch_with_both(volume, membrane, cell, outsz)
        advice = "paint membrane and cell strokes closer together"
        if better is not None:
            advice = f"set Settings › Training patch to {'x'.join(map(str, better.outsz))} ({better.both:.0%} do)"
        return [f"labels '{name}': only {found.both:.0%} of {patch} training patches around the strokes hold both "
                f"membrane and cell strokes (under {ENOUGH_BOTH:.0%} learns one answer for everything); {advice}"]
