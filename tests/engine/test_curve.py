"""Learning curves in ZNN's `.h5` layout (reference §7.2)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.helpers.shared import need_shared
from znn.io.curve import LearningCurve, read_learning_curve, write_learning_curve


def malis_curve() -> LearningCurve:
    return LearningCurve(
        train_it=[10, 20, 30, 40], train_err=[0.5, 0.4, 0.3, 0.2], train_cls=[0.3, 0.2, 0.2, 0.1],
        test_it=[20, 40], test_err=[0.45, 0.25], test_cls=[0.25, 0.15],
        train_re=[np.nan, 0.3, 0.2, 0.1], train_mc=[np.nan, 0.1, 0.1, 0.05], train_me=[1.0, 2.0, 3.0, 4.0],
        test_re=[0.3, 0.1], test_mc=[0.2, 0.1], test_me=[2.5, 3.5], elapsed=0.25)


def test_separate_statistics_file_layout(tmp_path):
    path = tmp_path / "net_statistics_40.h5"
    write_learning_curve(path, malis_curve())
    with h5py.File(path, "r") as handle:
        assert set(handle) == {"train", "test", "elapsed"}
        assert set(handle["train"]) == {"it", "err", "cls", "re", "mc", "me"}
        assert handle["train/it"].dtype == np.int64 and handle["train/it"].shape == (4,)
        assert handle["test/err"].dtype == np.float64
        assert handle["elapsed"].shape == () and handle["elapsed"][()] == 0.25
        assert handle["test/it"][()].tolist() == [20, 40]
    back = read_learning_curve(path)
    assert back.equal(malis_curve())
    assert np.isnan(back.train_re[0])


def test_curve_without_malis_series(tmp_path):
    plain = LearningCurve(train_it=[1], train_err=[0.3], train_cls=[0.1], test_it=[1], test_err=[0.2],
                          test_cls=[0.1], elapsed=1.5)
    write_learning_curve(tmp_path / "s.h5", plain)
    with h5py.File(tmp_path / "s.h5", "r") as handle:
        assert set(handle["train"]) == {"it", "err", "cls"}
    back = read_learning_curve(tmp_path / "s.h5")
    assert back.equal(plain) and back.train_re is None


def test_last_iteration_and_cropping():
    curve = malis_curve()
    assert curve.last_iteration == 40
    assert LearningCurve(train_it=[5], train_err=[1], train_cls=[1]).last_iteration == 0  # no test points
    cropped = curve.cropped(25)
    assert cropped.train_it.tolist() == [10, 20] and cropped.train_err.tolist() == [0.5, 0.4]
    assert cropped.test_it.tolist() == [20] and cropped.test_me.tolist() == [2.5]
    assert len(cropped.train_re) == 2
    assert cropped.last_iteration == 20


def test_reads_the_curve_of_a_stdio_network_file(fixtures_dir):
    path = need_shared(fixtures_dir / "testsuit" / "boundary" / "net_1_single.h5")
    curve = read_learning_curve(path)
    assert curve.train_it.tolist() == [1] and curve.test_it.tolist() == [1]
    assert curve.train_cls.tolist() == [0.6] and curve.test_cls.tolist() == [0.36]
    assert curve.train_err[0] == pytest.approx(0.35471359)
    assert curve.elapsed == pytest.approx(0.005671024322509766)


def test_file_without_curve(tmp_path):
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    assert read_learning_curve(tmp_path / "empty.h5") is None
