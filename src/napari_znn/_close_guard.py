"""Holding napari's window open until training has stopped and saved its last update.

The guard filters the Close event of the window that holds the dock (plain Qt: the dock's
own top-level window, no napari internals). While work is running, a close is refused once,
the dock is asked to stop (the trainer finishes its update and saves a checkpoint), and the
window is closed again when the dock reports that everything has finished.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QWidget


class CloseGuard(QObject):
    """Defers closing `window` while `busy()`; calls `stop()` once and closes when `released()`."""

    def __init__(self, window: QWidget, busy: Callable[[], bool], stop: Callable[[], None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        # weakly: napari's window object holds the whole viewer, which must be free to go
        self._window = weakref.ref(window)
        self.busy = busy
        self.stop = stop
        self.closing = False  # a close is waiting for the work to end
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject | None, event: QEvent | None) -> bool:
        if watched is self._window() and event is not None and event.type() == QEvent.Type.Close and self.busy():
            event.ignore()
            if not self.closing:
                self.closing = True
                self.stop()
            return True
        return False

    def released(self) -> None:
        """The work has ended: finish a close that was waiting for it."""
        window = self._window()
        if self.closing and not self.busy() and window is not None:
            self.closing = False
            window.close()

    def remove(self) -> None:
        window = self._window()
        if window is not None:
            window.removeEventFilter(self)
