"""Reading and writing image/label volumes: TIFF stacks, HDF5 datasets, zarr arrays.

A volume is addressed by one string:

* ``stack.tif`` — the whole TIFF series;
* ``file.h5`` — dataset ``/main`` (ZNN's convention) or else the only 3-D dataset;
  ``file.h5:/path/to/dataset`` picks one;
* ``dir.zarr`` — the array at the root, or else the only 3-D array in the group;
  ``dir.zarr/sub/array`` or ``dir.zarr:/sub/array`` picks one.

`read_volume` also takes a range of sections after any of these, ``stack.tif[0:15]``
(z from 0 to 14, Python slice rules), so a `.spec` can split one stack into training and
validation samples without copying it.

Arrays come back in ZNN's axis order, (z, y, x) or (channels, z, y, x) (reference §0).
Like ZNN's ``emio.imread`` (reference §5.2), a 4-D uint8 stack whose last axis has
length 3 is an RGB label export (VAST) and becomes uint32 ids R·65536 + G·256 + B.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from znn.errors import VolumeError, did_you_mean

# `.ext` followed by the end, a ':' (inner path) or a '/' (zarr inner path).
_CONTAINER = re.compile(r"\.(tiff?|h5|hdf5|hdf|he5|zarr)(?=$|:|[/\\])", re.IGNORECASE)
_KIND_OF_EXT = {"tif": "tif", "tiff": "tif", "h5": "h5", "hdf5": "h5", "hdf": "h5",
                "he5": "h5", "zarr": "zarr"}
SUPPORTED = ".tif/.tiff, .h5/.hdf5 (optionally 'file.h5:/dataset'), .zarr (optionally 'dir.zarr/array')"
DEFAULT_H5_DATASET = "/main"


@dataclass(frozen=True)
class VolumeLocation:
    """Where a volume lives: the file on disk, its format and the path inside it."""

    file: Path
    kind: str  # "tif", "h5" or "zarr"
    inner: str | None  # dataset/array path inside an h5 file or zarr store

    @property
    def key(self) -> str | None:
        """The inner path as users write it in errors: '/main' in HDF5, 'sub/array' in zarr."""
        if self.inner is None:
            return None
        return "/" + self.inner if self.kind == "h5" else self.inner


@dataclass(frozen=True)
class VolumeInfo:
    """One array found inside a container (see `list_volumes`)."""

    name: str  # path inside the container, e.g. "/main" or "raw/s0"
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def volume_ndim(self) -> int:
        """Number of axes once read (an RGB label stack loses its colour axis)."""
        return len(self.shape) - 1 if _is_rgb(self.shape, self.dtype, None) else len(self.shape)


def parse_location(path: str | Path) -> VolumeLocation:
    """Split 'file.h5:/dataset' or 'dir.zarr/sub/array' into file, format and inner path."""
    text = str(path)
    matches = list(_CONTAINER.finditer(text))
    if not matches:
        raise VolumeError("unknown volume format", file=text, expected=SUPPORTED,
                          found=Path(text).suffix or "no extension")
    # A directory may itself be called 'x.h5' or 'x.zarr': prefer the first
    # candidate that exists on disk, else the outermost one (for writing).
    chosen = next((m for m in matches if Path(text[: m.end()]).exists()), matches[0])
    kind = _KIND_OF_EXT[chosen.group(1).lower()]
    file, rest = Path(text[: chosen.end()]), text[chosen.end():]
    if rest.startswith(":"):
        rest = rest[1:]
    elif rest and kind != "zarr":
        raise VolumeError("a path inside an HDF5 or TIFF file is written after ':'", file=text,
                          expected="'file.h5:/dataset'", found=rest)
    inner = rest.strip("/\\") or None
    if inner is not None and kind == "tif":
        raise VolumeError("a TIFF file holds one volume; nothing can be selected inside it",
                          file=str(file), expected="no ':' suffix", found=rest)
    return VolumeLocation(file=file, kind=kind, inner=inner)


# --------------------------------------------------------------------------- reading


def read_volume(path: str | Path, *, ndim: int | None = 3) -> np.ndarray:
    """Load a whole volume into memory as (z, y, x), or (c, z, y, x) where allowed.

    `ndim=3` (default) wants a 3-D volume (a 2-D image becomes one section and a
    single-channel 4-D array loses its channel axis); `ndim=4` wants (c, z, y, x);
    `ndim=None` accepts either. Raises `VolumeError` naming the file, dataset and shape.
    Names starting with `synthetic:` are generated (`znn.data.synthetic.synthetic_volume`).
    """
    from znn.data.synthetic import is_synthetic_name, synthetic_volume

    text, sections = _split_sections(str(path))
    if is_synthetic_name(text):
        try:
            volume = synthetic_volume(text)
        except ValueError as error:
            raise VolumeError(str(error), file=text,
                              expected="synthetic:raw|labels|boundary?shape=z,y,x&seed=n") from None
        return volume if sections is None else _take_sections(volume, sections, text)
    return np.asarray(open_volume_lazy(path, ndim=ndim).compute())


_SECTIONS = re.compile(r"\[\s*(-?[0-9]*)\s*:\s*(-?[0-9]*)\s*\]$")


def _split_sections(text: str) -> tuple[str, slice | None]:
    match = _SECTIONS.search(text)
    if match is None:
        return text, None
    start, stop = (int(g) if g else None for g in match.groups())
    return text[:match.start()], slice(start, stop)


def _take_sections(volume: Any, sections: slice, name: str) -> Any:
    if volume.ndim == 4:  # (c, z, y, x)
        picked = volume[:, sections]
    else:
        picked = volume[sections]
    if picked.shape[-3] == 0:
        raise VolumeError("the section range selects no section", file=name,
                          expected=f"a range within the {volume.shape[-3]} sections",
                          found=f"[{sections.start if sections.start is not None else ''}:"
                                f"{sections.stop if sections.stop is not None else ''}]")
    return picked


def open_volume_lazy(path: str | Path, *, ndim: int | None = 3) -> Any:
    """Like `read_volume` but returns a dask array that reads blocks on demand.

    The underlying HDF5 file / zarr store / TIFF stays open while the array is alive. A
    `[start:stop]` suffix selects sections, as for `read_volume`.
    """
    import dask.array as da

    _check_ndim_argument(ndim)
    text, sections = _split_sections(str(path))
    location = parse_location(text)
    if not location.file.exists():
        raise VolumeError("volume file not found", file=str(location.file),
                          expected=f"an existing {location.kind} volume", found="nothing at that path")
    axes = None
    if location.kind == "tif":
        raw, axes = _open_tif(location)
    elif location.kind == "h5":
        raw = _open_h5(location, ndim)
        location = replace(location, inner=raw.name.lstrip("/"))  # name the dataset in errors
    else:
        raw = _open_zarr(location, ndim)
        location = replace(location, inner=raw.path or None)
    if not isinstance(raw, da.Array):
        raw = da.from_array(raw, chunks=_read_chunks(raw), asarray=True)
    volume = _normalise(raw, location, axes, ndim)
    return volume if sections is None else _take_sections(volume, sections, text)


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
    if location.kind == "tif":
        raw, _axes = _open_tif(location)
        found = [VolumeInfo("", tuple(raw.shape), np.dtype(raw.dtype))]
    elif location.kind == "h5":
        with _h5_file(location.file) as handle:
            found = _h5_datasets(handle)
    else:
        found = list(_zarr_arrays(_zarr_open(location.file, None)))
    wanted = (3, 4) if ndim is None else (ndim,)
    return [info for info in found if info.volume_ndim in wanted]


def _check_ndim_argument(ndim: int | None) -> None:
    if ndim not in (3, 4, None):
        raise ValueError(f"ndim must be 3, 4 or None, not {ndim!r}")


def _read_chunks(raw: Any) -> tuple[int, ...]:
    # Use the file's own chunking when there is one; else whole sections.
    chunks = getattr(raw, "chunks", None)
    if isinstance(chunks, tuple) and len(chunks) == len(raw.shape):
        return tuple(int(c) for c in chunks)
    return (1,) * max(len(raw.shape) - 2, 0) + tuple(raw.shape[-2:])


def _open_tif(location: VolumeLocation) -> tuple[Any, str]:
    import dask.array as da
    import tifffile
    import zarr

    try:
        with tifffile.TiffFile(location.file) as tif:
            axes = tif.series[0].axes
        store = tifffile.imread(location.file, aszarr=True)
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise VolumeError(f"not a readable TIFF file ({exc})", file=str(location.file),
                          expected="a TIFF stack") from exc
    return da.from_zarr(zarr.open(store, mode="r")), axes


def _h5_file(file: Path) -> Any:
    import h5py

    try:
        return h5py.File(file, "r")
    except OSError as exc:
        raise VolumeError(f"not a readable HDF5 file ({exc})", file=str(file),
                          expected="an HDF5 file") from exc


def _h5_datasets(handle: Any) -> list[VolumeInfo]:
    import h5py

    found: list[VolumeInfo] = []

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            found.append(VolumeInfo("/" + name, tuple(item.shape), item.dtype))

    handle.visititems(visit)
    return found


def _open_h5(location: VolumeLocation, ndim: int | None) -> Any:
    import h5py

    handle = _h5_file(location.file)
    names = [info.name for info in _h5_datasets(handle)]
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
        chosen = _only_candidate(_h5_datasets(handle), location, ndim,
                                 container="dataset", default=DEFAULT_H5_DATASET)
    except VolumeError:
        handle.close()
        raise
    return handle[chosen]


def _zarr_open(file: Path, inner: str | None) -> Any:
    import zarr

    try:
        return zarr.open(store=str(file), mode="r", path=inner or "")
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.BaseZarrError) as exc:
        if inner is None:
            raise VolumeError(f"not a readable zarr store ({exc})", file=str(file),
                              expected="a zarr v2 or v3 array or group") from exc
        try:
            known = [info.name for info in _zarr_arrays(zarr.open(store=str(file), mode="r"))]
        except Exception:  # the store itself is broken: report the original problem
            known = []
        raise VolumeError(f"no array '{inner}' in this zarr store{did_you_mean(inner, known)}",
                          file=str(file), key=inner, expected="an existing array",
                          found=", ".join(known) or "no arrays") from exc


def _zarr_arrays(node: Any) -> Iterator[VolumeInfo]:
    import zarr

    if isinstance(node, zarr.Array):
        yield VolumeInfo("", tuple(node.shape), np.dtype(node.dtype))
        return
    for name, member in node.members(max_depth=None):
        if isinstance(member, zarr.Array):
            yield VolumeInfo(name, tuple(member.shape), np.dtype(member.dtype))


def _open_zarr(location: VolumeLocation, ndim: int | None) -> Any:
    import zarr

    node = _zarr_open(location.file, location.inner)
    if isinstance(node, zarr.Array):
        return node
    if location.inner is not None:
        raise VolumeError("this is a zarr group, not an array", file=str(location.file),
                          key=location.inner, expected="the path of an array",
                          found=", ".join(f"{location.inner}/{i.name}" for i in _zarr_arrays(node))
                          or "an empty group")
    chosen = _only_candidate(list(_zarr_arrays(node)), location, ndim, container="array", default=None)
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


# ----------------------------------------------------------------- shape and dtype rules


def _normalise(array: Any, location: VolumeLocation, axes: str | None, ndim: int | None) -> Any:
    """Apply ZNN's conventions: RGB → ids, (c, z, y, x) order, 2-D → one section, dtype checks."""
    dtype = np.dtype(array.dtype)
    if _is_rgb(array.shape, dtype, axes):
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
    return array


def _is_rgb(shape: tuple[int, ...], dtype: np.dtype, axes: str | None) -> bool:
    if dtype != np.uint8 or not shape or shape[-1] != 3:
        return False
    if len(shape) == 4:
        return True
    # A single RGB image is only recognisable when the file says so (TIFF 'S' axis).
    return len(shape) == 3 and axes is not None and axes.endswith("S")


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


# --------------------------------------------------------------------------- writing

_IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)


def write_volume(path: str | Path, array: Any, *, dataset: str | None = None) -> None:
    """Write a (z, y, x) or (c, z, y, x) array (2-D is written as given).

    HDF5: dataset `dataset` (default '/main', or the ':/path' of `path`), gzip-compressed,
    other datasets in an existing file are kept. TIFF: ImageJ-compatible for uint8,
    uint16 and float32, a plain TIFF otherwise. zarr: a chunked array at the store root
    or at `dataset` / the path after '.zarr'.
    """
    location = parse_location(path)
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
    import tifffile

    axes = {2: "YX", 3: "ZYX", 4: "CZYX"}[data.ndim]
    if data.dtype.type in _IMAGEJ_DTYPES:
        if data.ndim == 4:  # ImageJ hyperstacks are ordered T, Z, C, Y, X
            data, axes = np.moveaxis(data, 0, 1), "ZCYX"
        tifffile.imwrite(file, data, imagej=True, metadata={"axes": axes})
    else:
        tifffile.imwrite(file, data, photometric="minisblack", metadata={"axes": axes})


def _write_h5(file: Path, name: str, data: np.ndarray) -> None:
    import h5py

    name = "/" + name.strip("/")
    with h5py.File(file, "a") as handle:
        if name in handle:
            del handle[name]
        handle.create_dataset(name, data=data, compression="gzip", chunks=_write_chunks(data.shape))


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
