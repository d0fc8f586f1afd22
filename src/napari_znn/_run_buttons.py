"""The dock's run controls: Train, Stop, Resume, and the paint-train-correct loop's Continue
with new labels (by hand, or on its own after painting)."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from napari_znn._auto_continue import AutoContinue


class RunButtons(QWidget):
    """Two rows: Train, Stop, Resume; Continue with new labels and its automatic switch."""

    def __init__(self, continue_with_new_labels: Callable[[], None]) -> None:
        super().__init__()
        self.train = QPushButton("Train")
        self.stop = QPushButton("Stop")
        self.resume = QPushButton("Resume")
        self.continue_ = QPushButton("Continue with new labels")
        self.auto_continue = AutoContinue(continue_with_new_labels)
        self.stop.setToolTip("Finish the current update, save a checkpoint and stop")
        self.continue_.setToolTip("Continue the current run from its last checkpoint with the labels as they "
                                  "are now (strokes painted since included); the curve goes on")
        first, second = QHBoxLayout(), QHBoxLayout()
        for button in (self.train, self.stop, self.resume):
            first.addWidget(button)
        second.addWidget(self.continue_)
        second.addWidget(self.auto_continue)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(first)
        layout.addLayout(second)
