"""numba kernels compiled once and cached on disk, wherever this machine lets us write.

numba caches a compiled kernel beside its source (`__pycache__`) or in the user's cache folder;
where it can write to neither (a read-only install and a HOME that is not writable, as for a
service account), `cache=True` makes it refuse to compile at import. `cached_njit` falls back to a
folder of the system's temporary directory, and to no cache at all if even that fails: slower
start-up, never a crash.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import numba
from numba.core import config as numba_config

_NO_LOCATOR = "no locator available"


def cached_njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """`numba.njit(cache=True, **options)` with the fallbacks of the module docstring."""
    def decorate(function: Callable[..., Any]) -> Any:
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError as error:
            if _NO_LOCATOR not in str(error):
                raise
        if _use_temporary_cache():
            try:
                return numba.njit(cache=True, **options)(function)
            except RuntimeError as error:
                if _NO_LOCATOR not in str(error):
                    raise
        return numba.njit(**options)(function)
    return decorate


def _use_temporary_cache() -> bool:
    """Point numba's cache at a per-user folder of the temporary directory; False if it cannot be made."""
    if numba_config.CACHE_DIR:  # type: ignore[attr-defined]
        return False  # the user chose one (NUMBA_CACHE_DIR), and it failed: no cache then
    folder = os.path.join(tempfile.gettempdir(), f"znn-numba-cache-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return False
    numba_config.CACHE_DIR = folder  # type: ignore[attr-defined]
    return True
