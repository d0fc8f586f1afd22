"""Shared test fixtures and the display check for GUI tests.

Compatibility tests read the original ZNN files and EM data from ../shared beside the
checkout (override with ZNN_SHARED_DIR); they skip with a reason when it is absent.
Plain helpers (paths, `need_shared`, tiny jobs, network checks) are in tests/helpers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.shared import FIXTURES, SHARED, need_shared


@pytest.fixture
def fixtures_dir() -> Path:
    return need_shared(FIXTURES)


@pytest.fixture
def shared_dir() -> Path:
    return need_shared(SHARED)


# ---------------------------------------------------------------------- display for GUI tests

_QT_PROBE = "from qtpy.QtWidgets import QApplication; QApplication([])"


def _display_problem() -> str | None:
    """Why Qt cannot open windows here (None when it can): GUI tests skip with this reason."""
    reason = os.environ.get("ZNN_NO_DISPLAY")
    if reason:
        return reason
    platform = os.environ.get("QT_QPA_PLATFORM", "xcb")
    if platform.startswith("xcb") and not os.environ.get("DISPLAY"):
        return "no display (DISPLAY is unset): run the tests with `make test`, which uses Xvfb"
    import subprocess
    import sys

    try:
        probe = subprocess.run([sys.executable, "-c", _QT_PROBE], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "Qt did not start within 60 s"
    if probe.returncode != 0:
        lines = [line for line in probe.stderr.splitlines() if line.strip()]
        return f"Qt cannot start on platform {platform!r}: {lines[-1] if lines else 'exit ' + str(probe.returncode)}"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    qt_fixtures = {"qtbot", "qapp", "make_napari_viewer"}
    gui = [item for item in items if item.get_closest_marker("gui")
           or qt_fixtures & set(getattr(item, "fixturenames", ()))]
    if not gui:
        return
    problem = _display_problem()
    if problem:
        skip = pytest.mark.skip(reason=f"needs a display: {problem}")
        for item in gui:
            item.add_marker(skip)
