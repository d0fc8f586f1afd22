"""Job folders written from arrays train and predict headless; reading one back gives the same job."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from tests.helpers.paths import NETWORKS
from znn.app.job_folder import read_job_folder, validation_split, write_job_folder
from znn.base.errors import ConfigError, NetworkSpecError
from znn.commands.cli import main
from znn.data.strokes import paint_strokes
from znn.io.synthetic import make_em_volume
from znn.io.volumes import read_volume
from znn.jobs import JobConfig, read_cfg


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


def test_a_folder_of_painted_strokes_holds_back_whole_strokes_and_trains(tmp_path):
    volume = make_em_volume((6, 48, 48), seed=3)
    strokes = paint_strokes(volume.labels, [1, 3, 4], rng=5) * 2  # painted as 2 = membrane, 4 = cell
    job = _job()
    job.training.seed = 9
    cfg = write_job_folder(tmp_path / "job", network_text=(NETWORKS / "tiny2d.znn").read_text(), image=volume.raw,
                           labels=strokes, job=job, label_mode="sparse_strokes", stroke_membrane=2, stroke_cell=4,
                           validation_share=0.3)
    spec = read_cfg(cfg).data_spec
    for label_id, mask in ((1, "data/train-mask.h5"), (2, "data/validation-mask.h5")):
        label = spec.labels[label_id]
        assert label.fnames == ["data/labels.h5"] and label.fmasks == [mask]  # the whole stack, no section range
        assert (label.label_mode, label.stroke_membrane, label.stroke_cell) == ("sparse_strokes", 2, 4)
    assert spec.images[1].fnames == spec.images[2].fnames == ["data/image.h5"]
    assert "label_mode = sparse_strokes" in (tmp_path / "job/data.spec").read_text()
    train = read_volume(tmp_path / "job/data/train-mask.h5")
    validation = read_volume(tmp_path / "job/data/validation-mask.h5")
    painted = strokes != 0
    assert train.any() and validation.any() and not (train & validation).any()
    np.testing.assert_array_equal((train | validation) > 0, painted)
    components, count = ndimage.label(painted)
    held = set(np.unique(components[validation > 0]).tolist())
    assert held.isdisjoint(np.unique(components[train > 0]).tolist())  # whole strokes held back
    # about 30 % of the strokes of each kind, so that validation holds membrane and cell strokes
    kind = {c: int(np.bincount(strokes[components == c]).argmax()) for c in range(1, count + 1)}
    for value in (2, 4):
        of_kind = [c for c in kind if kind[c] == value]
        assert len([c for c in held if kind[c] == value]) == round(0.3 * len(of_kind)), value
    back = read_job_folder(tmp_path / "job")
    assert (back.label_mode, back.stroke_membrane, back.stroke_cell) == ("sparse_strokes", 2, 4)
    again = write_job_folder(tmp_path / "again", network_text=(NETWORKS / "tiny2d.znn").read_text(),
                             image=volume.raw, labels=strokes, job=job, label_mode="sparse_strokes",
                             stroke_membrane=2, stroke_cell=4, validation_share=0.3)
    np.testing.assert_array_equal(read_volume(again.parent / "data/validation-mask.h5"), validation)  # seeded
    assert main(["train", "-c", str(cfg), "--quiet"]) == 0
    assert (tmp_path / "job/net/net_current.h5").exists()


def test_one_stroke_trains_and_validates_on_itself(tmp_path):
    volume = make_em_volume((3, 40, 40), seed=1)
    strokes = np.zeros(volume.labels.shape, np.uint8)
    strokes[1, 20, 10:30] = 2
    write_job_folder(tmp_path / "job", network_text=(NETWORKS / "tiny2d.znn").read_text(), image=volume.raw,
                     labels=strokes, job=_job(), label_mode="sparse_strokes")
    np.testing.assert_array_equal(read_volume(tmp_path / "job/data/train-mask.h5"),
                                  read_volume(tmp_path / "job/data/validation-mask.h5"))
    assert read_job_folder(tmp_path / "job").label_mode == "sparse_strokes"
    dense = write_job_folder(tmp_path / "dense", network_text=(NETWORKS / "tiny2d.znn").read_text(),
                             image=volume.raw, labels=volume.labels, job=_job())
    assert "label_mode" not in (dense.parent / "data.spec").read_text()
    assert read_job_folder(tmp_path / "dense").label_mode == "dense_boundary"


@pytest.mark.parametrize("options, key", [({"label_mode": "strokes"}, "label_mode"),
                                          ({"stroke_membrane": 2}, "stroke_membrane"),
                                          ({"validation_share": 1.0}, "validation_share")])
def test_bad_label_options_are_refused_before_anything_is_written(tmp_path, options, key):
    volume = make_em_volume((3, 40, 40), seed=1)
    with pytest.raises(ConfigError) as caught:
        write_job_folder(tmp_path / "a", network_text=(NETWORKS / "tiny2d.znn").read_text(), image=volume.raw,
                         labels=volume.labels, job=_job(), **options)
    assert caught.value.key == key and not (tmp_path / "a").exists()
