"""The Data tab's *Start from*: what the weights of a new run start as.

A new network (random weights), a bundled network trained by this project (N4 trained on ISBI 2012,
with its model card), the current run's best checkpoint, or any saved network (another run's
`net/net_best.h5` or `net_current.h5`, a ZNN `.h5`). A trained start brings its own network: the
Network tab shows it, and the run (`znn train -s`) copies its weights layer by layer, counts its own
updates from 0 and keeps the start as its best checkpoint until the held-back labels say something
is better. Which settings suit the start is `znn.jobs.recipes`' business (`recipe_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QPushButton, QWidget

from napari_znn._runs import Run

StartKind = Literal["new", "bundled", "run", "file"]


@dataclass(frozen=True)
class Start:
    """Where a run's weights start: nothing (`path` None) or a saved network."""

    kind: StartKind
    label: str
    path: Path | None = None

    @property
    def trained(self) -> bool:
        return self.path is not None


NEW = Start("new", "a new network (random weights)")


def bundled_starts() -> list[Start]:
    from znn.netspec.library import list_trained

    return [Start("bundled", f"{name} (bundled, trained)", path) for name, path in list_trained().items()]


def run_start(run: Run | None) -> Start | None:
    """The current run's best checkpoint (or its last, before any validation), if it has one."""
    weights = run.prediction_weights if run is not None else None
    if run is None or weights is None:
        return None
    which = "best" if weights == run.best else "last"
    return Start("run", f"this run's {which} checkpoint ({run.folder.name})", weights)


def file_start(path: Path) -> Start:
    parts = path.parts
    # a run's checkpoint is named by its run folder: <run>/net/net_best.h5
    name = f"{parts[-3]}/{parts[-2]}/{parts[-1]}" if len(parts) >= 3 and parts[-2] == "net" else path.name
    return Start("file", f"saved network {name}", path)


def start_network_text(start: Start) -> str:
    """The network a trained start was saved with, as `.znn` text (raises ZnnError for a bad file)."""
    from znn.io.h5net import load_network
    from znn.netspec.znnformat import format_znn

    assert start.path is not None, "a new network has no saved network"
    return format_znn(load_network(start.path, finite=False).spec)


def start_problems(start: Start, network_text: str) -> list[str]:
    """Why the network in the Network tab cannot start from `start` (edited since it was chosen)."""
    if not start.trained:
        return []
    from znn.base.errors import ZnnError
    from znn.io.h5net import apply_saved, load_network
    from znn.netspec.znnfile import parse_znn
    from znn.params.init import initial_parameters

    assert start.path is not None
    try:
        spec = parse_znn(network_text)
        report = apply_saved(spec, load_network(start.path), initial_parameters(spec, 0, "float32"))
    except ZnnError as error:
        return [f"start from {start.label}: {error}; pick 'Start from: {NEW.label}' or reload its network"]
    if not report.loaded:
        return [f"start from {start.label}: no layer of the network in the Network tab has a name of the saved "
                "network's, so nothing would be copied"]
    return []


class StartFromRow(QWidget):
    """The *Start from* combo (and a browse button for saved networks); `changed` on a new pick."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.combo = QComboBox()
        self.combo.setToolTip("What the weights of a new run start as: random, or a trained network whose "
                              "weights are copied layer by layer (the run then counts its own updates from 0)")
        self.browse = QPushButton("…")
        self.browse.setToolTip("Start from a saved network: another run's net/net_best.h5 or net_current.h5, "
                               "or any ZNN .h5")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.browse)
        self._starts: list[Start] = []
        self._extra: list[Start] = []  # saved networks picked with the button
        self.browse.clicked.connect(self._browse)
        self.combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.refresh(None)

    def current(self) -> Start:
        index = self.combo.currentIndex()
        return self._starts[index] if 0 <= index < len(self._starts) else NEW

    def refresh(self, run: Run | None) -> None:
        """Offer the starts that exist now (the current run's checkpoint comes and goes); the pick stays."""
        kept = self.current() if self._starts else NEW
        here = run_start(run)
        starts = [NEW, *bundled_starts(), *([here] if here else []), *self._extra]
        if starts == self._starts:
            return
        self._starts = starts
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems([start.label for start in starts])
        same = [i for i, start in enumerate(starts) if start.path == kept.path]
        self.combo.setCurrentIndex(same[0] if same else 0)
        self.combo.blockSignals(False)
        if self.current() != kept:
            self.changed.emit()

    def pick(self, start: Start) -> None:
        """Choose `start` (a saved network is added to the list)."""
        if start not in self._starts:
            self._extra.append(start)
            self._starts.append(start)
            self.combo.blockSignals(True)
            self.combo.addItem(start.label)
            self.combo.blockSignals(False)
        self.combo.setCurrentIndex(self._starts.index(start))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start from a saved network", "", "Saved networks (*.h5)")
        if path:
            self.pick(file_start(Path(path)))
