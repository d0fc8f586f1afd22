"""Whole-volume forward passes: ZNN's tiling, stitching, softmax, the `znn forward` job."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.helpers import jobkit
from tests.helpers.jobkit import write_job
from tests.helpers.paths import NETWORKS
from znn.base.errors import ConfigError
from znn.base.geometry import tile_count, tile_starts, tiles
from znn.forward.job import ForwardFinished, SampleStarted, SampleWritten, run_forward
from znn.forward.predict import channel_softmax, predict_volume
from znn.io.trained_network import load_trained
from znn.io.volumes import read_volume
from znn.jobs import read_cfg
from znn.netspec.znnfile import read_znn
from znn.network import Network


def test_tiles_of_the_reference_example():
    # Reference §8 example: N4 (fov 95), forward_outsz 5,100,100, a 30x512x512 stack mirrored to 30x606x606.
    assert tile_starts(606, 100, 95) == [0, 100, 200, 300, 400, 412]
    assert tile_starts(30, 5, 1) == [0, 5, 10, 15, 20, 25]
    assert tile_count((30, 606, 606), (5, 100, 100), (1, 95, 95)) == 216
    order = [t.start for t in tiles((10, 606, 606), (5, 100, 100), (1, 95, 95))]
    assert order[:2] == [(0, 0, 0), (0, 0, 100)] and order[6] == (0, 100, 0) and order[-1] == (5, 412, 412)


def test_a_window_larger_than_the_volume_is_refused():
    with pytest.raises(ValueError, match="smaller than one input window"):
        tile_starts(50, 40, 18)


def test_tiled_forward_equals_one_pass_over_the_whole_volume():
    spec = read_znn(NETWORKS / "tiny2d.znn")
    volume = np.random.default_rng(1).normal(size=(3, 50, 61))
    whole_out = (3, 50 - 17, 61 - 17)
    with Network(spec, whole_out, dtype="float64", seed=3, phase="test") as whole:
        expected = whole.forward({"input": volume[np.newaxis]})["output"]
        params = whole.params
    with Network(spec, (2, 10, 12), dtype="float64", params=params, phase="test") as tiled:
        got = predict_volume(tiled, {"input": volume})["output"]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_channel_softmax_in_slabs_equals_the_direct_formula():
    x = np.random.default_rng(0).normal(size=(3, 20, 5, 6)) * 10
    expected = np.exp(x) / np.exp(x).sum(axis=0, keepdims=True)
    got = x.copy()
    channel_softmax(got, slab=3)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.fixture(scope="module")
def trained_job(tmp_path_factory):
    return jobkit.trained_job(tmp_path_factory.mktemp("forward-job"))


def test_forward_job_writes_mirrored_boundary_maps(trained_job):
    job = read_cfg(trained_job)
    events = list(run_forward(job.require_forward()))
    started = next(e for e in events if isinstance(e, SampleStarted))
    written = next(e for e in events if isinstance(e, SampleWritten))
    assert started.sample_id == 2 and started.outsz == (1, 32, 32)
    assert isinstance(events[-1], ForwardFinished) and events[-1].samples == (2,)
    path = trained_job.parent / "out" / "pred_sample2_output.h5"
    assert written.paths == (str(path),)
    maps = read_volume(path, ndim=4)
    assert maps.shape == (2, 2, 64, 64) and maps.dtype == np.float32  # mirrored: same size as the image
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, rtol=1e-5)
    # The same maps from the checkpoint by hand: preprocess, mirror, tile, softmax.
    from znn.base.geometry import mirror_pad
    from znn.data.preprocess import preprocess

    raw = read_volume("synthetic:raw?shape=2,64,64&seed=4")
    spec = read_znn(NETWORKS / "tiny2d.znn")
    net = load_trained(trained_job.parent / "run/net_current.h5", (2, 64, 64), spec=spec, phase="test")
    with net:
        image = mirror_pad(preprocess(raw, "standard2D"), net.graph.fov)
        direct = net.forward({"input": image[np.newaxis]})["output"]
    channel_softmax(direct)
    np.testing.assert_allclose(maps, direct, rtol=1e-4, atol=1e-5)


def test_forward_auto_patch_and_tif_outputs(trained_job):
    job = read_cfg(trained_job)
    from znn.planning.planner import current_rss_bytes

    job.forward.forward_outsz = "auto"
    # The budget counts what this process already holds (every test before this one in it): 1 GiB more
    job.forward.forward_ram_budget = f"{(current_rss_bytes() + 2**30) / 2**30:.2f}GiB"
    job.forward.forward_tif = True
    job.forward.output_prefix = "out/auto"
    events = list(run_forward(job.require_forward()))
    started = next(e for e in events if isinstance(e, SampleStarted))
    assert started.plan and "patch plan" in started.plan
    assert all(t <= v for t, v in zip(started.outsz, (2, 64, 64)))
    folder = trained_job.parent / "out"
    h5 = read_volume(folder / "auto_sample2_output.h5", ndim=4)
    for index in range(2):
        np.testing.assert_array_equal(read_volume(folder / f"auto_sample2_output_{index}.tif"), h5[index])


def test_forward_can_stop_between_tiles(trained_job):
    job = read_cfg(trained_job)
    job.forward.output_prefix = "out/stopped"
    stop = threading.Event()
    events = []
    for event in run_forward(job.require_forward(), stop=stop):
        events.append(event)
        stop.set()
    assert events[-1] == ForwardFinished((), True)
    assert not (trained_job.parent / "out" / "stopped_sample2_output.h5").exists()


def test_a_missing_trained_network_is_an_error_naming_the_key(tmp_path):
    cfg = write_job(tmp_path)
    with pytest.raises(ConfigError) as caught:
        list(run_forward(read_cfg(cfg).require_forward()))
    assert caught.value.key == "forward_net" and "does not exist" in str(caught.value)
