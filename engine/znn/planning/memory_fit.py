"""Whether a run's network fits in the memory this machine has free, checked before it is built.

`znn train` and `znn forward` (with an explicit `forward_outsz`; `auto` plans within its budget)
compare `estimate_memory` for the job's patch size, conv mode, dtype and threads (`optimize`
counted as fft, its largest case) with the memory available now: MemAvailable of
/proc/meminfo, else the total RAM. A run that cannot fit is refused with the numbers, rather
than failing in numpy's allocator, or in the kernel's out-of-memory killer, minutes later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from znn.base.modes import ConvMode
from znn.netspec.graph import NetworkGraph
from znn.netspec.memory import estimate_memory, largest_layer
from znn.planning.planner import PlanError, format_bytes, total_ram_bytes


def available_ram_bytes() -> int | None:
    """Memory the kernel says new allocations can get without swapping (MemAvailable), else the
    total RAM; None when neither is known."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return total_ram_bytes()
    except PlanError:
        return None


@dataclass(frozen=True)
class Shortfall:
    """A network (plus any volumes held beside it) that needs more memory than is available."""

    needed: int
    available: int
    volumes: int  # of `needed`: whole volumes held beside the network
    layer: str
    layer_kind: str
    layer_bytes: int

    def describe(self, what: str) -> str:
        volumes = f", {format_bytes(self.volumes)} of it for the whole volumes," if self.volumes else ""
        return (f"{what} needs about {format_bytes(self.needed)}{volumes} but only {format_bytes(self.available)} "
                f"of memory is available; the largest layer is {self.layer} ({self.layer_kind}, "
                f"{format_bytes(self.layer_bytes)})")


def memory_shortfall(graph: NetworkGraph, *, dtype: str | np.dtype, conv_mode: ConvMode | Mapping[str, ConvMode],
                     num_threads: int, training: bool, volume_bytes: int = 0,
                     available: int | None = None) -> Shortfall | None:
    """A Shortfall when the estimate for `graph` plus `volume_bytes` exceeds `available`
    (default: `available_ram_bytes()`); None when it fits or nothing is known about RAM."""
    free = available_ram_bytes() if available is None else available
    if free is None:
        return None
    needed = estimate_memory(graph, dtype=dtype, conv_mode=conv_mode, training=training,
                             num_threads=num_threads).total + volume_bytes
    if needed <= free:
        return None
    layer, kind, held = largest_layer(graph, dtype=dtype, conv_mode=conv_mode, training=training)
    return Shortfall(needed, free, volume_bytes, layer, kind, held)
