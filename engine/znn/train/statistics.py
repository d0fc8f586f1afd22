"""The numbers the training loop reports: learning-rate schedule and interval averages.

ZNN reports, every `Num_iter_per_show` updates, the summed cost and the count of wrong
(voxel, channel) pairs divided by the number of (voxel, channel) pairs seen (reference
§4.5). With masks ZNN divided by the mask sum of the whole interval *and* by the interval
length again; here the masked averages divide once (per masked-in pair), a deliberate fix.
Pixel error stays unmasked, as in ZNN, except for outputs trained from painted strokes
(`label_mode = sparse_strokes`): there only the painted voxels have a known label, so the pixel
error (and the validation cost) count those only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from znn.base.modes import Phase
from znn.io.curve import LearningCurve


def eta_at(iteration: int, eta: float, anneal_factor: float, interval: int) -> float:
    """The learning rate used in `iteration` (1-based): eta * anneal_factor^floor((i-1)/interval).

    ZNN restarted at `eta` after a resume; computing it from the iteration number instead
    makes a stopped-and-resumed run follow the same schedule as an uninterrupted one.
    """
    return eta * anneal_factor ** ((iteration - 1) // interval)


@dataclass
class IntervalAverages:
    """Sums over the updates since the last show line."""

    cost: float = 0.0
    wrong: float = 0.0
    pairs: float = 0.0  # (voxel, channel) pairs that the cost counted
    pixel_pairs: float = 0.0  # (voxel, channel) pairs that the pixel error counted
    seconds: float = 0.0
    updates: int = 0
    rand_errors: list[float] = field(default_factory=list)
    malis_costs: list[float] = field(default_factory=list)
    malis_errors: list[float] = field(default_factory=list)

    def add(self, *, cost: float, wrong: int, pairs: float, pixel_pairs: float, seconds: float,
            rand_error: float | None = None, malis: tuple[float, float] | None = None) -> None:
        self.cost += cost
        self.wrong += wrong
        self.pairs += pairs
        self.pixel_pairs += pixel_pairs
        self.seconds += seconds
        self.updates += 1
        if rand_error is not None:
            self.rand_errors.append(rand_error)
        if malis is not None:
            self.malis_errors.append(malis[0])
            self.malis_costs.append(malis[1])

    @property
    def mean_cost(self) -> float:
        return self.cost / self.pairs if self.pairs else math.nan

    @property
    def mean_pixel_error(self) -> float:
        return self.wrong / self.pixel_pairs if self.pixel_pairs else math.nan

    @property
    def seconds_per_update(self) -> float:
        return self.seconds / self.updates if self.updates else math.nan

    @staticmethod
    def _mean(values: list[float]) -> float | None:
        return float(np.nanmean(values)) if values else None

    @property
    def mean_rand_error(self) -> float | None:
        return self._mean(self.rand_errors)

    @property
    def mean_malis(self) -> tuple[float | None, float | None]:
        """(malis pixel error, malis cost)."""
        return self._mean(self.malis_errors), self._mean(self.malis_costs)


def append_point(curve: LearningCurve, phase: Phase, iteration: int, cost: float, pixel_error: float,
                 rand_error: float | None = None, malis: tuple[float | None, float | None] | None = None
                 ) -> LearningCurve:
    """A new curve with one more (train or test) point; MALIS series kept aligned with `it`."""
    values = {name: getattr(curve, name) for name in curve.__dataclass_fields__}
    values[f"{phase}_it"] = np.append(getattr(curve, f"{phase}_it"), iteration)
    values[f"{phase}_err"] = np.append(getattr(curve, f"{phase}_err"), cost)
    values[f"{phase}_cls"] = np.append(getattr(curve, f"{phase}_cls"), pixel_error)
    extra = {"re": rand_error}
    if malis is not None:
        extra["me"], extra["mc"] = malis
    for series, value in extra.items():
        existing = getattr(curve, f"{phase}_{series}")
        if value is None and existing is None:
            continue
        previous = existing if existing is not None else np.full(len(getattr(curve, f"{phase}_it")), np.nan)
        values[f"{phase}_{series}"] = np.append(previous, np.nan if value is None else value)
    return LearningCurve(**values)
