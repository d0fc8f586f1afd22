"""Learning curves in ZNN's `.h5` layout (reference §7.2).

Datasets under S = `/processing/znn/train/statistics` (inside a stdio network file) or
the root of a separate `*_statistics_*.h5` file: `train/it`, `test/it` (int64),
`train/err|cls`, `test/err|cls` (float64), with MALIS training also `re`, `mc`, `me`
per phase (NaN where a point had none), and the scalar `elapsed` (float64).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from znn.base.errors import SavedNetworkError
from znn.io.h5atomic import atomic_h5_file, write_array

STDIO_STATISTICS = "/processing/znn/train/statistics"
PHASES = ("train", "test")
REQUIRED_SERIES = ("it", "err", "cls")
MALIS_SERIES = ("re", "mc", "me")


def _ints() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _reals() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


@dataclass
class LearningCurve:
    """Cost and pixel error per iteration for training and validation (test) points."""

    train_it: np.ndarray = field(default_factory=_ints)
    train_err: np.ndarray = field(default_factory=_reals)
    train_cls: np.ndarray = field(default_factory=_reals)
    test_it: np.ndarray = field(default_factory=_ints)
    test_err: np.ndarray = field(default_factory=_reals)
    test_cls: np.ndarray = field(default_factory=_reals)
    # Present only for MALIS training: rand error, MALIS-weighted pixel error and cost.
    train_re: np.ndarray | None = None
    train_mc: np.ndarray | None = None
    train_me: np.ndarray | None = None
    test_re: np.ndarray | None = None
    test_mc: np.ndarray | None = None
    test_me: np.ndarray | None = None
    elapsed: float = 0.0  # seconds per iteration over the last show interval

    def __post_init__(self) -> None:
        for phase in PHASES:
            setattr(self, f"{phase}_it", np.asarray(getattr(self, f"{phase}_it"), dtype=np.int64))
            for series in REQUIRED_SERIES[1:] + MALIS_SERIES:
                value = getattr(self, f"{phase}_{series}")
                if value is not None:
                    setattr(self, f"{phase}_{series}", np.asarray(value, dtype=np.float64))
        self.elapsed = float(self.elapsed)

    @property
    def last_iteration(self) -> int:
        """ZNN's resume point: max(last test it, last train it), or 0 if either list is empty."""
        if len(self.train_it) == 0 or len(self.test_it) == 0:
            return 0
        return int(max(self.train_it[-1], self.test_it[-1]))

    def cropped(self, iteration: int) -> LearningCurve:
        """The curve up to `iteration` (inclusive), as when resuming from `net_<iteration>.h5`.

        ZNN cut only it/err/cls; the MALIS series are cut too here, so that every series of
        a phase keeps the same length.
        """
        values: dict[str, Any] = {"elapsed": self.elapsed}
        for phase in PHASES:
            iterations = getattr(self, f"{phase}_it")
            later = np.nonzero(iterations > iteration)[0]
            keep = int(later[0]) if len(later) else len(iterations)
            for series in REQUIRED_SERIES + MALIS_SERIES:
                value = getattr(self, f"{phase}_{series}")
                values[f"{phase}_{series}"] = None if value is None else value[:keep].copy()
        return LearningCurve(**values)

    def equal(self, other: LearningCurve) -> bool:
        """Same series (NaN equals NaN) and the same elapsed time."""
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if mine is None or theirs is None:
                if mine is not theirs:
                    return False
            elif not np.array_equal(mine, theirs, equal_nan=True):
                return False
        return True


def read_curve_group(group: h5py.Group, *, file: str | None = None) -> LearningCurve:
    """A curve from the datasets under `group` (the statistics group or a file's root)."""
    values: dict[str, Any] = {}
    for phase in PHASES:
        for series in REQUIRED_SERIES + MALIS_SERIES:
            key = f"{phase}/{series}"
            if key not in group:
                if series in REQUIRED_SERIES:
                    raise SavedNetworkError("learning curve dataset missing", file=file,
                                            group=group.name, key=key, expected=f"a dataset '{key}'")
                continue
            data = group[key]
            if not isinstance(data, h5py.Dataset) or data.ndim != 1 or data.dtype.kind not in "iuf":
                raise SavedNetworkError("learning curve series is not a 1-D numeric array", file=file,
                                        group=group.name, key=key, expected="a 1-D numeric array",
                                        found=f"{type(data).__name__} {getattr(data, 'dtype', '')}")
            values[f"{phase}_{series}"] = data[()]
        _check_series(values, phase, group, file)
    if "elapsed" in group:
        values["elapsed"] = float(np.asarray(group["elapsed"][()]).reshape(-1)[0])
    return LearningCurve(**values)


def _check_series(values: dict[str, Any], phase: str, group: h5py.Group, file: str | None) -> None:
    """One value of every series per iteration, iterations in order: a curve that a resumed run
    would extend and save again must not be damaged."""
    iterations = np.asarray(values[f"{phase}_it"])
    for series in REQUIRED_SERIES[1:] + MALIS_SERIES:
        data = values.get(f"{phase}_{series}")
        if data is not None and len(data) != len(iterations):
            raise SavedNetworkError("the learning curve's series differ in length (a damaged file)", file=file,
                                    group=group.name, key=f"{phase}/{series}",
                                    expected=f"{len(iterations)} values, one per iteration of {phase}/it",
                                    found=f"{len(data)} values")
    if iterations.size and (iterations.dtype.kind == "f" and not np.isfinite(iterations).all()
                            or (iterations < 0).any() or (np.diff(iterations) < 0).any()):
        raise SavedNetworkError("the learning curve's iterations are not in order (a damaged file)", file=file,
                                group=group.name, key=f"{phase}/it", expected="iterations >= 0 in increasing order",
                                found=" ".join(str(i) for i in iterations[:8]) + (" ..." * (iterations.size > 8)))


def write_curve_group(group: h5py.Group, curve: LearningCurve) -> None:
    """Write `curve` into `group` in ZNN's layout (datasets only, no attributes)."""
    for phase in PHASES:
        for series in REQUIRED_SERIES + MALIS_SERIES:
            value = getattr(curve, f"{phase}_{series}")
            if value is None:
                continue
            dtype = np.int64 if series == "it" else np.float64
            write_array(group.require_group(phase), series, np.asarray(value, dtype=dtype))
    write_array(group, "elapsed", np.asarray(curve.elapsed, dtype=np.float64))


def statistics_group(handle: h5py.File) -> h5py.Group | None:
    """Where the curve lives: the stdio statistics group if present, else the root (if it has one)."""
    if STDIO_STATISTICS in handle:
        return handle[STDIO_STATISTICS]
    if "train" in handle and "test" in handle:
        return handle["/"]
    return None


def read_learning_curve(path: str | Path) -> LearningCurve | None:
    """The curve stored in a stdio network file or a separate statistics file; None if absent."""
    path = Path(path)
    if not path.is_file():
        raise SavedNetworkError("learning curve file not found", file=str(path))
    if not h5py.is_hdf5(path):
        raise SavedNetworkError("not an HDF5 file", file=str(path), expected="an HDF5 statistics file")
    with h5py.File(path, "r") as handle:
        group = statistics_group(handle)
        return None if group is None else read_curve_group(group, file=str(path))


def write_learning_curve(path: str | Path, curve: LearningCurve) -> None:
    """Write a separate statistics file (the non-stdio layout): the curve at the file's root."""
    with atomic_h5_file(path) as handle:
        write_curve_group(handle, curve)
