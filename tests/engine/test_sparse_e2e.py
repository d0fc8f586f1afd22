"""End to end: a boundary net trained from a few painted strokes finds the membranes of the whole stack.

A synthetic EM stack with exact truth; strokes on 3 of its 8 sections cover under 1 % of the voxels.
A small 2-D net trains on them for a few hundred updates through a job folder, as the dock writes it,
then predicts every section. Its boundary F1 against the full truth must be clearly above the two
trivial predictions: everything cell (F1 0) and everything boundary (F1 = 2p / (1 + p), p the
boundary fraction). The same strokes read the old way (unlabelled 0 = membrane) give a degenerate
net, no better than calling everything boundary. `pytest -s` prints the numbers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from znn.app.job_folder import write_job_folder
from znn.base.geometry import mirror_pad
from znn.base.modes import LabelMode
from znn.data.preprocess import preprocess
from znn.data.strokes import paint_strokes
from znn.forward.predict import predict_volume
from znn.io.synthetic import make_em_volume
from znn.jobs import JobConfig, read_cfg
from znn.train.setup import prepare_training
from znn.train.trainer import Trainer

UPDATES = 500
SECTIONS = (1, 4, 6)


def _job() -> JobConfig:
    job = JobConfig()
    job.network.num_threads, job.network.dtype, job.network.out_type = 1, "float32", "boundary"
    job.network.train_conv_mode = job.network.forward_conv_mode = "fft"
    t = job.training
    t.train_outsz, t.max_iter, t.seed = (1, 32, 32), UPDATES, 1
    t.num_iter_per_save, t.num_iter_per_show, t.num_iter_per_test, t.test_num = UPDATES - 1, 100, UPDATES, 4
    t.eta, t.momentum, t.anneal_factor, t.num_iter_per_annealing = 0.01, 0.9, 1.0, 1000
    job.data.is_bd_mirror, job.data.is_data_aug, job.data.rebalance_mode = True, True, "global"
    job.forward.forward_outsz = (1, 32, 32)
    return job


def _train_and_predict(folder: Path, raw: np.ndarray, labels: np.ndarray, mode: LabelMode) -> np.ndarray:
    """The boundary probability of every voxel after training on `labels` read as `mode`."""
    cfg = write_job_folder(folder, network_text=(NETWORKS / "tiny2d.znn").read_text(), image=raw, labels=labels,
                           job=_job(), label_mode=mode)
    setup = prepare_training(read_cfg(cfg).require_training())
    try:
        for _ in Trainer(setup, draw_curve=False).run():
            pass
        setup.net.set_phase("test")
        image = mirror_pad(preprocess(raw, "standard2D", setup.net.dtype), setup.fov)
        out = predict_volume(setup.net, {setup.spec.input_names[0]: image}, softmax=True)
        return out[setup.spec.output_names[0]][1]
    finally:
        setup.net.close()


def _f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    tp = int(np.count_nonzero(predicted & truth))
    wrong = int(np.count_nonzero(predicted ^ truth))
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


@pytest.mark.parametrize("seed", [1, 3])
def test_a_net_trained_on_strokes_finds_the_membranes_of_every_section(tmp_path, seed):
    started = time.perf_counter()
    volume = make_em_volume((8, 128, 128), seed=seed)
    strokes = paint_strokes(volume.labels, SECTIONS, rng=seed)
    coverage = 100 * np.count_nonzero(strokes) / strokes.size
    assert coverage <= 1.0
    truth = volume.labels == 0
    p = float(truth.mean())
    all_boundary = 2 * p / (1 + p)

    sparse = _f1(_train_and_predict(tmp_path / "sparse", volume.raw, strokes, "sparse_strokes") > 0.5, truth)
    seconds = time.perf_counter() - started
    # The old reading: every unpainted voxel, and every membrane stroke, is label 0 = membrane.
    old = (strokes == 2).astype(np.uint32)
    dense = _f1(_train_and_predict(tmp_path / "dense", volume.raw, old, "dense_boundary") > 0.5, truth)
    print(f"\nstrokes on sections {SECTIONS}: {coverage:.2f} % of the voxels; {UPDATES} updates; boundary F1 on all "
          f"8 sections: strokes {sparse:.3f}, unlabelled-as-membrane {dense:.3f}, all-boundary {all_boundary:.3f}, "
          f"all-cell 0.000; {seconds:.1f} s for the strokes run")
    assert sparse > all_boundary + 0.2 and sparse > 2 * all_boundary
    assert sparse > dense + 0.15  # reading the unpainted voxels as membrane learns far less
