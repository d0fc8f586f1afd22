"""The best checkpoint so far: the weights with the lowest validation cost, kept beside the run.

Validation scores held-back data (`test_range`; for painted strokes, the held-back strokes), so
the lowest validation cost marks the weights most worth keeping: fine-tuning a trained network on
a few strokes, or training on much longer than the labels support, can make the network worse
while the training cost still falls. The best weights are written to `<prefix>_best.h5` whenever a
validation beats every earlier one, with the iteration and the cost in its state, so that what
the user predicts with is never worse than what they had without being told.

A run that starts from trained weights (a resumed run, or a new run from a seed network) first
scores them, and an earlier best of the same run too (the validation strokes may have changed
since: both are scored on today's), so the best starts as the better of what the run had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from znn.train.checkpoint import checkpoint_path

BEST = "best"  # <prefix>_best.h5


def best_path(prefix: str | Path) -> Path:
    return checkpoint_path(prefix, BEST)


@dataclass(frozen=True)
class BestSoFar:
    """The iteration whose weights scored the lowest validation cost, and that cost."""

    iteration: int
    cost: float
    pixel_error: float


def improves(cost: float, best: BestSoFar | None) -> bool:
    """Whether a validation cost beats the best so far (a finite cost always beats none)."""
    if not math.isfinite(cost):
        return False
    return best is None or cost < best.cost
