"""Writing volumes: HDF5 datasets, ImageJ-compatible TIFF stacks and chunked zarr arrays."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from znn.base.atomic import atomic_path
from znn.base.errors import VolumeError
from znn.io.h5atomic import atomic_h5_file
from znn.io.volume_location import DEFAULT_H5_DATASET, VolumeLocation, parse_location

_IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)


def write_volume(path: str | Path, array: Any, *, dataset: str | None = None) -> None:
    """Write a (z, y, x) or (c, z, y, x) array (2-D is written as given).

    HDF5: dataset `dataset` (default '/main', or the ':/path' of `path`), gzip-compressed,
    other datasets in an existing file are kept. Every kind but zarr is written beside the
    target and renamed over it. TIFF: ImageJ-compatible for uint8,
    uint16 and float32, a plain TIFF otherwise, replaced atomically. zarr: a chunked array at the store root
    or at `dataset` / the path after '.zarr'.
    """
    location = parse_location(path)
    if location.kind == "sections":
        raise VolumeError("this is a folder of TIFF sections; a volume is written as one file", file=str(location.file),
                          expected="a new .tif, .h5 or .zarr path", found="a folder")
    location = replace(location, inner=_inner_for_writing(location, dataset))
    data = np.asarray(array)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    if data.dtype.kind not in "iuf" or data.dtype.fields is not None:
        raise VolumeError("cannot write this voxel type", file=str(location.file),
                          key=location.key, expected="integer, float or bool voxels",
                          found=str(data.dtype))
    if data.ndim not in (2, 3, 4):
        raise VolumeError("cannot write an array with this shape", file=str(location.file),
                          key=location.key, expected="2-D, 3-D (z, y, x) or 4-D (c, z, y, x)",
                          found=f"shape {data.shape}")
    location.file.parent.mkdir(parents=True, exist_ok=True)
    if location.kind == "tif":
        _write_tif(location.file, data)
    elif location.kind == "h5":
        _write_h5(location.file, location.inner or DEFAULT_H5_DATASET, data)
    else:
        _write_zarr(location.file, location.inner, data)


def _inner_for_writing(location: VolumeLocation, dataset: str | None) -> str | None:
    if dataset is None:
        return location.inner
    wanted = dataset.strip("/")
    if location.kind == "tif":
        raise VolumeError("a TIFF file holds one volume; it has no datasets", file=str(location.file),
                          key="dataset", expected="dataset=None", found=dataset)
    if location.inner is not None and location.inner != wanted:
        raise VolumeError("two different datasets were asked for", file=str(location.file),
                          key="dataset", expected=f"'{location.inner}' (from the path)", found=dataset)
    return wanted


def _write_tif(file: Path, data: np.ndarray) -> None:
    """Written beside `file` and renamed over it: an interrupted write leaves the old file."""
    import tifffile

    axes = {2: "YX", 3: "ZYX", 4: "CZYX"}[data.ndim]
    with atomic_path(file) as temporary:
        if data.dtype.type in _IMAGEJ_DTYPES:
            if data.ndim == 4:  # ImageJ hyperstacks are ordered T, Z, C, Y, X
                data, axes = np.moveaxis(data, 0, 1), "ZCYX"
            tifffile.imwrite(temporary, data, imagej=True, metadata={"axes": axes})
        else:
            tifffile.imwrite(temporary, data, photometric="minisblack", metadata={"axes": axes})


def _write_h5(file: Path, name: str, data: np.ndarray) -> None:
    """A new file beside `file`, holding what `file` held (other datasets, groups, links,
    attributes) and `name` written afresh, renamed over it: an interrupted or failed write
    (a full disk) leaves the old file, never a damaged one."""
    import h5py

    name = "/" + name.strip("/")
    with atomic_h5_file(file) as new:
        if file.exists():
            with h5py.File(file, "r") as old:
                _copy_except(old, new, name)
        new.create_dataset(name, data=data, compression="gzip", chunks=_write_chunks(data.shape))


def _copy_except(source: Any, target: Any, skipped: str) -> None:
    """Copy the HDF5 group `source` into `target`, leaving out the object at path `skipped`."""
    import h5py

    target.attrs.update(source.attrs)
    for key in source:
        link = source.get(key, getlink=True)
        path = f"{source.name.rstrip('/')}/{key}"
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            target[key] = link
        elif path == skipped:
            continue
        elif skipped.startswith(path + "/") and isinstance(source[key], h5py.Group):
            _copy_except(source[key], target.create_group(key), skipped)
        else:
            source.copy(source[key], target, name=key)


def _write_zarr(file: Path, inner: str | None, data: np.ndarray) -> None:
    import zarr

    chunks = _write_chunks(data.shape)
    if inner is None:
        zarr.create_array(store=str(file), data=data, chunks=chunks, overwrite=True)
        return
    group = zarr.open_group(store=str(file), mode="a")
    group.create_array(inner, data=data, chunks=chunks, overwrite=True)


def _write_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    # Small blocks along z/c, 128² in-plane: good for both section views and 3-D patches.
    leading = tuple(min(n, 16) for n in shape[:-2])
    return tuple(max(1, n) for n in leading + tuple(min(n, 128) for n in shape[-2:]))
