"""What a worker runs for one block: read the input window, normalise, one forward pass,
write the block's chunks and its done flag.

A `BlockWorker` keeps the network it built (and the opened input) between blocks, so only
the first block of a worker process pays for loading weights, building the graph and
compiling kernels. It holds one network and one input at a time: a task of another request
replaces them. On a dask cluster each worker process holds one (`znn.blockwise.worker`);
without dask, make one and call `run_block` or `compute_block`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from znn.base.geometry import BlockGrid, Triple, mirror_before, mirrored_indices, read_padded
from znn.base.modes import ConvMode
from znn.blockwise import store
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
    conv_mode: ConvMode = "fft"
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


def _network_key(task: BlockTask) -> tuple:
    return task.network_text, task.weights, task.block_shape, task.dtype, task.conv_mode, task.num_threads


def _build_network(task: BlockTask) -> Any:
    from znn.io.trained_network import load_trained
    from znn.kernels import warm_up
    from znn.netspec.znnfile import parse_znn

    warm_up(np.dtype(task.dtype))
    spec = parse_znn(task.network_text, "network")
    return load_trained(task.weights, task.block_shape, spec=spec, dtype=task.dtype, conv_mode=task.conv_mode,
                        num_threads=task.num_threads)


class BlockWorker:
    """The state of one worker process between blocks: the network of the latest task and the
    input it read, one of each (a task of another request closes the old network first)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._network_key: tuple | None = None
        self._network: Any = None
        self._location: str | None = None
        self._volume: Any = None

    def network(self, task: BlockTask) -> Any:
        """The network of `task` with its saved weights, built on first use."""
        key = _network_key(task)
        with self._lock:
            if self._network_key != key:
                old, self._network, self._network_key = self._network, None, None
                if old is not None:
                    old.close()
                self._network = _build_network(task)
                self._network_key = key
            return self._network

    def input(self, location: str) -> Any:
        """The input volume at `location`, opened on first use (see `znn.io.volumes.open_input`)."""
        from znn.io.volumes import open_input

        with self._lock:
            if self._location != location:
                self._volume, self._location = None, None
                self._volume = open_input(location)
                self._location = location
            return self._volume

    def close(self) -> None:
        """Close the network and forget the input."""
        with self._lock:
            old, self._network, self._network_key = self._network, None, None
            self._volume, self._location = None, None
        if old is not None:
            old.close()

    def compute_block(self, task: BlockTask, number: int) -> dict[str, np.ndarray]:
        """The maps of block `number` (its write ROI only), without storing them."""
        from znn.forward.predict import channel_softmax

        grid = task.grid
        block = grid.block(number)
        start, stop = grid.compute_window(block)
        padded_stop = (stop[0] + task.fov[0] - 1, stop[1] + task.fov[1] - 1, stop[2] + task.fov[2] - 1)
        before = mirror_before(task.fov, task.mirror)
        volume = self.input(task.input)
        raw = read_padded(volume, start, padded_stop, before)
        sections = mirrored_indices(start[0], padded_stop[0], int(volume.shape[0]), before[0])
        values = task.normalisation.apply(raw, sections, task.dtype)
        net = self.network(task)
        result = net.forward({next(iter(net.graph.input_sizes)): values[np.newaxis]})
        local = (slice(None), *(slice(a - s, b - s) for a, b, s in zip(block.start, block.stop, start)))
        maps = {name: np.array(m[local], dtype=np.float32) for name, m in result.items()}
        if task.softmax:
            for m in maps.values():
                channel_softmax(m)
        return maps

    def run_block(self, task: BlockTask, number: int) -> BlockResult:
        """Compute and store block `number` unless it is already flagged done."""
        worker = f"{socket.gethostname()}:{os.getpid()}"
        if store.is_done(task.output, number):
            return BlockResult(number, 0.0, worker, skipped=True)
        began = time.perf_counter()
        maps = self.compute_block(task, number)
        store.write_block(task.output, number, task.grid.block(number).slices(), maps)
        return BlockResult(number, time.perf_counter() - began, worker)
