"""Opening the arrays of each format without reading them: TIFF series, HDF5 datasets,
zarr arrays; finding the one array a location means when it names none."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from znn.base.errors import VolumeError, did_you_mean
from znn.io.volume_location import DEFAULT_H5_DATASET, VolumeLocation, section_files
from znn.io.volume_rules import is_rgb


@dataclass(frozen=True)
class VolumeInfo:
    """One array found inside a container (see `list_volumes`)."""

    name: str  # path inside the container, e.g. "/main" or "raw/s0"
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def volume_ndim(self) -> int:
        """Number of axes once read (an RGB label stack loses its colour axis)."""
        return len(self.shape) - 1 if is_rgb(self.shape, self.dtype, None) else len(self.shape)


def read_chunks(raw: Any) -> tuple[int, ...]:
    """The chunks to read an opened array by."""
    # Use the file's own chunking when there is one; else whole sections.
    chunks = getattr(raw, "chunks", None)
    if isinstance(chunks, tuple) and len(chunks) == len(raw.shape):
        return tuple(int(c) for c in chunks)
    return (1,) * max(len(raw.shape) - 2, 0) + tuple(raw.shape[-2:])


@contextlib.contextmanager
def quiet_tifffile() -> Iterator[None]:
    """tifffile logs what it finds wrong in a damaged file before failing on it; the VolumeError
    raised then says it once, so its log is silenced meanwhile."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def open_tif(location: VolumeLocation) -> tuple[Any, str]:
    import dask.array as da
    import tifffile
    import zarr

    try:
        with quiet_tifffile():
            with tifffile.TiffFile(location.file) as tif:
                axes = tif.series[0].axes
                end = _data_end(tif.series[0])
            store = tifffile.imread(location.file, aszarr=True)
    except MemoryError:
        raise
    except Exception as exc:  # tifffile fails on damaged files with many exception types
        raise VolumeError(f"not a readable TIFF file ({type(exc).__name__}: {exc})", file=str(location.file),
                          expected="a TIFF stack") from exc
    size = location.file.stat().st_size
    if end > size:  # found now, not by the block that reads the missing part (in a dask worker, much later)
        raise VolumeError(f"the TIFF file is truncated: its images need {end:,} bytes, the file has {size:,} (an "
                          "interrupted copy or download?)", file=str(location.file), expected="a complete TIFF file")
    return da.from_zarr(zarr.open(store, mode="r")), axes


def _data_end(series: Any) -> int:
    """Where the image data of a TIFF series ends, from its offsets (no pixel is read): a contiguous
    series by its first offset and size, else page by page."""
    end = 0
    if series.dataoffset is not None:
        end = int(series.dataoffset) + int(series.nbytes)
    for page in series.pages:
        if page is not None:
            for offset, count in zip(page.dataoffsets, page.databytecounts):
                end = max(end, int(offset) + int(count))
    return end


def open_sections(location: VolumeLocation) -> tuple[Any, str]:
    """A folder of one TIFF per section (an image sequence), stacked lazily in natural name order;
    every section must have the first one's shape and type."""
    import dask.array as da
    import tifffile
    from dask import delayed

    files = section_files(location.file)
    infos = []
    for file in files:
        try:
            with quiet_tifffile(), tifffile.TiffFile(file) as tif:
                series = tif.series[0]
                infos.append((tuple(series.shape), np.dtype(series.dtype)))
        except MemoryError:
            raise
        except Exception as exc:  # tifffile fails on damaged files with many exception types
            raise VolumeError(f"a section is not a readable TIFF file ({type(exc).__name__}: {exc})", file=str(file),
                              expected="one TIFF image per section") from exc
    shape, dtype = infos[0]
    for file, (other_shape, other_dtype) in zip(files, infos):
        if (other_shape, other_dtype) != (shape, dtype):
            raise VolumeError(f"the sections of the folder differ: {files[0].name} is {shape} {dtype}",
                              file=str(file), expected=f"every section {shape} {dtype}",
                              found=f"{other_shape} {other_dtype}")
    if len(shape) != 2:
        raise VolumeError("a folder of sections holds one 2-D image per file", file=str(files[0]),
                          expected="a 2-D (y, x) image", found=f"shape {shape}")

    def read(file: Path) -> Any:
        with quiet_tifffile():
            return tifffile.imread(file)

    sections = [da.from_delayed(delayed(read)(file), shape=shape, dtype=dtype) for file in files]
    return da.stack(sections), "YX"


def h5_file(file: Path) -> Any:
    import h5py

    try:
        return h5py.File(file, "r")
    except OSError as exc:
        raise VolumeError(f"not a readable HDF5 file ({exc})", file=str(file),
                          expected="an HDF5 file") from exc


def h5_datasets(handle: Any) -> list[VolumeInfo]:
    import h5py

    found: list[VolumeInfo] = []

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            found.append(VolumeInfo("/" + name, tuple(item.shape), item.dtype))

    handle.visititems(visit)
    return found


def open_h5(location: VolumeLocation, ndim: int | None) -> Any:
    import h5py

    handle = h5_file(location.file)
    names = [info.name for info in h5_datasets(handle)]
    if location.inner is not None:
        name = "/" + location.inner
        if not isinstance(handle.get(name), h5py.Dataset):
            handle.close()
            raise VolumeError(f"no dataset '{name}' in this file{did_you_mean(name, names)}",
                              file=str(location.file), key=name, expected="an existing dataset",
                              found=", ".join(names) or "no datasets")
        return handle[name]
    if isinstance(handle.get(DEFAULT_H5_DATASET), h5py.Dataset):
        return handle[DEFAULT_H5_DATASET]
    try:
        chosen = _only_candidate(h5_datasets(handle), location, ndim,
                                 container="dataset", default=DEFAULT_H5_DATASET)
    except VolumeError:
        handle.close()
        raise
    return handle[chosen]


def zarr_open(file: Path, inner: str | None) -> Any:
    import zarr

    try:
        return zarr.open(store=str(file), mode="r", path=inner or "")
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.BaseZarrError) as exc:
        if inner is None:
            raise VolumeError(f"not a readable zarr store ({exc})", file=str(file),
                              expected="a zarr v2 or v3 array or group") from exc
        try:
            known = [info.name for info in zarr_arrays(zarr.open(store=str(file), mode="r"))]
        except Exception:  # the store itself is broken: report the original problem
            known = []
        raise VolumeError(f"no array '{inner}' in this zarr store{did_you_mean(inner, known)}",
                          file=str(file), key=inner, expected="an existing array",
                          found=", ".join(known) or "no arrays") from exc


def zarr_arrays(node: Any) -> Iterator[VolumeInfo]:
    import zarr

    if isinstance(node, zarr.Array):
        yield VolumeInfo("", tuple(node.shape), np.dtype(node.dtype))
        return
    for name, member in node.members(max_depth=None):
        if isinstance(member, zarr.Array):
            yield VolumeInfo(name, tuple(member.shape), np.dtype(member.dtype))


def open_zarr(location: VolumeLocation, ndim: int | None) -> Any:
    import zarr

    node = zarr_open(location.file, location.inner)
    if isinstance(node, zarr.Array):
        return node
    if location.inner is not None:
        raise VolumeError("this is a zarr group, not an array", file=str(location.file),
                          key=location.inner, expected="the path of an array",
                          found=", ".join(f"{location.inner}/{i.name}" for i in zarr_arrays(node))
                          or "an empty group")
    chosen = _only_candidate(list(zarr_arrays(node)), location, ndim, container="array", default=None)
    return node[chosen]


def _only_candidate(infos: list[VolumeInfo], location: VolumeLocation, ndim: int | None,
                    *, container: str, default: str | None) -> str:
    """The single array with the wanted number of axes, else a VolumeError listing them."""
    wanted = (3,) if ndim in (3, None) else (4,)
    candidates = [info for info in infos if info.volume_ndim in wanted]
    if ndim is None and not candidates:
        candidates = [info for info in infos if info.volume_ndim == 4]
    listing = ", ".join(f"{i.name} {i.shape} {i.dtype}" for i in infos) or f"no {container}s"
    axes_text = " or ".join(f"{n}-D" for n in ((3, 4) if ndim is None else (ndim,)))
    default_text = f"no '{default}' and " if default else ""
    if len(candidates) == 1:
        return candidates[0].name
    if not candidates:
        raise VolumeError(f"{default_text}no {axes_text} {container} to read", file=str(location.file),
                          expected=f"a {axes_text} {container}", found=listing)
    names = ", ".join(f"{i.name} {i.shape}" for i in candidates)
    raise VolumeError(f"{default_text}several {axes_text} {container}s; name one as "
                      f"'{location.file}:/name'", file=str(location.file),
                      expected=f"exactly one {axes_text} {container}", found=names)
