"""Blocks as they finish, with a watchdog for a cluster that stops making progress.

dask.distributed recovers from a worker killed mid-run (the nanny starts a new one and the
scheduler moves the dead worker's tasks), but rarely the scheduler keeps futures pending with
every worker idle, and the driver would wait forever. When no block has finished for
`stall_after()` seconds (at least STALL_MIN_S and STALL_FACTOR times the slowest block so far) the
blocks in flight are submitted again (blocks are idempotent: a block writes only its own region and
flags it done last); a second stall ends the run with one line, keeping every block written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from znn.base.errors import ZnnError

STALL_MIN_S = 300.0  # a block's first run builds its network and compiles kernels: give it time
STALL_FACTOR = 5.0
POLL_S = 0.05


class BlockwiseStalled(ZnnError):
    """The cluster made no progress, also after the blocks in flight were submitted again."""


def finished_in_turn(completed: Any, *, resubmit: Callable[[], int], stall_after: Callable[[], float],
                     clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
                     ) -> Iterator[Any]:
    """The futures of `completed` (a distributed `as_completed`) as they finish; futures added
    meanwhile are waited for too. On a stall `resubmit()` submits the blocks in flight again and
    returns how many; a second stall raises BlockwiseStalled."""
    last = clock()
    resubmitted = False
    while not completed.is_empty():
        batch = completed.next_batch(block=False)
        if batch:
            last = clock()
            yield from batch
            continue
        waited = clock() - last
        if waited > stall_after():
            if resubmitted:
                raise BlockwiseStalled(f"the cluster made no progress for {waited:.0f} s, also after the blocks in "
                                       "flight were submitted again; the blocks written are kept (run the command "
                                       "again to go on)")
            resubmitted = True
            resubmit()
            last = clock()
        sleep(POLL_S)


def stall_limit(slowest_block_s: float) -> float:
    """Seconds without a finished block after which the run counts as stalled."""
    return max(STALL_MIN_S, STALL_FACTOR * slowest_block_s)
