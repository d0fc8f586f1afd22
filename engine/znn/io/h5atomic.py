"""Writing HDF5 files atomically and reproducibly.

A file is written under a temporary name in the target directory, flushed to disk and
then renamed over the target, so a crash or an error never leaves a half-written file
where a network or curve is expected. Files use the oldest HDF5 format (as the h5py of
ZNN's time wrote them), no link-creation-order tracking and no timestamps, so the same
content always gives the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside `path`; when the block succeeds the file written there is
    flushed to disk and renamed over `path`, and on any error it is removed."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never clobber someone else's file; mode 0o666 lets the umask decide permissions.
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_directory(path.parent)


@contextlib.contextmanager
def atomic_h5_file(path: str | Path) -> Iterator[h5py.File]:
    """An empty HDF5 file open for writing that replaces `path` only when the block succeeds."""
    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w", libver="earliest", track_order=False) as handle:
            yield handle


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (not possible on every platform)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_string(group: h5py.Group, key: str, value: str) -> None:
    """A scalar variable-length string dataset, ASCII like ZNN's files when possible."""
    encoding = "ascii" if value.isascii() else "utf-8"
    group.create_dataset(key, data=value.encode(encoding), dtype=h5py.string_dtype(encoding),
                         track_times=False)


def write_array(group: h5py.Group, key: str, value: np.ndarray) -> None:
    """A contiguous, uncompressed dataset."""
    group.create_dataset(key, data=value, track_times=False)


def read_text(dataset: h5py.Dataset) -> str:
    """A scalar string dataset as str (h5py >= 3 returns bytes), or a number / integer array as text."""
    if h5py.check_string_dtype(dataset.dtype) is not None and dataset.shape == ():
        return dataset.asstr(errors="replace")[()]
    value = dataset[()]
    if isinstance(value, bytes):  # fixed-length string
        return value.decode("utf-8", errors="replace").rstrip("\0")
    array = np.asarray(value)
    if array.dtype.kind in "iub":
        return ",".join(str(int(v)) for v in array.reshape(-1))
    if array.dtype.kind == "f":
        return ",".join(_real_text(float(v)) for v in array.reshape(-1))
    raise TypeError(f"dataset of dtype {array.dtype} is not an option value")


def _real_text(value: float) -> str:
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text
