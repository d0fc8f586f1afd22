"""Summing convergent contributions with O(1) critical sections (reference §9.3).

A map that several edges feed expects a known number of contributions. Depositing one
only swaps references under the lock: if the slot is empty the contribution is parked
there; otherwise the parked partial sum is taken out and added to the newcomer outside
the lock, and the merged sum is deposited again. Additions of different contributions
therefore run in parallel threads, and the lock is never held during arithmetic.
"""

from __future__ import annotations

import threading

import numpy as np


class Accumulator:
    """Sum of `expected` arrays delivered by different threads, written into `target`."""

    __slots__ = ("target", "expected", "_lock", "_slot", "_slot_count")

    def __init__(self, target: np.ndarray, expected: int) -> None:
        self.target = target
        self.expected = expected
        self._lock = threading.Lock()
        self._slot: np.ndarray | None = None
        self._slot_count = 0

    def reset(self) -> None:
        self._slot, self._slot_count = None, 0

    def buffer(self) -> np.ndarray:
        """Where a contribution should be written: the target itself when it is the only
        one, otherwise a fresh array (it becomes part of the sum)."""
        if self.expected == 1:
            return self.target
        return np.empty_like(self.target)

    def add(self, value: np.ndarray) -> bool:
        """Deposit one contribution (an array from `buffer()`, owned by the sum from now on).
        Returns True for the call that completed the sum (the target then holds it)."""
        count = 1
        while True:
            with self._lock:
                if self._slot is None:
                    self._slot, self._slot_count = value, count
                    complete = self._slot_count == self.expected
                    if complete:
                        self._slot = None
                    break
                other, other_count = self._slot, self._slot_count
                self._slot, self._slot_count = None, 0
            np.add(value, other, out=value)  # outside the lock: parallel with other additions
            count += other_count
        if complete and value is not self.target:
            self.target[...] = value
        return complete
