"""Checkpoints are written atomically: a failed save never damages the previous one."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from znn.init import initial_parameters
from znn.io import h5net
from znn.io.curve import LearningCurve
from znn.io.h5net import load_network
from znn.netspec.znnfile import read_znn
from znn.train.checkpoint import checkpoint_path, current_path, save_checkpoint


def _curve(points: int) -> LearningCurve:
    it = np.arange(1, points + 1) * 10
    return LearningCurve(train_it=it, train_err=it / 100.0, train_cls=it / 1000.0,
                         test_it=it, test_err=it / 50.0, test_cls=it / 500.0)


def test_save_writes_numbered_and_current_files_with_curve_and_state(tmp_path):
    spec = read_znn(NETWORKS / "tiny2d.znn")
    params = initial_parameters(spec, 1, "float32")
    saved = save_checkpoint(tmp_path / "run/net", 30, spec, params, _curve(3), {"iteration": 30, "seed": 9})
    assert saved.path == checkpoint_path(tmp_path / "run/net", 30)
    assert saved.current == current_path(tmp_path / "run/net")
    for path in (saved.path, saved.current):
        loaded = load_network(path)
        assert loaded.params.equal(params)
        assert loaded.learning_curve.equal(_curve(3))
        assert loaded.state == {"iteration": 30, "seed": 9}
    assert saved.curve_png is not None and saved.curve_png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("failing_layer", [0, 3])
def test_a_save_interrupted_by_an_exception_leaves_the_previous_checkpoint_loadable(
        tmp_path, monkeypatch, failing_layer):
    spec = read_znn(NETWORKS / "tiny2d.znn")
    good = initial_parameters(spec, 1, "float32")
    prefix = tmp_path / "net"
    save_checkpoint(prefix, 10, spec, good, _curve(1), {"iteration": 10}, plot=False)
    before = sorted(p.name for p in tmp_path.iterdir())

    real = h5net._write_layer
    calls = {"n": 0}

    def crash_midway(*args, **kwargs):
        if calls["n"] == failing_layer:
            raise OSError("disk full (simulated)")
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(h5net, "_write_layer", crash_midway)
    newer = initial_parameters(spec, 2, "float32")
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(prefix, 20, spec, newer, _curve(2), {"iteration": 20}, plot=False)
    # No temporary file, no half-written net_20.h5, and net_current.h5 still holds iteration 10.
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    current = load_network(current_path(prefix))
    assert current.params.equal(good) and current.state == {"iteration": 10}
