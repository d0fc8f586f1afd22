"""One training run of `znn bench strokes`, as the dock would run it, with the weights it offers kept
at fixed times; and the scores of a set of weights on the unpainted sections.

The clock starts before the run folder is written, as when Train is pressed, so writing the data,
loading it and building the network count. At each time the run's best checkpoint so far (what
Predict uses) is copied aside; after the run they are predicted and scored, so scoring never takes
training time.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from znn.app.job_folder import write_job_folder
from znn.app.session import Budget, TrainingSession
from znn.base.cores import capped_threads
from znn.base.modes import LabelMode
from znn.bench.strokes_data import CELL, MEMBRANE, StrokesCase
from znn.evaluate.sweep import MapScores, score_boundary_map
from znn.forward.image import iter_predict_image
from znn.io.h5net import save_network
from znn.jobs import JobConfig, read_cfg
from znn.netspec.spec import NetSpec
from znn.netspec.znnfile import parse_znn
from znn.params.net_params import NetParams
from znn.train.best import best_path
from znn.train.events import Step, Validation


@dataclass(frozen=True)
class Snapshot:
    """The weights a run offered at a time of its clock."""

    seconds: float
    updates: int
    weights: Path
    iteration: int  # the iteration of those weights (the best checkpoint's, or the last update)
    last: bool = False  # the last update's weights rather than the best checkpoint's


def predict_sections(image: np.ndarray, network_text: str, weights: Path, threads: int) -> np.ndarray:
    """The boundary map (z, y, x) of every section of `image`, one whole section per tile."""
    run = iter_predict_image(image, parse_znn(network_text), weights, conv_mode="gemm", num_threads=threads,
                             outsz=(1, image.shape[1], image.shape[2]))
    while True:
        try:
            next(run)
        except StopIteration as done:
            maps = next(iter(done.value.values()))
            return maps[1]  # channel 1 is the boundary (znn.data.targets)


def score_weights(case: StrokesCase, network_text: str, weights: Path, threads: int) -> MapScores:
    sections = case.scored_sections
    return score_boundary_map(predict_sections(case.image[sections], network_text, weights, threads),
                              case.labels[sections])


def train_with_snapshots(case: StrokesCase, folder: Path, *, network_text: str, job: JobConfig, dense: bool,
                         times: tuple[float, ...], threads: int, start: Path | None = None) -> list[Snapshot]:
    """Train for max(times) seconds on the case's strokes: the best checkpoint at each time, and the
    last update's weights at the end. Or, `dense`, on the dense labels of its painted sections only, all
    of them training (validation then sees trained sections, so the last update's weights are kept)."""
    clock = time.monotonic()
    painted = list(case.painted_sections)
    image, labels = (case.image[painted], case.labels[painted]) if dense else (case.image, case.strokes)
    mode: LabelMode = "dense_boundary" if dense else "sparse_strokes"
    cfg = write_job_folder(folder, network_text=network_text, image=image, labels=labels, job=job,
                           label_mode=mode, stroke_membrane=MEMBRANE, stroke_cell=CELL)
    settings = replace(read_cfg(cfg).require_training(), num_threads=capped_threads(threads))
    if dense:  # the folder holds the last painted section back for validation: train on it as well
        settings = replace(settings, train_range=(1, 2))
    pending = sorted(times)
    snapshots: list[Snapshot] = []
    best_iteration = updates = 0
    minutes = max(0.0, pending[-1] - (time.monotonic() - clock)) / 60
    session = TrainingSession(settings, seed_network=start, draw_curve=False, budget=Budget(minutes=minutes))

    def keep(seconds: float) -> Snapshot:
        assert session.setup is not None and session.trainer is not None  # called once training runs
        setup, trainer = session.setup, session.trainer
        if dense:
            return _keep_last(folder, setup.spec, setup.net.params, seconds, updates, trainer.iteration)
        return _keep_best(folder, setup.prefix, seconds, updates, best_iteration)

    for event in session.events():
        if isinstance(event, Step):
            updates = event.iteration - session.setup.first_iteration + 1 if session.setup else 0
        if isinstance(event, Validation) and event.best_iteration is not None:
            best_iteration = event.best_iteration
        while pending and time.monotonic() - clock >= pending[0]:
            snapshots.append(keep(pending.pop(0)))
    # the session has closed the network; its weights stay readable
    snapshots += [keep(seconds) for seconds in pending]
    if not dense:
        assert session.setup is not None and session.trainer is not None
        snapshots.append(_keep_last(folder, session.setup.spec, session.setup.net.params, times[-1], updates,
                                    session.trainer.iteration))
    return snapshots


def _keep_best(folder: Path, prefix: Path, seconds: float, updates: int, best_iteration: int) -> Snapshot:
    source = best_path(prefix)
    if not source.is_file():  # no validation yet: the run has nothing better than its start
        source = prefix.with_name(f"{prefix.name}_init.h5")
    kept = folder / f"at-{seconds:g}s-best.h5"
    shutil.copyfile(source, kept)
    return Snapshot(seconds, updates, kept, best_iteration)


def _keep_last(folder: Path, spec: NetSpec, params: NetParams, seconds: float, updates: int,
               iteration: int) -> Snapshot:
    kept = folder / f"at-{seconds:g}s-last.h5"
    save_network(kept, spec, params.copy(), stdio=True)
    return Snapshot(seconds, updates, kept, iteration, last=True)
