"""The blockwise forward pass as a generator of events, driving a dask.distributed cluster
(`znn.blockwise.cluster` makes or connects the cluster).

    with cluster_client(workers=2, memory_per_worker=GiB(4)) as client:
        for event in iter_blockwise(request, client):
            ...  # BlockwiseStarted, BlockDone..., BlockwiseFinished

Steps: `prepare_blockwise` checks everything that can be checked without a cluster (the
network, the input, the output path, the store a resumed run reopens, free disk space), then
section statistics for the normalisation (tasks over z-slabs; an input with NaN or infinite
voxels is refused there), the output store (created, or reopened to resume), then one task
per block not yet flagged done. Tasks are retried a capped number of times (a lost worker's
blocks go to others); the first block that still fails cancels the rest and its traceback is
raised.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from znn.base.errors import FileFormatError, ZnnError
from znn.base.geometry import BlockGrid, Triple, output_shape_for
from znn.base.modes import ConvMode
from znn.base.triples import triple
from znn.blockwise import store
from znn.blockwise.normalise import (
    SectionStats,
    first_nonfinite_section,
    global_mean,
    needs_second_pass,
    normalisation_from,
)
from znn.blockwise.stall import finished_in_turn, stall_limit
from znn.blockwise.task import BlockResult, BlockTask
from znn.blockwise.worker import BlockWorkerPlugin, run_block, slab_stats
from znn.data.preprocess import canonical_pp_type
from znn.io.h5net import load_network
from znn.io.runlock import RunLock
from znn.io.space import require_free_space, volume_bytes
from znn.io.volumes import open_input, parse_location, split_sections
from znn.io.writable import Origin, check_output_folder, refuse_overwriting_inputs
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.znnfile import parse_znn
from znn.planning.planner import format_bytes, plan_forward_patch

GiB = 1 << 30
# The share of a worker's memory the network may plan for; the rest holds the interpreter,
# libraries, the block's input and output copies.
NETWORK_SHARE = 0.5
STATS_SLAB = 8  # sections per statistics task


class BlockwiseError(ZnnError):
    """A block failed on every attempt, or the run cannot start."""


@dataclass(frozen=True)
class BlockwiseRequest:
    """What to predict, where to write it and how to split it (plain values only; change one
    with `dataclasses.replace`)."""

    input: str  # volume location: file.tif | file.h5[:dataset] | store.zarr[:array], optional [z0:z1]
    output: str  # the output zarr store
    network_text: str
    weights: str
    pp_type: str = "standard2D"
    mirror: bool = True
    softmax: bool = False
    dtype: str = "float32"
    conv_mode: ConvMode = "fft"
    block_shape: Triple | None = None  # None: the planner's tile under memory_per_worker
    memory_per_worker: int = 2 * GiB
    threads_per_worker: int = 1  # engine threads inside each block
    retries: int = 2
    overwrite: bool = False
    # How the user named the input and the output (a flag or a .cfg key), for refusals.
    input_origin: Origin | None = None
    output_origin: Origin | None = None

    def origin_of_input(self) -> Origin:
        return self.input_origin or Origin("input", self.input)

    def origin_of_output(self) -> Origin:
        return self.output_origin or Origin("output", self.output)


@dataclass(frozen=True)
class Prepared:
    """What `prepare_blockwise` found: the geometry of the run and the record of its store."""

    spec: NetSpec
    volume: Triple
    fov: Triple
    output_shape: Triple
    grid: BlockGrid
    plan: str
    outputs: dict[str, int]  # output node -> maps
    description: dict[str, Any]


@dataclass(frozen=True)
class BlockwiseStarted:
    output: str
    output_shape: Triple
    block_shape: Triple
    blocks: int
    todo: int  # blocks not yet flagged done
    workers: int
    plan: str = ""
    note: str | None = None  # the run goes on without a lock (a file system without flock)


@dataclass(frozen=True)
class BlockDone:
    number: int
    start: Triple
    stop: Triple
    done: int  # blocks finished in this run so far
    todo: int
    seconds: float
    worker: str


@dataclass(frozen=True)
class BlockwiseFinished:
    computed: int
    skipped: int  # flagged done before this run (or by a duplicate task)
    seconds: float
    voxels_per_s: float
    stopped: bool = False
    workers: tuple[str, ...] = field(default=())


BlockwiseEvent = BlockwiseStarted | BlockDone | BlockwiseFinished


def plan_block(request: BlockwiseRequest, spec: NetSpec, out: Triple) -> tuple[Triple, str]:
    """The block (= network tile) shape over an output of shape `out`: given, or the planner's
    fastest under the worker's share of memory."""
    if request.block_shape is not None:
        return triple(min(b, n) for b, n in zip(request.block_shape, out)), "block shape given"
    budget = int(request.memory_per_worker * NETWORK_SHARE)
    plan = plan_forward_patch(spec, ram_budget_bytes=budget, dtype=request.dtype, conv_mode=request.conv_mode,
                              num_threads=request.threads_per_worker, max_side=max(out[1], out[2]), max_z=out[0])
    block = triple(min(b, n) for b, n in zip(plan.outsz, out))
    summary = (f"block {'x'.join(map(str, block))}: the planner's tile for {format_bytes(budget)} "
               f"({NETWORK_SHARE:.0%} of {format_bytes(request.memory_per_worker)} per worker)")
    return block, summary


def _statistics(client: Any, request: BlockwiseRequest, depth: int, plane: int) -> Any:
    slabs = [(z, min(z + STATS_SLAB, depth)) for z in range(0, depth, STATS_SLAB)]

    def gather(centre: float | None) -> list[SectionStats]:
        futures = [client.submit(slab_stats, request.input, a, b, centre, pure=False, retries=request.retries)
                   for a, b in slabs]
        return client.gather(futures)

    parts = gather(None)
    bad = first_nonfinite_section(parts)
    if bad is not None:  # NaN would spread through every block it touches into finite-looking maps
        section, count = bad
        raise request.origin_of_input().error(
            f"section {section} (counting from 0) holds {count} NaN or infinite voxel(s)",
            expected="finite voxel values in every section (fill or crop the bad sections first)")
    squares = gather(global_mean(parts, plane)) if needs_second_pass(request.pp_type) else None
    return normalisation_from(request.pp_type, parts, plane, squares)


def _description(request: BlockwiseRequest, volume: Triple, block: Triple) -> dict[str, Any]:
    weights = Path(request.weights)
    return {"input": request.input, "volume": list(volume), "network": request.network_text,
            "weights": str(weights.resolve()), "weights_mtime_ns": weights.stat().st_mtime_ns,
            "pp_type": canonical_pp_type(request.pp_type), "mirror": request.mirror, "softmax": request.softmax,
            "dtype": request.dtype, "block": list(block)}


def _result(future: Any) -> BlockResult | None:
    """A finished block's result; None when it failed or the cluster lost it, also while it is
    being fetched (a SIGTERM to the process group ends the workers along with the driver)."""
    if future.status != "finished":
        return None
    from distributed.client import FutureCancelledError

    try:
        result: BlockResult = future.result()
    except FutureCancelledError:
        return None
    return result


def _failure(future: Any, number: int, grid: BlockGrid, attempts: int) -> BlockwiseError:
    block = grid.block(number)
    where = f"{tuple(block.start)}..{tuple(block.stop)}"
    if future.status == "cancelled":  # no error of its own: the cluster dropped it
        return BlockwiseError(f"block {number} (output {where}) was cancelled by the cluster (its workers or "
                              "scheduler went away); run the same command again to compute the remaining blocks")
    error = future.exception()
    lines = traceback.format_tb(future.traceback()) if future.traceback() is not None else []
    return BlockwiseError(f"block {number} (output {where}) failed after {attempts} attempt(s): "
                          f"{type(error).__name__}: {error}\n{''.join(lines)}")


def input_file(location: str) -> Path | None:
    """The file or store a volume location reads (None for generated `synthetic:` volumes)."""
    if location.startswith("synthetic:"):
        return None
    return parse_location(split_sections(location)[0]).file


def prepare_blockwise(request: BlockwiseRequest) -> Prepared:
    """Everything checked before a cluster is needed: a dense one-input network, the input
    volume, the output (a .zarr path that is not the input, in a writable folder, new or the
    store of this very run), and free disk space for a new store."""
    spec = parse_znn(request.network_text, "network")
    graph = NetworkGraph(spec, (1, 1, 1))
    if not graph.is_dense:
        raise BlockwiseError("blockwise prediction needs a dense network (max_filter, not max_pool)")
    if len(spec.input_names) != 1:
        raise BlockwiseError(f"blockwise prediction needs a network with one input, not {len(spec.input_names)}")
    origin = request.origin_of_output()
    output = Path(request.output)
    try:
        source = input_file(request.input)
    except FileFormatError as error:
        raise request.origin_of_input().naming(error) from None
    inputs = [(path, f"the input volume {path}") for path in (source,) if path is not None]
    inputs.append((Path(request.weights), f"the network file {request.weights}"))
    refuse_overwriting_inputs(output, origin, inputs)
    load_network(request.weights)  # damaged or diverged (NaN) weights are refused before a cluster starts
    exists = output.exists() and not (output.is_dir() and not any(output.iterdir()))
    if not exists and output.suffix.lower() != ".zarr":
        raise origin.error("the blockwise output is a zarr store (a folder)",
                           expected=f"a name ending in .zarr, found '{output.suffix or output.name}'")
    check_output_folder(output.parent, origin, what="blockwise output store")
    with output_lock(request):  # another run writing this store is refused now, before a cluster starts
        pass
    try:
        volume = triple(int(n) for n in open_input(request.input).shape[-3:])
    except FileFormatError as error:
        raise request.origin_of_input().naming(error) from None
    fov = graph.fov
    try:
        out_shape = output_shape_for(volume, fov, request.mirror)
    except ValueError as error:
        raise request.origin_of_input().error(str(error)) from None
    block, plan = plan_block(request, spec, out_shape)
    grid = BlockGrid(out_shape, block)
    outputs = {name: spec.nodes[name].size for name in spec.output_names}
    description = _description(request, volume, grid.block_shape)
    try:
        resumed = store.check_existing(output, description, overwrite=request.overwrite)
    except store.StoreMismatch as error:  # still a StoreMismatch: the dock starts afresh on one
        raise store.StoreMismatch(origin.describe(str(error))) from None
    if not resumed:
        maps = sum(outputs.values())
        require_free_space(output.parent, volume_bytes((maps, *out_shape), "float32"), origin,
                           what=f"the output store ({maps} float32 map(s) of {'x'.join(map(str, out_shape))})")
    return Prepared(spec, volume, fov, out_shape, grid, plan, outputs, description)


def output_lock(request: BlockwiseRequest) -> RunLock:
    """The lock of the output store (`<store>.blockwise.lock` beside it): one run writes a store
    at a time, so an `overwrite` cannot wipe a store another run is filling."""
    return RunLock(request.output, "blockwise", setting=request.origin_of_output().name)


def iter_blockwise(request: BlockwiseRequest, client: Any, *, stop: threading.Event | None = None,
                   prepared: Prepared | None = None) -> Generator[BlockwiseEvent, None, None]:
    """Predict `request.input` block by block on `client`'s cluster; yields progress events.

    `prepared` is `prepare_blockwise(request)` when the caller checked the request before
    starting the cluster. Setting `stop` ends the run after the blocks that are finishing
    (the rest stay unflagged and a later run computes them). The output store's lock is held
    from before the store is created or reopened until the last event.
    """
    began = time.perf_counter()
    ready = prepared if prepared is not None else prepare_blockwise(request)
    with output_lock(request) as lock:
        yield from _run_blocks(request, client, stop, ready, began, lock.note)


def _run_blocks(request: BlockwiseRequest, client: Any, stop: threading.Event | None, ready: Prepared,
                began: float, note: str | None) -> Generator[BlockwiseEvent, None, None]:
    from distributed import as_completed

    volume, fov, out_shape, grid, plan = ready.volume, ready.fov, ready.output_shape, ready.grid, ready.plan
    store.create_or_open(request.output, ready.description, ready.outputs,
                         out_shape, grid.block_shape, len(grid), overwrite=request.overwrite)
    todo = [int(n) for n in np.flatnonzero(~store.done_flags(request.output))]
    workers = len(client.scheduler_info().get("workers", {}))
    yield BlockwiseStarted(request.output, out_shape, grid.block_shape, len(grid), len(todo), workers, plan, note)
    if not todo:
        yield BlockwiseFinished(0, len(grid), time.perf_counter() - began, 0.0)
        return

    client.register_plugin(BlockWorkerPlugin())  # each worker's network and input, kept between blocks
    normalisation = _statistics(client, request, volume[0], volume[1] * volume[2])
    if stop is not None and stop.is_set():  # asked during the statistics: no block started
        yield BlockwiseFinished(0, len(grid) - len(todo), time.perf_counter() - began, 0.0, True)
        return
    task = BlockTask(request.input, request.output, request.network_text, request.weights, out_shape,
                     grid.block_shape, fov, request.mirror, request.softmax, normalisation, request.dtype,
                     request.conv_mode, request.threads_per_worker)
    [shared] = client.scatter([task], broadcast=True)
    # A bounded window of submitted blocks keeps every worker busy without handing the
    # scheduler millions of tasks, and lets a stop finish the blocks in flight cleanly.
    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values()) or 1
    window = max(2, 2 * threads)
    waiting = iter(todo)
    in_flight: dict[str, tuple[Any, int]] = {}
    completed = as_completed()
    slowest = [0.0]  # seconds of the slowest block so far (the stall watchdog's yardstick)

    def submit(number: int) -> None:
        future = client.submit(run_block, shared, number, pure=False, retries=request.retries)
        in_flight[future.key] = (future, number)
        completed.add(future)

    def submit_next() -> None:
        number = next(waiting, None)
        if number is not None:
            submit(number)

    def resubmit() -> int:
        stuck = list(in_flight.values())
        client.cancel([future for future, _ in stuck])
        in_flight.clear()
        for _, number in stuck:
            submit(number)
        return len(stuck)

    for _ in range(window):
        submit_next()
    computed = skipped = 0
    voxels = 0
    seen: set[str] = set()
    stopping = False
    try:
        for future in finished_in_turn(completed, resubmit=resubmit, stall_after=lambda: stall_limit(slowest[0])):
            entry = in_flight.pop(future.key, None)
            if entry is None:
                continue  # a stalled future that was submitted again, and cancelled
            _, number = entry
            result = _result(future)
            if result is None:
                if stop is not None and stop.is_set():
                    stopping = True  # stopping anyway: the block stays unflagged, a rerun computes it
                    continue
                raise _failure(future, number, grid, request.retries + 1)
            block_now = grid.block(result.number)
            if result.skipped:
                skipped += 1
            else:
                computed += 1
                voxels += block_now.voxels
                seen.add(result.worker)
                slowest[0] = max(slowest[0], result.seconds)
            yield BlockDone(result.number, block_now.start, block_now.stop, computed + skipped, len(todo),
                            result.seconds, result.worker)
            stopping = stopping or (stop is not None and stop.is_set())
            if not stopping:
                submit_next()
    finally:
        client.cancel([f for f, _ in in_flight.values()])
    seconds = time.perf_counter() - began
    stopped = computed + skipped < len(todo)
    yield BlockwiseFinished(computed, skipped + len(grid) - len(todo), seconds, voxels / seconds if seconds else 0.0,
                            stopped, tuple(sorted(seen)))
