"""The run's learning-curve PNG, drawn by a child process when a dock run ends.

`znn train` redraws <prefix>_curve.png at every save. Inside napari that drawing (about 0.3 s
of matplotlib, pure Python) would hold the GIL away from the event loop for a noticeable stall,
so the dock's trainer draws nothing and the dock starts `python -m znn.io.curve_plot` on the
run's last checkpoint once the run ends: the same picture, no stall. A failure shows in the
status line; checkpoints are never touched.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from qtpy.QtCore import QTimer

from znn.train.checkpoint import checkpoint_prefix, curve_png_path


class CurveDrawing:
    """Starts the drawing children and tells `on_failure` the one line a failed child printed."""

    def __init__(self, on_failure: Callable[[str], None]) -> None:
        self._on_failure = on_failure
        self._children: list[subprocess.Popen] = []
        self._timer = QTimer()
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._collect)

    def start(self, checkpoint: str | Path) -> Path:
        """Draw the curve `checkpoint` holds into its run's <prefix>_curve.png; returns that path."""
        prefix = checkpoint_prefix(checkpoint)
        png = curve_png_path(prefix)
        command = [sys.executable, "-m", "znn.io.curve_plot", str(checkpoint), str(png), "--title", prefix.name]
        # its own session: a Ctrl-C meant for napari does not cut the picture short
        self._children.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.PIPE, text=True, start_new_session=True))
        self._timer.start()
        return png

    @property
    def running(self) -> bool:
        return any(child.poll() is None for child in self._children)

    def wait(self, timeout_s: float = 60.0) -> None:
        """Block until every child has finished (tests; napari keeps running them on exit)."""
        deadline = time.monotonic() + timeout_s
        for child in self._children:
            child.wait(max(deadline - time.monotonic(), 0.0))
        self._collect()

    def _collect(self) -> None:
        for child in [c for c in self._children if c.poll() is not None]:
            self._children.remove(child)
            _, errors = child.communicate()
            if child.returncode:
                lines = errors.strip().splitlines()
                self._on_failure(lines[-1] if lines else f"the drawing process exited with {child.returncode}")
        if not self._children:
            self._timer.stop()
