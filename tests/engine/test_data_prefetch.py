"""Background patch prefetching: same patches as drawing synchronously, errors surface in
the caller, and closing never hangs."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from znn.data.prefetch import PatchPrefetcher, PrefetchError, draw_patch
from znn.data.sampling import Patch, SampleSet, TrainingSample


def small_set() -> SampleSet:
    rng = np.random.default_rng(0)
    samples = []
    for sample_id, shape in ((1, (5, 9, 9)), (2, (4, 8, 8))):
        labels = rng.integers(0, 4, size=shape)
        samples.append(TrainingSample(
            sample_id, {"input": rng.random(shape).astype(np.float32)}, {"output": labels},
            {"output": None}, input_sizes={"input": (3, 5, 5)}, output_size=(1, 3, 3),
            kind="affinity", rebalance="patch", augment=True))
    return SampleSet(samples)


def same_patch(a: Patch, b: Patch) -> bool:
    if (a.sample_id, a.location) != (b.sample_id, b.location):
        return False
    for field in ("inputs", "targets", "masks", "weights"):
        left, right = getattr(a, field), getattr(b, field)
        if left.keys() != right.keys():
            return False
        if not all(np.array_equal(left[k], right[k]) for k in left):
            return False
    return True


def test_get_matches_draw_patch_and_resume_gives_the_same_patches():
    samples = small_set()
    with PatchPrefetcher(samples, seed=7, first_iteration=1, depth=2) as prefetcher:
        straight = [prefetcher.get(i) for i in range(1, 9)]
    for i, patch in zip(range(1, 9), straight):
        assert same_patch(patch, draw_patch(samples, 7, i))
    with PatchPrefetcher(samples, seed=7, first_iteration=5) as resumed:
        assert same_patch(resumed.get(5), straight[4]) and same_patch(resumed.get(6), straight[5])
    # a different seed is a different stream
    assert not all(same_patch(draw_patch(samples, 8, i), straight[i - 1]) for i in range(1, 5))


def test_iterations_must_increase_and_may_skip():
    samples = small_set()
    with PatchPrefetcher(samples, seed=1, first_iteration=0) as prefetcher:
        assert same_patch(prefetcher.get(3), draw_patch(samples, 1, 3))  # 0-2 discarded
        with pytest.raises(ValueError, match="increasing order"):
            prefetcher.get(3)
        assert same_patch(prefetcher.get(4), draw_patch(samples, 1, 4))


class FailingSet:
    """Duck-typed sample set whose fourth draw fails."""

    def __init__(self) -> None:
        self.calls = 0

    def draw(self, rng: np.random.Generator) -> Patch:
        self.calls += 1
        if self.calls == 4:
            raise KeyError("broken volume")
        return Patch(inputs={}, targets={}, sample_id=self.calls)


def test_producer_exceptions_surface_in_the_caller():
    with PatchPrefetcher(FailingSet(), seed=0, first_iteration=10) as prefetcher:  # type: ignore[arg-type]
        assert [prefetcher.get(i).sample_id for i in (10, 11, 12)] == [1, 2, 3]
        with pytest.raises(PrefetchError, match="iteration 13") as info:
            prefetcher.get(13)
        assert isinstance(info.value.__cause__, KeyError)
        with pytest.raises(PrefetchError):  # and again on later calls
            prefetcher.get(14)


class SlowSet:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def draw(self, rng: np.random.Generator) -> Patch:
        time.sleep(self.delay)
        return Patch(inputs={}, targets={})


def test_close_with_a_full_queue_does_not_hang():
    prefetcher = PatchPrefetcher(SlowSet(0.0), seed=0, first_iteration=0, depth=1)  # type: ignore[arg-type]
    time.sleep(0.2)  # the producer fills the queue and blocks on it
    started = time.monotonic()
    prefetcher.close()
    assert time.monotonic() - started < 1.0
    assert not prefetcher._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        prefetcher.get(0)
    prefetcher.close()  # closing twice is harmless


def test_close_during_a_slow_draw_and_thread_is_a_daemon():
    before = threading.active_count()
    with PatchPrefetcher(SlowSet(0.3), seed=0, first_iteration=0) as prefetcher:  # type: ignore[arg-type]
        assert prefetcher._thread.daemon
    assert not prefetcher._thread.is_alive()  # close() waited for the draw in progress
    assert threading.active_count() <= before


def test_bad_arguments():
    with pytest.raises(ValueError):
        PatchPrefetcher(small_set(), seed=0, first_iteration=0, depth=0)
    with pytest.raises(ValueError):
        PatchPrefetcher(small_set(), seed=-1, first_iteration=0)
