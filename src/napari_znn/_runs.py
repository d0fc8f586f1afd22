"""Run folders of the training dock: every Train starts a new one, Resume and Predict use the
current one, and nothing is ever written beside another run's checkpoints.

A run folder is a job folder (`network.znn`, `data.spec`, `job.cfg`) plus what training
writes into it (`net/`, `out/`); `znn train -c <run>/job.cfg` runs it headless. Predict and
Resume read the run's own network, so browsing to another network in the editor changes
neither.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

CHECKPOINT = Path("net") / "net_current.h5"  # what write_job_folder(name="net") makes training write
BEST = Path("net") / "net_best.h5"  # the weights with the lowest validation cost (znn.train.best)
LAYERS = Path("napari-layers.json")  # the names and geometry of the layers a run was trained on
OUTPUT_PREFIX = Path("out") / "net"  # the forward output_prefix write_job_folder(name="net") sets
FORWARD_SAMPLE = 3  # the .spec sample of the whole image (write_job_folder), as `znn forward` names it


def check_runs_root(root: Path) -> None:
    """Refuse, in one line naming the folder, a runs folder that cannot hold new run folders
    (a file on its path, no permission, a read-only disk); creates it where missing."""
    from znn.io.writable import Origin, check_output_folder

    check_output_folder(root, Origin.flag("Runs folder", root), what="run folders")


@dataclass(frozen=True)
class LayerLook:
    """What napari shows of a layer a run trained on, so that Import job… opens it the same way."""

    name: str
    scale: tuple[float, ...]
    translate: tuple[float, ...]

    @classmethod
    def of(cls, layer: Any) -> LayerLook:
        return cls(str(layer.name), tuple(float(v) for v in layer.scale[-3:]),
                   tuple(float(v) for v in layer.translate[-3:]))


def write_layer_looks(folder: Path, looks: dict[str, LayerLook]) -> None:
    """Keep the looks ('image', 'labels') beside the run's job files."""
    from znn.base.atomic import atomic_write_text

    atomic_write_text(folder / LAYERS, json.dumps({role: asdict(look) for role, look in looks.items()}, indent=1))


def read_layer_looks(folder: Path) -> dict[str, LayerLook]:
    """The looks a run kept ({} for job folders written by other means, or an unreadable file)."""
    try:
        found = json.loads((folder / LAYERS).read_text(encoding="utf-8"))
        return {role: LayerLook(str(look["name"]), tuple(map(float, look["scale"])),
                                tuple(map(float, look["translate"])))
                for role, look in found.items() if role in ("image", "labels")}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


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

    def output_paths(self, layer_name: str, outputs: Iterable[str]) -> dict[str, Path]:
        """Where Predict saves the maps of `layer_name`: for the image the run trained on, the files
        `znn forward -c <run>/job.cfg` writes (`out/net_sample3_<output>.h5`); for another layer,
        `out/net_<layer>_<output>.h5`."""
        from znn.forward.outputs import output_paths

        prefix = self.folder / OUTPUT_PREFIX
        trained_on = read_layer_looks(self.folder).get("image")
        if trained_on is not None and trained_on.name == layer_name:
            return output_paths(prefix, FORWARD_SAMPLE, outputs)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", layer_name).strip("-") or "layer"
        return {name: prefix.with_name(f"{prefix.name}_{slug}_{name}.h5") for name in outputs}

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

    from napari_znn._layers import as_volume

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
