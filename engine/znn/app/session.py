"""One training session, the same for `znn train`, the demo, the benchmarks and the dock.

A session takes a job's resolved settings and runs them to the end: it checks the checkpoint
folder (so a refusal names train_net_prefix, not the lock file), takes the run's lock, removes
what killed runs of the prefix left in the middle of a save, builds the run (network, data, the
point it starts from: `znn.train.setup`), applies the session's budget of updates, trains and
closes the network whatever happens. Front ends differ only in what they do with the events.

Stop requests may come before training has started (a signal while the data loads): they wait
in the session's command queue and the trainer reads them before its first update.
"""

from __future__ import annotations

import queue
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path

from znn.io.writable import check_output_folder
from znn.jobs.resolved import ResolvedTraining
from znn.train.checkpoint import remove_stale_temporaries, training_lock
from znn.train.events import Stop, TrainingCommand, TrainingEvent
from znn.train.setup import TrainingSetup, prepare_training
from znn.train.trainer import Trainer


@dataclass(frozen=True)
class SessionNote:
    """Something the user should read before training starts (a lock that could not be taken,
    files removed that an interrupted save left)."""

    text: str


@dataclass(frozen=True)
class Budget:
    """How long this session trains, besides Max_iter: `updates` more updates from where the run
    starts (None: up to Max_iter), at most `minutes` (None: no limit). The job's Max_iter stays as
    written; a budget only changes the settings this session runs."""

    updates: int | None = None
    minutes: float | None = None


SessionEvent = SessionNote | TrainingEvent


class TrainingSession:
    """A training run of resolved settings; `events()` runs it, `send` / `request_stop` steer it."""

    def __init__(self, settings: ResolvedTraining, *, seed_network: str | Path | None = None,
                 budget: Budget = Budget(), commands: queue.SimpleQueue | None = None,
                 draw_curve: bool = True, warm_up: bool = False, niceness: int = 0) -> None:
        self.settings = settings
        self.seed_network = seed_network
        self.budget = budget
        # A queue the caller owns (the dock's) or ours: nothing put in before the trainer exists is lost.
        self.commands: queue.SimpleQueue[TrainingCommand] = commands if commands is not None else queue.SimpleQueue()
        self.draw_curve = draw_curve
        self.warm_up = warm_up
        self.niceness = niceness  # of the compute threads: a GUI gives way to its event loop
        self.setup: TrainingSetup | None = None  # once built
        self.trainer: Trainer | None = None  # once training has started

    def send(self, command: TrainingCommand) -> None:
        """Queue a command (thread-safe; signal handlers may call it too)."""
        self.commands.put(command)

    def request_stop(self) -> None:
        self.send(Stop())

    def events(self) -> Generator[SessionEvent, None, None]:
        """Train; yields notes, then the trainer's events (`znn.train.events`)."""
        prefix = self.settings.train_net_prefix
        check_output_folder(prefix.parent, self.settings.provenance.origin("train_net_prefix"), what="checkpoints")
        with training_lock(prefix) as lock:  # before anything reads the prefix's checkpoints
            if lock.note:
                yield SessionNote(f"note: {lock.note}")
            if lock.held:
                removed = remove_stale_temporaries(prefix)
                if removed:
                    names = ", ".join(p.name for p in removed[:3]) + (", ..." if len(removed) > 3 else "")
                    yield SessionNote(f"note: removed {len(removed)} temporary file(s) that an interrupted save "
                                      f"left in {prefix.parent} ({names})")
            if self.warm_up:
                _warm_up(self.settings.dtype)
            setup = prepare_training(self.settings, seed_network=self.seed_network, niceness=self.niceness)
            try:
                if self.budget.updates is not None:
                    setup = replace(setup, settings=setup.settings.with_max_iter(
                        setup.first_iteration - 1 + self.budget.updates))
                self.setup = setup
                minutes = self.budget.minutes
                trainer = self.trainer = Trainer(setup, commands=self.commands, draw_curve=self.draw_curve,
                                  time_limit_s=None if minutes is None else minutes * 60)
                yield from trainer.run()
            finally:
                setup.net.close()


def _warm_up(dtype: str) -> None:
    # numba loads (or compiles) its kernels in the thread that trains, not in a GUI's main thread.
    import numpy as np

    from znn.kernels import warm_up

    warm_up(np.dtype(dtype))
