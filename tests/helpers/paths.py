"""Folders of the checkout that tests read."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NETWORKS = REPO / "networks"
SCRIPTS = REPO / "tests" / "scripts"
