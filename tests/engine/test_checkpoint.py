"""Checkpoints are written atomically: a failed save never damages the previous one."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from znn.io import h5net
from znn.io.curve import LearningCurve
from znn.io.h5net import load_network
from znn.netspec.znnfile import read_znn
from znn.params.init import initial_parameters
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


def _failing_writes(monkeypatch, code):
    """The HDF5 writer's `os`, with every write past 4 KiB to a temporary file failing with `code`."""
    import os
    import types

    from znn.base import atomic
    from znn.io import h5atomic

    watched = set()

    def open_(path, flags, mode=0o777):
        fd = os.open(path, flags, mode)
        if atomic.temporary_target(os.path.basename(path)) is not None:
            watched.add(fd)
        return fd

    def pwrite(fd, data, offset):
        if fd in watched and offset + len(data) > 4096:
            raise OSError(code, os.strerror(code))
        return os.pwrite(fd, data, offset)

    proxy = types.ModuleType("os")
    proxy.__dict__.update(os.__dict__)
    proxy.__dict__.update(open=open_, pwrite=pwrite)
    monkeypatch.setattr(h5atomic, "os", proxy)


def test_a_full_disk_fails_each_save_cleanly_and_the_process_can_save_again(tmp_path, monkeypatch):
    import errno

    from tests.helpers.badinput import file_hashes
    from znn.train.checkpoint import CheckpointWriteFailed

    spec = read_znn(NETWORKS / "tiny2d.znn")
    good = initial_parameters(spec, 1, "float32")
    prefix = tmp_path / "net"
    save_checkpoint(prefix, 10, spec, good, _curve(1), {"iteration": 10}, plot=False)
    before = file_hashes(tmp_path)
    with monkeypatch.context() as patch:
        _failing_writes(patch, errno.ENOSPC)
        for iteration in (20, 30, 40):  # HDF5 in this process stays sound after each failure
            with pytest.raises(CheckpointWriteFailed, match=rf"cannot write .*net_{iteration}\.h5: no space left"):
                save_checkpoint(prefix, iteration, spec, initial_parameters(spec, 2, "float32"), _curve(2),
                                {"iteration": iteration}, plot=False)
            assert file_hashes(tmp_path) == before  # no temporary, no half file, current untouched
    newer = initial_parameters(spec, 3, "float32")
    save_checkpoint(prefix, 50, spec, newer, _curve(3), {"iteration": 50}, plot=False)
    assert load_network(current_path(prefix)).params.equal(newer)


def test_the_curve_png_on_a_read_only_folder_fails_the_save_after_the_checkpoint(tmp_path, monkeypatch):
    import errno
    import os

    from znn.io import h5atomic
    from znn.train.checkpoint import CheckpointWriteFailed

    spec = read_znn(NETWORKS / "tiny2d.znn")
    params = initial_parameters(spec, 1, "float32")
    real = h5atomic.atomic_path

    def refusing_png(path):
        if str(path).endswith(".png"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path)

    import znn.io.curve_plot as curve_plot

    monkeypatch.setattr(curve_plot, "atomic_path", refusing_png)
    with pytest.raises(CheckpointWriteFailed, match=r"net_curve\.png: read-only file system") as failed:
        save_checkpoint(tmp_path / "net", 10, spec, params, _curve(1), {"iteration": 10})
    assert failed.value.saved is not None and failed.value.saved.current == current_path(tmp_path / "net")
    assert load_network(current_path(tmp_path / "net")).state == {"iteration": 10}


def test_one_run_lock_per_prefix_names_its_holder_and_is_released(tmp_path):
    import os

    from znn.io.runlock import RunLock, RunLocked
    from znn.train.checkpoint import remove_stale_temporaries, training_lock

    prefix = tmp_path / "run" / "net"
    with training_lock(prefix) as lock:
        assert lock.held and (tmp_path / "run/net.train.lock").exists()
        with pytest.raises(RunLocked, match=rf"another training run .*PID {os.getpid()} on ") as refused:
            RunLock(prefix, "train").acquire()  # also from the same process (a dock and a command)
        assert refused.value.holder is not None and refused.value.holder.pid == os.getpid()
        RunLock(tmp_path / "run" / "other", "train").acquire().release()  # another prefix is another run
        RunLock(prefix, "forward").acquire().release()  # and another kind
        mine = [".net_20.h5.0123abcd.tmp", ".net_current.h5.89abcdef.tmp", ".net_curve.png.00000000.tmp"]
        theirs = [".net_b_20.h5.0123abcd.tmp", ".other_current.h5.89abcdef.tmp", "net_20.h5", ".net_20.h5.tmp"]
        for name in mine + theirs:
            (tmp_path / "run" / name).write_bytes(b"x")
        assert sorted(p.name for p in remove_stale_temporaries(prefix)) == sorted(mine)
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted([*theirs, "net.train.lock"])
    assert not (tmp_path / "run/net.train.lock").exists()
    # A lock file left by a process that died (nobody holds its flock) is taken over.
    (tmp_path / "run/net.train.lock").write_text("pid 999999\nhost elsewhere\nstarted 2020-01-01 00:00:00\n")
    with training_lock(prefix) as lock:
        assert lock.held and f"pid {os.getpid()}" in (tmp_path / "run/net.train.lock").read_text()
    # A run that made the folder and wrote nothing leaves no folder behind.
    with training_lock(tmp_path / "fresh" / "net"):
        pass
    assert not (tmp_path / "fresh").exists()
