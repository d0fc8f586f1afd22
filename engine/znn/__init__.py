"""znn: ZNN's CPU convolutional-network engine for EM connectomics, in Python.

Importing this package is cheap and has no side effects: submodules are loaded
when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from znn.errors import (
    ConfigError,
    FileFormatError,
    NetworkSpecError,
    SavedNetworkError,
    VolumeError,
    ZnnError,
)

__all__ = [
    "ConfigError",
    "FileFormatError",
    "NetworkSpecError",
    "SavedNetworkError",
    "VolumeError",
    "ZnnError",
    "__version__",
]
