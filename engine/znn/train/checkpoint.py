"""Checkpoints: where training state is saved and how a run finds it again.

Files follow ZNN's stdio layout (reference §6.5, §7): `<prefix>_init.h5` for a fresh
network, `<prefix>_<iteration>.h5` at every save and `<prefix>_current.h5` (a copy of the
latest), each holding the network, its momentum buffers and the learning curve. napari-znn
adds a small state group (iteration, seed, eta, ...) that ZNN's loader ignores, and a
learning-curve PNG `<prefix>_curve.png` beside the files. Every file is written under a
temporary name and renamed into place, so an interrupted save never damages the previous
checkpoint.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from znn.io.curve import LearningCurve
from znn.io.h5atomic import atomic_path
from znn.io.h5net import save_network
from znn.netspec.spec import NetSpec
from znn.params import NetParams


def checkpoint_path(prefix: str | Path, iteration: int | str) -> Path:
    """`<prefix>_<iteration>.h5` (iteration may be 'init' or 'current')."""
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}_{iteration}.h5")


def current_path(prefix: str | Path) -> Path:
    return checkpoint_path(prefix, "current")


def curve_png_path(prefix: str | Path) -> Path:
    prefix = Path(prefix)
    return prefix.with_name(f"{prefix.name}_curve.png")


def _copy_atomically(source: Path, target: Path) -> None:
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)


@dataclass
class SavedCheckpoint:
    path: Path
    current: Path | None
    curve_png: Path | None


def save_checkpoint(prefix: str | Path, iteration: int | str, spec: NetSpec, params: NetParams,
                    curve: LearningCurve, state: dict[str, int | float | str], *,
                    update_current: bool = True, plot: bool = True) -> SavedCheckpoint:
    """Write `<prefix>_<iteration>.h5`, then (if asked) replace `<prefix>_current.h5` with a copy,
    then redraw the curve PNG. A failure in the PNG never fails the save."""
    path = checkpoint_path(prefix, iteration)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_network(path, spec, params, stdio=True, learning_curve=curve, state=state)
    current = None
    if update_current:
        current = current_path(prefix)
        _copy_atomically(path, current)
    png = None
    if plot:
        png = _plot(prefix, curve)
    return SavedCheckpoint(path, current, png)


def _plot(prefix: str | Path, curve: LearningCurve) -> Path | None:
    try:
        from znn.io.curve_plot import plot_learning_curve
    except ImportError:  # matplotlib missing: the checkpoint matters, the picture does not
        return None
    try:
        return Path(plot_learning_curve(curve, curve_png_path(prefix), title=Path(prefix).name))
    except Exception as error:  # noqa: BLE001 - a broken plot must never cost the user a checkpoint
        warnings.warn(f"could not draw the learning curve {curve_png_path(prefix)}: {error}", stacklevel=3)
        return None
