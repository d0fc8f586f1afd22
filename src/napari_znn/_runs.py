"""Run folders of the training dock: every Train starts a new one, Resume and Predict use the
current one, and nothing is ever written beside another run's checkpoints.

A run folder is a job folder (`network.znn`, `data.spec`, `job.cfg`) plus what training
writes into it (`net/`, `out/`); `znn train -c <run>/job.cfg` runs it headless. Predict and
Resume read the run's own network, so browsing to another network in the editor changes
neither.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT = Path("net") / "net_current.h5"  # what write_job_folder(name="net") makes training write


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
