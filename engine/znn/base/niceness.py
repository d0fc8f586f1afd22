"""Compute threads that give way to an interactive process's own threads.

In napari the engine shares the machine's cores with the event loop, and under a virtual
screen also with the X server and Mesa's software renderer: at equal priority, two busy
compute threads on two cores leave each repaint waiting its turn (event-loop gaps of
50-110 ms). A process that hosts a GUI asks for the compute threads of its work (the
scheduler's workers, the patch prefetcher) to run `niceness` levels lower, handed down from the
training session or the prediction to the network, its scheduler and the prefetcher; they still take every
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


def check_niceness(niceness: int) -> int:
    """`niceness` if it is one a thread may take (0-19), else ValueError."""
    if not 0 <= niceness <= MAX_NICENESS:
        raise ValueError(f"niceness must be 0-{MAX_NICENESS}, not {niceness}")
    return niceness


def lower_current_thread(niceness: int) -> None:
    """Called first thing in a compute thread: run it at least `niceness` (the owner's choice)."""
    if not niceness or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) < niceness:  # never raised back: needs privilege
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except OSError:  # a sandbox that forbids it: run at the priority we have
        pass
