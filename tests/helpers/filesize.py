"""A write that fails in the middle, as on a full disk: the process's file-size limit
(RLIMIT_FSIZE) makes every write past `limit` bytes of a file fail with EFBIG."""

from __future__ import annotations

import contextlib
import resource
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def writes_fail_past(limit: int) -> Iterator[None]:
    """Within the block, writing past `limit` bytes of any file raises OSError (EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
