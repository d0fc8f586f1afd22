"""The run's state machine, in plain Python: what the dock is doing and what it may do next.

Training phases: idle; starting (the worker writes the run and loads data and kernels); training;
stopping (Stop was asked, the run finishes its update and saves); continuing (stopping, then
training goes on from the checkpoint with the labels as they are now). A prediction is not a phase
of the run: it may run while a run trains (Predict uses the last checkpoint), and its one worker
lives in `_prediction.PredictionRunner`. The dock asks `can_*` before it acts, reports what happened
with the event methods and shows the phase; nothing here touches Qt, so the rules are tested
without a viewer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RunPhase = Literal["idle", "starting", "training", "stopping", "continuing"]
RUNNING: tuple[RunPhase, ...] = ("starting", "training", "stopping", "continuing")


class RunControlError(RuntimeError):
    """An intent the current phase does not allow (the dock disables the button instead)."""


@dataclass
class RunControl:
    """The phase of the dock's run, changed only through its intents and events."""

    phase: RunPhase = "idle"

    # ------------------------------------------------------------------ what the buttons may do

    @property
    def training(self) -> bool:
        """A training worker runs (starting, training, stopping or continuing)."""
        return self.phase in RUNNING

    def can_train(self) -> bool:
        return self.phase == "idle"

    def can_stop(self) -> bool:
        return self.phase in ("starting", "training")

    def can_continue(self) -> bool:
        """Continue with new labels: from idle it starts, while training it stops first."""
        return self.phase in ("idle", "starting", "training")

    # ------------------------------------------------------------------ intents

    def start(self) -> None:
        """Train, Resume or Continue from idle: a worker is about to start."""
        self._require(self.can_train(), "start training")
        self.phase = "starting"

    def stop(self) -> None:
        self._require(self.can_stop(), "stop")
        self.phase = "stopping"

    def continue_after_stop(self) -> None:
        """Continue while training: stop (saving), then train again from the checkpoint."""
        self._require(self.phase in ("starting", "training"), "continue with new labels")
        self.phase = "continuing"

    # ------------------------------------------------------------------ events

    def began(self) -> None:
        """The engine's first training event arrived."""
        if self.phase == "starting":
            self.phase = "training"

    def finished(self) -> bool:
        """The training worker ended (saved, stopped or failed); True when training goes on at once
        (Continue was asked while it ran)."""
        go_on = self.phase == "continuing"
        self.phase = "idle"
        return go_on

    def _require(self, allowed: bool, what: str) -> None:
        if not allowed:
            raise RunControlError(f"cannot {what} while {self.phase}")
