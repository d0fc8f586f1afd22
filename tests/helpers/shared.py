"""ZNN's original files and EM data in ../shared beside the checkout (override with ZNN_SHARED_DIR).

Compatibility tests skip with a reason when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .paths import REPO


def _shared_dir() -> Path:
    env = os.environ.get("ZNN_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


SHARED = _shared_dir()
FIXTURES = SHARED / "data" / "znn-fixtures"


def need_shared(path: Path) -> Path:
    """Return `path`, or skip the test when the shared fixtures are not present."""
    if not path.exists():
        pytest.skip(f"shared fixture {path.relative_to(SHARED.parent)} not present "
                    f"(put ZNN's fixtures in ../shared or set ZNN_SHARED_DIR)")
    return path
