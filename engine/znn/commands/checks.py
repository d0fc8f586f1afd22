"""Checks of command-line values that argparse cannot make, each refused with one line that
names the flag and the value: `--workers 0: too small; expected a whole number >= 1`."""

from __future__ import annotations

import math
from pathlib import Path

from znn.io.writable import Origin


def at_least(flag: str, value: float | None, least: float, meaning: str = "") -> None:
    """`value` (None: not given) is at least `least`."""
    if value is not None and not value >= least:  # also refuses NaN
        kind = "a whole number" if isinstance(value, int) else "a number"
        raise Origin.flag(flag, _text(value)).error("too small", expected=f"{kind} >= {least:g}{meaning}")


def at_most(flag: str, value: float | None, most: float, meaning: str = "") -> None:
    """`value` (None: not given) is at most `most`."""
    if value is not None and not value <= most:
        kind = "a whole number" if isinstance(value, int) else "a number"
        raise Origin.flag(flag, _text(value)).error("too large", expected=f"{kind} <= {most:g}{meaning}")


def positive(flag: str, value: float | None, meaning: str = "") -> None:
    """`value` (None: not given) is finite and above 0."""
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise Origin.flag(flag, _text(value)).error("not a positive number", expected=f"a number > 0{meaning}")


def within(flag: str, value: float, low: float, high: float, meaning: str = "") -> None:
    """`low <= value <= high` (NaN refused)."""
    if not low <= value <= high:
        raise Origin.flag(flag, _text(value)).error("out of range", expected=f"a number from {low:g} to {high:g}"
                                                                             f"{meaning}")


def existing_file(flag: str, path: str | Path | None, what: str) -> None:
    """`path` (None: not given) is an existing file, not a folder."""
    if path is None:
        return
    given = Path(path)
    origin = Origin.flag(flag, str(path))
    if given.is_dir():
        raise origin.error("is a folder", expected=f"a {what}, not a folder")
    if not given.is_file():
        raise origin.error("no such file", expected=f"an existing {what}")


def _text(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
