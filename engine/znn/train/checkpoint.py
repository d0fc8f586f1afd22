"""Checkpoints: where training state is saved and how a run finds it again.

Files follow ZNN's stdio layout (reference §6.5, §7): `<prefix>_init.h5` for a fresh
network, `<prefix>_<iteration>.h5` at every save and `<prefix>_current.h5` (a copy of the
latest), each holding the network, its momentum buffers and the learning curve, and
`<prefix>_best.h5`, the weights with the lowest validation cost (`znn.train.best`). napari-znn
adds a small state group (iteration, seed, eta, ...) that ZNN's loader ignores, and a
learning-curve PNG `<prefix>_curve.png` beside the files. Every file is written under a
temporary name and renamed into place, so an interrupted save never damages the previous
checkpoint. A save that the system refuses (a full disk, a folder made read-only) raises
`CheckpointWriteFailed` naming the file and the reason.

One run at a time writes a prefix's files: `training_lock(prefix)` is held for the whole run
(`<prefix>.train.lock`, see `znn.io.runlock`); holding it, `remove_stale_temporaries` deletes
the temporary files that a killed run left in the middle of a save.
"""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from znn.base.atomic import atomic_path, remove_temporaries
from znn.base.errors import WriteFailed
from znn.io.curve import LearningCurve
from znn.io.h5net import save_network
from znn.io.runlock import RunLock
from znn.netspec.spec import NetSpec
from znn.params.net_params import NetParams


def checkpoint_path(prefix: str | Path, iteration: int | str) -> Path:
    """`<prefix>_<iteration>.h5` (iteration may be 'init' or 'current')."""
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}_{iteration}.h5")


def checkpoint_prefix(checkpoint: str | Path) -> Path:
    """The prefix of a `<prefix>_<iteration>.h5` checkpoint (checkpoint_path's inverse)."""
    path = Path(checkpoint)
    return path.with_name(path.stem.rsplit("_", 1)[0])


def current_path(prefix: str | Path) -> Path:
    return checkpoint_path(prefix, "current")


def curve_png_path(prefix: str | Path) -> Path:
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}_curve.png")


def is_run_file(prefix: str | Path, name: str) -> bool:
    """Whether `name` is a file a training run of `prefix` writes (not one of another prefix)."""
    stem = re.escape(Path(prefix).name)
    return re.fullmatch(rf"{stem}_(init|current|best|\d+)\.h5|{stem}_curve\.png", name) is not None


def training_lock(prefix: str | Path) -> RunLock:
    """The lock of a training run of `prefix` (unlocked until entered or acquired)."""
    return RunLock(prefix, "train")


def remove_stale_temporaries(prefix: str | Path) -> list[Path]:
    """Delete the temporary files of interrupted saves of `prefix`'s run; returns them.
    Only while holding `training_lock(prefix)`: a live run's save is never touched then."""
    prefix = Path(prefix)
    return remove_temporaries(prefix.parent, lambda name: is_run_file(prefix, name))


def _copy_atomically(source: Path, target: Path) -> None:
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)


@dataclass
class SavedCheckpoint:
    path: Path
    current: Path | None
    curve_png: Path | None


class CheckpointWriteFailed(WriteFailed):
    """A file of a save could not be written; `saved` is what the save wrote before the
    failure (the checkpoint, when only the curve PNG failed), else None."""

    saved: SavedCheckpoint | None = None


def save_checkpoint(prefix: str | Path, iteration: int | str, spec: NetSpec, params: NetParams,
                    curve: LearningCurve, state: dict[str, int | float | str], *,
                    update_current: bool = True, plot: bool = True) -> SavedCheckpoint:
    """Write `<prefix>_<iteration>.h5`, then (if asked) replace `<prefix>_current.h5` with a copy,
    then redraw the curve PNG. A system error (full disk, read-only folder, ...) raises
    CheckpointWriteFailed, the files before it intact; any other failure of the PNG only warns."""
    path = checkpoint_path(prefix, iteration)
    current = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_network(path, spec, params, stdio=True, learning_curve=curve, state=state)
        if update_current:
            current = current_path(prefix)
            _copy_atomically(path, current)
    except OSError as error:
        if error.errno is None:
            raise
        raise CheckpointWriteFailed.from_os_error(error) from error
    png = None
    if plot:
        try:
            png = _plot(prefix, curve)
        except CheckpointWriteFailed as failed:
            failed.saved = SavedCheckpoint(path, current, None)
            raise
    return SavedCheckpoint(path, current, png)


def _plot(prefix: str | Path, curve: LearningCurve) -> Path | None:
    try:
        from znn.io.curve_plot import plot_learning_curve
    except ImportError:  # matplotlib missing: the checkpoint matters, the picture does not
        return None
    png = curve_png_path(prefix)
    try:
        return Path(plot_learning_curve(curve, png, title=Path(prefix).name))
    except OSError as error:
        if error.errno is not None:  # the disk, not the plot: the next save would fail as well
            raise CheckpointWriteFailed.from_os_error(error, file=png) from error
        warnings.warn(f"could not draw the learning curve {png}: {error}", stacklevel=3)
        return None
    except Exception as error:  # noqa: BLE001 - a broken plot must never cost the user a checkpoint
        warnings.warn(f"could not draw the learning curve {png}: {error}", stacklevel=3)
        return None
