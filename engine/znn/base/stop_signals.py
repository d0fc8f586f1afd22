"""The signals that ask a run to stop after its current step, as Ctrl-C does: SIGINT (Ctrl-C),
SIGTERM (kill, a batch system ending a job) and SIGHUP (the terminal or ssh session closed). Each
stops training after the update in progress with a checkpoint, and frees the run's lock."""

from __future__ import annotations

import signal

STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
