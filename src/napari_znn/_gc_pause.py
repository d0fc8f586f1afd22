"""Keep Python's full garbage collections short while a worker trains or predicts.

A napari session holds some 450,000 container objects. A full (generation 2) collection
walks all of them, holding the GIL for about 200 ms on a 2-core machine: the window freezes
and the worker stops, several times per run, because a worker allocates steadily. While any
worker runs, the objects that existed when the first one started are frozen out of
collection (`gc.freeze`): later collections only walk what was made since, a few
milliseconds. When the last worker finishes they are unfrozen, so garbage among them (a
layer deleted meanwhile, say) is still collected, only later.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_holders = 0


def hold() -> None:
    """A worker starts: freeze what exists now (once for all running workers)."""
    global _holders
    with _lock:
        if _holders == 0:
            gc.freeze()
        _holders += 1


def release() -> None:
    """A worker finished: unfreeze when it was the last one."""
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            gc.unfreeze()


def holders() -> int:
    return _holders
