"""The blockwise output store: a zarr group with one array per network output, chunked by
block, and a flag per block that says it is written.

    out.zarr/
        <output node>     float32 (maps, z, y, x), chunks (maps, *block), fill NaN
        done_blocks       uint8 (number of blocks,), one chunk per flag
        attrs["znn_blockwise"]  what the run computes (input, network, weights, block, ...)

Each block writes exactly its own chunks and then its flag, so writes are idempotent and
never touch another block's data; a run resumed later skips flagged blocks. A flag is
only set after the block's maps are stored, so an interrupted write is recomputed.
NaN as fill value makes a block that was never written visible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from znn.base.errors import ZnnError

DONE = "done_blocks"
ATTRIBUTE = "znn_blockwise"


class StoreMismatch(ZnnError):
    """The output store holds a different run (other input, network, weights or blocks)."""


def check_existing(path: str | Path, description: dict[str, Any], *, overwrite: bool = False) -> bool:
    """Whether `path` holds this very run (`description` equals its record), to be resumed.
    False for a new store (or an empty folder, or a run replaced with `overwrite`); a
    `StoreMismatch` for anything else: a file, a folder that is not a znn blockwise store,
    another run without `overwrite`. Reads only, so it can run before any work starts."""
    path = Path(path)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):  # an empty folder is free
        return False
    if not path.is_dir():
        raise StoreMismatch(f"{path} is not a zarr group (it is a file); choose another output path")
    group = _existing_group(path, mode="r")
    recorded = group.attrs.get(ATTRIBUTE)
    if recorded is None:  # somebody else's data: never overwritten, not even with --overwrite
        raise StoreMismatch(f"{path} exists and is not a znn blockwise output; choose another output path")
    if overwrite:
        return False
    wanted = json.loads(json.dumps(description))
    if recorded != wanted:
        differ = sorted(k for k in set(wanted) | set(recorded) if recorded.get(k) != wanted.get(k))
        raise StoreMismatch(f"{path} holds another blockwise run (differs in: {', '.join(differ)}); "
                            "use a new output path or --overwrite to start again")
    return True


def create_or_open(path: str | Path, description: dict[str, Any], outputs: dict[str, int],
                   output_shape: tuple[int, int, int], block_shape: tuple[int, int, int], blocks: int,
                   *, overwrite: bool = False) -> Any:
    """The output group at `path`, created for this run or reopened to resume it.

    `description` must equal what the store records (JSON-comparable); otherwise a
    `StoreMismatch` explains the difference, unless `overwrite` starts afresh (see
    `check_existing`).
    """
    import zarr

    if check_existing(path, description, overwrite=overwrite):
        return _existing_group(Path(path), mode="r+")
    # Through the link a user may have named: zarr empties a new store's folder, and a link is not one.
    group = zarr.open_group(store=os.path.realpath(path), mode="w")
    for name, maps in outputs.items():
        group.create_array(name, shape=(maps, *output_shape), chunks=(maps, *block_shape), dtype="float32",
                           fill_value=np.nan)
    group.create_array(DONE, shape=(blocks,), chunks=(1,), dtype="uint8", fill_value=0)
    group.attrs[ATTRIBUTE] = json.loads(json.dumps(description))
    return group


def _existing_group(path: Path, mode: Literal["r", "r+"] = "r+") -> Any:
    import zarr

    try:
        return zarr.open_group(store=str(path), mode=mode)
    except Exception as error:  # zarr raises several types for "not a group here"
        raise StoreMismatch(f"{path} exists and is not a zarr group ({type(error).__name__}); "
                            "choose another output path") from None


def done_flags(path: str | Path) -> np.ndarray:
    """The done flag of every block (bool array)."""
    import zarr

    return np.asarray(zarr.open_array(store=str(path), path=DONE, mode="r")[:]).astype(bool)


def write_block(path: str | Path, number: int, slices: tuple[slice, ...], maps: dict[str, np.ndarray]) -> None:
    """Store a block's maps, then flag it done."""
    import zarr

    for name, values in maps.items():
        array = zarr.open_array(store=str(path), path=name, mode="r+")
        array[(slice(None), *slices)] = values
    zarr.open_array(store=str(path), path=DONE, mode="r+")[number] = 1


def is_done(path: str | Path, number: int) -> bool:
    import zarr

    return bool(zarr.open_array(store=str(path), path=DONE, mode="r")[number])
