"""The example job folders read as they are; the ISBI one names its data when it is missing."""

from __future__ import annotations

import pytest

from tests.helpers.paths import REPO
from znn.base.errors import ConfigError
from znn.data.dataset import load_sample_set
from znn.jobs import read_cfg
from znn.netspec.graph import NetworkGraph
from znn.netspec.znnfile import read_znn


@pytest.mark.parametrize("name", ["synthetic", "isbi2012", "N4-isbi2012"])
def test_example_jobs_hold_every_training_and_forward_key(name):
    job = read_cfg(REPO / "examples" / name / "job.cfg")
    job.require_training()
    job.require_forward()
    spec = read_znn(job.network_file())
    job.data_spec.check_against_network(spec.input_names, spec.output_names)


def _load(job, ids):
    spec = read_znn(job.network_file())
    graph = NetworkGraph(spec, job.training.train_outsz)
    return load_sample_set(job.loaded_data_spec(), ids, fov=graph.fov, input_sizes={"input": graph.input_size},
                           output_size=graph.outsz, kind="boundary", rebalance=None, augment=False,
                           mirror=True, output_names=spec.output_names)


def test_isbi_example_splits_sections_or_says_where_the_data_should_be():
    job = read_cfg(REPO / "examples" / "isbi2012" / "job.cfg")
    # The example's .spec points beside the checkout, whatever ZNN_SHARED_DIR says.
    if not (REPO.parent / "shared" / "data" / "isbi2012" / "train-volume.tif").exists():
        with pytest.raises(ConfigError) as caught:
            _load(job, [1])
        assert "isbi2012/train-volume.tif" in str(caught.value) and "image1" in str(caught.value)
        return
    train, validation = _load(job, [1]), _load(job, [2])
    assert train.samples[0].labels["output"].shape == (15, 512, 512)
    assert validation.samples[0].labels["output"].shape == (5, 512, 512)


def test_copied_synthetic_example_trains_anywhere(tmp_path):
    """The example names its network by bundled name, so a copy outside the checkout trains."""
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "my-job"
    shutil.copytree(REPO / "examples" / "synthetic", folder, ignore=shutil.ignore_patterns("runs"))
    done = subprocess.run([sys.executable, "-m", "znn", "train", "-c", str(folder / "job.cfg"),
                           "--max-iter", "3", "--threads", "1", "--quiet"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (folder / "runs" / "tiny2d_current.h5").is_file()


def test_fnet_spec_names_a_bundled_network_or_says_where_it_looked(tmp_path):
    cfg = tmp_path / "job.cfg"
    cfg.write_text("[parameters]\nfnet_spec = N4\n")
    assert read_cfg(cfg).network_file().name == "N4.znn"
    cfg.write_text("[parameters]\nfnet_spec = nets/missing.znn\n")
    with pytest.raises(ConfigError) as caught:
        read_cfg(cfg).network_file()
    message = str(caught.value)
    assert str(cfg) in message and ":2:" in message and "fnet_spec" in message and "missing.znn" in message
