"""The training session every front end runs: its budget, its stop requests, what it leaves."""

from __future__ import annotations

import queue
from pathlib import Path

from tests.helpers.jobkit import write_job
from znn.app.session import Budget, SessionNote, TrainingSession
from znn.jobs import read_cfg
from znn.train.events import Finished, Started, Step


def _events(session: TrainingSession) -> list:
    return [event for event in session.events() if not isinstance(event, SessionNote)]


def test_a_budget_of_updates_counts_from_where_the_run_starts_and_leaves_the_job_as_written(tmp_path):
    cfg = write_job(tmp_path, max_iter=40, save=5)
    written = cfg.read_text()
    settings = read_cfg(cfg).require_training()
    first = _events(TrainingSession(settings, budget=Budget(updates=3)))
    assert [e.iteration for e in first if isinstance(e, Step)] == [1, 2, 3]
    assert isinstance(first[-1], Finished) and first[-1].reason == "max_iter"
    again = _events(TrainingSession(settings, budget=Budget(updates=4)))  # resumes from iteration 3
    assert isinstance(again[0], Started) and again[0].first_iteration == 4 and again[0].max_iter == 7
    assert [e.iteration for e in again if isinstance(e, Step)] == [4, 5, 6, 7]
    assert cfg.read_text() == written and settings.schedule.max_iter == 40  # Max_iter stays 40


def test_a_stop_sent_before_training_starts_ends_it_before_the_first_update(tmp_path):
    cfg = write_job(tmp_path, max_iter=40, save=5)
    commands: queue.SimpleQueue = queue.SimpleQueue()
    session = TrainingSession(read_cfg(cfg).require_training(), commands=commands)
    session.request_stop()  # while nothing is built yet (a signal during loading)
    events = _events(session)
    assert not [e for e in events if isinstance(e, Step)]
    assert isinstance(events[-1], Finished) and events[-1].reason == "stopped" and events[-1].iteration == 0
    assert commands.empty()  # the caller's own queue carried the stop to the trainer


def test_the_session_closes_its_network_and_notes_what_it_removed(tmp_path):
    cfg = write_job(tmp_path, max_iter=40, save=5)
    prefix = Path(read_cfg(cfg).require_training().train_net_prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    stale = prefix.parent / f".{prefix.name}_current.h5.0123abcd.tmp"  # a killed save's leftover
    stale.write_bytes(b"half")
    session = TrainingSession(read_cfg(cfg).require_training(), budget=Budget(updates=1))
    notes = [event.text for event in session.events() if isinstance(event, SessionNote)]
    assert not stale.exists() and any("removed 1 temporary file" in note for note in notes)
    assert session.setup is not None
    assert not any(t.is_alive() for t in session.setup.net.engine.scheduler._threads)  # closed
