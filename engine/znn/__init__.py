"""znn: ZNN's CPU convolutional-network engine for EM connectomics, in Python.

Importing this package is cheap and has no side effects: submodules are loaded
when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from znn.base.errors import (
    ConfigError,
    FileFormatError,
    NetworkSpecError,
    SavedNetworkError,
    VolumeError,
    ZnnError,
)


def __getattr__(name: str) -> object:
    # `znn.Network` without importing numba and pyFFTW at `import znn`.
    if name == "Network":
        from znn.network import Network

        return Network
    raise AttributeError(f"module 'znn' has no attribute {name!r}")


__all__ = [
    "Network",
    "ConfigError",
    "FileFormatError",
    "NetworkSpecError",
    "SavedNetworkError",
    "VolumeError",
    "ZnnError",
    "__version__",
]
