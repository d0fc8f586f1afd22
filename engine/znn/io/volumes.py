"""Reading and writing image/label volumes: TIFF stacks, HDF5 datasets, zarr arrays.

A volume is addressed by one string:

* ``stack.tif`` — the whole TIFF series;
* ``file.h5`` — dataset ``/main`` (ZNN's convention) or else the only 3-D dataset;
  ``file.h5:/path/to/dataset`` picks one;
* ``dir.zarr`` — the array at the root, or else the only 3-D array in the group;
  ``dir.zarr/sub/array`` or ``dir.zarr:/sub/array`` picks one;
* a folder of TIFF files, one 2-D section each (an image sequence), stacked in natural name
  order. Existing paths are read for what they are, whatever they are called
  (`volume_location.parse_location`).

`read_volume` also takes a range of sections after any of these, ``stack.tif[0:15]``
(z from 0 to 14, Python slice rules), so a `.spec` can split one stack into training and
validation samples without copying it.

Arrays come back in ZNN's axis order, (z, y, x) or (channels, z, y, x) (reference §0).
Like ZNN's ``emio.imread`` (reference §5.2), a 4-D uint8 stack whose last axis has
length 3 is an RGB label export (VAST) and becomes uint32 ids R·65536 + G·256 + B.

The parts live in `volume_location` (addresses), `volume_formats` (opening each format),
`volume_rules` (axis and dtype conventions) and `volume_writer`; this module reads and lists
volumes and re-exports the public names, so callers import everything from here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from znn.base.errors import VolumeError, ZnnError
from znn.io.volume_formats import (
    VolumeInfo,
    h5_datasets,
    h5_file,
    open_h5,
    open_sections,
    open_tif,
    open_zarr,
    quiet_tifffile,
    read_chunks,
    zarr_arrays,
    zarr_open,
)
from znn.io.volume_location import (
    DEFAULT_H5_DATASET,
    SUPPORTED,
    VolumeLocation,
    parse_location,
    split_sections,
    take_sections,
)
from znn.io.volume_rules import normalise
from znn.io.volume_writer import write_volume

__all__ = ["DEFAULT_H5_DATASET", "SUPPORTED", "VolumeInfo", "VolumeLocation", "list_volumes", "open_volume_lazy",
           "parse_location", "read_volume", "write_volume"]


# --------------------------------------------------------------------------- reading


def read_volume(path: str | Path, *, ndim: int | None = 3, image: bool = False) -> np.ndarray:
    """Load a whole volume into memory as (z, y, x), or (c, z, y, x) where allowed.

    `ndim=3` (default) wants a 3-D volume (a 2-D image becomes one section and a
    single-channel 4-D array loses its channel axis); `ndim=4` wants (c, z, y, x);
    `ndim=None` accepts either. `image=True` reads a network input: colour and bool volumes
    are refused instead of read as label ids or 0/1 (`volume_rules`). Raises `VolumeError`
    naming the file, dataset and shape, also when the voxels turn out unreadable (a damaged
    file). Names starting with `synthetic:` are generated (`znn.io.synthetic.synthetic_volume`).
    """
    from znn.io.synthetic import is_synthetic_name, synthetic_volume

    text, sections = split_sections(str(path))
    if is_synthetic_name(text):
        try:
            volume = synthetic_volume(text)
        except ValueError as error:
            raise VolumeError(str(error), file=text,
                              expected="synthetic:raw|labels|boundary?shape=z,y,x&seed=n") from None
        return volume if sections is None else take_sections(volume, sections, text)
    lazy = open_volume_lazy(path, ndim=ndim, image=image)
    try:
        with quiet_tifffile():
            return np.asarray(lazy.compute())
    except (MemoryError, ZnnError):
        raise
    except Exception as exc:  # each format's readers fail on damaged data in their own way
        location = parse_location(text)
        raise VolumeError(f"the voxels cannot be read, the file is damaged ({type(exc).__name__}: {exc})",
                          file=str(location.file), key=location.key,
                          expected=f"a complete {location.kind} volume") from exc


def open_volume_lazy(path: str | Path, *, ndim: int | None = 3, image: bool = False) -> Any:
    """Like `read_volume` but returns a dask array that reads blocks on demand.

    The underlying HDF5 file / zarr store / TIFF stays open while the array is alive. A
    `[start:stop]` suffix selects sections, as for `read_volume`.
    """
    import dask.array as da

    _check_ndim_argument(ndim)
    text, sections = split_sections(str(path))
    location = parse_location(text)
    if not location.file.exists():
        raise VolumeError("volume file not found", file=str(location.file),
                          expected=f"an existing {location.kind} volume", found="nothing at that path")
    axes = None
    if location.kind == "tif":
        raw, axes = open_tif(location)
    elif location.kind == "sections":
        raw, _axes = open_sections(location)
    elif location.kind == "h5":
        raw = open_h5(location, ndim)
        location = replace(location, inner=raw.name.lstrip("/"))  # name the dataset in errors
    else:
        raw = open_zarr(location, ndim)
        location = replace(location, inner=raw.path or None)
    if not isinstance(raw, da.Array):
        raw = da.from_array(raw, chunks=read_chunks(raw), asarray=True)
    volume = normalise(raw, location, axes, ndim, image=image)
    return volume if sections is None else take_sections(volume, sections, text)


def list_volumes(path: str | Path, *, ndim: int | None = None) -> list[VolumeInfo]:
    """Every array of a container (h5 file or zarr store) with 3 or 4 axes (or exactly `ndim`).

    A TIFF file lists itself as one volume named ''. Names can be appended to the
    file after ':' to read one of them.
    """
    _check_ndim_argument(ndim)
    location = parse_location(path)
    if not location.file.exists():
        raise VolumeError("volume file not found", file=str(location.file),
                          expected=f"an existing {location.kind} volume", found="nothing at that path")
    if location.kind in ("tif", "sections"):
        raw, _axes = open_tif(location) if location.kind == "tif" else open_sections(location)
        found = [VolumeInfo("", tuple(raw.shape), np.dtype(raw.dtype))]
    elif location.kind == "h5":
        with h5_file(location.file) as handle:
            found = h5_datasets(handle)
    else:
        found = list(zarr_arrays(zarr_open(location.file, None)))
    wanted = (3, 4) if ndim is None else (ndim,)
    return [info for info in found if info.volume_ndim in wanted]


def _check_ndim_argument(ndim: int | None) -> None:
    if ndim not in (3, 4, None):
        raise ValueError(f"ndim must be 3, 4 or None, not {ndim!r}")


def open_input(location: str) -> Any:
    """An input volume for prediction, opened lazily (generated `synthetic:` volumes are made in memory)."""
    return read_volume(location) if location.startswith("synthetic:") else open_volume_lazy(location)
