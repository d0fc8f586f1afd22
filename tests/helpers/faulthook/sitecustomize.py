"""Faults on demand for child `znn` processes of tests: put this folder first on PYTHONPATH
and set one or more of these variables (nothing happens without them).

ZNN_TEST_WRITE_FAULT = KIND:REGEX
    Acts on the atomic writer's temporary files whose target file name matches REGEX, where
    the operating system would fail (through the `os` module that znn.base.atomic, which creates
    them, and znn.io.h5atomic, which writes HDF5 into them, use):
    ENOSPC  the first write past 4 KiB fails with "no space left on device" (a full disk);
    EROFS, EACCES  creating the temporary file fails (a folder made read-only mid-run);
    FILL  just before the first matching temporary is created, a file named `filler` fills its
          folder's file system (on a small tmpfs: a real full disk in the middle of a run);
    HANG  the first write past 4 KiB prints `fault hook: hanging in <temporary>` on stderr
          and sleeps for 10 minutes, once per process (for a SIGKILL or a Ctrl-C mid-save).
ZNN_TEST_SLOW_TILE = SECONDS   each tile of the in-memory forward pass takes that much longer.
ZNN_TEST_SLOW_BLOCK = SECONDS  each block of a blockwise forward pass does too (dask workers
    inherit the environment, so this acts in them).
"""

from __future__ import annotations

import os
import re
import sys
import time
import types
from pathlib import Path


def _write_fault(spec: str) -> None:
    import errno

    from znn.base import atomic
    from znn.io import h5atomic

    kind, _, pattern = spec.partition(":")
    wanted = re.compile(pattern)
    watched: set[int] = set()  # descriptors of matching temporary files
    hung: list[bool] = []

    def matches(path: str) -> bool:
        target = atomic.temporary_target(Path(path).name)
        return target is not None and wanted.search(target) is not None

    def open_(path, flags, mode=0o777, *args, **kwargs):  # noqa: ANN001, ANN202
        if kind == "FILL" and flags & os.O_CREAT and matches(path) and not hung:
            hung.append(True)
            _fill(Path(path).parent / "filler")
        if kind in ("EROFS", "EACCES") and flags & os.O_CREAT and matches(path):
            code = getattr(errno, kind)
            raise OSError(code, os.strerror(code), str(path))
        fd = os.open(path, flags, mode, *args, **kwargs)
        if matches(path):
            watched.add(fd)
        return fd

    def pwrite(fd, data, offset):  # noqa: ANN001, ANN202
        if fd in watched and offset + len(data) > 4096:
            if kind == "ENOSPC":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if kind == "HANG" and not hung:
                hung.append(True)
                print(f"fault hook: hanging in {os.readlink(f'/proc/self/fd/{fd}')}", file=sys.stderr, flush=True)
                time.sleep(600)
        return os.pwrite(fd, data, offset)

    def close(fd):  # noqa: ANN001, ANN202
        watched.discard(fd)
        return os.close(fd)

    proxy = types.ModuleType("os")
    proxy.__dict__.update(os.__dict__)
    proxy.__dict__.update(open=open_, pwrite=pwrite, close=close)
    atomic.os = h5atomic.os = proxy


def _fill(path: Path) -> None:
    """Write zeros to `path` until its file system is full."""
    import errno

    chunk = bytes(4096)
    with open(path, "wb", buffering=0) as filler:
        try:
            while True:
                filler.write(chunk)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise


def _slow_tiles(seconds: float) -> None:
    from znn.forward import predict

    real = predict.iter_predict

    def slow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        tiles = real(*args, **kwargs)
        while True:
            time.sleep(seconds)
            try:
                step = next(tiles)
            except StopIteration as done:
                return done.value
            yield step

    predict.iter_predict = slow


def _slow_blocks(seconds: float) -> None:
    from znn.blockwise.task import BlockWorker

    real = BlockWorker.compute_block

    def slow(self, task, number):  # noqa: ANN001, ANN202
        time.sleep(seconds)
        return real(self, task, number)

    BlockWorker.compute_block = slow


if os.environ.get("ZNN_TEST_WRITE_FAULT"):
    _write_fault(os.environ["ZNN_TEST_WRITE_FAULT"])
if os.environ.get("ZNN_TEST_SLOW_TILE"):
    _slow_tiles(float(os.environ["ZNN_TEST_SLOW_TILE"]))
if os.environ.get("ZNN_TEST_SLOW_BLOCK"):
    _slow_blocks(float(os.environ["ZNN_TEST_SLOW_BLOCK"]))
