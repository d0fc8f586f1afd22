"""The engine's compute threads run at the niceness their owner hands down (a GUI's choice); the
kernel says so."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from znn.base import niceness
from znn.parallel.scheduler import Scheduler, Task

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")


def thread_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def scheduler_thread_niceness(threads: int, nice: int = 0) -> set[int]:
    seen: set[int] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def record() -> None:
        barrier.wait(timeout=10)  # every worker thread runs one task
        with lock:
            seen.add(thread_niceness())

    with Scheduler(threads, niceness=nice) as scheduler:
        scheduler.run([Task(record) for _ in range(threads)])
    return seen


def test_scheduler_threads_take_the_niceness_and_the_caller_keeps_its_own():
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert scheduler_thread_niceness(2) == {own}  # nothing asked: as the process
    assert scheduler_thread_niceness(2, min(own + 5, niceness.MAX_NICENESS)) == {min(own + 5, niceness.MAX_NICENESS)}
    assert scheduler_thread_niceness(2) == {own}  # one scheduler's choice is not the next one's
    assert thread_niceness() == own and os.getpriority(os.PRIO_PROCESS, 0) == own


def test_threads_started_from_a_nicer_thread_stay_that_nice():
    # Linux threads inherit their creator's niceness; lowering it back would need privilege.
    target = min(os.getpriority(os.PRIO_PROCESS, 0) + 2, niceness.MAX_NICENESS - 2)
    seen: list[set[int]] = []

    def from_a_nicer_thread() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), target + 2)
        seen.append(scheduler_thread_niceness(2, target))

    thread = threading.Thread(target=from_a_nicer_thread)
    thread.start()
    thread.join()
    assert seen == [{target + 2}]


def test_the_patch_prefetcher_takes_the_niceness():
    from tests.engine.test_data_prefetch import small_set
    from znn.data.prefetch import PatchPrefetcher

    target = min(os.getpriority(os.PRIO_PROCESS, 0) + 3, niceness.MAX_NICENESS)
    with PatchPrefetcher(small_set(), seed=1, first_iteration=0, depth=1, niceness=target) as prefetcher:
        prefetcher.get(0)
        [thread] = [t for t in threading.enumerate() if t.name == "znn-patch-prefetch"]
        assert thread.native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == target


def test_out_of_range_is_refused():
    from tests.engine.test_data_prefetch import small_set
    from znn.data.prefetch import PatchPrefetcher

    for bad in (-1, 20):
        with pytest.raises(ValueError, match="niceness must be 0-19"):
            Scheduler(1, niceness=bad)
        with pytest.raises(ValueError, match="niceness must be 0-19"):
            PatchPrefetcher(small_set(), seed=1, first_iteration=0, niceness=bad)


def test_a_network_hands_its_niceness_to_its_threads():
    from tests.helpers.paths import NETWORKS
    from znn.netspec.znnfile import read_znn
    from znn.network.net import Network

    target = min(os.getpriority(os.PRIO_PROCESS, 0) + 4, niceness.MAX_NICENESS)
    with Network(read_znn(NETWORKS / "tiny2d.znn"), (1, 4, 4), num_threads=2, niceness=target) as net:
        net.forward({"input": np.zeros(net.graph.input_sizes["input"], dtype=np.float32)})
        workers = [t.native_id for t in net.engine.scheduler._threads if t.native_id is not None]
        assert len(workers) == 2
        assert {os.getpriority(os.PRIO_PROCESS, tid) for tid in workers} == {target}
