"""The blockwise state of each dask worker process, and the task functions that use it.

`iter_blockwise` registers a `BlockWorkerPlugin` on the client; the scheduler hands it to
every worker, also to workers that join or restart later, and each worker process then
holds one `BlockWorker` (its network and opened input between blocks). The task functions
below find it through `distributed.get_worker()`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from znn.base.geometry import materialise
from znn.base.stop_signals import STOP_SIGNALS
from znn.blockwise.normalise import SectionStats, section_stats
from znn.blockwise.task import BlockResult, BlockTask, BlockWorker

PLUGIN_NAME = "znn-blockwise"
WORKER_PRELOAD = __name__  # a worker preload module: see dask_setup
QUIET_ENV = "ZNN_QUIET_WORKER_LOGS"  # set in a worker's environment: warnings of dask not shown
QUIET_LOGGERS = ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker")


def dask_setup(worker: Any) -> None:
    """Run by each worker process of a LocalCluster as it starts (preload=[WORKER_PRELOAD]):
    ignore SIGINT, SIGTERM and SIGHUP, since Ctrl-C in a terminal (or a batch system's SIGTERM to the
    job's processes) reaches the workers too and the driver decides what it means: it stops
    them itself, after the blocks in flight (dask's nanny ends a worker with SIGKILL where it
    must). With QUIET_ENV set, log errors only."""
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
    if os.environ.get(QUIET_ENV):
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


class BlockWorkerPlugin(WorkerPlugin):
    """Gives each worker process its own `BlockWorker`."""

    name = PLUGIN_NAME
    idempotent = True  # registering again (a second run on the same cluster) keeps each worker's state

    def __init__(self) -> None:
        self.state: BlockWorker | None = None

    def setup(self, worker: Any) -> None:
        self.state = BlockWorker()

    def teardown(self, worker: Any) -> None:
        # Only dropped, not closed: the worker's threads may still be inside a block when it
        # shuts down, and the network stops its own threads when it is garbage-collected.
        self.state = None


def block_worker() -> BlockWorker:
    """The `BlockWorker` of the dask worker running the calling task."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, BlockWorkerPlugin) or plugin.state is None:
        raise RuntimeError("this dask worker has no blockwise state: register BlockWorkerPlugin() on the "
                           "client first (iter_blockwise does)")
    return plugin.state


def run_block(task: BlockTask, number: int) -> BlockResult:
    """Task: compute and store block `number` unless it is already flagged done."""
    return block_worker().run_block(task, number)


def slab_stats(location: str, z0: int, z1: int, centre: float | None) -> SectionStats:
    """Task: the statistics of sections z0..z1 of the input (for its normalisation)."""
    return section_stats(materialise(block_worker().input(location)[z0:z1]), z0, centre)
