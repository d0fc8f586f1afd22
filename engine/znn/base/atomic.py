"""Writing files atomically: under a temporary name in the target directory
(`.<name>.<8 hex>.tmp`), flushed and renamed over the target, so a crash or an error never leaves a
half-written job file, network or image where one is expected. A failure names the target file, not
the temporary one (`OSError.filename`).

A process killed during a save leaves its temporary file behind; `remove_temporaries` deletes those
of given targets (call it only while no other process may be writing them, e.g. under a run lock).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

# `.<target name>.<8 hex digits>.tmp`: what atomic_path writes before the rename.
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{8}\.tmp$")


def temporary_path(path: Path) -> Path:
    """A fresh temporary name beside `path`."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def temporary_target(name: str) -> str | None:
    """The target file name of a temporary file name of atomic_path, else None."""
    match = _TEMPORARY.match(name)
    return match.group("target") if match else None


def remove_temporaries(folder: str | Path, owned: Callable[[str], bool]) -> list[Path]:
    """Delete the temporary files in `folder` left by interrupted writes of targets whose file
    name `owned` accepts; returns them. Only for when no other process can be writing them."""
    removed: list[Path] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return removed
    for name in names:
        target = temporary_target(name)
        if target is None or not owned(target):
            continue
        path = Path(folder) / name
        with contextlib.suppress(OSError):  # gone already, or not ours to remove after all
            os.unlink(path)
            removed.append(path)
    return removed


def _naming_target(error: OSError, temporary: Path, path: Path) -> OSError:
    """The OS error of a write to `temporary`, told as one about `path` (what the user knows)."""
    if error.errno is None or (error.filename is not None and
                               str(temporary) not in (str(error.filename), str(error.filename2))):
        return error
    return OSError(error.errno, error.strerror or os.strerror(error.errno), str(path))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside `path`; when the block succeeds the file written there is
    flushed to disk and renamed over `path`, and on any error it is removed. An OS error
    about the temporary file is raised as one about `path`."""
    path = Path(path)
    temporary = temporary_path(path)
    try:
        # O_EXCL: never clobber someone else's file; mode 0o666 lets the umask decide permissions.
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        renamed = _naming_target(error, temporary, path)
        if renamed is not error:
            raise renamed from error
        raise
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        # A folder that became read-only keeps the file; the next run under a lock removes it.
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            renamed = _naming_target(error, temporary, path)
            if renamed is not error:
                raise renamed from error
        raise
    _fsync_directory(path.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`path` holds `text` (UTF-8) after the call or, when writing fails, what it held before:
    job files and networks are never left half-written."""
    with atomic_path(Path(path)) as temporary:
        temporary.write_text(text, encoding="utf-8")



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
