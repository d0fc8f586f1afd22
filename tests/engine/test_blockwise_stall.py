"""The blockwise driver's watchdog: a cluster that stops finishing blocks gets them once more, then
the run ends with one line instead of waiting forever."""

from __future__ import annotations

import pytest

from znn.blockwise.stall import STALL_FACTOR, STALL_MIN_S, BlockwiseStalled, finished_in_turn, stall_limit


class FakeCompleted:
    """`distributed.as_completed` driven by a script of batches (None: nothing ready this poll)."""

    def __init__(self, script: list[list[str] | None], pending: int) -> None:
        self.script, self.pending = list(script), pending

    def is_empty(self) -> bool:
        return self.pending == 0

    def next_batch(self, block: bool = True) -> list[str]:
        assert block is False
        batch = self.script.pop(0) if self.script else None
        if not batch:
            return []
        self.pending -= len(batch)
        return batch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 10.0  # each idle poll: ten seconds pass


def test_futures_come_as_they_finish_and_a_stall_resubmits_once():
    clock, resubmitted = Clock(), []
    completed = FakeCompleted([["a"], None, ["b"]] + [None] * 40 + [["c"]], pending=3)
    got = list(finished_in_turn(completed, resubmit=lambda: resubmitted.append(clock.now) or 1,
                                stall_after=lambda: 300.0, clock=clock, sleep=clock.sleep))
    assert got == ["a", "b", "c"]
    assert len(resubmitted) == 1 and resubmitted[0] > 300.0  # after 300 s without a finished block


def test_a_second_stall_ends_the_run_with_one_line():
    clock, resubmitted = Clock(), []
    completed = FakeCompleted([["a"]] + [None] * 100, pending=2)
    finished = finished_in_turn(completed, resubmit=lambda: resubmitted.append(1) or 1,
                                stall_after=lambda: 300.0, clock=clock, sleep=clock.sleep)
    assert next(finished) == "a"
    with pytest.raises(BlockwiseStalled, match="no progress for 3[0-9]{2} s, also after the blocks in flight"):
        next(finished)
    assert resubmitted == [1]


def test_the_stall_limit_follows_the_slowest_block():
    assert stall_limit(0.0) == STALL_MIN_S
    assert stall_limit(STALL_MIN_S) == STALL_FACTOR * STALL_MIN_S
