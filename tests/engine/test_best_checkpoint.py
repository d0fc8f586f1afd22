"""The best checkpoint guard: a run that starts from trained weights never offers weights that
score worse on the held-back data than those it started from, however badly it trains."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from znn.app.job_folder import write_job_folder
from znn.data.strokes import paint_strokes
from znn.io.h5net import apply_saved, load_network
from znn.io.synthetic import make_em_volume
from znn.jobs import JobConfig, read_cfg
from znn.train.best import best_path
from znn.train.events import Finished, Validation
from znn.train.setup import prepare_training
from znn.train.trainer import Trainer


def _job(folder, labels, image, *, mode, eta, optimizer, max_iter):
    job = JobConfig()
    job.network.num_threads, job.network.dtype, job.network.out_type = 1, "float64", "boundary"
    job.network.train_conv_mode = job.network.forward_conv_mode = "gemm"
    job.training.train_outsz, job.training.max_iter = (1, 24, 24), max_iter
    job.training.num_iter_per_save = max_iter - 1
    job.training.num_iter_per_show, job.training.num_iter_per_test, job.training.test_num = 5, 5, 4
    job.training.eta, job.training.momentum, job.training.optimizer = min(eta, 1.0), 0.9, optimizer
    job.training.seed = 3
    job.data.is_bd_mirror, job.data.is_data_aug, job.data.rebalance_mode = True, True, "global"
    job.forward.forward_outsz = (1, 24, 24)
    settings = read_cfg(write_job_folder(folder, network_text=(NETWORKS / "tiny2d.znn").read_text(), image=image,
                                         labels=labels, job=job, label_mode=mode)).require_training()
    # a step past what a job file may hold (the .cfg reader refuses eta > 1) goes on the resolved settings
    return replace(settings, schedule=replace(settings.schedule, eta=eta))


def _train(settings, seed_network=None) -> list:
    setup = prepare_training(settings, seed_network=seed_network)
    try:
        return list(Trainer(setup).run())
    finally:
        setup.net.close()


@pytest.fixture(scope="module")
def trained_start(tmp_path_factory):
    """tiny2d trained on dense labels of a synthetic stack: a start worth keeping."""
    volume = make_em_volume((4, 64, 64), seed=6)
    folder = tmp_path_factory.mktemp("start")
    _train(_job(folder, volume.labels, volume.raw, mode="dense_boundary", eta=0.003, optimizer="adam",
                max_iter=150))
    return folder / "net/net_current.h5"


def test_a_wrecking_step_size_leaves_the_best_checkpoint_at_the_start(tmp_path, trained_start):
    volume = make_em_volume((4, 64, 64), seed=7)
    strokes = paint_strokes(volume.labels, [0, 1, 2, 3], strokes_per_section=10, rng=2)
    # SGD with a step a thousand times too large: every update makes the network worse
    job = _job(tmp_path, strokes, volume.raw, mode="sparse_strokes", eta=40.0, optimizer="sgd", max_iter=20)
    events = _train(job, seed_network=trained_start)
    validations = [e for e in events if isinstance(e, Validation)]
    start, later = validations[0], validations[1:]
    assert start.iteration == 0 and start.best_iteration == 0
    assert later and all(v.cost > start.cost for v in later)  # the guard had something to guard against
    assert all(v.best_iteration == 0 and v.best_cost == start.cost for v in later)
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.best_is_earlier and finished.best_iteration == 0
    # the kept weights are the start's, and they score what the start scored
    best = load_network(best_path(tmp_path / "net/net"))
    origin = load_network(trained_start)
    for name, kernel in origin.params.kernels.items():
        np.testing.assert_array_equal(best.params.kernels[name], kernel)
    assert best.state["iteration"] == 0 and best.state["validation_cost"] == pytest.approx(start.cost)


def test_a_sensible_step_moves_the_best_forward_and_it_scores_what_was_reported(tmp_path, trained_start):
    volume = make_em_volume((4, 64, 64), seed=7)
    strokes = paint_strokes(volume.labels, [0, 1, 2, 3], strokes_per_section=10, rng=2)
    job = _job(tmp_path, strokes, volume.raw, mode="sparse_strokes", eta=0.001, optimizer="adam", max_iter=40)
    events = _train(job, seed_network=trained_start)
    validations = [e for e in events if isinstance(e, Validation)]
    assert validations[0].iteration == 0
    lowest = min(validations, key=lambda v: v.cost)
    finished = events[-1]
    assert finished.best_iteration == lowest.iteration
    assert all(v.best_cost <= validations[0].cost for v in validations)
    # the file holds the weights that scored best: scoring it again gives the reported cost
    setup = prepare_training(read_cfg(tmp_path / "job.cfg").require_training())
    try:
        trainer = Trainer(setup)
        params = setup.net.params.copy()
        apply_saved(setup.spec, load_network(finished.best), params)
        again = trainer.validator.score_weights(params, finished.best_iteration)
    finally:
        setup.net.close()
    assert again.cost == pytest.approx(lowest.cost, rel=1e-9)


def test_resuming_keeps_an_earlier_best_that_still_scores_better(tmp_path, trained_start):
    volume = make_em_volume((4, 64, 64), seed=7)
    strokes = paint_strokes(volume.labels, [0, 1, 2, 3], strokes_per_section=10, rng=2)
    job = _job(tmp_path, strokes, volume.raw, mode="sparse_strokes", eta=40.0, optimizer="sgd", max_iter=10)
    _train(job, seed_network=trained_start)
    # the run goes on (Resume, or Continue with the same strokes): its current weights are wrecked,
    # its best file holds the start; the best must stay the start's
    again = _train(_with(job, max_iter=15))
    first = [e for e in again if isinstance(e, Validation)][0]
    assert first.iteration == 10 and first.best_iteration == 0 and first.best_cost < first.cost
    assert again[-1].best_iteration == 0


def _with(settings, **schedule):
    return replace(settings, schedule=replace(settings.schedule, **schedule))
