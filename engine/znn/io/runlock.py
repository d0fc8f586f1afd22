"""One run per folder and prefix: an exclusive lock held while a run writes its files.

    with RunLock(prefix, "train") as lock:   # raises RunLocked if another run holds it
        ...

The lock is an `fcntl.flock` on `<prefix>.<kind>.lock` beside the files the run writes
(`run/net.train.lock` for train_net_prefix `run/net`, `maps.zarr.blockwise.lock` beside the
blockwise store `maps.zarr`). The file holds the holder's PID, host and start time as text,
which a refused run names. The kernel drops a flock when its holder
exits, however it exits (SIGKILL included), so a lock file left by a dead run is simply
taken over; a run that ends removes its lock file. flock belongs to an open file, so a
second lock taken inside the same process is refused too: a napari dock and a command in
one process cannot run the same job twice. Where the file system has no flock (ENOLCK and
the like on some network mounts) the run goes on unlocked and `note` says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from znn.base.errors import WriteFailed, ZnnError

# kind -> (what runs, what it writes, the setting that names it)
KINDS = {"train": ("training run", "the '{}' files", "train_net_prefix"),
         "forward": ("forward pass", "the '{}' files", "output_prefix"),
         "blockwise": ("blockwise prediction", "the store '{}'", "output")}


def lock_path(prefix: str | Path, kind: str) -> Path:
    """`<prefix>.<kind>.lock` of the prefix with every link resolved: two runs that reach the same files
    through different links (or spellings) take the same lock."""
    prefix = Path(os.path.realpath(prefix))
    return prefix.with_name(f"{prefix.name}.{kind}.lock")


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its lock file says."""

    pid: int | None
    host: str
    started: str

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            fields[key] = value
        if "pid" not in fields:
            return None
        pid = fields["pid"].strip()
        return cls(int(pid) if pid.isdigit() else None, fields.get("host", "").strip(),
                   fields.get("started", "").strip())

    def describe(self) -> str:
        parts = [f"PID {self.pid}" if self.pid is not None else "an unknown process"]
        if self.host:
            parts.append(f"on {self.host}")
        if self.started:
            parts.append(f"since {self.started}")
        return " ".join(parts)


class RunLocked(ZnnError):
    """Another run holds the lock of this folder and prefix."""

    def __init__(self, path: Path, kind: str, holder: Holder | None, setting: str | None = None,
                 through: Path | None = None) -> None:
        self.path = path
        self.kind = kind
        self.holder = holder
        what, writes, key = KINDS.get(kind, (f"{kind} run", "the '{}' files", "prefix"))
        prefix = path.name[:-len(f".{kind}.lock")]
        by = holder.describe() if holder is not None else "another process"
        reached = f" (reached through {through})" if through is not None else ""
        super().__init__(f"{path.parent}: another {what} is writing {writes.format(prefix)}{reached} there ({by}; lock "
                         f"file {path.name}); wait for it to end or stop it, or give this job another "
                         f"{setting or key}")


class RunLock:
    """The lock of one run (see the module docstring); a context manager, or acquire/release
    for a holder that lives longer than a block (a GUI)."""

    def __init__(self, prefix: str | Path, kind: str, *, setting: str | None = None) -> None:
        self.path = lock_path(prefix, kind)
        spelled = Path(prefix).with_name(f"{Path(prefix).name}.{kind}.lock")
        # The files as the user named them, when a link leads elsewhere (for messages).
        self.through = Path(prefix) if os.path.abspath(spelled) != str(self.path) else None
        self.kind = kind
        self.setting = setting  # the flag or .cfg key a refusal tells the user to change
        self.note: str | None = None  # set when the run goes on without a lock
        self._fd: int | None = None
        self._made_folder = False

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock, or raise RunLocked naming the run that holds it."""
        if self._fd is not None:
            return self
        folder = self.path.parent
        try:
            self._made_folder = not folder.exists()
            folder.mkdir(parents=True, exist_ok=True)
            fd = self._lock_file()
        except OSError as error:
            raise WriteFailed.from_os_error(error, context=f"a run needs to write in {folder}") from error
        if fd is None:
            return self
        text = f"pid {os.getpid()}\nhost {socket.gethostname()}\nstarted {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
        with contextlib.suppress(OSError):  # the text is for messages only; the flock is the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
        self._fd = fd
        return self

    def _lock_file(self) -> int | None:
        """An open descriptor of the lock file, locked; None where flock is not supported."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise RunLocked(self.path, self.kind, holder, self.setting, self.through) from None
            except OSError as error:
                os.close(fd)
                if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                    raise
                self.note = (f"cannot lock {self.path} ({os.strerror(error.errno).lower()}): make sure no other "
                             "run writes these files at the same time")
                return None
            # The run that held it may have removed the file (and another run made a new one)
            # between our open and our flock: then this lock guards nothing; try again.
            try:
                same = os.path.samestat(os.stat(self.path), os.fstat(fd))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still locked: a waiting opener sees it gone and retries
        os.close(fd)
        if self._made_folder:
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()  # only if the run left nothing there

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()


def _holder(fd: int) -> Holder | None:
    """The holder named in a lock file (which the holder may be writing just now)."""
    for _ in range(20):
        try:
            holder = Holder.parse(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        except OSError:
            return None
        if holder is not None:
            return holder
        time.sleep(0.02)
    return None
