"""Background workers of the training dock (thread workers around engine generators).

They receive plain values (a job file path, arrays, network text), never widgets, and run
the engine's generators unchanged: training events and tile progress come back through the
worker's `yielded` signal on the main thread; commands go in through a queue.

They are superqt workers, not napari's `thread_worker`: napari registers its workers as
tasks, asks "Executing <function …>?" when the window closes and cancels them, which would
end training without its last checkpoint. The dock holds the window's close itself until
training has stopped and saved (`_close_guard`).
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from superqt.utils import GeneratorWorker, create_worker

from napari_znn import _gc_pause
from napari_znn._label_mode import LabelSettings
from napari_znn._runs import LayerLook, write_layer_looks
from znn.base.modes import Dtype
from znn.jobs import JobConfig

UNBOUNDED = 10**12  # "until stopped": an update count no run reaches
COMPUTE_NICENESS = 10  # the engine's threads give way to napari's (znn.base.niceness)


@dataclass(frozen=True)
class NewRun:
    """A run folder to write before training: what Train hands the worker, so that writing
    the data (arrays become .h5 files) never holds napari's main thread."""

    folder: Path
    network_text: str
    image: Path | Any  # a file the layer was read from, a copy of its data, or lazy data
    labels: Path | Any
    job: JobConfig
    label_settings: LabelSettings = LabelSettings()
    start: Path | None = None  # a trained network the new run starts from (znn train -s)
    looks: dict[str, LayerLook] = field(default_factory=dict)  # 'image', 'labels': for Import job…


@dataclass(frozen=True)
class RunWritten:
    """The worker's first event for a NewRun: its folder is on disk."""

    cfg: Path


def _warm_up(dtype: Dtype) -> None:
    # numba loads (or compiles) its kernels here, in the worker, not on napari's main thread.
    from znn.kernels import warm_up

    warm_up(np.dtype(dtype))


def training_worker(run: NewRun | Path, commands: queue.SimpleQueue, *, max_updates: int | None = None,
                    minutes: float | None = None) -> GeneratorWorker:
    """A worker (not started) that trains `run`; see `train_run`. Errors are left to the dock."""
    return _worker(train_run, run, commands, max_updates=max_updates, minutes=minutes)


def predict_worker(image: Any, network_text: str, weights: str, **options: Any) -> GeneratorWorker:
    """A worker (not started) that predicts `image`; see `predict_image`."""
    return _worker(predict_image, image, network_text, weights, **options)


def zoo_worker(image: Any, model: Any) -> GeneratorWorker:
    """A worker (not started) that runs a bioimage.io package over `image` (`znn.export.zoo`)."""
    from znn.export.zoo import iter_predict_zoo

    def run(image: Any, model: Any) -> Generator[Any, Any, Any]:
        return (yield from iter_predict_zoo(model, np.asarray(image)))

    return _worker(run, image, model)


def _worker(function: Callable[..., Generator[Any, Any, Any]], *args: Any, **kwargs: Any) -> GeneratorWorker:
    worker = create_worker(function, *args, _start_thread=False, _ignore_errors=True, **kwargs)
    assert isinstance(worker, GeneratorWorker)  # a generator function makes a generator worker
    pause_full_collections(worker)
    return worker


def pause_full_collections(worker: GeneratorWorker) -> None:
    """Freeze the session's objects out of garbage collection from now until `worker` finishes
    (`_gc_pause`): from its creation, so that the layers the dock adds before starting it do not
    set off a full collection either. A worker made here is always started."""
    _gc_pause.hold()
    worker.finished.connect(lambda *_: _gc_pause.release())


def write_new_run(run: NewRun) -> Path:
    """Write the run's job folder (arrays become .h5 files in it); returns its .cfg."""
    from znn.app.job_folder import write_job_folder

    image, labels = (s if isinstance(s, Path) else np.asarray(s) for s in (run.image, run.labels))
    marks = run.label_settings
    cfg = write_job_folder(run.folder, network_text=run.network_text, image=image, labels=labels, job=run.job,
                           name="net", label_mode=marks.mode, stroke_membrane=marks.membrane,
                           stroke_cell=marks.cell)
    if run.looks:
        write_layer_looks(run.folder, run.looks)
    return cfg


def train_run(run: NewRun | Path, commands: queue.SimpleQueue, *, max_updates: int | None = None,
              minutes: float | None = None) -> Generator[Any, Any, None]:
    """Train a run: write it first if it is a NewRun, else resume the job at the .cfg path. A
    NewRun into a folder that holds a checkpoint (Continue with new labels) rewrites the data
    and the job, and training goes on from that checkpoint; a NewRun with a `start` starts a new
    run from that trained network.

    Commands (Stop, PredictNow) are read from `commands`, a thread-safe queue: unlike the
    worker's `send`, which keeps only the latest value, nothing put there is lost. The run
    ends after `max_updates` more updates or `minutes`, whichever comes first, or when
    stopped (neither given: until stopped); it saves a checkpoint either way. The run
    folder is locked while it trains, as `znn train` locks it.
    """
    from znn.app.session import Budget, TrainingSession
    from znn.jobs import read_cfg

    start = None
    if isinstance(run, NewRun):
        cfg = write_new_run(run)
        start = run.start
        yield RunWritten(cfg)
    else:
        cfg = run
    # The budget belongs to this session, not to the job: Max_iter in job.cfg stays as set.
    budget = Budget(updates=max_updates if max_updates else UNBOUNDED, minutes=minutes or None)
    # the dock plots the curve live and has the PNG drawn in a child process (_curve_png)
    session = TrainingSession(read_cfg(cfg).require_training(), seed_network=start, budget=budget,
                              commands=commands, draw_curve=False, warm_up=True, niceness=COMPUTE_NICENESS)
    yield from session.events()


def predict_image(image: Any, network_text: str, weights: str, *, save_to: SaveMaps | None = None,
                  **options: Any) -> Generator[Any, None, dict[str, np.ndarray]]:
    """Predict `image` with the network saved in `weights`; yields tile progress, returns the maps,
    saved first (when `save_to` names the files) as `znn forward` saves them. `options` are
    `iter_predict_image`'s, as `_prediction.predict_options` makes them (dtype included)."""
    from znn.forward.image import iter_predict_image
    from znn.forward.outputs import write_outputs
    from znn.netspec.znnfile import parse_znn

    _warm_up(options["dtype"])
    spec = parse_znn(network_text)
    outputs = yield from iter_predict_image(np.asarray(image), spec, weights, niceness=COMPUTE_NICENESS, **options)
    if save_to is not None:
        paths = save_to(list(outputs))
        write_outputs(paths, outputs)
        yield MapsSaved(tuple(paths.values()))
    return outputs


SaveMaps = Callable[[list[str]], dict[str, Path]]  # output node names -> the file of each


@dataclass(frozen=True)
class MapsSaved:
    """The worker saved the predicted maps into these files."""

    paths: tuple[Path, ...]
