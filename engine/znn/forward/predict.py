"""Run a network over a whole (already preprocessed, possibly mirrored) volume, tile by tile.

`iter_predict` is a generator: it yields a `TileDone` after every tile, so callers can show
progress and stop between tiles, and returns the stitched outputs (as StopIteration.value;
`predict_volume` simply runs it to the end). The network's output patch size is the tile
size; its phase is the caller's business (forward passes use 'test').
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass

import numpy as np

from znn.base.errors import ZnnError
from znn.base.geometry import Triple, output_shape, tile_count, tiles
from znn.network.net import Network


@dataclass(frozen=True)
class TileDone:
    done: int
    total: int
    start: Triple


def channel_softmax(volume: np.ndarray, *, slab: int = 8) -> None:
    """Softmax over axis 0 of (maps, z, y, x), in place, a few sections at a time (bounded memory)."""
    for z in range(0, volume.shape[1], slab):
        block = volume[:, z:z + slab]
        block -= block.max(axis=0, keepdims=True)
        np.exp(block, out=block)
        block /= block.sum(axis=0, keepdims=True)


def _volume_shape(net: Network, inputs: Mapping[str, np.ndarray]) -> Triple:
    shapes = {name: tuple(np.shape(inputs[name])) for name in net.graph.input_sizes if name in inputs}
    missing = [name for name in net.graph.input_sizes if name not in inputs]
    if missing:
        raise ZnnError(f"no volume given for network input(s) {', '.join(missing)}")
    if len(set(shapes.values())) != 1 or any(len(s) != 3 for s in shapes.values()):
        raise ZnnError(f"every input volume must be 3-D (z, y, x) and of one size; got {shapes}")
    return next(iter(shapes.values()))


def iter_predict(net: Network, inputs: Mapping[str, np.ndarray], *, softmax: bool = False
                 ) -> Generator[TileDone, None, dict[str, np.ndarray]]:
    """Tile the volume(s) with the network's output size; yields progress, returns the outputs."""
    if not net.graph.is_dense:
        raise ZnnError("whole-volume forward passes need a dense network (max_filter, not max_pool)")
    volume = _volume_shape(net, inputs)
    fov = net.graph.fov
    outsz = net.outsz
    out_shape = output_shape(volume, fov)
    if any(v < t + f - 1 for v, t, f in zip(volume, outsz, fov)):
        raise ZnnError(f"the volume {volume} is smaller than one input window {net.graph.input_size} "
                       f"(output tile {outsz}, field of view {fov}); use a smaller output patch or mirror "
                       "the borders (is_bd_mirror = yes)")
    outputs = {name: np.zeros((size[0], *out_shape), dtype=net.dtype)
               for name, size in net.graph.output_sizes.items()}
    total = tile_count(volume, outsz, fov)
    for done, tile in enumerate(tiles(volume, outsz, fov), start=1):
        window = tile.input_slices
        patch = {name: np.ascontiguousarray(inputs[name][window], dtype=net.dtype)[np.newaxis]
                 for name in net.graph.input_sizes}
        result = net.forward(patch)
        for name, maps in result.items():
            outputs[name][(slice(None), *tile.output_slices)] = maps
        yield TileDone(done, total, tile.start)
    if softmax:
        for maps in outputs.values():
            channel_softmax(maps)
    return outputs


def predict_volume(net: Network, inputs: Mapping[str, np.ndarray], *, softmax: bool = False
                   ) -> dict[str, np.ndarray]:
    """`iter_predict` run to the end."""
    run = iter_predict(net, inputs, softmax=softmax)
    while True:
        try:
            next(run)
        except StopIteration as finished:
            return finished.value
