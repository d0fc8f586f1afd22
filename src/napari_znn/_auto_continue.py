"""Continue training on its own a few seconds after the user stops painting labels.

When the box is ticked, every paint stroke on the chosen labels layer (napari's `paint`
event) restarts a short timer; when it fires, the dock's "Continue with new labels" runs,
which stops a running update, saves it and goes on with the strokes as they are now.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCheckBox

QUIET_MS = 3000  # no stroke for this long: the user has finished painting


class AutoContinue(QCheckBox):
    """A check box that, when ticked, calls `go` QUIET_MS after the last paint stroke."""

    def __init__(self, go: Callable[[], None]) -> None:
        super().__init__("after painting")
        self.setToolTip(f"{QUIET_MS // 1000} s after you stop painting on the labels layer, the current run "
                        "continues from its last checkpoint with the new strokes (as Continue with new labels "
                        "does)")
        self._go = go
        self._layer: Any = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(QUIET_MS)
        self.timer.timeout.connect(self._fire)
        self.toggled.connect(lambda on: None if on else self.timer.stop())

    def watch(self, layer: Any) -> None:
        """Follow the paint strokes of `layer` (a Labels layer; anything else is ignored)."""
        if layer is self._layer:
            return
        if self._layer is not None:
            self._layer.events.paint.disconnect(self._painted)
        events = getattr(layer, "events", None)
        self._layer = layer if events is not None and hasattr(events, "paint") else None
        if self._layer is not None:
            self._layer.events.paint.connect(self._painted)

    def _painted(self, _event: Any = None) -> None:
        if self.isChecked():
            self.timer.start()  # restarts: the quiet time counts from the last stroke

    def _fire(self) -> None:
        if self.isChecked():
            self._go()
