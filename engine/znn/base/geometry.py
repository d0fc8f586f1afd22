"""The geometry of dense prediction: tiles of a forward pass, blocks of a blockwise run, and
the mirroring of borders, shared by forward, blockwise, training previews and the data loaders.

Tiles (reference §8, step 3). Per axis, with output tile T and field of view F (input window
T + F - 1): tiles start at 0, T, 2T, ... while the window ends strictly before the volume does,
plus one last tile aligned with the end of the volume; it may overlap the previous one and then
simply rewrites the shared outputs. Tiles are visited z-major, then y, then x.

Mirroring (`is_bd_mirror = yes`, reference §5.5). Every input volume is padded so that a dense
network sees a full field of view around every original voxel: (fov − 1) // 2 voxels before and
fov // 2 after on each spatial axis. The padding reflects the volume *including* its edge voxel
(… 1 0 | 0 1 2 … — numpy's 'symmetric' mode, not 'reflect'), corners included; when the padding
is wider than the axis the reflection repeats with period 2·n, as numpy's pad does. Labels and
masks are never padded.

Blocks: the grid of write ROIs over the output and the input each one reads. With mirroring the
output has the input's shape and output voxel o sees input voxels o − before … o + after;
without, output voxel o sees input voxels o … o + fov − 1. Both are "padded input" coordinates
p = o … o + fov − 1, where padded index p is original index p − before, reflected into the
volume as mirror_pad reflects it, so a block reads exactly what a whole-volume pass over the
mirrored volume would see.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from znn.base.triples import Triple, triple

# ----------------------------------------------------------------------------- tiles

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


# ----------------------------------------------------------------------------- mirroring

def _check_fov(fov: Sequence[int]) -> tuple[int, int, int]:
    values = tuple(int(n) for n in fov)
    if len(values) != 3 or any(n < 1 for n in values):
        raise ValueError(f"fov must be three positive integers (z, y, x), got {tuple(fov)}")
    return values


def mirror_widths(fov: tuple[int, int, int]) -> tuple[tuple[int, int], ...]:
    """((before, after) for z, y, x): ((fov−1)//2, fov//2) per axis."""
    return tuple(((n - 1) // 2, n // 2) for n in _check_fov(fov))


def mirror_pad(volume: np.ndarray, fov: tuple[int, int, int]) -> np.ndarray:
    """`volume` (z, y, x) or (c, z, y, x) padded on its last three axes for `fov`.

    Always a new array; a fov of (1, 1, 1) returns a copy.
    """
    array = np.asarray(volume)
    if array.ndim not in (3, 4):
        raise ValueError(f"mirror_pad expects a 3-D or 4-D array, got shape {array.shape}")
    if 0 in array.shape[-3:]:
        raise ValueError(f"cannot mirror an empty volume of shape {array.shape}")
    widths = ((0, 0),) * (array.ndim - 3) + mirror_widths(fov)
    return np.pad(array, widths, mode="symmetric")


# ----------------------------------------------------------------------------- blocks

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
