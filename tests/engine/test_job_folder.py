"""Job folders written from arrays train and predict headless; reading one back gives the same job."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from znn.cli import main
from znn.data.synthetic import make_em_volume
from znn.errors import ConfigError, NetworkSpecError
from znn.io.volumes import read_volume
from znn.jobs import JobConfig, read_cfg
from znn.jobs.folder import read_job_folder, validation_split, write_job_folder


def _job() -> JobConfig:
    job = JobConfig()
    job.network.num_threads, job.network.dtype, job.network.out_type = 1, "float32", "boundary"
    job.network.train_conv_mode = job.network.forward_conv_mode = "fft"
    job.training.train_outsz, job.training.max_iter, job.training.num_iter_per_save = (1, 24, 24), 6, 3
    job.training.num_iter_per_show, job.training.num_iter_per_test, job.training.test_num = 3, 3, 2
    job.data.is_bd_mirror = True
    job.forward.forward_outsz = (1, 32, 32)
    return job


def test_validation_split_holds_out_the_last_fifth():
    assert validation_split(20) == ("[0:16]", "[16:20]")
    assert validation_split(3) == ("[0:2]", "[2:3]")
    assert validation_split(1) == ("", "")


def test_a_folder_written_from_arrays_trains_and_predicts_headless(tmp_path, capsys):
    volume = make_em_volume((5, 48, 48), seed=2)
    text = (NETWORKS / "tiny2d.znn").read_text()
    cfg = write_job_folder(tmp_path / "job", network_text=text, image=volume.raw, labels=volume.labels,
                           job=_job(), name="tiny")
    job = read_cfg(cfg)
    assert job.data_spec.images[1].fnames == ["data/image.h5[0:4]"]
    assert job.data_spec.labels[2].fnames == ["data/labels.h5[4:5]"]
    assert main(["train", "-c", str(cfg), "--quiet"]) == 0
    assert main(["forward", "-c", str(cfg), "--quiet"]) == 0
    maps = read_volume(tmp_path / "job/out/tiny_sample3_output.h5", ndim=4)
    assert maps.shape == (2, 5, 48, 48)
    back = read_job_folder(tmp_path / "job")
    assert back.network_text == text and back.job == job
    np.testing.assert_array_equal(read_volume(back.image), volume.raw)
    np.testing.assert_array_equal(read_volume(back.labels), volume.labels)


def test_a_folder_references_files_given_by_path(tmp_path):
    volume = make_em_volume((3, 40, 40), seed=1)
    from znn.io.volumes import write_volume

    write_volume(tmp_path / "raw.tif", volume.raw)
    write_volume(tmp_path / "labels.h5", volume.labels)
    cfg = write_job_folder(tmp_path / "job", network_text=(NETWORKS / "tiny2d.znn").read_text(),
                           image=tmp_path / "raw.tif", labels=tmp_path / "labels.h5", job=_job())
    job = read_cfg(cfg)
    assert job.data_spec.images[3].fnames == [str((tmp_path / "raw.tif").resolve())]
    assert not (tmp_path / "job" / "data").exists()


def test_bad_inputs_are_refused_before_anything_is_written(tmp_path):
    volume = make_em_volume((3, 40, 40), seed=1)
    with pytest.raises(NetworkSpecError):
        write_job_folder(tmp_path / "a", network_text="nodes input\ntype nonsense\n", image=volume.raw,
                         labels=volume.labels, job=_job())
    assert not (tmp_path / "a").exists()
    with pytest.raises(ConfigError, match="different numbers of sections"):
        write_job_folder(tmp_path / "b", network_text=(NETWORKS / "tiny2d.znn").read_text(),
                         image=volume.raw, labels=volume.labels[:2], job=_job())
