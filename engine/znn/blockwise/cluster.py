"""The dask.distributed cluster a blockwise run drives: a new LocalCluster of worker
processes, or a client of a scheduler that is already running (`--scheduler`).

Ctrl-C in a terminal (or a batch system's SIGTERM to all of a job's processes) reaches the
worker processes too; they must survive it so that the driver can stop the run after the
blocks in flight (see `_stop_signals_blocked`).
"""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from znn.base.stop_signals import STOP_SIGNALS
from znn.blockwise.run import BlockwiseError, GiB
from znn.blockwise.worker import QUIET_ENV, QUIET_LOGGERS, WORKER_PRELOAD

CONNECT_TIMEOUT_S = 5.0  # for --scheduler: an address that does not answer is refused this soon


@contextmanager
def cluster_client(scheduler: str | None = None, *, workers: int = 1, memory_per_worker: int = 2 * GiB,
                   quiet: bool = True, connect_timeout: float = CONNECT_TIMEOUT_S) -> Iterator[Any]:
    """A dask.distributed client: of the scheduler at `scheduler` (refused with a
    `BlockwiseError` if it does not answer within `connect_timeout` seconds), or of a new
    LocalCluster of `workers` single-threaded worker processes with `memory_per_worker` each."""
    from distributed import Client, LocalCluster

    if quiet:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    if scheduler:
        with connect(scheduler, connect_timeout) as client:
            yield client
        return
    with warnings.catch_warnings(), _stop_signals_blocked():
        # The scheduler's small HTTP server (health, metrics) moves to a free port if 8787 is taken.
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               memory_limit=memory_per_worker, dashboard_address=None, preload=[WORKER_PRELOAD],
                               env={QUIET_ENV: "1"} if quiet else {})
    client = None
    try:
        client = Client(cluster)
        yield client
    finally:
        with _sigint_held():
            if client is not None:
                client.close()
            cluster.close()


@contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (`STOP_SIGNALS`) blocked in this thread while a LocalCluster starts.

    Ctrl-C in a terminal reaches every process of its process group, the worker processes
    too, and so does a SIGTERM sent to the group; they must not die of it (the driver stops
    them after the blocks in flight). The cluster's threads started meanwhile inherit the
    blocked signals, and so do the worker processes they spawn, restarted ones included;
    each worker also ignores both once it runs (`znn.blockwise.worker.dask_setup`). Blocked in
    the driver's helper threads, a signal reaches its main thread, where Python handles it;
    one that arrives while the cluster starts is delivered when this block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOP_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Ctrl-C while the LocalCluster closes waits until it has closed, then goes to the handler
    it was meant for: a close cut short leaves threads and processes that take far longer
    to go (and log as they do)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
    for signum in held:
        if callable(previous):
            previous(signum, None)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


def connect(scheduler: str, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A client of the running scheduler at `scheduler`, or a one-line `BlockwiseError`."""
    from distributed import Client
    from distributed.comm import parse_address

    expected = "the address of a running dask scheduler, such as tcp://192.168.1.10:8786"
    try:
        parse_address(scheduler)
        return Client(scheduler, timeout=timeout)
    except ValueError as error:
        raise BlockwiseError(f"--scheduler {scheduler}: not a scheduler address ({error}); expected {expected}") \
            from None
    except (OSError, TimeoutError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BlockwiseError(f"--scheduler {scheduler}: no dask scheduler answered within {timeout:g} s "
                             f"({reason}); expected {expected}") from None
