"""The engine's compute threads run at the niceness a GUI process asks for; the kernel says so."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from znn.parallel import niceness
from znn.parallel.scheduler import Scheduler, Task

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


@pytest.fixture
def restore_niceness():
    before = niceness.compute_niceness()
    yield
    niceness.set_compute_niceness(before)


def thread_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def scheduler_thread_niceness(threads: int) -> set[int]:
    seen: set[int] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def record() -> None:
        barrier.wait(timeout=10)  # every worker thread runs one task
        with lock:
            seen.add(thread_niceness())

    with Scheduler(threads) as scheduler:
        scheduler.run([Task(record) for _ in range(threads)])
    return seen


def test_scheduler_threads_take_the_niceness_and_the_caller_keeps_its_own(restore_niceness):
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert scheduler_thread_niceness(2) == {own}  # nothing asked: as the process
    niceness.set_compute_niceness(min(own + 5, niceness.MAX_NICENESS))
    assert scheduler_thread_niceness(2) == {min(own + 5, niceness.MAX_NICENESS)}
    assert thread_niceness() == own and os.getpriority(os.PRIO_PROCESS, 0) == own


def test_threads_started_from_a_nicer_thread_stay_that_nice(restore_niceness):
    # Linux threads inherit their creator's niceness; lowering it back would need privilege.
    target = min(os.getpriority(os.PRIO_PROCESS, 0) + 2, niceness.MAX_NICENESS - 2)
    niceness.set_compute_niceness(target)
    seen: list[set[int]] = []

    def from_a_nicer_thread() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), target + 2)
        seen.append(scheduler_thread_niceness(2))

    thread = threading.Thread(target=from_a_nicer_thread)
    thread.start()
    thread.join()
    assert seen == [{target + 2}]


def test_the_patch_prefetcher_takes_the_niceness(restore_niceness):
    from tests.engine.test_data_prefetch import small_set
    from znn.data.prefetch import PatchPrefetcher

    target = min(os.getpriority(os.PRIO_PROCESS, 0) + 3, niceness.MAX_NICENESS)
    niceness.set_compute_niceness(target)
    with PatchPrefetcher(small_set(), seed=1, first_iteration=0, depth=1) as prefetcher:
        prefetcher.get(0)
        [thread] = [t for t in threading.enumerate() if t.name == "znn-patch-prefetch"]
        assert thread.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == target


def test_out_of_range_is_refused(restore_niceness):
    for bad in (-1, 20):
        with pytest.raises(ValueError, match="niceness must be 0-19"):
            niceness.set_compute_niceness(bad)
