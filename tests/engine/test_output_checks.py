"""The checks a command makes before it writes (`znn.io.writable`, `znn.io.space`)."""

from __future__ import annotations

import errno
import os
import shutil

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from znn.base.errors import ConfigError, ZnnError
from znn.io.curve import LearningCurve
from znn.io.space import checkpoint_bytes, free_bytes, require_free_space
from znn.io.writable import Origin, check_output_folder, overlaps, probe_writable
from znn.netspec.graph import NetworkGraph
from znn.netspec.znnfile import read_znn
from znn.params.init import initial_parameters
from znn.train.checkpoint import save_checkpoint


@pytest.mark.parametrize("network, dtype, points", [("tiny2d", "float32", 0), ("tiny2d", "float64", 500),
                                                     ("N4", "float32", 50)])
def test_the_checkpoint_estimate_covers_the_file_without_gross_excess(tmp_path, network, dtype, points):
    spec = read_znn(NETWORKS / f"{network}.znn")
    it = np.arange(1, points + 1)
    curve = LearningCurve(train_it=it, train_err=it / 9.0, train_cls=it / 7.0, test_it=it, test_err=it / 5.0,
                          test_cls=it / 3.0)
    saved = save_checkpoint(tmp_path / "net", points, spec, initial_parameters(spec, 1, dtype), curve,
                            {"iteration": points}, update_current=False, plot=False)
    size = saved.path.stat().st_size
    graph = NetworkGraph(spec, (1, 1, 1))
    estimate = checkpoint_bytes(graph.parameter_count, dtype, layers=len(spec.nodes) + len(spec.edges),
                                curve_points=points)
    assert size <= estimate <= 2 * size + (64 << 10)


def test_overlaps_sees_through_links_relative_parts_and_containers(tmp_path):
    (tmp_path / "a.h5").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.h5").symlink_to(tmp_path / "a.h5")
    os.link(tmp_path / "a.h5", tmp_path / "hard.h5")
    assert overlaps(tmp_path / "sub" / ".." / "a.h5", tmp_path / "a.h5")
    assert overlaps(tmp_path / "link.h5", tmp_path / "a.h5")
    assert overlaps(tmp_path / "hard.h5", tmp_path / "a.h5")
    assert overlaps(tmp_path / "store.zarr", tmp_path / "store.zarr" / "raw")
    assert overlaps(tmp_path / "store.zarr" / "raw", tmp_path / "store.zarr")
    assert not overlaps(tmp_path / "b.h5", tmp_path / "a.h5")
    assert not overlaps(tmp_path / "store.zarr", tmp_path / "store.zarr2")


def test_an_output_folder_is_made_where_missing_and_a_file_in_its_path_refused(tmp_path):
    origin = Origin.flag("--output", "x")
    check_output_folder(tmp_path / "new" / "deeper", origin)
    assert (tmp_path / "new" / "deeper").is_dir()
    assert list((tmp_path / "new" / "deeper").iterdir()) == []  # the probe file is gone
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ZnnError, match=r"^--output x: .*file is a file, not a folder"):
        check_output_folder(tmp_path / "file" / "below", origin)
    assert (tmp_path / "file").read_text() == "mine"


def test_a_failing_probe_write_is_refused_naming_the_cfg_key(tmp_path, monkeypatch):
    # Root writes through chmod: the failure a read-only mount gives is injected into os.open.
    def read_only(path, flags, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    monkeypatch.setattr(os, "open", read_only)
    origin = Origin("train_net_prefix", "run/net", file="job.cfg", line=7)
    with pytest.raises(ConfigError, match=r"job.cfg:7: group 'parameters', key 'train_net_prefix': "
                                          r"cannot write in the folder .*Read-only file system"):
        probe_writable(tmp_path, origin)


def test_too_little_free_space_is_refused_with_both_sizes(tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=2048))
    assert free_bytes(tmp_path / "missing" / "folder") == 2048  # the nearest existing folder's disk
    require_free_space(tmp_path, 2048, Origin.flag("-o", "seg.h5"), what="the labels")
    with pytest.raises(ZnnError, match=r"^-o seg.h5: needs about 3.0 KiB for the labels, but only 2.0 KiB is free"):
        require_free_space(tmp_path, 3072, Origin.flag("-o", "seg.h5"), what="the labels")
