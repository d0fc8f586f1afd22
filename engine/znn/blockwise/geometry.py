"""Block geometry: the grid of write ROIs over the output and the input each one reads.

Coordinates: the output of a dense network over a (mirrored) input volume. With mirroring
the output has the input's shape and output voxel o sees input voxels o − before … o + after
(before = (fov − 1) // 2, after = fov // 2); without mirroring output voxel o sees input
voxels o … o + fov − 1. Both are "padded input" coordinates p = o … o + fov − 1, where padded
index p is original index p − before, reflected into the volume as numpy's 'symmetric' pad
does (edge voxel repeated, period 2n) — so a block reads exactly what a whole-volume pass
over the mirrored volume would see.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from znn.base.triples import Triple, triple


@dataclass(frozen=True)
class Block:
    """One block: `start`/`stop` bound its write ROI in output coordinates; `index` is its
    position in the grid and `number` its place in z-major order."""

    number: int
    index: Triple
    start: Triple
    stop: Triple

    @property
    def shape(self) -> Triple:
        return triple(b - a for a, b in zip(self.start, self.stop))

    @property
    def voxels(self) -> int:
        return math.prod(self.shape)

    def slices(self) -> tuple[slice, slice, slice]:
        return triple(slice(a, b) for a, b in zip(self.start, self.stop))


class BlockGrid:
    """Blocks of `block_shape` over an output of `output_shape`; the last block of an axis is
    cut at the volume's end (so every block is exactly one chunk of a store chunked by
    `block_shape`)."""

    def __init__(self, output_shape: Triple, block_shape: Triple) -> None:
        if len(output_shape) != 3 or len(block_shape) != 3:
            raise ValueError("output and block shapes must have three axes (z, y, x)")
        if any(b < 1 for b in block_shape) or any(n < 1 for n in output_shape):
            raise ValueError(f"shapes must be positive, got output {output_shape}, block {block_shape}")
        self.output_shape: Triple = triple(int(n) for n in output_shape)
        self.block_shape: Triple = triple(min(int(b), n) for b, n in zip(block_shape, self.output_shape))
        self.grid_shape = tuple(math.ceil(n / b) for n, b in zip(self.output_shape, self.block_shape))

    def __len__(self) -> int:
        return math.prod(self.grid_shape)

    def block(self, number: int) -> Block:
        index = triple(int(i) for i in np.unravel_index(number, self.grid_shape))
        start = triple(i * b for i, b in zip(index, self.block_shape))
        stop = triple(min(s + b, n) for s, b, n in zip(start, self.block_shape, self.output_shape))
        return Block(number, index, start, stop)

    def __iter__(self) -> Iterator[Block]:
        for number in range(len(self)):
            yield self.block(number)

    def compute_window(self, block: Block) -> tuple[Triple, Triple]:
        """The full-size output window the network computes for `block`: the block itself, or
        for a cut block at the end of an axis, a window of `block_shape` ending at the volume's
        end (so one network size serves every block; only the block's own ROI is written)."""
        start = triple(min(a, n - b) for a, b, n in zip(block.start, self.block_shape, self.output_shape))
        stop = triple(s + b for s, b in zip(start, self.block_shape))
        return start, stop


def mirror_before(fov: Triple, mirror: bool) -> Triple:
    """Padding before each axis: (fov − 1) // 2 with mirroring, 0 without."""
    return triple((f - 1) // 2 if mirror else 0 for f in fov)


def output_shape_for(volume: Triple, fov: Triple, mirror: bool) -> Triple:
    """The output of a dense network over `volume`: the volume itself when mirrored."""
    if mirror:
        return triple(volume)
    out = triple(v - f + 1 for v, f in zip(volume, fov))
    if any(n < 1 for n in out):
        raise ValueError(f"the volume {tuple(volume)} is smaller than the field of view {tuple(fov)}; "
                         "mirror the borders to predict it")
    return out


def mirrored_indices(start: int, stop: int, length: int, before: int) -> np.ndarray:
    """Original indices of padded positions start … stop − 1 (numpy 'symmetric' reflection)."""
    j = np.arange(start, stop, dtype=np.int64) - before
    period = 2 * length
    j = np.mod(j, period)
    return np.where(j >= length, period - 1 - j, j)


def materialise(array: Any) -> np.ndarray:
    """A numpy array of a (lazy) array. Dask arrays are computed in this thread: inside a
    dask.distributed worker the default would ship the read back to the cluster."""
    if hasattr(array, "compute"):
        return np.asarray(array.compute(scheduler="synchronous"))
    return np.asarray(array)


def read_padded(volume: Any, start: Triple, stop: Triple, before: Triple) -> np.ndarray:
    """Padded-input positions [start, stop) of a lazy (z, y, x) `volume`, as a numpy array.

    Reads only the bounding box of the original voxels needed, then reflects by indexing.
    """
    shape = tuple(int(n) for n in volume.shape[-3:])
    indices = [mirrored_indices(a, b, n, p) for a, b, n, p in zip(start, stop, shape, before)]
    low = [int(i.min()) for i in indices]
    high = [int(i.max()) + 1 for i in indices]
    box = materialise(volume[low[0]:high[0], low[1]:high[1], low[2]:high[2]])
    if all(np.array_equal(i, np.arange(lo, hi)) for i, lo, hi in zip(indices, low, high)):
        return box  # nothing reflected
    return box[np.ix_(*(i - lo for i, lo in zip(indices, low)))]
