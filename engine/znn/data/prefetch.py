"""Drawing training patches ahead of time on a background thread.

Cutting, flipping and converting a patch takes time the network could spend training, so
a daemon thread draws the patches of the next few iterations into a bounded queue while
the current one trains.

Reproducibility: the patch of iteration i is drawn with its own generator
`np.random.default_rng([seed, i])`, never with a shared stream. Patch i is therefore the
same whether the run went straight through or was stopped and resumed at any iteration,
and whatever the queue depth or thread timing. `draw_patch` gives the same patch without
a thread (validation patches use it with another seed).
"""

from __future__ import annotations

import queue
import threading
from types import TracebackType

import numpy as np

from znn.base.niceness import check_niceness, lower_current_thread
from znn.data.sampling import Patch, SampleSet

_POLL_S = 0.05  # how often blocked calls look at the stop flag


class PrefetchError(RuntimeError):
    """Drawing a patch failed on the producer thread; the original is the __cause__."""


def draw_patch(sample_set: SampleSet, seed: int, iteration: int) -> Patch:
    """The patch of `iteration` in the stream `seed`, the same one `PatchPrefetcher` gives."""
    return sample_set.draw(np.random.default_rng([int(seed), int(iteration)]))


class PatchPrefetcher:
    """Patches for iterations first_iteration, first_iteration + 1, … drawn `depth` ahead.

    Call `get(i)` with increasing i (skipped iterations are drawn and discarded); close it
    (or use it as a context manager) to stop the thread.
    """

    def __init__(self, sample_set: SampleSet, *, seed: int, first_iteration: int,
                 depth: int = 4, niceness: int = 0) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if seed < 0 or first_iteration < 0:
            raise ValueError(f"seed and first_iteration must be >= 0, got {seed}, {first_iteration}")
        self.sample_set = sample_set
        self.niceness = check_niceness(niceness)  # of the producer thread (znn.base.niceness)
        self.seed = int(seed)
        self.first_iteration = int(first_iteration)
        self._next = self.first_iteration
        self._queue: queue.Queue[tuple[int, Patch | None, Exception | None]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._failure: tuple[int, Exception] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._produce, name="znn-patch-prefetch",
                                        daemon=True)
        self._thread.start()

    # --- producer thread -----------------------------------------------------------------

    def _produce(self) -> None:
        lower_current_thread(self.niceness)
        iteration = self.first_iteration
        while not self._stop.is_set():
            try:
                item: tuple[int, Patch | None, Exception | None] = (
                    iteration, draw_patch(self.sample_set, self.seed, iteration), None)
            except Exception as exc:  # handed to the consumer, which re-raises it
                item = (iteration, None, exc)
            if not self._put(item) or item[2] is not None:
                return
            iteration += 1

    def _put(self, item: tuple[int, Patch | None, Exception | None]) -> bool:
        # A timed put, so close() is noticed even while the queue stays full.
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    # --- consumer ------------------------------------------------------------------------

    def get(self, iteration: int) -> Patch:
        """The patch of `iteration`; raises PrefetchError if drawing it (or one skipped
        before it) failed, ValueError if `iteration` was already passed."""
        if self._closed:
            raise RuntimeError("the patch prefetcher is closed")
        if self._failure is not None:
            self._raise_failure()
        if iteration < self._next:
            raise ValueError(f"patches are handed out in increasing order: asked for iteration "
                             f"{iteration}, the next available one is {self._next}")
        while True:
            drawn, patch, exc = self._take()
            if exc is not None:
                self._failure = (drawn, exc)
                self._raise_failure()
            self._next = drawn + 1
            if drawn == iteration:
                assert patch is not None
                return patch

    def _take(self) -> tuple[int, Patch | None, Exception | None]:
        while True:
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._closed:
                    raise RuntimeError("the patch prefetcher was closed") from None
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the patch prefetch thread stopped unexpectedly") from None

    def _raise_failure(self) -> None:
        assert self._failure is not None
        drawn, exc = self._failure
        raise PrefetchError(f"drawing the training patch of iteration {drawn} failed: "
                            f"{type(exc).__name__}: {exc}") from exc

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; waits at most `timeout` s for a patch being drawn to finish
        (the thread is a daemon, so a slow draw never keeps the process alive)."""
        self._closed = True
        self._stop.set()
        while True:  # free the queue so nothing holds on to patches
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> PatchPrefetcher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
