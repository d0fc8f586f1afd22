"""Background workers of the training dock (napari thread workers around engine generators).

They receive plain values (a job file path, an image array), never widgets, and run the
engine's generators unchanged: training events and tile progress come back through the
worker's `yielded` signal on the main thread; commands go in with `worker.send`.
"""

from __future__ import annotations

import queue
from collections.abc import Generator
from typing import Any

import numpy as np
from napari.qt.threading import thread_worker

from znn.modes import Dtype


def _warm_up(dtype: Dtype) -> None:
    # numba loads (or compiles) its kernels here, in the worker, not on napari's main thread.
    from znn.kernels import warm_up

    warm_up(np.dtype(dtype))


@thread_worker(start_thread=False, ignore_errors=True)  # the dock shows errors itself
def training_worker(cfg_path: str, commands: queue.SimpleQueue, seed_network: str | None = None
                    ) -> Generator[Any, Any, None]:
    """Train the job at `cfg_path` (resuming from its checkpoint if there is one).

    Commands (Stop, PredictNow) are read from `commands`, a thread-safe queue: unlike the
    worker's `send`, which keeps only the latest value, nothing put there is lost.
    """
    from znn.jobs import read_cfg
    from znn.train.setup import prepare_training
    from znn.train.trainer import Trainer

    job = read_cfg(cfg_path)
    _warm_up(job.require_training().dtype)  # the same checks prepare_training starts with
    setup = prepare_training(job, seed_network=seed_network)
    try:
        # the dock plots the curve live; the PNG is drawn once, with the last checkpoint
        yield from Trainer(setup, commands=commands, plot_every_save=False).run()
    finally:
        setup.net.close()


@thread_worker(start_thread=False, ignore_errors=True)  # the dock shows errors itself
def predict_worker(image: np.ndarray, network_text: str, weights: str, **options: Any
                   ) -> Generator[Any, None, dict[str, np.ndarray]]:
    """Predict `image` with the network saved in `weights`; yields tile progress, returns the maps.
    `options` are `iter_predict_image`'s, as `_prediction.predict_options` makes them (dtype included)."""
    from znn.forward.image import iter_predict_image
    from znn.netspec.znnfile import parse_znn

    _warm_up(options["dtype"])
    spec = parse_znn(network_text)
    return (yield from iter_predict_image(np.asarray(image), spec, weights, **options))
