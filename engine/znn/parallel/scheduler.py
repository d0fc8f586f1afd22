"""A priority task scheduler over worker threads (ZNN's task manager, reference §9.2).

* Tasks carry a priority; workers always take the highest-priority ready task, so work
  closer to the end of the current pass runs first and few maps stay alive.
* Low-priority tasks (weight updates, kernel-spectrum refreshes) run only when no
  prioritised task is ready. A task that `needs` low-priority tasks runs them inline
  first when nobody has started them ("stealing"), or waits for them if they are running.
* Dependencies are counts: a task becomes ready when its last prerequisite finishes. A
  newly ready task that outranks everything queued continues in the same thread (the
  thread that delivered the last missing contribution carries on, as in ZNN).

The heavy parts of tasks are numba `nogil` kernels and single-threaded FFTW plans, which
release the GIL; the Python glue of a task is short compared with its work.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from znn.base.cores import usable_cores
from znn.base.niceness import check_niceness, lower_current_thread

_WAITING, _QUEUED, _RUNNING, _DONE = range(4)


class Task:
    """A unit of work: `fn()` once its prerequisites are done."""

    __slots__ = ("fn", "priority", "low", "name", "state", "remaining", "dependents", "needs", "seq")

    def __init__(self, fn: Callable[[], None], priority: int = 0, *, low: bool = False, name: str = "") -> None:
        self.fn = fn
        self.priority = priority
        self.low = low
        self.name = name
        self.state = _WAITING
        self.remaining = 0
        self.dependents: list[Task] = []
        self.needs: list[Task] = []
        self.seq = 0

    def after(self, *prerequisites: Task | None) -> Task:
        """Run this task only after all `prerequisites` have finished (None: nothing to wait for)."""
        for p in prerequisites:
            if p is None:
                continue
            p.dependents.append(self)
            self.remaining += 1
        return self

    def need(self, low_tasks: Iterable[Task]) -> Task:
        """Low-priority tasks whose effect this task needs (run inline if not started)."""
        self.needs.extend(low_tasks)
        return self

    @property
    def done(self) -> bool:
        return self.state == _DONE

    def __repr__(self) -> str:
        return f"Task({self.name or self.fn!r}, priority={self.priority}, low={self.low})"


class TaskError(RuntimeError):
    """A task raised; the original exception is the __cause__."""


class Scheduler:
    """`num_threads` workers (0 = all cores) running submitted task graphs."""

    def __init__(self, num_threads: int = 1, *, niceness: int = 0) -> None:
        if num_threads < 0:
            raise ValueError(f"num_threads must be >= 0 (0 = all cores), not {num_threads}")
        self.num_threads = num_threads or usable_cores()
        self.niceness = check_niceness(niceness)  # of the worker threads (znn.base.niceness)
        self._cond = threading.Condition()
        self._ready: list[tuple[int, int, Task]] = []  # heap of (-priority, seq, task)
        self._low: list[Task] = []  # LIFO of low-priority tasks
        self._seq = itertools.count()
        self._error: BaseException | None = None
        self._stopping = False
        # Seconds spent per kind of task (the name up to its first space) when profiling.
        self.profile: dict[str, float] | None = None
        self._threads = [threading.Thread(target=self._work, name=f"znn-worker-{k}", daemon=True)
                         for k in range(self.num_threads)]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ submitting

    def submit(self, tasks: Iterable[Task]) -> None:
        """Hand over a set of tasks; those without pending prerequisites are queued now."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the scheduler has been closed")
            woken = 0
            for task in tasks:
                if task.state == _WAITING and task.remaining == 0:
                    self._enqueue(task)
                    woken += 1
            if woken:
                self._cond.notify(woken)

    def _enqueue(self, task: Task) -> None:  # caller holds the lock
        task.state = _QUEUED
        if task.low:
            self._low.append(task)
        else:
            task.seq = next(self._seq)
            heapq.heappush(self._ready, (-task.priority, -task.seq, task))  # LIFO within a priority

    def wait(self, tasks: Iterable[Task]) -> None:
        """Block until every task in `tasks` is done; re-raise the first task error."""
        tasks = list(tasks)
        with self._cond:
            while True:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise TaskError(f"a task failed: {error}") from error
                if all(t.state == _DONE for t in tasks):
                    return
                self._cond.wait()

    def run(self, tasks: Iterable[Task]) -> None:
        """Submit `tasks` and wait for all of them."""
        tasks = list(tasks)
        self.submit(tasks)
        self.wait(tasks)

    def close(self) -> None:
        """Stop the workers after the tasks they are running (queued work is dropped)."""
        with self._cond:
            self._stopping = True
            self._ready.clear()
            self._low.clear()
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join()

    # ------------------------------------------------------------------ workers

    def _next(self) -> Task | None:  # caller holds the lock
        while True:
            if self._stopping:
                return None
            while self._ready:
                task = heapq.heappop(self._ready)[2]
                if task.state == _QUEUED:
                    task.state = _RUNNING
                    return task
            while self._low:
                task = self._low.pop()
                if task.state == _QUEUED:  # not already stolen by a task that needed it
                    task.state = _RUNNING
                    return task
            self._cond.wait()

    def _work(self) -> None:
        lower_current_thread(self.niceness)
        task: Task | None = None
        while True:
            if task is None:
                with self._cond:
                    task = self._next()
                if task is None:
                    return
            task = self._execute(task)

    def _execute(self, task: Task) -> Task | None:
        """Run one claimed task; returns a follow-up task to run in this thread, if any."""
        try:
            if task.needs:
                self._ensure_done(task.needs)
            self._timed(task)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
            self._fail(error)
        return self._finish(task)

    def _fail(self, error: BaseException) -> None:
        """Remember the first error and drop queued work: the pass is abandoned."""
        with self._cond:
            if self._error is None:
                self._error = error
            self._ready.clear()
            self._low.clear()
            self._cond.notify_all()

    def _timed(self, task: Task) -> None:
        if self.profile is None:
            task.fn()
            return
        start = time.perf_counter()
        task.fn()
        kind = task.name.split(" ", 1)[0] + (" (low)" if task.low else "")
        with self._cond:
            self.profile[kind] += time.perf_counter() - start

    def enable_profile(self) -> dict[str, float]:
        """Start summing task seconds by kind; returns the live dict."""
        self.profile = defaultdict(float)
        return self.profile

    def _finish(self, task: Task) -> Task | None:
        with self._cond:
            task.state = _DONE
            newly: list[Task] = []
            for d in task.dependents:
                d.remaining -= 1
                if d.remaining == 0 and d.state == _WAITING:
                    newly.append(d)
            follow = None
            if newly and not self._stopping:
                best = max(newly, key=lambda t: (not t.low, t.priority))
                top = -self._ready[0][0] if self._ready else None
                if not best.low and (top is None or best.priority >= top):
                    best.state = _RUNNING  # continue in this thread, skipping the queue
                    follow = best
                    newly.remove(best)
                for d in newly:
                    self._enqueue(d)
            self._cond.notify_all()
            return follow

    def _ensure_done(self, needs: list[Task]) -> None:
        """Make sure the low-priority tasks in `needs` have run: steal the unstarted ones,
        then wait for those other threads are running."""
        for low in needs:
            with self._cond:
                if low.state != _QUEUED:
                    continue
                low.state = _RUNNING
            self._finish_inline(low)
        with self._cond:
            while not all(t.state == _DONE for t in needs):
                if self._error is not None or self._stopping:
                    raise TaskError("a task this one needs failed")
                self._cond.wait()

    def _finish_inline(self, low: Task) -> None:
        try:
            self._timed(low)
        except BaseException as error:  # noqa: BLE001
            self._fail(error)
            self._finish(low)
            raise
        follow = self._finish(low)
        if follow is not None:  # a low task's dependents are not ours to run here
            with self._cond:
                self._enqueue(follow)
                self._cond.notify()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

