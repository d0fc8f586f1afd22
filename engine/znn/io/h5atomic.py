"""Writing HDF5 files atomically (through `znn.base.atomic`) and reproducibly.

Files use the oldest HDF5 format (as the h5py of ZNN's time wrote them), no link-creation-order
tracking and no timestamps, so the same content always gives the same bytes.

The HDF5 library never sees a failed write: a full disk (or an interrupt) while it writes
leaves its caches in a state that later calls in the same process turn into a stream of
errors or a crash. HDF5 therefore writes through `_GuardedFile`, which keeps what it cannot
write in memory until the file is closed, and the first failure is raised after that.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from znn.base.atomic import atomic_path


@contextlib.contextmanager
def atomic_h5_file(path: str | Path) -> Iterator[h5py.File]:
    """An empty HDF5 file open for writing that replaces `path` only when the block succeeds."""
    with atomic_path(path) as temporary:
        guarded = _GuardedFile(temporary)
        try:
            with h5py.File(guarded, "w", libver="earliest", track_order=False) as handle:
                yield handle
        finally:
            guarded.close()
        guarded.raise_failure()


class _GuardedFile:
    """A binary file for h5py's file-object driver whose methods never raise into HDF5.

    Writes go to the file until one fails (a full disk, a file system gone read-only); from
    then on what HDF5 writes is kept in memory, reads see it, and HDF5 closes the file
    normally. An exception of a signal handler (KeyboardInterrupt) is held the same way
    while the writing goes on. `raise_failure` then raises the first of them.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR)
        self._position = 0
        self._size = 0  # the file's size as HDF5 sees it
        self._kept: list[tuple[int, bytes]] = []  # (offset, data) not written to the file
        self.failure: BaseException | None = None
        self._broken = False  # a write failed: the rest stays in memory

    # The file-object protocol h5py's driver uses: seek, tell, read/readinto, write, truncate, flush.

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        start, size = self._position, len(view)
        done = 0
        while not self._broken and done < size:
            try:
                done += os.pwrite(self._fd, view[done:], start + done)
            except OSError as error:
                self._broken = True
                self.failure = self.failure or error
            except BaseException as error:  # noqa: BLE001 - an interrupt: finish the write, raise it later
                self.failure = self.failure or error
        if done < size:
            self._kept.append((start + done, bytes(view[done:])))
        self._position = start + size
        self._size = max(self._size, self._position)
        return size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        start = self._position
        size = max(0, min(len(view), self._size - start))
        data = b""
        for _ in range(3):
            try:
                data = os.pread(self._fd, size, start) if size else b""
                break
            except OSError as error:  # what cannot be read reads as zeros; the save fails anyway
                self._broken = True
                self.failure = self.failure or error
                break
            except BaseException as error:  # noqa: BLE001 - an interrupt: read again, raise it later
                self.failure = self.failure or error
        view[:len(data)] = data
        view[len(data):size] = bytes(size - len(data))
        for offset, kept in self._kept:
            low, high = max(offset, start), min(offset + len(kept), start + size)
            if low < high:
                view[low - start:high - start] = kept[low - offset:high - offset]
        self._position = start + size
        return size

    def read(self, size: int = -1) -> bytes:
        buffer = bytearray(self._size - self._position if size < 0 else size)
        return bytes(buffer[:self.readinto(buffer)])

    def truncate(self, size: int | None = None) -> int:
        size = self._position if size is None else size
        if not self._broken:
            try:
                os.ftruncate(self._fd, size)
            except OSError as error:
                self._broken = True
                self.failure = self.failure or error
        self._size = size
        self._kept = [(offset, data[:size - offset]) for offset, data in self._kept if offset < size]
        return size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def raise_failure(self) -> None:
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure


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
