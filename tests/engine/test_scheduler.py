"""The priority scheduler and the swap accumulator, on their own."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from znn.parallel.accumulator import Accumulator
from znn.parallel.scheduler import Scheduler, Task, TaskError


def test_dependencies_are_respected_on_many_threads():
    order, lock = [], threading.Lock()

    def record(tag):
        def fn():
            time.sleep(0.001)
            with lock:
                order.append(tag)
        return fn

    with Scheduler(4) as s:
        first = [Task(record(("a", k)), 1) for k in range(8)]
        middle = Task(record(("b", 0)), 5).after(*first)
        last = [Task(record(("c", k)), 9).after(middle) for k in range(4)]
        s.run(first + [middle] + last)
    assert [tag[0] for tag in order] == ["a"] * 8 + ["b"] + ["c"] * 4


def test_single_worker_takes_the_highest_priority_first():
    order = []
    gate = threading.Event()
    with Scheduler(1) as s:
        blocker = Task(gate.wait, 100)
        s.submit([blocker])  # occupy the only worker while the rest is queued
        tasks = [Task(lambda p=p: order.append(p), p) for p in (3, 7, 1, 9, 5)]
        low = Task(lambda: order.append("low"), low=True)
        s.submit(tasks + [low])
        gate.set()
        s.wait(tasks + [low, blocker])
    assert order == [9, 7, 5, 3, 1, "low"]  # low-priority work only when nothing else is ready


def test_a_task_steals_the_low_priority_work_it_needs():
    ran_in = {}
    gate = threading.Event()
    with Scheduler(1) as s:
        blocker = Task(gate.wait, 100)
        s.submit([blocker])
        low = Task(lambda: ran_in.setdefault("low", time.perf_counter()), low=True)
        high = Task(lambda: ran_in.setdefault("high", time.perf_counter()), 1).need([low])
        s.submit([low, high])  # low is queued behind high, but high needs it
        gate.set()
        s.wait([high, blocker])
        assert low.done and ran_in["low"] <= ran_in["high"]


def test_errors_reach_the_caller_and_the_scheduler_stays_usable():
    with Scheduler(2) as s:
        def boom():
            raise ValueError("bad tile")
        t = Task(boom)
        after = Task(lambda: None).after(t)
        with pytest.raises(TaskError, match="bad tile") as info:
            s.run([t, after])
        assert isinstance(info.value.__cause__, ValueError)
        ok = Task(lambda: None)
        s.run([ok])
        assert ok.done


def test_accumulator_sums_contributions_from_many_threads():
    rng = np.random.default_rng(0)
    parts = [rng.standard_normal((3, 5)) for _ in range(64)]
    target = np.zeros((3, 5))
    acc = Accumulator(target, len(parts))
    completed = []

    def deliver(p):
        buf = acc.buffer()
        buf[...] = p
        if acc.add(buf):
            completed.append(True)

    with Scheduler(4) as s:
        s.run([Task(lambda p=p: deliver(p)) for p in parts])
    assert completed == [True]  # exactly one call completes the sum
    np.testing.assert_allclose(target, np.sum(parts, axis=0), rtol=1e-12)


def test_single_contribution_is_written_in_place():
    target = np.zeros(4)
    acc = Accumulator(target, 1)
    buf = acc.buffer()
    assert buf is target
    buf[...] = 2.0
    assert acc.add(buf) and (target == 2.0).all()
