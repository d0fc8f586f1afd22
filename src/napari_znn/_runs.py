"""Run folders of the training dock: every Train starts a new one, Resume and Predict use the
current one, and nothing is ever written beside another run's checkpoints.

A run folder is a job folder (`network.znn`, `data.spec`, `job.cfg`) plus what training
writes into it (`net/`, `out/`); `znn train -c <run>/job.cfg` runs it headless. Predict and
Resume read the run's own network, so browsing to another network in the editor changes
neither.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT = Path("net") / "net_current.h5"  # what write_job_folder(name="net") makes training write
BEST = Path("net") / "net_best.h5"  # the weights with the lowest validation cost (znn.train.best)


def default_runs_root() -> Path:
    return Path.home() / "napari-znn"


def new_run_folder(root: Path, network: str) -> Path:
    """A folder that does not exist yet: <root>/<date-time>-<network>."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", network).strip("-") or "network"
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    folder = root / stem
    n = 2
    while folder.exists():
        folder = root / f"{stem}-{n}"
        n += 1
    return folder


@dataclass(frozen=True)
class Run:
    """A run folder and what it holds so far."""

    folder: Path

    @property
    def cfg(self) -> Path:
        return self.folder / "job.cfg"

    @property
    def checkpoint(self) -> Path | None:
        path = self.folder / CHECKPOINT
        return path if path.is_file() else None

    @property
    def best(self) -> Path | None:
        path = self.folder / BEST
        return path if path.is_file() else None

    @property
    def prediction_weights(self) -> Path | None:
        """What Predict uses: the best checkpoint (lowest validation cost) when the run has one, else
        the last checkpoint."""
        return self.best or self.checkpoint

    def describe_weights(self) -> str:
        """Which weights Predict uses, in words (reads the checkpoints' iteration)."""
        weights = self.prediction_weights
        if weights is None:
            return "no checkpoint yet"
        iteration = _saved_iteration(weights, weights.stat().st_mtime_ns)
        if weights == self.best:
            return f"the best checkpoint (iteration {iteration}, lowest validation cost)"
        return f"the last checkpoint (iteration {iteration})"

    @property
    def network_file(self) -> Path:
        return self.folder / "network.znn"

    def network_text(self) -> str:
        """The network this run trains (and its checkpoints fit)."""
        return self.network_file.read_text(encoding="utf-8")

    @property
    def exists(self) -> bool:
        return self.cfg.is_file()

    def describe(self) -> str:
        if not self.exists:
            return f"{self.folder} (not written yet)"
        return f"{self.folder} ({'trained' if self.checkpoint else 'no checkpoint yet'})"


def holds_checkpoints(folder: Path) -> bool:
    """Whether `folder` already holds a trained run (never write a new job beside it)."""
    return (folder / CHECKPOINT).exists() or any((folder / "net").glob("*.h5")) if folder.is_dir() else False


def layer_source(layer: Any) -> Path | Any:
    """The file a plain image layer was read from (a 3-D tif or h5), else its data: a copy
    for in-memory arrays (the user may paint on while training runs), lazy data as it is
    (the worker reads it)."""
    from napari.layers import Labels

    from napari_znn._data_tab import as_volume

    path = getattr(getattr(layer, "source", None), "path", None)
    data = layer.data
    if (path and not isinstance(layer, Labels) and np.ndim(data) == 3 and Path(path).is_file()
            and Path(path).suffix.lower() in (".tif", ".tiff", ".h5", ".hdf5")):
        return Path(path)
    return as_volume(np.array(data) if isinstance(data, np.ndarray) else data)


@functools.lru_cache(maxsize=16)
def _saved_iteration(path: Path, _mtime_ns: int) -> int | str:
    """The iteration a checkpoint holds (its state alone, read once per version of the file: this runs on
    the main thread), '?' when unreadable."""
    from znn.io.h5net import read_training_state

    try:
        return int((read_training_state(path) or {}).get("iteration", "?"))
    except (OSError, KeyError, ValueError):  # a damaged file is reported when Predict loads it
        return "?"
