"""Seconds per training update for the Network tab, from the engine's calibrated cost model
(`znn.planning.update_cost`). The calibration (a few seconds of timing, once per machine and thread count)
runs in a separate process, so it neither stalls the dock nor shares the engine with a training
run; until it is cached the estimate says it is being measured."""

from __future__ import annotations

import sys

from qtpy.QtCore import QObject, QProcess, Signal

from znn.base.cores import usable_cores
from znn.base.modes import ConvMode
from znn.netspec.graph import NetworkGraph
from znn.planning.update_cost import Calibration, load_calibration, update_seconds


class UpdateEstimate(QObject):
    """`describe(graph, conv_mode)` for the status line; `ready` once a calibration has arrived."""

    ready = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.num_threads = usable_cores()
        self._calibrations: dict[int, Calibration] = {}
        self._process: QProcess | None = None
        self._timing = self.num_threads  # the thread count being timed
        self._failed: set[int] = set()

    def calibration(self, may_measure: bool = True) -> Calibration | None:
        """This machine's speeds; when none are cached and `may_measure`, their measurement starts."""
        threads = self.num_threads
        if threads not in self._calibrations:
            found = load_calibration(threads)
            if found is None:
                if may_measure:
                    self._start(threads)
                return None
            self._calibrations[threads] = found
        return self._calibrations[threads]

    def describe(self, graph: NetworkGraph, conv_mode: ConvMode, may_measure: bool = True) -> str:
        """The status line's words; the machine is timed only when `may_measure` (the tab is shown)."""
        calibration = self.calibration(may_measure)
        threads = f"{self.num_threads} thread{'s' if self.num_threads != 1 else ''}"
        if calibration is None:
            if self.num_threads in self._failed:
                return "seconds per update unknown (timing this machine failed)"
            if self._process is None:
                return "seconds per update: this machine is timed once this tab is shown"
            return "seconds per update: timing this machine once (a few seconds)…"
        seconds = update_seconds(graph, conv_mode=conv_mode, rates=calibration.rates)
        return f"about {_seconds(seconds)} per update on this machine ({threads}, estimated)"

    def _start(self, threads: int) -> None:
        if self._process is not None or threads in self._failed:
            return
        process = QProcess(self)
        # A bound method, not a lambda: Qt drops the connection when this object is deleted, so a
        # timing that ends after the dock closed calls nothing.
        process.finished.connect(self._done)
        self._process, self._timing = process, threads
        process.start(sys.executable, ["-m", "znn.planning.update_cost", "--threads", str(threads)])

    def close(self) -> None:
        """Stop a timing in progress (the dock is closing); nothing is reported."""
        process, self._process = self._process, None
        if process is not None:
            process.finished.disconnect(self._done)
            process.kill()
            process.waitForFinished(2000)

    def _done(self, code: int, _status: object = None) -> None:
        threads = self._timing
        self._process = None
        found = load_calibration(threads) if code == 0 else None
        if found is None:
            self._failed.add(threads)
        else:
            self._calibrations[threads] = found
        self.ready.emit()


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.0f} s"
