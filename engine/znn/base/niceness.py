"""Compute threads that give way to an interactive process's own threads.

In napari the engine shares the machine's cores with the event loop, and under a virtual
screen also with the X server and Mesa's software renderer: at equal priority, two busy
compute threads on two cores leave each repaint waiting its turn (event-loop gaps of
50-110 ms). A process that hosts a GUI asks for its compute threads (the scheduler's
workers, the patch prefetcher) to run `niceness` levels lower; they still take every
cycle nobody else wants, so training is no slower on an idle machine. The command line
leaves them as they are.

Linux only (there `setpriority` on a thread id sets that one thread); elsewhere nothing
changes.
"""

from __future__ import annotations

import os
import sys
import threading

MAX_NICENESS = 19
_niceness = 0


def set_compute_niceness(niceness: int) -> None:
    """Compute threads started from now on in this process run at least this nice (0-19)."""
    global _niceness
    if not 0 <= niceness <= MAX_NICENESS:
        raise ValueError(f"niceness must be 0-{MAX_NICENESS}, not {niceness}")
    _niceness = niceness


def compute_niceness() -> int:
    return _niceness


def lower_current_thread() -> None:
    """Called first thing in a compute thread: apply the process's compute niceness to it."""
    if not _niceness or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < _niceness:  # never raised back: needs privilege
            os.setpriority(os.PRIO_PROCESS, tid, _niceness)
    except OSError:  # a sandbox that forbids it: run at the priority we have
        pass
