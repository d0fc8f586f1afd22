"""Where the tiles of a forward pass go (reference §8, step 3).

Per axis, with output tile T and field of view F (input window T + F - 1): tiles start at
0, T, 2T, ... while the window ends strictly before the volume does, plus one last tile
aligned with the end of the volume; it may overlap the previous one and then simply
rewrites the shared outputs. Tiles are visited z-major, then y, then x.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from znn.base.triples import Triple, triple


def tile_starts(volume_in: int, tile_out: int, fov: int) -> list[int]:
    """Start coordinates (input and output alike) of the tiles along one axis."""
    window = tile_out + fov - 1
    if volume_in < window:
        raise ValueError(f"an axis of {volume_in} voxels is smaller than one input window of {window} "
                         f"(output tile {tile_out} + field of view {fov} - 1)")
    starts = []
    start = 0
    while start + window < volume_in:
        starts.append(start)
        start += tile_out
    starts.append(volume_in - window)
    return starts


@dataclass(frozen=True)
class Tile:
    """One forward call: input window and output block, both starting at `start`."""

    start: Triple
    outsz: Triple
    fov: Triple

    @property
    def input_slices(self) -> tuple[slice, slice, slice]:
        return triple(slice(s, s + t + f - 1) for s, t, f in zip(self.start, self.outsz, self.fov))

    @property
    def output_slices(self) -> tuple[slice, slice, slice]:
        return triple(slice(s, s + t) for s, t in zip(self.start, self.outsz))


def output_shape(volume_in: Triple, fov: Triple) -> Triple:
    """Output volume of a dense network: input - fov + 1 per axis."""
    return triple(v - f + 1 for v, f in zip(volume_in, fov))


def fit_tile(volume_in: Triple, outsz: Triple, fov: Triple) -> Triple:
    """`outsz` shrunk, axis by axis, to what the volume can hold (one window at most)."""
    return triple(max(1, min(t, v - f + 1)) for v, t, f in zip(volume_in, outsz, fov))


def tiles(volume_in: Triple, outsz: Triple, fov: Triple) -> Iterator[Tile]:
    """All tiles of a volume in ZNN's order."""
    per_axis = [tile_starts(v, t, f) for v, t, f in zip(volume_in, outsz, fov)]
    for start in itertools.product(*per_axis):
        yield Tile(triple(start), outsz, fov)


def tile_count(volume_in: Triple, outsz: Triple, fov: Triple) -> int:
    n = 1
    for v, t, f in zip(volume_in, outsz, fov):
        n *= len(tile_starts(v, t, f))
    return n
