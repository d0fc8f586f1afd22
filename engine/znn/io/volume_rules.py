"""ZNN's conventions for a volume once opened: RGB label stacks become ids, channels come
first, a 2-D image is one section, and only integer, float or bool voxels are read.

Read as an image (`image=True`, the input of a network), a colour (RGB or RGBA) or bool volume
is refused instead: colour is not a grey value, true/false is a mask. A volume with an axis of
length 0 is refused in every case."""

from __future__ import annotations

from typing import Any

import numpy as np

from znn.base.errors import VolumeError
from znn.io.volume_location import VolumeLocation


def normalise(array: Any, location: VolumeLocation, axes: str | None, ndim: int | None, *,
              image: bool = False) -> Any:
    """Apply ZNN's conventions: RGB → ids, (c, z, y, x) order, 2-D → one section, dtype checks.
    With `image`, colour and bool volumes are refused (see the module docstring)."""
    dtype = np.dtype(array.dtype)
    if image:
        _check_image_type(array.shape, dtype, axes, location)
    if is_rgb(array.shape, dtype, axes):
        array = _rgb_to_ids(array)
        axes = None
    elif axes is not None and array.ndim == 4 and "C" in axes:
        array = np.moveaxis(array, axes.index("C"), 0)  # ImageJ stores Z before C
    array = _check_dtype(array, location)
    if array.ndim == 2:
        array = array[np.newaxis]
    if ndim == 3 and array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    allowed = (3, 4) if ndim is None else (ndim,)
    if array.ndim not in allowed:
        expected = " or ".join({3: "3-D (z, y, x)", 4: "4-D (channels, z, y, x)"}[n] for n in allowed)
        raise VolumeError("volume has the wrong number of axes", file=str(location.file),
                          key=location.key, expected=expected, found=f"shape {tuple(array.shape)}")
    if 0 in array.shape:
        raise VolumeError("the volume holds no voxels", file=str(location.file), key=location.key,
                          expected="at least one voxel along every axis", found=f"shape {tuple(array.shape)}")
    return array


def is_rgb(shape: tuple[int, ...], dtype: np.dtype, axes: str | None) -> bool:
    if dtype != np.uint8 or not shape or shape[-1] != 3:
        return False
    if len(shape) == 4:
        return True
    # A single RGB image is only recognisable when the file says so (TIFF 'S' axis).
    return len(shape) == 3 and axes is not None and axes.endswith("S")


def is_colour(shape: tuple[int, ...], dtype: np.dtype, axes: str | None) -> bool:
    """An 8-bit RGB or RGBA stack (z, y, x, 3|4), or a single colour image the file marks as one."""
    if dtype != np.uint8 or not shape or shape[-1] not in (3, 4):
        return False
    return len(shape) == 4 or (len(shape) == 3 and axes is not None and axes.endswith("S"))


def _check_image_type(shape: tuple[int, ...], dtype: np.dtype, axes: str | None, location: VolumeLocation) -> None:
    if is_colour(shape, dtype, axes):
        kind = "RGB" if shape[-1] == 3 else "RGBA"
        raise VolumeError(f"an 8-bit {kind} colour image cannot be a network input", file=str(location.file),
                          key=location.key, expected="one grey value per voxel (convert the stack to greyscale)",
                          found=f"shape {tuple(shape)} {dtype}")
    if dtype == np.bool_:
        raise VolumeError("a true/false volume cannot be a network input (it is a mask)", file=str(location.file),
                          key=location.key, expected="integer or float intensities", found="bool")


def _rgb_to_ids(array: Any) -> Any:
    rgb = array.astype(np.uint32)
    return rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2]


def _check_dtype(array: Any, location: VolumeLocation) -> Any:
    dtype = np.dtype(array.dtype)
    if dtype == np.bool_:
        return array.astype(np.uint8)
    if dtype == np.float16:
        return array.astype(np.float32)
    if dtype.kind in "iuf" and dtype.fields is None:
        return array
    raise VolumeError("unsupported voxel type", file=str(location.file), key=location.key,
                      expected="integer, float or bool voxels", found=str(dtype))
