"""Label modes: what label values mean, their conversion to targets and masks, and the mode guess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from znn.base.errors import ConfigError
from znn.data.dataset import load_sample_set
from znn.data.label_modes import convert_labels, guess_label_mode, instance_boundaries
from znn.data.sampling import TrainingSample
from znn.data.strokes import paint_strokes, split_strokes
from znn.data.targets import affinity_mask, affinity_target
from znn.io.synthetic import make_em_volume
from znn.io.volumes import write_volume
from znn.jobs import JobConfig, read_cfg


def write_job(folder: Path, image: np.ndarray, labels: np.ndarray, *, mask: np.ndarray | None = None,
              keys: str = "", out_type: str = "boundary") -> JobConfig:
    """A job whose [sample1] binds `image` and `labels` (and `mask`), with extra [label1] `keys`."""
    write_volume(folder / "img.h5", image)
    write_volume(folder / "lab.h5", labels)
    fmasks = ""
    if mask is not None:
        write_volume(folder / "mask.h5", mask)
        fmasks = "fmasks = mask.h5\n"
    (folder / "data.spec").write_text(
        "[image1]\nfnames = img.h5\npp_types = standard2D\nis_auto_crop = no\n"  # lines 1-4
        "[label1]\nfnames = lab.h5\npp_types = auto\nis_auto_crop = no\n"  # lines 5-8
        f"{fmasks}{keys}[sample1]\ninput = 1\noutput = 1\n")
    (folder / "job.cfg").write_text(f"[parameters]\nfdata_spec = data.spec\ndtype = float32\nout_type = {out_type}\n")
    return read_cfg(folder / "job.cfg")


LOAD = dict(fov=(1, 5, 5), input_sizes={"input": (1, 12, 12)}, output_size=(1, 8, 8), augment=True,
            mirror=True)


# --- dense_boundary: exactly today's path -------------------------------------------------------

def test_dense_boundary_conversion_returns_the_very_same_arrays():
    labels, mask = np.arange(8).reshape(2, 2, 2), np.ones((2, 2, 2), np.uint8)
    for kind in ("boundary", "affinity"):
        out_labels, out_mask = convert_labels(labels, mask, "dense_boundary", kind)
        assert out_labels is labels and out_mask is mask


@pytest.mark.parametrize("kind, rebalance", [("boundary", "global"), ("boundary", "patch"), ("affinity", "global")])
@pytest.mark.parametrize("keys", ["", "label_mode = dense_boundary\n"])
def test_dense_boundary_patches_equal_the_existing_path(tmp_path, kind, rebalance, keys):
    volume = make_em_volume((3, 40, 40), seed=5)
    mask = (np.indices(volume.labels.shape).sum(axis=0) % 5 != 0).astype(np.uint8)
    job = write_job(tmp_path, volume.raw, volume.labels, mask=mask, keys=keys, out_type=kind)
    loaded = load_sample_set(job.loaded_data_spec(), [1], kind=kind, rebalance=rebalance, **LOAD).samples[0]
    # The path before label modes: the raw ids and the mask handed to the sampler as they are.
    direct = TrainingSample(1, loaded.images, {"output": volume.labels}, {"output": mask},
                            input_sizes=LOAD["input_sizes"], output_size=LOAD["output_size"], kind=kind,
                            rebalance=rebalance, augment=True)
    assert loaded.global_weights == direct.global_weights
    for k in range(12):
        a, b = loaded.draw(np.random.default_rng([7, k])), direct.draw(np.random.default_rng([7, k]))
        assert a.location == b.location and not a.sparse
        for field in ("inputs", "targets", "masks", "weights"):
            left, right = getattr(a, field), getattr(b, field)
            assert left.keys() == right.keys()
            for name in left:
                np.testing.assert_array_equal(left[name], right[name], err_msg=f"{field} {name}")


# --- dense_instances ------------------------------------------------------------------------------

def test_touching_instances_get_a_one_voxel_boundary_between_them():
    ids = np.zeros((1, 5, 6), np.uint32)
    ids[0, :, :3], ids[0, :, 3:] = 4, 9  # two cells touching along x
    ids[0, 4, :] = 0  # and a row of background
    out = instance_boundaries(ids)
    expected = ids.copy()
    expected[0, :4, 3] = 0  # the side with the larger id becomes boundary: one voxel thin
    np.testing.assert_array_equal(out, expected)
    assert ids[0, 0, 3] == 9  # the input is not changed
    # Along y too, and 0 (background) is not widened.
    stacked = np.array([[[2, 2, 0], [2, 2, 0], [5, 5, 0]]])
    np.testing.assert_array_equal(instance_boundaries(stacked), [[[2, 2, 0], [2, 2, 0], [0, 0, 0]]])


def test_dense_instances_boundary_targets_from_touching_ids(tmp_path):
    ids = np.ones((2, 24, 24), np.uint32)
    ids[:, :, 12:] = 2  # two touching cells, no 0 at all
    job = write_job(tmp_path, np.random.default_rng(0).random((2, 24, 24)).astype(np.float32), ids,
                    keys="label_mode = dense_instances\n")
    data = job.loaded_data_spec()
    sample = load_sample_set(data, [1], kind="boundary", rebalance=None, **{**LOAD, "augment": False}).samples[0]
    boundary = sample.labels["output"] == 0
    assert boundary[:, :, 12].all() and boundary.sum() == 2 * 24  # one column between the cells
    patch = sample.patch_at((0, 12, 12))
    np.testing.assert_array_equal(patch.targets["output"][1, 0], (sample.labels["output"][0, 9:17, 9:17] == 0))
    assert patch.targets["output"][1, 0, :, 3].all()  # x = 12 of the volume
    assert not patch.masks and not patch.sparse  # dense: no mask, statistics as ZNN
    # Affinity outputs read the ids as they are: different ids never connect.
    affinity = load_sample_set(data, [1], kind="affinity", rebalance=None, **{**LOAD, "augment": False}).samples[0]
    assert affinity.labels["output"] is not sample.labels["output"]
    np.testing.assert_array_equal(affinity.labels["output"], ids)


# --- sparse strokes: values, masks, affinity edges --------------------------------------------------

def test_strokes_become_cell_and_membrane_targets_with_a_painted_mask():
    strokes = np.array([[[0, 5, 5, 0], [3, 3, 0, 0]]])
    labels, mask = convert_labels(strokes, None, "sparse_strokes", "boundary", membrane=3, cell=5)
    np.testing.assert_array_equal(labels, [[[0, 1, 1, 0], [0, 0, 0, 0]]])
    np.testing.assert_array_equal(mask, [[[0, 1, 1, 0], [1, 1, 0, 0]]])
    fmask = np.array([[[1, 1, 0, 0], [1, 1, 1, 1]]])
    _, both = convert_labels(strokes, fmask, "sparse_strokes", "boundary", membrane=3, cell=5)
    np.testing.assert_array_equal(both, [[[0, 1, 0, 0], [1, 1, 0, 0]]])  # ANDed with fmasks


def test_affinity_edge_masks_need_both_voxels_painted():
    # Along x: 7 7 | 0 | 7 8 8 ; edges (voxel, predecessor): (7,7) (0,7) (7,0) (8,7) (8,8)
    strokes = np.array([[[7, 7, 0, 7, 8, 8]]])
    painted = (strokes != 0).astype(np.uint8)
    enlarged = np.pad(strokes, ((1, 0), (1, 0), (0, 0)))  # a predecessor slice and row, unpainted
    mask_enlarged = np.pad(painted, ((1, 0), (1, 0), (0, 0)))
    target = affinity_target(enlarged)[0, 0, 0]  # channel 0 = x, the edges to x - 1 of x = 1..5
    both = affinity_mask(mask_enlarged, both=True)[0, 0, 0]
    either = affinity_mask(mask_enlarged)[0, 0, 0]
    np.testing.assert_array_equal(both, [1, 0, 0, 1, 1])  # an edge to an unpainted voxel is out
    np.testing.assert_array_equal(either, [1, 1, 1, 1, 1])  # ZNN's rule would keep it
    np.testing.assert_array_equal(target[both > 0], [1, 0, 1])  # same id 1, different ids 0
    assert not affinity_mask(mask_enlarged, both=True)[1:].any()  # y and z edges reach unpainted voxels


def test_sparse_affinity_patches_mask_edges_by_both_voxels():
    strokes = np.zeros((3, 12, 12), np.uint32)
    strokes[1, 6, 2:10] = 4
    strokes[1, 7, 2:10] = 4
    strokes[1, 6, 6:10] = 5  # a second object touching the first along x and y
    labels, mask = convert_labels(strokes, None, "sparse_strokes", "affinity")
    sample = TrainingSample(1, {"input": np.zeros((3, 12, 12), np.float32)}, {"output": labels}, {"output": mask},
                            input_sizes={"input": (1, 8, 8)}, output_size=(1, 8, 8), kind="affinity",
                            rebalance="patch", augment=False, label_modes={"output": "sparse_strokes"})
    patch = sample.draw(np.random.default_rng(0))
    assert patch.sparse == {"output"}
    target, edge = patch.targets["output"], patch.masks["output"]
    # Recompute every edge from the volume: on iff both voxels painted; target 1 iff the same id.
    start = np.asarray(patch.location) - (np.asarray((2, 9, 9)) - 1) // 2
    for channel, axis in enumerate((2, 1, 0)):
        for u in np.ndindex(*target.shape[1:]):
            here = tuple(start + np.add(u, 1))
            before = list(here)
            before[axis] -= 1
            a, b = strokes[here], strokes[tuple(before)]
            assert edge[(channel, *u)] == float(a != 0 and b != 0)
            if a and b:
                assert target[(channel, *u)] == float(a == b)
    assert edge[0].sum() > 0 and (target[0][edge[0] > 0] == 0).any()  # both kinds of painted edges seen


@pytest.mark.parametrize("value, where", [(3, "(1, 2, 4)"), (255, "(1, 2, 4)")])
def test_a_value_that_is_neither_stroke_is_refused_naming_file_section_key_and_value(tmp_path, value, where):
    strokes = np.zeros((2, 16, 16), np.uint8)
    strokes[1, 2, 2:4] = 1
    strokes[1, 2, 4] = value
    job = write_job(tmp_path, np.zeros((2, 16, 16), np.float32), strokes, keys="label_mode = sparse_strokes\n")
    with pytest.raises(ConfigError) as caught:
        load_sample_set(job.loaded_data_spec(), [1], kind="boundary", rebalance=None, **LOAD)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'data.spec'}:6: group 'label1', key 'fnames':")
    assert "lab.h5" in message and f"has {value} at (z, y, x) = {where}" in message
    assert "stroke_membrane" in message and f"found '{value}'" in message


def test_strokes_without_a_painted_voxel_or_outside_the_mask_are_refused(tmp_path):
    empty = np.zeros((2, 16, 16), np.uint8)
    job = write_job(tmp_path, empty.astype(np.float32), empty, keys="label_mode = sparse_strokes\n")
    with pytest.raises(ConfigError, match="no voxel is painted"):
        load_sample_set(job.loaded_data_spec(), [1], kind="affinity", rebalance=None, **LOAD)
    strokes = empty.copy()
    strokes[0, 3, 3:9] = 2
    mask = np.zeros_like(empty)
    mask[1] = 1
    job = write_job(tmp_path, empty.astype(np.float32), strokes, mask=mask, keys="label_mode = sparse_strokes\n")
    with pytest.raises(ConfigError, match=r"key 'fnames':.*no painted voxel lies where the mask"):
        load_sample_set(job.loaded_data_spec(), [1], kind="boundary", rebalance=None, **LOAD)


# --- the guess ------------------------------------------------------------------------------------

def test_guess_label_mode_tells_the_three_conventions_apart():
    volume = make_em_volume((4, 96, 96), seed=3)
    mode, reason = guess_label_mode(volume.labels, "boundary")
    assert mode == "dense_boundary" and "0 = membrane" in reason
    touching = volume.labels.copy()
    for z in range(touching.shape[0]):  # fill membranes with the nearest cell: napari-style instances
        index = ndimage.distance_transform_edt(touching[z] == 0, return_distances=False, return_indices=True)
        touching[z] = touching[z][tuple(index)]
    touching[:, :10, :10] = 0  # a little background
    mode, reason = guess_label_mode(touching, "boundary")
    assert mode == "dense_instances" and "touch each other directly" in reason
    strokes = paint_strokes(volume.labels, [1, 2], rng=0)
    mode, reason = guess_label_mode(strokes, "boundary")
    assert mode == "sparse_strokes"
    assert reason.startswith(f"{100 * (strokes == 0).mean():.1f} % of the voxels are 0 and only values 1, 2 "
                             "are painted: sparse strokes (1 = membrane, 2 = cell)")
    many = strokes.astype(np.uint32) * 10
    many[0, 0, :3] = [5, 6, 7]
    assert guess_label_mode(many, "affinity") == ("sparse_strokes", f"{100 * (many == 0).mean():.1f} % of the "
                                                  "voxels are 0 and only values 5, 6, 7, 10, 20 are painted: "
                                                  "sparse strokes (each value one object)")
    assert "say which value is membrane" in guess_label_mode(many, "boundary")[1]
    # Half zeros but many ids is not painting: dense.
    half = make_em_volume((4, 96, 96), seed=3, mean_cell_diameter=16).labels
    half[:, :, :60] = 0
    assert len(np.unique(half)) > 20
    assert guess_label_mode(half, "boundary")[0] == "dense_boundary"


# --- synthetic strokes and their split -----------------------------------------------------------

def test_painted_strokes_lie_on_their_class_and_cover_well_under_one_percent():
    volume = make_em_volume((8, 128, 128), seed=4)
    strokes = paint_strokes(volume.labels, [1, 4, 6], rng=np.random.default_rng(2))
    assert strokes.shape == volume.labels.shape and strokes.dtype == np.uint8
    painted = strokes != 0
    assert 0.1 < 100 * painted.mean() < 1.0
    assert sorted(np.unique(np.nonzero(painted)[0]).tolist()) == [1, 4, 6]
    assert (volume.labels[strokes == 1] == 0).all() and (volume.labels[strokes == 2] > 0).all()
    assert (strokes == 1).sum() > 50 and (strokes == 2).sum() > 50
    _, count = ndimage.label(painted[4])
    assert count >= 4  # several separate strokes per section
    np.testing.assert_array_equal(strokes, paint_strokes(volume.labels, [1, 4, 6], rng=2))  # seeded
    thin = paint_strokes(volume.labels, [4], rng=2, width=1)
    assert thin.sum() < strokes[4].sum()


def test_split_strokes_holds_back_whole_components():
    strokes = np.zeros((2, 20, 20), np.uint8)
    for k in range(10):
        strokes[k % 2, 2 * k, 2:8 + k] = 1 + k % 2
    train, validation = split_strokes(strokes, 0.2, seed=3)
    painted = strokes != 0
    assert validation.sum() > 0 and not (train & validation).any()
    np.testing.assert_array_equal((train | validation) > 0, painted)
    components, count = ndimage.label(painted)
    held = np.unique(components[validation > 0])
    assert count == 10 and len(held) == 2  # a fifth of the strokes, whole
    assert not np.isin(components[train > 0], held).any()
    again = split_strokes(strokes, 0.2, seed=3)
    np.testing.assert_array_equal(again[1], validation)
    one = np.zeros((1, 4, 4), np.uint8)
    one[0, 1, :3] = 2
    single_train, single_validation = split_strokes(one, 0.5)
    np.testing.assert_array_equal(single_train, single_validation)  # nothing to hold back
    assert split_strokes(strokes, 0.99)[0].any()  # never all
    usable = np.zeros(strokes.shape, bool)
    usable[:, 8:13] = True  # patches can be centred on rows 8-12 only: strokes 4, 5 and 6
    for seed in range(6):
        train, validation = split_strokes(strokes, 0.5, seed=seed, usable=usable)
        held = set(np.unique(components[validation > 0]).tolist())
        assert held and held <= set(np.unique(components[usable & painted]).tolist())
        assert (train.astype(bool) & usable).any()  # one of them stays to train on


def test_split_strokes_holds_back_strokes_of_every_kind():
    # eight membrane strokes and two cell strokes: a plain fifth could hold back membrane only, and a
    # network answering "membrane" everywhere would then score perfectly on validation
    strokes = np.zeros((1, 24, 24), np.uint8)
    for k in range(10):
        strokes[0, 2 * k + 2, 2:10] = 1 if k < 8 else 2
    components, _ = ndimage.label(strokes != 0)
    for seed in range(20):
        train, validation = split_strokes(strokes, 0.2, seed=seed)
        held = strokes[validation > 0]
        assert set(np.unique(held).tolist()) == {1, 2}, seed
        assert len(np.unique(components[(validation > 0) & (strokes == 1)])) == 2  # a fifth of 8, rounded
        assert (strokes[train > 0] == 2).any()  # the other cell stroke still trains
