"""Three values, one per axis (z, y, x): the shape of most sizes in the engine."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")

Triple = tuple[int, int, int]


def triple(values: Iterable[T]) -> tuple[T, T, T]:
    """The three values of an iterable (ValueError unless it has exactly three)."""
    z, y, x = values
    return (z, y, x)
