"""What a worker runs for one block: read the input window, normalise, one forward pass,
write the block's chunks and its done flag.

Each worker process keeps the network it built (and the opened input) between blocks, so
only its first block pays for loading weights, building the graph and compiling kernels.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from znn.blockwise import store
from znn.blockwise.geometry import BlockGrid, Triple, mirror_before, mirrored_indices, read_padded
from znn.blockwise.normalise import Normalisation


@dataclass(frozen=True)
class BlockTask:
    """Everything a worker needs, as plain values (sent to the cluster once)."""

    input: str  # a volume location: file[:dataset][z0:z1]
    output: str  # the zarr store of `store`
    network_text: str  # the .znn text
    weights: str  # a saved network (.h5); layers matched by name
    output_shape: Triple
    block_shape: Triple  # also the network's output tile
    fov: Triple
    mirror: bool
    softmax: bool
    normalisation: Normalisation
    dtype: str = "float32"
    conv_mode: str = "fft"
    num_threads: int = 1  # engine threads per block

    @property
    def grid(self) -> BlockGrid:
        return BlockGrid(self.output_shape, self.block_shape)


@dataclass(frozen=True)
class BlockResult:
    number: int
    seconds: float
    worker: str
    skipped: bool = False  # already flagged done (a duplicate or a resumed run)


_network_cache: dict[tuple, Any] = {}
_input_cache: dict[str, Any] = {}


def _network(task: BlockTask) -> Any:
    from znn.io.h5net import apply_saved, load_network
    from znn.kernels import warm_up
    from znn.netspec.znnfile import parse_znn
    from znn.network.net import Network

    key = (task.network_text, task.weights, task.block_shape, task.dtype, task.conv_mode, task.num_threads)
    if key not in _network_cache:
        for old in _network_cache.values():
            old.close()
        _network_cache.clear()
        warm_up(np.dtype(task.dtype))
        spec = parse_znn(task.network_text, "network")
        net = Network(spec, task.block_shape, dtype=task.dtype, conv_mode=task.conv_mode, phase="test",
                      num_threads=task.num_threads, seed=0)
        report = apply_saved(spec, load_network(task.weights), net.params)
        if report.new:
            net.close()
            raise ValueError(f"{task.weights} lacks layer(s) {', '.join(report.new)} of the network")
        net.invalidate_kernel_spectra()
        _network_cache[key] = net
    return _network_cache[key]


def _input(location: str) -> Any:
    """The input volume, opened lazily (generated `synthetic:` volumes are made in memory)."""
    from znn.io.volumes import open_volume_lazy, read_volume

    if location not in _input_cache:
        _input_cache.clear()
        lazy = not location.startswith("synthetic:")
        _input_cache[location] = open_volume_lazy(location) if lazy else read_volume(location)
    return _input_cache[location]


def compute_block(task: BlockTask, number: int) -> dict[str, np.ndarray]:
    """The maps of block `number` (its write ROI only), without storing them."""
    from znn.forward.predict import channel_softmax

    grid = task.grid
    block = grid.block(number)
    start, stop = grid.compute_window(block)
    padded_stop = tuple(b + f - 1 for b, f in zip(stop, task.fov))
    before = mirror_before(task.fov, task.mirror)
    volume = _input(task.input)
    raw = read_padded(volume, start, padded_stop, before)
    sections = mirrored_indices(start[0], padded_stop[0], int(volume.shape[0]), before[0])
    values = task.normalisation.apply(raw, sections, task.dtype)
    net = _network(task)
    result = net.forward({next(iter(net.graph.input_sizes)): values[np.newaxis]})
    local = (slice(None), *(slice(a - s, b - s) for a, b, s in zip(block.start, block.stop, start)))
    maps = {name: np.array(m[local], dtype=np.float32) for name, m in result.items()}
    if task.softmax:
        for m in maps.values():
            channel_softmax(m)
    return maps


def run_block(task: BlockTask, number: int) -> BlockResult:
    """Compute and store block `number` unless it is already flagged done."""
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if store.is_done(task.output, number):
        return BlockResult(number, 0.0, worker, skipped=True)
    began = time.perf_counter()
    maps = compute_block(task, number)
    store.write_block(task.output, number, task.grid.block(number).slices(), maps)
    return BlockResult(number, time.perf_counter() - began, worker)
