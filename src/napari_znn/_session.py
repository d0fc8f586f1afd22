"""State shared by the training dock and its workers.

The worker never reads widgets: the dock writes a job folder, hands the worker its path and
sends commands (Stop, PredictNow) into the engine's event generator; the worker's events come
back on the main thread, where `TrainingState.apply` records them and the dock redraws from
the state's signals.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final, Literal

from psygnal import evented

if TYPE_CHECKING:
    from psygnal import SignalGroup

from znn.app.session import SessionNote
from znn.train.events import Checkpoint, Failed, Finished, Show, Started, Step, Validation

# What the dock is doing; plain strings, so `state.events.status` carries text as before.
Status = Literal["idle", "starting", "training", "stopping"]
IDLE: Final = "idle"
STARTING: Final = "starting"
TRAINING: Final = "training"
STOPPING: Final = "stopping"


@evented
@dataclass
class TrainingState:
    """What the dock shows about a run; every field change emits `state.events.<field>`."""

    if TYPE_CHECKING:
        events: ClassVar[SignalGroup]  # added by @evented, which type checkers do not see

    status: Status = IDLE
    iteration: int = 0
    first_iteration: int = 1
    max_iter: int = 0
    seconds_per_update: float = math.nan
    message: str = ""
    checkpoint: str = ""
    job_cfg: str = ""
    started_at: float = field(default=0.0, repr=False)

    @property
    def eta_seconds(self) -> float:
        """Seconds left until Max_iter at the recent speed (nan while unknown)."""
        left = self.max_iter - self.iteration
        return left * self.seconds_per_update if left > 0 else math.nan

    def apply(self, event: object) -> None:
        """Record an engine event (called on the main thread)."""
        if isinstance(event, SessionNote):
            self.message = event.text
        elif isinstance(event, Started):
            self.first_iteration, self.max_iter = event.first_iteration, event.max_iter
            self.iteration = event.first_iteration - 1
            self.started_at = time.monotonic()
            self.status = TRAINING
            where = (f"resumed from {event.resumed_from}" if event.resumed_from else
                     f"a new run from the trained {event.seeded_from}" if event.seeded_from else "fresh network")
            self.message = f"training: {where}, {event.num_threads} threads, seed {event.seed}"
        elif isinstance(event, Step):
            self.iteration = event.iteration
            # a running mean that follows speed changes within a few dozen updates
            previous = self.seconds_per_update
            self.seconds_per_update = event.seconds if math.isnan(previous) else 0.9 * previous + 0.1 * event.seconds
        elif isinstance(event, Show):
            self.message = (f"iteration {event.iteration}: cost {event.cost:.4g}, pixel error "
                            f"{event.pixel_error:.4g}, learning rate {event.eta:.3g}")
        elif isinstance(event, Validation):
            best = ("" if event.best_iteration is None else " (the best so far)"
                    if event.best_iteration == event.iteration else
                    f"; the best is still iteration {event.best_iteration} ({event.best_cost:.4g})")
            self.message = (f"validation at {event.iteration}: cost {event.cost:.4g}, pixel error "
                            f"{event.pixel_error:.4g}{best}")
        elif isinstance(event, Checkpoint):
            self.checkpoint = event.current or event.path
        elif isinstance(event, Finished):
            self.status = IDLE
            self.message = f"stopped at iteration {event.iteration}; Resume continues from the checkpoint"
            if event.best_is_earlier:
                self.message += (f". The held-back labels scored iteration {event.best_iteration} better than the "
                                 f"last update: Predict uses that best checkpoint, the live layer shows the last")
        elif isinstance(event, Failed):
            self.status = IDLE
            self.message = f"{event.message}. {event.suggestion}"
