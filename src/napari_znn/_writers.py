"""npe2 writers: save image layers (boundary / affinity maps, raw EM) as .h5, .tif/.tiff or .zarr.

The writing itself is `znn.io.volumes.write_volume`, so saved files read back with the
engine (and the `.spec` files of a training run) exactly as written. napari's File > Save
Layers calls these through npe2:

* one image layer -> `write_image(path, data, meta)`;
* several image layers -> `write_images(path, [(data, meta, "image"), ...])`.

Where the data goes:

=============  ===============================  =========================================
format         one layer                        several layers
=============  ===============================  =========================================
``.h5``        dataset ``/main`` (ZNN default)  one dataset per layer, ``/<layer name>``
``.tif(f)``    the file itself                  ``<stem>_<layer name>.tif`` beside `path`
``.zarr``      an array at the store root       a group, one array ``<layer name>`` each
=============  ===============================  =========================================

Layer names are sanitised (characters other than letters, digits, ``_ - .`` become ``_``)
and made unique with ``_2``, ``_3``... Saving replaces what is at the target: an existing
.h5 file or zarr store is removed first, so the file holds what was saved and nothing
stale (napari's save dialog asks before overwriting). A directory that is not a zarr store
is never removed. Arrays keep their shape: (z, y, x), (c, z, y, x) for a 4-D affinity map,
2-D as given. An RGB layer's colour axis is moved first, ZNN's (c, z, y, x) order. Only
the full-resolution level of a multiscale layer is written.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from znn.io.volumes import parse_location, write_volume

LayerData = tuple[Any, dict[str, Any], str]
EXTENSIONS = (".h5", ".hdf5", ".tif", ".tiff", ".zarr")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def write_image(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """npe2 single-layer writer: one image layer to `path`; returns the paths written."""
    target = _checked_target(path)
    _remove_existing(target)
    write_volume(target, _volume(data, meta))
    return [str(target)]


def write_images(path: str, layer_data: list[LayerData]) -> list[str]:
    """npe2 multi-layer writer: every image layer to `path`, named after the layer."""
    target = _checked_target(path)
    images = [(data, meta) for data, meta, kind in layer_data if kind == "image"]
    if not images:
        return []
    names = layer_names([meta for _data, meta in images])
    kind = parse_location(target).kind
    _remove_existing(target)
    if kind == "tif":
        written = []
        for name, (data, meta) in zip(names, images):
            file = target.with_name(f"{_tif_stem(target)}_{name}{target.suffix}")
            write_volume(file, _volume(data, meta))
            written.append(str(file))
        return written
    for name, (data, meta) in zip(names, images):
        write_volume(target, _volume(data, meta), dataset=name)
    return [str(target)]


def layer_names(metas: list[dict[str, Any]]) -> list[str]:
    """Dataset / array / file names for layers: sanitised, never empty, unique."""
    names: list[str] = []
    taken: set[str] = set()
    for index, meta in enumerate(metas):
        base = _UNSAFE.sub("_", str(meta.get("name") or "")).strip("._") or f"layer{index}"
        name, count = base, 1
        while name.lower() in taken:  # case-insensitive: file systems may fold case
            count += 1
            name = f"{base}_{count}"
        taken.add(name.lower())
        names.append(name)
    return names


def _checked_target(path: str) -> Path:
    target = Path(path)
    if not target.name.lower().endswith(EXTENSIONS):
        raise ValueError(f"napari-znn writes {', '.join(EXTENSIONS)} files, not {target.name!r}")
    return target


def _tif_stem(target: Path) -> str:
    return target.name[: -len(target.suffix)] if target.suffix else target.name


def _volume(data: Any, meta: dict[str, Any]) -> np.ndarray:
    """The layer's pixels as one in-memory array in ZNN's axis order."""
    if meta.get("multiscale"):
        data = data[0]
    array = np.asarray(data)
    if meta.get("rgb") and array.ndim >= 3:
        array = np.moveaxis(array, -1, 0)
    return array


def _remove_existing(target: Path) -> None:
    """Clear an existing .h5 file or zarr store so the save leaves exactly what was written."""
    if not target.exists():
        return
    kind = parse_location(target).kind
    if target.is_dir():
        if kind == "zarr" and any((target / marker).exists() for marker in _ZARR_MARKERS):
            shutil.rmtree(target)
        elif kind == "zarr" and not any(target.iterdir()):
            return
        else:
            raise ValueError(f"{target} is a directory that is not a zarr store; not replacing it")
    elif kind == "h5":
        target.unlink()
