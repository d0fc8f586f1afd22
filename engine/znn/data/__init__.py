"""Data for training and demos: synthetic EM volumes with exact ground truth."""

from __future__ import annotations

from znn.data.synthetic import SyntheticEM, make_em_volume

__all__ = ["SyntheticEM", "make_em_volume"]
