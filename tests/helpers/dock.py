"""Helpers for driving the training dock in GUI tests."""

from __future__ import annotations

import sys
import threading
import time
import traceback


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

    With `stacks_after_ms`, every thread's Python stack is written down the first time a tick is
    that late, so that a failing assertion can say what the process was doing (`stacks`). A Python
    watchdog thread takes them with `sys._current_frames()`, holding the GIL: faulthandler's own
    watchdog reads the other threads' frames without it, which can crash the process while those
    threads run (it did, on a loaded CI machine, in the middle of an N4 training)."""

    def __init__(self, stacks_after_ms: float | None = None):
        from qtpy.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.gaps = []
        self._stacks_after_s = None if stacks_after_ms is None else stacks_after_ms / 1000
        self._watch: _LateTickWatch | None = None

    def _tick(self):
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append(now - self.last)
        self.last = now
        if self._watch is not None:
            self._watch.deadline = now + self._stacks_after_s

    def start(self):
        self.last = None
        if self._stacks_after_s is not None and self._watch is None:
            self._watch = _LateTickWatch()
            self._watch.start()
        self.timer.start()

    def stop(self):
        self.timer.stop()
        if self._watch is not None:
            self._watch.finish()

    @property
    def longest_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000

    @property
    def stacks(self) -> str:
        """The threads' stacks at the first late tick ('' when none was late)."""
        return "" if self._watch is None else self._watch.stacks


class _LateTickWatch(threading.Thread):
    """Writes down every thread's stack once, when `deadline` (perf_counter seconds) has passed."""

    def __init__(self) -> None:
        super().__init__(name="late-tick-watch", daemon=True)
        self.deadline: float | None = None
        self.stacks = ""
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.02) and not self.stacks:
            deadline = self.deadline
            if deadline is not None and time.perf_counter() > deadline:
                names = {thread.ident: thread.name for thread in threading.enumerate()}
                late = time.perf_counter() - deadline
                parts = [f"Timeout (a tick {late * 1000:.0f} ms past the bound)"]
                for ident, frame in sys._current_frames().items():
                    if ident != self.ident:
                        parts.append(f"Thread {names.get(ident, ident)}:\n" + "".join(traceback.format_stack(frame)))
                self.stacks = "\n".join(parts)[:20_000]

    def finish(self) -> None:
        self._done.set()
        self.join(5)


def train_for(dock, updates: int) -> None:
    """Set the dock's budget to `updates` updates per Train or Resume."""
    dock.data.budget.setCurrentText("updates")
    dock.data.budget_updates.setValue(updates)
