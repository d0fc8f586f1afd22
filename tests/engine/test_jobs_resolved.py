"""Resolved job settings: the defaults and ZNN's substring rules applied once, the same for
`znn train`, `znn forward` and the dock's Predict."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.jobkit import write_job
from znn.base.errors import ConfigError
from znn.jobs import ConfigWarning, read_cfg
from znn.jobs.resolved import ForwardSettings, ResolvedForward, ResolvedTraining
from znn.netspec.library import bundled_network

SPEC = """\
[image1]
fnames = a.h5
pp_types = standard2D
is_auto_crop = no
[label1]
fnames = b.h5
pp_types = auto
is_auto_crop = no
[sample1]
input = 1
output = 1
[sample2]
input = 1
output = 1
"""

# Only the keys ZNN requires; conv modes written in ZNN's substring style.
MINIMAL = """\
[parameters]
fnet_spec = tiny2d
fdata_spec = data.spec
num_threads = 0
dtype = double
out_type = boundary
train_conv_mode = fft_optimize
train_net_prefix = run/net
train_range = 1
test_range = 2
forward_conv_mode = direct_optimize
forward_range = 2
forward_net = run/net_current.h5
forward_outsz = auto
output_prefix = out/pred
"""


@pytest.fixture
def minimal(tmp_path: Path) -> Path:
    (tmp_path / "data.spec").write_text(SPEC)
    cfg = tmp_path / "job.cfg"
    cfg.write_text(MINIMAL)
    return cfg


def no_none_fields(resolved: object) -> None:
    for f in dataclasses.fields(resolved):  # type: ignore[arg-type]
        assert getattr(resolved, f.name) is not None, f.name
        assert "None" not in str(f.type) and "Optional" not in str(f.type), f"{f.name}: {f.type}"


def test_require_training_of_a_minimal_cfg_gives_the_documented_defaults(minimal):
    job = read_cfg(minimal)
    run = job.require_training()
    assert isinstance(run, ResolvedTraining)
    no_none_fields(run)
    assert run.network_file == bundled_network("tiny2d") == job.network_file()
    assert run.data_spec is job.data_spec
    assert run.train_net_prefix == minimal.parent / "run" / "net"
    assert (run.train_range, run.test_range, run.train_outsz) == ((1,), (2,), (1, 100, 100))
    assert run.dtype == "float64" and run.conv_mode == "fft"  # 'fft' wins over 'optimize' in ZNN
    assert run.num_threads == (os.cpu_count() or 1)  # <= 0: every core
    assert (run.output_kind, run.cost_fn, run.rebalance) == ("boundary", "softmax_loss", "off")
    assert not run.augment and not run.mirror
    assert (run.em_aug_missing_section, run.em_aug_misalignment, run.em_aug_intensity) == (0.0, 0.0, 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.dtype = "float32"  # type: ignore[misc]


def test_require_forward_of_a_minimal_cfg_gives_the_documented_defaults(minimal):
    job = read_cfg(minimal)
    run = job.require_forward()
    assert isinstance(run, ResolvedForward)
    no_none_fields(run)
    assert run.network_file == bundled_network("tiny2d")
    assert run.forward_net == minimal.parent / "run" / "net_current.h5"  # need not exist yet
    assert run.output_prefix == minimal.parent / "out" / "pred"
    assert run.forward_range == (2,) and run.data_spec is job.data_spec
    assert run.dtype == "float64" and run.conv_mode == "optimize" and run.num_threads == (os.cpu_count() or 1)
    assert (run.output_kind, run.cost_fn, run.softmax, run.mirror) == ("boundary", "softmax_loss", True, False)
    assert (run.outsz, run.ram_budget, run.tif) == ("auto", "50%", False)
    # what a job without files or ranges (the dock's form) resolves to: the same settings
    job.network.fnet_spec = job.forward.forward_net = job.forward.output_prefix = None
    job.forward.forward_range = None
    settings = job.forward_settings()
    no_none_fields(settings)
    assert settings == ForwardSettings(**{f.name: getattr(run, f.name) for f in dataclasses.fields(ForwardSettings)})


def test_affinity_rebalance_and_extensions_resolve(minimal, monkeypatch):
    monkeypatch.setattr("znn.base.cores.usable_cores", lambda: 8)  # the count fits: kept as written
    text = (MINIMAL.replace("out_type = boundary", "out_type = affinity").replace("num_threads = 0", "num_threads = 3")
            .replace("forward_outsz = auto", "forward_outsz = 1,9,9"))
    minimal.write_text(text + "rebalance_mode = none\nis_bd_mirror = yes\nem_aug_intensity = 0.1\n"
                       "forward_ram_budget = 2GiB\nforward_tif = yes\n")
    with pytest.warns(ConfigWarning, match="rebalance_mode 'none' means 'global'"):
        job = read_cfg(minimal)
    train, fwd = job.require_training(), job.require_forward()
    assert train.num_threads == fwd.num_threads == 3
    assert (train.output_kind, train.cost_fn, train.rebalance) == ("affinity", "binomial_cross_entropy", "global")
    assert train.mirror and train.em_aug_intensity == 0.1 and train.em_aug_misalignment == 0.0
    assert not fwd.softmax and fwd.outsz == (1, 9, 9) and fwd.ram_budget == "2GiB" and fwd.tif
    monkeypatch.setattr("znn.base.cores.usable_cores", lambda: 2)  # more threads than cores: capped
    job = read_cfg(minimal)
    assert job.require_training().num_threads == job.require_forward().num_threads == 2


def test_require_keeps_the_key_errors_and_names_missing_files(minimal):
    job = read_cfg(minimal)
    job.network.dtype = None
    with pytest.raises(ConfigError, match="missing key needed for training: dtype"):
        job.require_training()
    with pytest.raises(ConfigError, match="missing key needed for the forward pass: dtype"):
        job.forward_settings()
    job = read_cfg(minimal, load_spec=False)
    job.check_training()  # keys only
    with pytest.raises(ConfigError, match="no data spec loaded") as caught:
        job.require_training()
    assert caught.value.key == "fdata_spec"
    minimal.write_text(MINIMAL.replace("fnet_spec = tiny2d", "fnet_spec = nets/none.znn"))
    with pytest.raises(ConfigError, match="network file not found") as caught:
        read_cfg(minimal).require_forward()
    assert caught.value.key == "fnet_spec"
    assert read_cfg(minimal).require_forward(network_file=Path("given.znn")).network_file == Path("given.znn")


class _Built(Exception):
    """Raised by the stand-in Network once it has recorded its arguments."""


def _record_network(monkeypatch: pytest.MonkeyPatch, module: str) -> dict:
    seen: dict = {}

    def network(saved, outsz, **kwargs):  # stands in for the one builder of trained networks
        seen.update(kwargs)
        raise _Built

    monkeypatch.setattr(f"{module}.trained_network", network)
    monkeypatch.setattr(f"{module}.load_network", lambda path: None)
    return seen


def test_predict_runs_the_conv_mode_znn_forward_runs(tmp_path, monkeypatch):
    """A forward_conv_mode written in ZNN's substring style ('direct_optimize' means optimize)
    reaches the network as the same effective mode from `znn forward` and from the dock's Predict."""
    pytest.importorskip("napari")
    from napari_znn._prediction import predict_options
    from znn.forward.image import iter_predict_image
    from znn.forward.job import run_forward
    from znn.netspec.znnfile import read_znn

    cfg = write_job(tmp_path, threads=0, shape=(2, 48, 48))
    cfg.write_text(cfg.read_text().replace("forward_conv_mode = fft", "forward_conv_mode = direct_optimize"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "net_current.h5").touch()  # load_network is replaced below
    job = read_cfg(cfg)
    assert job.network.forward_conv_mode == "direct_optimize"

    by_forward = _record_network(monkeypatch, "znn.forward.job")
    with pytest.raises(_Built):
        list(run_forward(job.require_forward()))
    by_predict = _record_network(monkeypatch, "znn.forward.image")
    options = predict_options(job.forward_settings())
    with pytest.raises(_Built):  # (optimize yields each conv group's choice before the network is built)
        list(iter_predict_image(np.zeros((2, 48, 48)), read_znn(job.network_file()), "w.h5", **options))

    assert by_forward["conv_mode"] == by_predict["conv_mode"] == "optimize"
    assert by_forward["num_threads"] == by_predict["num_threads"] == (os.cpu_count() or 1)
    assert np.dtype(by_forward["dtype"]) == np.dtype(by_predict["dtype"]) == np.float32
    assert options["softmax"] is True and options["mirror"] is True and options["outsz"] == (1, 32, 32)
