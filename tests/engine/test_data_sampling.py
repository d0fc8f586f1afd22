"""Patch sampling and loading samples from a job's .spec.

Images here encode their own coordinates (value = z·10000 + y·100 + x) and labels/masks
are functions of the same coordinates, so every patch can be checked voxel by voxel:
decode where each input voxel came from and compare the targets with the labels there.
"""

from __future__ import annotations

import itertools
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from znn.base.errors import ConfigError
from znn.base.geometry import mirror_pad
from znn.data.augment import EMAugment
from znn.data.dataset import load_forward_inputs, load_sample_set
from znn.data.preprocess import preprocess
from znn.data.rebalance import global_affinity_weights, global_boundary_weights
from znn.data.sampling import SampleSet, TrainingSample, cut_patch, deviation_range
from znn.data.targets import affinity_mask, affinity_target
from znn.io.volumes import read_volume, write_volume
from znn.jobs import JobConfig, read_cfg


def coord_image(shape: tuple[int, int, int]) -> np.ndarray:
    z, y, x = np.indices(shape)
    return (z * 10000 + y * 100 + x).astype(np.float32)


def decode(value: float) -> tuple[int, int, int]:
    v = int(round(float(value)))
    return v // 10000, (v // 100) % 100, v % 100


def coord_labels(shape: tuple[int, int, int]) -> np.ndarray:
    """Blocky objects with a diagonal membrane pattern of zeros."""
    z, y, x = np.indices(shape)
    ids = 1 + (z // 2) * 100 + (y // 3) * 10 + x // 3
    return np.where((y + 2 * x) % 5 == 0, 0, ids).astype(np.int64)


def coord_mask(shape: tuple[int, int, int]) -> np.ndarray:
    z, y, x = np.indices(shape)
    return ((z + y + x) % 3 != 0).astype(np.uint8)


def make_sample(shape=(6, 9, 9), *, input_size=(3, 5, 5), output_size=(1, 3, 3), kind="boundary",
                rebalance=None, augment=False, mask=True, em=None, sample_id=1,
                image=None) -> TrainingSample:
    labels = coord_labels(shape)
    return TrainingSample(
        sample_id, {"input": coord_image(shape) if image is None else image}, {"output": labels},
        {"output": coord_mask(shape) if mask else None}, input_sizes={"input": input_size},
        output_size=output_size, kind=kind, rebalance=rebalance, augment=augment,
        em_augment=em, source="data.spec")


# --- the cutting arithmetic --------------------------------------------------------------


def test_deviation_range_and_cut_against_hand_slices():
    vol = coord_image((7, 8, 9))
    low, high = deviation_range(vol.shape, (3, 4, 5))
    assert low.tolist() == [-2, -2, -2] and high.tolist() == [2, 2, 2]
    # centre (3, 3, 4); start = centre + d - (P-1)//2 = (3, 1, 4)
    patch = cut_patch(vol, (1, -1, 2), (3, 4, 5))
    assert np.array_equal(patch[0], vol[3:6, 1:5, 4:9])
    with pytest.raises(ValueError):
        cut_patch(vol, (3, 0, 0), (3, 4, 5))


def test_patch_at_known_location_equals_hand_slices():
    sample = make_sample((8, 9, 10), mask=False)
    patch = sample.patch_at((4, 4, 5))
    # label centre (3, 4, 4): deviation (1, 0, 1); image centre is the same (same shape)
    assert np.array_equal(patch.inputs["input"][0], coord_image((8, 9, 10))[3:6, 2:7, 3:8])
    label = coord_labels((8, 9, 10))[4:5, 3:6, 4:7]
    assert np.array_equal(patch.targets["output"][0], label > 0)
    assert np.array_equal(patch.targets["output"][1], label == 0)
    assert patch.masks == {} and patch.weights == {}
    assert patch.location == (4, 4, 5) and patch.sample_id == 1
    patch.inputs["input"][:] = -1  # patches are copies, never views of the volumes
    assert sample.images["input"].min() == 0


def test_odd_fov_with_mirroring_centres_the_input_window_on_each_output_voxel():
    shape, fov = (4, 6, 7), (1, 3, 3)
    original = coord_image(shape)
    sample = TrainingSample(3, {"input": mirror_pad(original, fov)}, {"output": coord_labels(shape)},
                            {"output": None}, input_sizes={"input": (1, 5, 5)}, output_size=(1, 3, 3),
                            kind="boundary", rebalance=None, augment=False)
    assert sample.candidate_count == 4 * 4 * 5  # every voxel where a 1x3x3 output patch fits
    for loc in itertools.product(range(4), range(1, 5), range(1, 6)):
        patch = sample.patch_at(loc)
        for u in itertools.product(range(1), range(3), range(3)):
            centre = patch.inputs["input"][0, u[0], u[1] + 1, u[2] + 1]
            expected = (loc[0] + u[0], loc[1] - 1 + u[1], loc[2] - 1 + u[2])
            assert decode(centre) == expected


# --- every drawn patch is aligned --------------------------------------------------------


def check_boundary_patch(patch, sample, k):
    labels, mask = sample.labels["output"], sample.masks["output"]
    image = patch.inputs["input"][0]
    target = patch.targets["output"]
    seen = set()
    for u in np.ndindex(*target.shape[1:]):
        p = decode(image[tuple(np.add(u, k))])
        seen.add(p)
        assert target[(0, *u)] == float(labels[p] > 0)
        assert target[(1, *u)] == float(labels[p] == 0)
        assert patch.masks["output"][(0, *u)] == float(mask[p] > 0)
        if patch.weights:
            w_pos, w_zero = sample.global_weights["output"][0]
            assert patch.weights["output"][(1, *u)] == pytest.approx(w_pos if labels[p] else w_zero)
    assert patch.location in seen


def check_affinity_patch(patch, sample, k):
    labels, mask = sample.labels["output"], sample.masks["output"]
    image = patch.inputs["input"][0]
    target = patch.targets["output"]
    assert target.shape[0] == 3
    for u in np.ndindex(*target.shape[1:]):
        p = decode(image[tuple(np.add(u, k))])
        for channel, axis in enumerate((2, 1, 0)):
            before = list(np.add(u, k))
            before[axis] -= 1
            q = decode(image[tuple(before)])
            assert sum(abs(a - b) for a, b in zip(p, q)) == 1  # neighbours in the volume
            linked = labels[p] > 0 and labels[p] == labels[q]
            assert target[(channel, *u)] == float(linked)
            assert patch.masks["output"][(channel, *u)] == float(mask[p] > 0 or mask[q] > 0)


def transforms_seen(patch, k) -> set[str]:
    """Which flips/transposes a patch shows, read off the decoded coordinates."""
    image = patch.inputs["input"][0]
    z0, y0, x0 = decode(image[k])
    found = set()
    if image.shape[0] > 1 and decode(image[(k[0] + 1, k[1], k[2])])[0] < z0:
        found.add("flip_z")
    right = decode(image[(k[0], k[1], k[2] + 1)])
    if right[1] != y0:
        found.add("transpose")
    return found


@pytest.mark.parametrize("kind, rebalance", [("boundary", "global"), ("affinity", "patch")])
def test_every_drawn_patch_is_aligned(kind, rebalance):
    sample = make_sample(kind=kind, rebalance=rebalance, augment=True)
    rng = np.random.default_rng(11)
    k = (1, 1, 1)  # (fov - 1) // 2 for input (3,5,5) and output (1,3,3)
    seen: set[str] = set()
    for _ in range(40):
        patch = sample.draw(rng)
        assert patch.inputs["input"].shape == (1, 3, 5, 5)
        assert patch.targets["output"].shape == ((2 if kind == "boundary" else 3), 1, 3, 3)
        assert patch.weights["output"].shape == patch.targets["output"].shape
        if kind == "boundary":
            check_boundary_patch(patch, sample, k)
        else:
            check_affinity_patch(patch, sample, k)
        seen |= transforms_seen(patch, k)
    assert seen == {"flip_z", "transpose"}


def test_non_square_patches_are_never_transposed():
    sample = make_sample((5, 8, 9), input_size=(3, 5, 6), output_size=(1, 3, 4), augment=True)
    rng = np.random.default_rng(0)
    for _ in range(30):
        patch = sample.draw(rng)
        check_boundary_patch(patch, sample, (1, 1, 1))
        assert "transpose" not in transforms_seen(patch, (1, 1, 1))


def test_affinity_weights_and_global_pairs():
    sample = make_sample(kind="affinity", rebalance="global")
    labels, mask = sample.labels["output"], sample.masks["output"]
    expected = global_affinity_weights(affinity_target(labels), affinity_mask(mask))
    assert sample.global_weights["output"] == [pytest.approx(pair) for pair in expected]
    patch = sample.draw(np.random.default_rng(4))
    for channel in range(3):
        w_pos, w_zero = expected[channel]
        values = np.where(patch.targets["output"][channel] > 0, w_pos, w_zero)
        assert np.allclose(patch.weights["output"][channel], values)


def test_boundary_global_weights_use_the_mask():
    sample = make_sample(rebalance="global")
    assert sample.global_weights["output"] == [
        pytest.approx(global_boundary_weights(coord_labels((6, 9, 9)), coord_mask((6, 9, 9))))]


# --- centres -----------------------------------------------------------------------------


def test_centres_uniform_over_the_box_without_mask():
    sample = make_sample((3, 4, 4), input_size=(1, 3, 3), output_size=(1, 3, 3), mask=False)
    rng = np.random.default_rng(5)
    counts = Counter(sample.draw_location(rng) for _ in range(600))
    box = set(itertools.product(range(3), range(1, 3), range(1, 3)))
    assert set(counts) == box and sample.candidate_count == 12
    assert all(25 <= n <= 80 for n in counts.values())  # 50 expected each


def test_centres_only_on_mask_voxels_inside_the_box():
    labels = np.ones((5, 7, 7), np.int64)
    mask = np.zeros_like(labels)
    mask[2, 3, 3] = mask[0, 1, 5] = 1
    mask[4, 0, 0] = 1  # no 1x3x3 patch can be centred here
    sample = TrainingSample(2, {"in": coord_image((5, 7, 7))}, {"out": labels}, {"out": mask},
                            input_sizes={"in": (1, 3, 3)}, output_size=(1, 3, 3), kind="boundary",
                            rebalance=None, augment=False)
    rng = np.random.default_rng(6)
    drawn = Counter(sample.draw(rng).location for _ in range(200))
    assert set(drawn) == {(2, 3, 3), (0, 1, 5)} and sample.candidate_count == 2


def test_mask_without_usable_voxel_is_a_config_error():
    labels = np.ones((5, 7, 7), np.int64)
    mask = np.zeros_like(labels)
    mask[4, 0, 0] = 1
    with pytest.raises(ConfigError) as info:
        TrainingSample(7, {"in": coord_image((5, 7, 7))}, {"out": labels}, {"out": mask},
                       input_sizes={"in": (1, 3, 3)}, output_size=(1, 3, 3), kind="boundary",
                       rebalance=None, augment=False, source="my.spec")
    text = str(info.value)
    assert "my.spec" in text and "sample7" in text and "'out'" in text and "no voxel" in text


@pytest.mark.parametrize("kind, image_shape, label_shape, culprit", [
    ("boundary", (2, 9, 9), (6, 9, 9), "input"),     # image thinner than the 3-section input
    ("affinity", (6, 9, 9), (1, 3, 3), "output"),   # label needs 2x4x4 for affinity
])
def test_too_small_volumes_are_config_errors(kind, image_shape, label_shape, culprit):
    with pytest.raises(ConfigError) as info:
        TrainingSample(4, {"input": coord_image(image_shape)}, {"output": coord_labels(label_shape)},
                       {"output": None}, input_sizes={"input": (3, 5, 5)}, output_size=(1, 3, 3),
                       kind=kind, rebalance=None, augment=False, source="data.spec")
    error = info.value
    assert error.file == "data.spec" and error.group == "sample4" and error.key == culprit
    grow = 1 if kind == "affinity" else 0
    patch = (3 + grow, 5 + grow, 5 + grow) if culprit == "input" else (1 + grow, 3 + grow, 3 + grow)
    assert str(patch) in error.expected
    assert str(image_shape if culprit == "input" else label_shape) in error.found


def test_em_augment_changes_inputs_only():
    rng_plain, rng_em = np.random.default_rng(8), np.random.default_rng(8)
    plain = make_sample(augment=True, rebalance="patch").draw(rng_plain)
    em = make_sample(augment=True, rebalance="patch",
                     em=EMAugment(missing_section=1.0)).draw(rng_em)
    assert em.location == plain.location
    for field in ("targets", "masks", "weights"):
        for name, value in getattr(plain, field).items():
            assert np.array_equal(getattr(em, field)[name], value)
    assert not np.array_equal(em.inputs["input"], plain.inputs["input"])
    assert np.allclose(em.inputs["input"], plain.inputs["input"].mean())


def test_sample_set_chooses_samples_uniformly():
    small = make_sample((1, 3, 3), input_size=(1, 3, 3), mask=False, sample_id=1)
    large = make_sample((5, 12, 12), input_size=(1, 3, 3), mask=False, sample_id=2)
    assert small.candidate_count == 1 and large.candidate_count == 500
    samples = SampleSet([small, large])
    rng = np.random.default_rng(9)
    counts = Counter(samples.draw(rng).sample_id for _ in range(400))
    assert len(samples) == 2 and 150 <= counts[1] <= 250
    with pytest.raises(ValueError):
        SampleSet([])


# --- loading from a .spec ----------------------------------------------------------------

SPEC = """
[image1]
fnames = img1.tif
pp_types = standard2D
is_auto_crop = yes
[image2]
fnames = img2.h5
pp_types = none
is_auto_crop = yes
[image3]
fnames = img1.tif,
    img2.h5
pp_types = none, none
is_auto_crop = yes
[label1]
fnames = lab.h5
pp_types = binary_class
is_auto_crop = yes
fmasks = mask.tif
[label2]
fnames = lab.h5
pp_types = auto
is_auto_crop = yes
[sample1]
input = 1
output = 1
[sample2]
Input = 1
output = 2
[sample3]
input = 2
[sample4]
output = 1
[sample5]
input = 3
output = 1
"""


@pytest.fixture
def job(tmp_path: Path) -> JobConfig:
    rng = np.random.default_rng(0)
    write_volume(tmp_path / "img1.tif", rng.integers(0, 255, (4, 10, 10)).astype(np.uint8))
    write_volume(tmp_path / "img2.h5", rng.random((3, 6, 6)).astype(np.float32))
    write_volume(tmp_path / "lab.h5", coord_labels((4, 10, 10)).astype(np.uint32))
    write_volume(tmp_path / "mask.tif", coord_mask((4, 10, 10)))
    (tmp_path / "data.spec").write_text(textwrap.dedent(SPEC).lstrip())
    (tmp_path / "job.cfg").write_text("[parameters]\nfdata_spec = data.spec\ndtype = float32\n"
                                      "out_type = boundary\n")
    return read_cfg(tmp_path / "job.cfg")


LOAD = dict(fov=(1, 3, 3), input_sizes={"input": (1, 5, 5)}, output_size=(1, 3, 3),
            kind="boundary", rebalance="global", augment=True, mirror=True)


def test_load_sample_set_reads_preprocesses_mirrors_and_caches(job, tmp_path):
    samples = load_sample_set(job.loaded_data_spec(), [1, 2], **LOAD)
    first, second = samples.samples
    raw = read_volume(tmp_path / "img1.tif")
    expected = mirror_pad(preprocess(raw, "standard2D"), (1, 3, 3))
    assert first.images["input"].shape == (4, 12, 12)
    assert np.allclose(first.images["input"], expected)
    assert second.images["input"] is first.images["input"]  # same file, same pp: loaded once
    assert np.array_equal(first.labels["output"], coord_labels((4, 10, 10)))
    assert np.array_equal(first.masks["output"], coord_mask((4, 10, 10)))
    assert second.masks["output"] is None
    patch = samples.draw(np.random.default_rng(0))
    assert patch.inputs["input"].shape == (1, 1, 5, 5) and patch.inputs["input"].dtype == np.float32


def test_load_forward_inputs(job, tmp_path):
    inputs = load_forward_inputs(job.loaded_data_spec(), 3, fov=(1, 3, 3), mirror=False, input_names=["input"],
                                 dtype="float64")
    assert list(inputs) == ["input"] and inputs["input"].dtype == np.float64
    assert np.array_equal(inputs["input"], read_volume(tmp_path / "img2.h5").astype(np.float64))
    mirrored = load_forward_inputs(job.loaded_data_spec(), 3, fov=(1, 3, 3), mirror=True, input_names=["input"])
    assert mirrored["input"].shape == (3, 8, 8) and mirrored["input"].dtype == np.float32


@pytest.mark.parametrize("sample_id, options, match", [
    (4, {}, r"group 'sample4', key 'input':.*not bound"),
    (3, {}, r"group 'sample3',.*no network output"),
    (3, {"output_names": ["output"]}, r"group 'sample3', key 'output':.*not bound"),
    (5, {}, r"group 'image3', key 'fnames':.*exactly one volume"),
    (9, {}, r"no \[sample9\] section"),
])
def test_load_errors_name_the_spec_section_and_node(job, sample_id, options, match):
    with pytest.raises(ConfigError, match=match) as info:
        load_sample_set(job.loaded_data_spec(), [sample_id], **LOAD, **options)
    assert info.value.file.endswith("data.spec")


def test_job_without_data_spec():
    with pytest.raises(ConfigError, match="fdata_spec"):
        load_sample_set(JobConfig().loaded_data_spec(), [1], **LOAD)


@pytest.mark.parametrize("auto_crop", ["yes", "no"])
def test_images_and_labels_of_different_shapes_need_is_auto_crop(tmp_path, auto_crop):
    """A larger image around its label is aligned at the centres only when is_auto_crop asks for it."""
    write_volume(tmp_path / "img.h5", coord_image((4, 14, 14)).astype(np.float32))
    write_volume(tmp_path / "lab.h5", coord_labels((4, 10, 10)).astype(np.uint32))
    (tmp_path / "data.spec").write_text(
        f"[image1]\nfnames = img.h5\npp_types = none\nis_auto_crop = {auto_crop}\n"
        "[label1]\nfnames = lab.h5\npp_types = auto\nis_auto_crop = no\n[sample1]\ninput = 1\noutput = 1\n")
    (tmp_path / "job.cfg").write_text("[parameters]\nfdata_spec = data.spec\ndtype = float32\nout_type = boundary\n")
    job = read_cfg(tmp_path / "job.cfg")
    if auto_crop == "yes":
        sample = load_sample_set(job.loaded_data_spec(), [1], **LOAD).samples[0]
        assert sample.images["input"].shape == (4, 16, 16) and sample.labels["output"].shape == (4, 10, 10)
    else:
        with pytest.raises(ConfigError, match=r"group 'sample1',.*\(4, 14, 14\).*\(4, 10, 10\).*is_auto_crop"):
            load_sample_set(job.loaded_data_spec(), [1], **LOAD)


def test_a_boundary_patch_can_be_centred_on_a_single_section():
    # boundary label patches are outsz, affinity ones one voxel larger: only the latter need a second section
    from znn.data.sampling import TrainingSample, centre_region

    boundary = centre_region((1, 64, 64), (1, 16, 16), "boundary")
    assert centre_region((1, 64, 64), (1, 16, 16), "affinity")[0] == slice(0, 0)
    assert boundary[0] == slice(0, 1)
    # the sampler itself trains on that section, with patches whose centres lie in the region
    rng = np.random.default_rng(0)
    sample = TrainingSample(0, {"input": rng.random((1, 64, 64), np.float32)},
                            {"output": (rng.random((1, 64, 64)) > 0.5).astype(np.float32)}, {"output": None},
                            input_sizes={"input": (1, 16, 16)}, output_size=(1, 16, 16), kind="boundary",
                            rebalance=None, augment=False)
    for _ in range(50):
        z, y, x = sample.draw_location(rng)
        assert boundary[0].start <= z < boundary[0].stop
        assert boundary[1].start <= y < boundary[1].stop and boundary[2].start <= x < boundary[2].stop
