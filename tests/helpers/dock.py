"""Helpers for driving the training dock in GUI tests."""

from __future__ import annotations

import faulthandler
import tempfile
import time


def sample_dock(viewer, dock, tmp_path, labels: str = "synthetic labels"):
    """The synthetic sample in `viewer`, chosen in `dock` (a dock, or a factory taking the
    viewer), runs under tmp_path, small settings. Returns the viewer and the dock."""
    viewer.open_sample("napari-znn", "synthetic_em")
    dock = dock if hasattr(dock, "train") else dock(viewer)
    dock.data.runs_root.setText(str(tmp_path / "runs"))
    small_settings(dock)
    dock.image.setCurrentText("synthetic EM")
    dock.labels.setCurrentText(labels)
    return viewer, dock


def small_settings(dock):
    """Small patches, frequent curve points and checkpoints: runs that show something in seconds."""
    from znn.jobs import JobConfig

    job = dock.form.values_into(JobConfig())
    job.training.train_outsz = (1, 32, 32)
    job.training.num_iter_per_show, job.training.num_iter_per_test = 5, 10
    job.training.test_num, job.training.num_iter_per_save, job.training.max_iter = 2, 10, 100000
    job.forward.forward_outsz = (1, 64, 64)
    dock.form.load_from(job)


class EventLoopProbe:
    """Records the longest gap between ticks of a 10 ms Qt timer (how long the event loop blocked).

    With `stacks_after_ms`, every thread's Python stack is written down whenever a tick is
    that late (faulthandler, from its own C thread: it needs no GIL), so that a failing
    assertion can say what the process was doing: `stacks` holds the first such dump."""

    def __init__(self, stacks_after_ms: float | None = None):
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.gaps = []
        self._stacks_after_s = None if stacks_after_ms is None else stacks_after_ms / 1000
        self._dump = None

    def _tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now
        if self._dump is not None:
            faulthandler.cancel_dump_traceback_later()
            faulthandler.dump_traceback_later(self._stacks_after_s, file=self._dump)

    def start(self):
        self.last = None
        if self._stacks_after_s is not None and self._dump is None:
            self._dump = tempfile.TemporaryFile("w+")
        self.timer.start()

    def stop(self):
        self.timer.stop()
        if self._dump is not None:
            faulthandler.cancel_dump_traceback_later()

    @property
    def longest_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000

    @property
    def stacks(self) -> str:
        """The threads' stacks at the first late tick ('' when none was late)."""
        if self._dump is None:
            return ""
        self._dump.seek(0)
        dumps = self._dump.read().split("Timeout (")
        return "Timeout (" + dumps[1][:20_000] if len(dumps) > 1 else ""


def train_for(dock, updates: int) -> None:
    """Set the dock's budget to `updates` updates per Train or Resume."""
    dock.data.budget.setCurrentText("updates")
    dock.data.budget_updates.setValue(updates)
