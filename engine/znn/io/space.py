"""Disk space: how much a command is about to write, and whether the disk has room for it.

Checked before the work starts, so that a run is refused in a second rather than failing
when its first checkpoint or its outputs are written:

    needed = checkpoint_room(parameters, "float32")
    require_free_space(folder, needed, origin, what="the next checkpoint")

Sizes are estimates on the safe side (uncompressed data plus HDF5's bookkeeping).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from znn.io.writable import Origin

# HDF5's own bytes in a saved network: the file, the ZNN group layout, the small datasets of
# each layer (names, sizes, types) and the state group. Measured: tiny2d's checkpoint holds
# 22 KiB of arrays in an 82 KiB file (13 node and edge groups).
CHECKPOINT_OVERHEAD = 32 << 10
LAYER_OVERHEAD = 4 << 10
CURVE_BYTES_PER_POINT = 3 * 8  # iteration, cost and error, float64/int64
CURVE_PNG = 128 << 10  # the learning-curve picture redrawn beside each checkpoint (tiny2d's: 15 KiB)


def free_bytes(folder: str | Path) -> int:
    """Free bytes (for this user) on the disk that holds `folder`, or the nearest folder above it."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(shutil.disk_usage(path).free)


def volume_bytes(shape: Iterable[int], dtype: DTypeLike) -> int:
    """Uncompressed bytes of an array."""
    return math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize


def checkpoint_bytes(parameters: int, dtype: DTypeLike, *, layers: int = 0, curve_points: int = 0) -> int:
    """One checkpoint `.h5`: the weights and their momentum buffers (two arrays of `parameters`
    values of `dtype`), the learning curve so far and HDF5's bookkeeping."""
    arrays = 2 * int(parameters) * np.dtype(dtype).itemsize
    return arrays + 2 * curve_points * CURVE_BYTES_PER_POINT + CHECKPOINT_OVERHEAD + layers * LAYER_OVERHEAD


def checkpoint_room(parameters: int, dtype: DTypeLike, *, layers: int = 0, curve_points: int = 0,
                    at_least: int = 0) -> int:
    """Free space the next save needs: `<prefix>_<iteration>.h5` and the temporary copy that
    becomes `<prefix>_current.h5` (twice one checkpoint, at least twice `at_least`, e.g. the
    size of the checkpoint a run resumes from), plus the learning-curve picture."""
    one = max(checkpoint_bytes(parameters, dtype, layers=layers, curve_points=curve_points), int(at_least))
    return 2 * one + CURVE_PNG


def require_free_space(folder: str | Path, needed: int, origin: Origin, *, what: str) -> None:
    """Refuse (with `origin`: the flag or .cfg key that named `folder`) when the disk of
    `folder` has fewer than `needed` free bytes."""
    free = free_bytes(folder)
    if free < needed:
        raise origin.error(f"needs about {format_size(needed)} for {what}, but only {format_size(free)} is free "
                           f"on the disk of {folder}", expected="more free disk space, or a folder on another disk")


def format_size(n: int) -> str:
    """'1.5 GiB'-style size."""
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"
