"""Shared test fixtures.

Compatibility tests read the original ZNN files and EM data from ../shared beside the
checkout (override with ZNN_SHARED_DIR); they skip with a reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NETWORKS = REPO / "networks"


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


@pytest.fixture
def fixtures_dir() -> Path:
    return need_shared(FIXTURES)


@pytest.fixture
def shared_dir() -> Path:
    return need_shared(SHARED)
