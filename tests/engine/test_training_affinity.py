"""Affinity training end to end: 3 channels, binomial cost, rand error, MALIS, forward."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.jobkit import write_job
from znn.forward.job import run_forward
from znn.io.volumes import read_volume
from znn.jobs import read_cfg
from znn.train.events import Show, Step, Validation
from znn.train.setup import prepare_training
from znn.train.trainer import Trainer

# A small 3-D net: the first kernel spans two sections so the z affinity sees both.
TINY_AFFINITY = """\
nodes input
type input
size 1

edges conv1
type conv
input input
output nconv1
size 2,3,3
init xavier

nodes nconv1
type transfer
size 6
function rectify_linear

edges conv2
type conv
input nconv1
output output
size 1,3,3
init xavier

nodes output
type transfer
size 3
function forward_logistics
"""


def _affinity_job(folder, **cfg_changes):
    (folder).mkdir(parents=True, exist_ok=True)
    (folder / "aff.znn").write_text(TINY_AFFINITY)
    cfg = write_job(folder, max_iter=12, show=4, test=6, save=6, outsz="1,12,12", threads=1,
                    shape=(4, 48, 48), forward_outsz="2,16,16", network=str(folder / "aff.znn"))
    text = cfg.read_text().replace("out_type = boundary", "out_type = affinity")
    for key, value in cfg_changes.items():
        text += f"{key} = {value}\n"
    cfg.write_text(text)
    return cfg


@pytest.mark.parametrize("malis", [{}, {"is_malis": "yes", "malis_norm_type": "frac"}])
def test_affinity_training_reports_rand_error_and_forward_writes_three_channels(tmp_path, malis):
    cfg = _affinity_job(tmp_path, **malis)
    job = read_cfg(cfg)
    assert job.effective_cost_fn == "binomial_cross_entropy"
    setup = prepare_training(job.require_training())
    events = list(Trainer(setup).run())
    setup.net.close()
    steps = [e for e in events if isinstance(e, Step)]
    assert len(steps) == 12 and all(np.isfinite(s.cost) for s in steps)
    shows = [e for e in events if isinstance(e, Show)]
    assert all(s.rand_error is not None and 0 <= s.rand_error <= 1 for s in shows)
    if malis:
        assert all(s.malis_cost is not None for s in shows)
    assert all(v.rand_error is not None for v in events if isinstance(v, Validation))
    list(run_forward(read_cfg(cfg).require_forward()))
    maps = read_volume(tmp_path / "out/pred_sample2_output.h5", ndim=4)
    assert maps.shape == (3, 2, 48, 48)
    assert (maps > 0).all() and (maps < 1).all()  # logistic outputs, no softmax
