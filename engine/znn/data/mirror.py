"""Boundary mirroring of input volumes (`is_bd_mirror = yes`, reference §5.5).

Every input volume is padded so that a dense network sees a full field of view around
every original voxel: (fov − 1) // 2 voxels before and fov // 2 after on each spatial
axis. The padding reflects the volume *including* its edge voxel (… 1 0 | 0 1 2 … —
numpy's 'symmetric' mode, not 'reflect'), corners included. When the padding is wider
than the axis the reflection repeats with period 2·n, which is what numpy's pad does.
Labels and masks are never padded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_fov(fov: Sequence[int]) -> tuple[int, int, int]:
    values = tuple(int(n) for n in fov)
    if len(values) != 3 or any(n < 1 for n in values):
        raise ValueError(f"fov must be three positive integers (z, y, x), got {tuple(fov)}")
    return values


def mirror_widths(fov: tuple[int, int, int]) -> tuple[tuple[int, int], ...]:
    """((before, after) for z, y, x): ((fov−1)//2, fov//2) per axis."""
    return tuple(((n - 1) // 2, n // 2) for n in _check_fov(fov))


def mirror_pad(volume: np.ndarray, fov: tuple[int, int, int]) -> np.ndarray:
    """`volume` (z, y, x) or (c, z, y, x) padded on its last three axes for `fov`.

    Always a new array; a fov of (1, 1, 1) returns a copy.
    """
    array = np.asarray(volume)
    if array.ndim not in (3, 4):
        raise ValueError(f"mirror_pad expects a 3-D or 4-D array, got shape {array.shape}")
    if 0 in array.shape[-3:]:
        raise ValueError(f"cannot mirror an empty volume of shape {array.shape}")
    widths = ((0, 0),) * (array.ndim - 3) + mirror_widths(fov)
    return np.pad(array, widths, mode="symmetric")
