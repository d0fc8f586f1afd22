"""Helpers for driving the training dock in GUI tests."""

from __future__ import annotations

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
    """Records the longest gap between ticks of a 10 ms Qt timer (how long the event loop blocked)."""

    def __init__(self):
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.gaps = []

    def _tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now

    def start(self):
        self.last = None
        self.timer.start()

    def stop(self):
        self.timer.stop()

    @property
    def longest_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000


def train_for(dock, updates: int) -> None:
    """Set the dock's budget to `updates` updates per Train or Resume."""
    dock.data.budget.setCurrentText("updates")
    dock.data.budget_updates.setValue(updates)
