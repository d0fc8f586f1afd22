"""napari readers for HDF5 files and zarr stores: every 3-D (or 4-D) array becomes a layer.

The reading itself is `znn.io.volumes`; this module only decides layer names and types.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from znn.base.errors import VolumeError
from znn.io.volumes import VolumeInfo, list_volumes, open_volume_lazy, read_volume

LayerDataTuple = tuple[Any, dict[str, Any], str]
LOCATION_KEY = "znn_location"  # layer metadata: the volume's address, file[:dataset]
ReaderFunction = Callable[[Any], list[LayerDataTuple]]

# Names say more than dtypes: ZNN images are often uint8, and masks are labels whatever their type.
LABEL_NAMES = re.compile(r"label|seg|gt|truth|mask|ids", re.IGNORECASE)
_IMAGE_NAMES = re.compile(r"raw|image|img|input", re.IGNORECASE)


def get_h5_reader(path: str | list[str]) -> ReaderFunction | None:
    """npe2 reader hook for *.h5 / *.hdf5 files."""
    return _reader_for(path, (".h5", ".hdf5"))


def get_zarr_reader(path: str | list[str]) -> ReaderFunction | None:
    """npe2 reader hook for *.zarr directories."""
    return _reader_for(path, (".zarr",))


def _reader_for(path: str | list[str], suffixes: tuple[str, ...]) -> ReaderFunction | None:
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or not all(str(p).rstrip("/").lower().endswith(suffixes) for p in paths):
        return None
    try:
        if not all(list_volumes(str(p).rstrip("/")) for p in paths):
            return None  # no 3-D/4-D arrays: not a volume file, let another reader try
    except VolumeError:
        return None
    return read_layers


def read_layers(path: str | list[str]) -> list[LayerDataTuple]:
    """All volumes of one or more containers, as napari layer data tuples."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers: list[LayerDataTuple] = []
    for container in paths:
        container = str(container).rstrip("/")
        for info in list_volumes(container):
            layers.extend(_layers_of(container, info))
    return layers


def _layers_of(container: str, info: VolumeInfo) -> list[LayerDataTuple]:
    name = info.name or Path(container).stem
    address = f"{container}:{info.name}" if info.name else container
    # zarr stays lazy (volumes larger than memory; blockwise prediction reads it by location)
    lazy = container.lower().endswith(".zarr")
    data = open_volume_lazy(address, ndim=None) if lazy else read_volume(address, ndim=None)
    meta = {"metadata": {LOCATION_KEY: address}}
    if data.ndim == 4:  # (channels, z, y, x) maps: one image per channel
        return [(data[c], {"name": f"{name}[{c}]"}, "image") for c in range(data.shape[0])]
    return [(data, {"name": name, **meta}, _layer_type(name, data.dtype))]


def _layer_type(name: str, dtype: np.dtype) -> str:
    """'labels' for segmentations, 'image' for intensities.

    Integer arrays are labels and the others images, except where the array's own
    name says otherwise ('raw', 'image', ... / 'label', 'seg', 'mask', ...) and for
    unnamed 8-bit data, which is far more often an EM image than a segmentation.
    """
    leaf = name.rsplit("/", 1)[-1]
    if LABEL_NAMES.search(leaf):
        return "labels" if np.dtype(dtype).kind in "iu" else "image"
    if _IMAGE_NAMES.search(leaf):
        return "image"
    # Unnamed hints: wide integers are ids; 8-bit data is the usual EM image format.
    return "labels" if np.dtype(dtype).kind in "iu" and np.dtype(dtype).itemsize > 1 else "image"
