"""Progress of `conv_mode = optimize` choosing each conv group's implementation (light: the dock
imports it to tell these events apart without loading the kernels)."""

from __future__ import annotations

from dataclasses import dataclass

from znn.base.modes import ConvImplMode


@dataclass(frozen=True)
class ConvModeChosen:
    """Conv group `edge` (the `done`-th of `total` timed) runs in `mode`."""

    done: int
    total: int
    edge: str
    mode: ConvImplMode
    seconds: float  # what timing it took (0 when the choice was cached)
