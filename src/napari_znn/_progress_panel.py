"""The dock's progress line: one bar and one line of text under it.

A run with an update budget fills the bar by updates; one with a time budget fills it by
time; a run until stopped shows a busy bar. The text gives the updates done, the speed and,
for bounded runs, the one time-left figure. Redrawn at most a few times a second however
fast updates come.
"""

from __future__ import annotations

import math
import time

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from napari_znn._data_tab import RunBudget

REDRAW_EVERY_S = 0.5


def duration(seconds: float) -> str:
    """`3 h 05 min`, `4 min 10 s`, `12 s`."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class ProgressPanel(QWidget):
    """Progress of a training run, or of a prediction."""

    def __init__(self) -> None:
        super().__init__()
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.text = QLabel("")
        # wrapped, with two lines kept: a long line unwrapped widened the whole dock, which shrank and
        # redrew napari's canvas (a stall of about 100 ms whenever training ended)
        self.text.setWordWrap(True)
        self.text.setMinimumHeight(2 * self.text.fontMetrics().lineSpacing())
        self.text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.text)
        self.budget = RunBudget()
        self.first = 1  # the first update of this session
        self.last = 0  # the last update the run will make (bounded by updates)
        self.iteration = 0
        self._t0 = math.nan  # time of the first update of this session
        self._start_iteration = 0  # the update that set `_t0`
        self._redrawn = 0.0
        self.idle("")

    # ------------------------------------------------------------------ training

    def begin(self, budget: RunBudget, what: str) -> None:
        """A run is starting (nothing trained yet): a busy bar and `what` is being done."""
        self.budget = budget
        self.bar.setRange(0, 0)
        self.text.setText(what)

    def started(self, first_iteration: int, max_iter: int) -> None:
        self.first, self.iteration = first_iteration, first_iteration - 1
        self.last = max_iter if self.budget.updates else 0
        self._t0 = math.nan
        if self.budget.updates:
            self.bar.setRange(first_iteration - 1, max_iter)
            self.bar.setValue(first_iteration - 1)
        elif self.budget.minutes:
            self.bar.setRange(0, int(self.budget.minutes * 60))
            self.bar.setValue(0)
        else:
            self.bar.setRange(0, 0)  # until stopped: busy
        self.text.setText(f"iteration {first_iteration - 1:,}: first update running…")

    def step(self, iteration: int) -> None:
        now = time.monotonic()
        if math.isnan(self._t0):
            self._t0 = now  # the first update includes warm-up; speed counts from here
            self._start_iteration = iteration
        self.iteration = iteration
        if now - self._redrawn >= REDRAW_EVERY_S:
            self.redraw(now)

    def redraw(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._redrawn = now
        done = self.iteration - self.first + 1
        elapsed = now - self._t0 if not math.isnan(self._t0) else 0.0
        counted = self.iteration - self._start_iteration
        rate = counted / elapsed if elapsed > 0 and counted > 0 else math.nan
        parts = [f"iteration {self.iteration:,} ({done:,} this run)"]
        if not math.isnan(rate):
            parts.append(f"{rate:.3g} updates/s" if rate >= 1 else f"{1 / rate:.3g} s/update")
        if self.budget.updates:
            self.bar.setValue(min(self.iteration, self.bar.maximum()))
            if not math.isnan(rate):
                parts.append(f"{duration((self.last - self.iteration) / rate)} left")
        elif self.budget.minutes:
            self.bar.setValue(min(int(elapsed), self.bar.maximum()))
            parts.append(f"{duration(self.budget.minutes * 60 - elapsed)} left")
        else:
            parts.append("until stopped")
        self.text.setText(" · ".join(parts))

    def stopping(self) -> None:
        self.text.setText(f"iteration {self.iteration:,}: stopping after this update and saving…")

    # ------------------------------------------------------------------ any work

    def idle(self, text: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.text.setText(text)

    def count(self, done: int, total: int, what: str) -> None:
        """A prediction's tiles."""
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.text.setText(f"{what}: {done} / {total}")
