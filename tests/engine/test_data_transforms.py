"""Data transforms checked against truths built by hand: preprocessing formulas, targets and
masks from explicit loops, mirroring from explicit index arithmetic, hand-counted
rebalance weights, the 16 flips and the EM-defect augmentation."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest

from znn.base.geometry import mirror_pad, mirror_widths
from znn.data.augment import EMAugment, Flips
from znn.data.preprocess import IMAGE_PP_TYPES, canonical_pp_type, preprocess
from znn.data.rebalance import (
    affinity_weight_map,
    boundary_weight_map,
    global_affinity_weights,
    global_boundary_weights,
    patch_weights,
)
from znn.data.targets import (
    affinity_from_labels,
    affinity_mask,
    affinity_target,
    boundary_mask,
    boundary_target,
    one_class_target,
)
from znn.jobs import dataspec

# --- preprocessing -----------------------------------------------------------------------


def small_volume() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, size=(3, 4, 5)).astype(np.uint8)


def test_standard2d_matches_per_section_formula():
    vol = small_volume()
    out = preprocess(vol, "standard2D")
    assert out.dtype == np.float32 and out.shape == vol.shape
    for z in range(vol.shape[0]):
        values = [float(v) for v in vol[z].ravel()]
        mean, std = statistics.fmean(values), statistics.pstdev(values)
        for (y, x), v in np.ndenumerate(vol[z]):
            assert out[z, y, x] == pytest.approx((float(v) - mean) / std, rel=1e-5, abs=1e-6)


def test_standard3d_matches_whole_volume_formula():
    vol = small_volume()
    values = [float(v) for v in vol.ravel()]
    mean, std = statistics.fmean(values), statistics.pstdev(values)
    out = preprocess(vol, "standard3D", dtype="float64")
    assert out.dtype == np.float64
    for index, v in np.ndenumerate(vol):
        assert out[index] == pytest.approx((float(v) - mean) / std, rel=1e-12)


def test_symetric_rescale_and_none():
    vol = small_volume()
    low, high = int(vol.min()), int(vol.max())
    out = preprocess(vol, "symetric_rescale")
    for index, v in np.ndenumerate(vol):
        assert out[index] == pytest.approx(2.0 * (int(v) - low) / (high - low) - 1.0, abs=1e-6)
    assert out.min() == -1.0 and out.max() == 1.0
    same = preprocess(vol, "none")
    assert same.dtype == np.float32 and np.array_equal(same, vol.astype(np.float32))


@pytest.mark.parametrize("written, canonical", [
    ("None", "none"), (" none", "none"), ("STANDARD2d", "standard2D"),
    ("standard3D", "standard3D"), ("symetric_rescale", "symetric_rescale"),
])
def test_pp_type_names_by_substring(written, canonical):
    assert canonical_pp_type(written) == canonical


def test_unknown_pp_type_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="standard2D, standard3D, symetric_rescale, none"):
        preprocess(small_volume(), "whiten")


def test_pp_types_agree_with_the_spec_reader():
    assert IMAGE_PP_TYPES == dataspec.IMAGE_PP_TYPES


@pytest.mark.parametrize("pp_type", IMAGE_PP_TYPES[:3])
def test_constant_volume_gives_zeros_not_nan(pp_type):
    out = preprocess(np.full((2, 3, 3), 0.1), pp_type)
    assert np.array_equal(out, np.zeros((2, 3, 3), np.float32))


def test_constant_section_is_zero_and_others_are_standardised():
    vol = small_volume().astype(np.float64)
    vol[1] = 7.0
    before = vol.copy()
    out = preprocess(vol, "standard2D")
    assert np.array_equal(vol, before)  # the argument is not modified
    assert np.all(out[1] == 0)
    assert out[0].mean() == pytest.approx(0, abs=1e-6) and out[0].std() == pytest.approx(1, rel=1e-5)


# --- targets -----------------------------------------------------------------------------


def three_label_cube() -> np.ndarray:
    """A (4, 5, 6) label volume: three objects and boundary (0) voxels between them."""
    lab = np.zeros((4, 5, 6), np.int32)
    lab[:, :, :3] = 1
    lab[:, :, 3:] = 2
    lab[2:, 3:, 3:] = 3
    lab[:, 2, 1] = 0
    lab[1, :, 4] = 0
    return lab


def test_affinity_target_voxel_by_voxel():
    lab = three_label_cube()
    aff = affinity_target(lab)
    z_n, y_n, x_n = lab.shape
    assert aff.shape == (3, z_n - 1, y_n - 1, x_n - 1) and aff.dtype == np.float32
    for z in range(z_n - 1):
        for y in range(y_n - 1):
            for x in range(x_n - 1):
                here = lab[z + 1, y + 1, x + 1]
                assert aff[0, z, y, x] == float(here > 0 and here == lab[z + 1, y + 1, x])
                assert aff[1, z, y, x] == float(here > 0 and here == lab[z + 1, y, x + 1])
                assert aff[2, z, y, x] == float(here > 0 and here == lab[z, y + 1, x + 1])
    assert set(np.unique(aff)) == {0.0, 1.0}
    # label 0 never connects, not even to 0: lab[1,2,1] and lab[0,2,1] are both 0
    assert lab[1, 2, 1] == lab[0, 2, 1] == 0 and aff[2, 0, 1, 0] == 0
    # while equal non-zero neighbours do: lab[1,1,1] == lab[0,1,1] == 1
    assert aff[2, 0, 0, 0] == 1
    assert affinity_target(np.zeros((2, 2, 2), int)).sum() == 0


def test_affinity_mask_voxel_by_voxel():
    mask = np.zeros((3, 4, 4), np.uint8)
    mask[1, 1, 2] = 5
    mask[2, 3, 3] = 1
    out = affinity_mask(mask)
    for z, y, x in itertools.product(range(2), range(3), range(3)):
        on = mask > 0
        here = on[z + 1, y + 1, x + 1]
        assert out[0, z, y, x] == float(here or on[z + 1, y + 1, x])
        assert out[1, z, y, x] == float(here or on[z + 1, y, x + 1])
        assert out[2, z, y, x] == float(here or on[z, y + 1, x + 1])


def test_affinity_from_labels_whole_volume():
    lab = three_label_cube()
    full = affinity_from_labels(lab)
    assert full.shape == (3,) + lab.shape
    for (z, y, x), here in np.ndenumerate(lab):
        expect_x = x > 0 and here > 0 and here == lab[z, y, x - 1]
        expect_y = y > 0 and here > 0 and here == lab[z, y - 1, x]
        expect_z = z > 0 and here > 0 and here == lab[z - 1, y, x]
        assert full[:, z, y, x].tolist() == [float(expect_x), float(expect_y), float(expect_z)]
    assert np.array_equal(full[:, 1:, 1:, 1:], affinity_target(lab))


def test_boundary_and_one_class_targets():
    lab = three_label_cube()
    target = boundary_target(lab[np.newaxis])  # a (1, z, y, x) patch works too
    assert target.shape == (2,) + lab.shape and target.dtype == np.float32
    for index, value in np.ndenumerate(lab):
        assert target[(0, *index)] == float(value > 0)
        assert target[(1, *index)] == float(value == 0)
    assert np.array_equal(one_class_target(lab), target[:1])
    mask = (lab == 2).astype(np.uint16) * 3
    tiled = boundary_mask(mask)
    assert tiled.shape == (2,) + lab.shape
    assert np.array_equal(tiled[0], lab == 2) and np.array_equal(tiled[1], lab == 2)


# --- mirroring ---------------------------------------------------------------------------


def symmetric_index(j: int, n: int) -> int:
    """Index into an axis of length n of position j of its symmetric extension (period 2n)."""
    j %= 2 * n
    return j if j < n else 2 * n - 1 - j


def test_mirror_widths_odd_and_even():
    assert mirror_widths((1, 1, 1)) == ((0, 0), (0, 0), (0, 0))
    assert mirror_widths((3, 4, 5)) == ((1, 1), (1, 2), (2, 2))
    with pytest.raises(ValueError):
        mirror_widths((0, 3, 3))


@pytest.mark.parametrize("shape, fov", [
    ((3, 4, 5), (1, 3, 3)), ((3, 4, 5), (2, 4, 6)), ((2, 3, 1), (9, 8, 7)), ((1, 2, 2), (1, 12, 11)),
])
def test_mirror_pad_against_index_arithmetic(shape, fov):
    vol = np.arange(np.prod(shape)).reshape(shape)
    out = mirror_pad(vol, fov)
    before = [(f - 1) // 2 for f in fov]
    assert out.shape == tuple(n + f - 1 for n, f in zip(shape, fov))
    for index in np.ndindex(*out.shape):
        source = tuple(symmetric_index(i - b, n) for i, b, n in zip(index, before, shape))
        assert out[index] == vol[source]
    # the original sits unchanged where the fov's "before" half ends
    inner = tuple(slice(b, b + n) for b, n in zip(before, shape))
    assert np.array_equal(out[inner], vol)


def test_mirror_pad_4d_pads_only_spatial_axes():
    vol = np.arange(2 * 2 * 3 * 3).reshape(2, 2, 3, 3)
    out = mirror_pad(vol, (3, 3, 3))
    assert out.shape == (2, 4, 5, 5)
    for c in range(2):
        assert np.array_equal(out[c], mirror_pad(vol[c], (3, 3, 3)))
    copy = mirror_pad(vol, (1, 1, 1))
    assert np.array_equal(copy, vol) and not np.shares_memory(copy, vol)


# --- rebalancing -------------------------------------------------------------------------


def test_znn_example_ten_positive_fifteen_zero():
    positive = np.zeros(25, bool)
    positive[:10] = True
    assert patch_weights(positive) == pytest.approx((0.6, 0.4))
    label = positive.astype(int).reshape(1, 5, 5) * 7
    # boundary-global: N/(2P) = 25/20, N/(2Z) = 25/30
    assert global_boundary_weights(label) == pytest.approx((1.25, 25 / 30))


def test_weights_count_only_mask_on_voxels():
    label = np.array([[[0, 0, 3, 3], [4, 0, 0, 0]]])  # P = 3, Z = 5
    mask = np.array([[[1, 1, 1, 0], [0, 0, 1, 1]]])   # on: 0 0 3 . | . 0 0 0 -> P = 1, Z = 4
    assert global_boundary_weights(label) == pytest.approx((8 / 6, 8 / 10))
    assert global_boundary_weights(label, mask) == pytest.approx((5 / 2, 5 / 8))
    assert patch_weights(label != 0, mask) == pytest.approx((4 / 5, 1 / 5))


def test_all_one_class_gives_unit_weights():
    assert patch_weights(np.ones((2, 2, 2), bool)) == (1.0, 1.0)
    assert global_boundary_weights(np.zeros((2, 2, 2))) == (1.0, 1.0)
    mask = np.zeros((2, 2, 2))
    mask[0, 0, 0] = 1
    assert global_boundary_weights(np.arange(8).reshape(2, 2, 2), mask) == (1.0, 1.0)


def test_boundary_weight_map_modes():
    label = np.array([[[0, 5], [5, 5]]])
    assert boundary_weight_map(label, None, (2.0, 3.0)) is None
    global_map = boundary_weight_map(label, "global", (2.0, 3.0))
    assert global_map.shape == (2, 1, 2, 2) and global_map.dtype == np.float32
    assert np.array_equal(global_map[0], [[[3, 2], [2, 2]]]) and np.array_equal(global_map[1], global_map[0])
    patch_map = boundary_weight_map(label, "patch", (2.0, 3.0))  # P = 3, Z = 1: (1/4, 3/4)
    assert np.allclose(patch_map[0], [[[0.75, 0.25], [0.25, 0.25]]])
    masked = boundary_weight_map(label, "patch", (2.0, 3.0), np.array([[[1, 1], [0, 0]]]))
    assert np.allclose(masked[1], [[[0.5, 0.5], [0.5, 0.5]]])  # P = 1, Z = 1
    with pytest.raises(ValueError, match="effective_rebalance_mode"):
        boundary_weight_map(label, "none", (1.0, 1.0))


def test_affinity_weights_per_channel():
    aff = np.zeros((3, 1, 2, 5), np.float32)
    aff[0, 0, 0, :2] = 1      # 2 of 10 positive  -> (0.8, 0.2)
    aff[1] = 1                # all positive      -> (1, 1)
    aff[2, 0, :, :4] = 1      # 8 of 10 positive  -> (0.2, 0.8)
    pairs = global_affinity_weights(aff)
    assert pairs == [pytest.approx((0.8, 0.2)), (1.0, 1.0), pytest.approx((0.2, 0.8))]
    mask = np.ones_like(aff)
    mask[0, 0, 1] = 0          # channel 0 counted on the first row: 2 of 5 -> (0.6, 0.4)
    assert global_affinity_weights(aff, mask)[0] == pytest.approx((0.6, 0.4))
    patch_map = affinity_weight_map(aff, "patch", [(9.0, 9.0)] * 3)
    assert np.allclose(patch_map[0, 0, 0], [0.8, 0.8, 0.2, 0.2, 0.2])
    assert np.allclose(patch_map[2, 0, 1], [0.2, 0.2, 0.2, 0.2, 0.8])
    global_map = affinity_weight_map(aff, "global", [(9.0, 8.0), (7.0, 6.0), (5.0, 4.0)])
    assert np.allclose(global_map[1], 7.0) and np.allclose(global_map[0, 0, 1], 8.0)
    assert affinity_weight_map(aff, None, pairs) is None


# --- flips -------------------------------------------------------------------------------

ALL_FLIPS = [Flips(*bits) for bits in itertools.product([False, True], repeat=4)]


def test_sixteen_flips_are_distinct_and_invertible():
    patch = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    outputs = [flips.apply(patch) for flips in ALL_FLIPS]
    assert len({out.tobytes() for out in outputs}) == 16
    for flips, out in zip(ALL_FLIPS, outputs):
        assert out.flags.c_contiguous and not np.shares_memory(out, patch)
        assert np.array_equal(flips.undo(out), patch)


def test_flip_index_arithmetic():
    patch = np.random.default_rng(0).random((1, 2, 3, 3))
    out = Flips(flip_z=True, flip_y=False, flip_x=True, transpose_yx=True).apply(patch)
    for c, z, y, x in np.ndindex(*out.shape):
        # transposed last: out[z, y, x] = flipped[z, x, y]; flipped[z, a, b] = patch[1-z, a, 2-b]
        assert out[c, z, y, x] == patch[c, 1 - z, x, 2 - y]


def test_flips_keep_label_derived_input_aligned():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 5, size=(1, 3, 4, 4))
    image = np.sin(label * 1.7) + label  # any function of the label
    for flips in ALL_FLIPS:
        assert np.array_equal(flips.apply(image), np.sin(flips.apply(label) * 1.7) + flips.apply(label))


def test_draw_uses_four_coins_in_order():
    coins = np.random.default_rng(42).random(4) > 0.5
    flips = Flips.draw(np.random.default_rng(42))
    assert (flips.flip_z, flips.flip_y, flips.flip_x, flips.transpose_yx) == tuple(bool(c) for c in coins)
    seen = {Flips.draw(np.random.default_rng(s), allow_transpose=False).transpose_yx for s in range(40)}
    assert seen == {False}
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    Flips.draw(rng_a, allow_transpose=False)
    rng_b.random(4)
    assert rng_a.random() == rng_b.random()  # the same numbers are consumed either way


def test_transpose_needs_square_patches():
    with pytest.raises(ValueError, match="non-square"):
        Flips(False, False, False, True).apply(np.zeros((1, 2, 3, 4)))
    assert Flips(True, True, True, False).apply(np.zeros((1, 2, 3, 4))).shape == (1, 2, 3, 4)


# --- EM-defect augmentation --------------------------------------------------------------


def test_em_augment_validation_and_enabled():
    assert not EMAugment().enabled
    assert not EMAugment(misalignment=0.5, max_shift=0).enabled
    assert EMAugment(missing_section=0.1).enabled and EMAugment(intensity=0.2).enabled
    for bad in (dict(missing_section=1.5), dict(misalignment=-0.1), dict(max_shift=-1),
                dict(intensity=-1.0)):
        with pytest.raises(ValueError):
            EMAugment(**bad)


def test_em_augment_missing_sections_are_flat_and_input_untouched():
    patch = np.random.default_rng(2).random((1, 4, 5, 5)).astype(np.float32)
    before = patch.copy()
    out = EMAugment(missing_section=1.0).apply(patch, np.random.default_rng(0))
    assert np.array_equal(patch, before)
    assert out.dtype == np.float32
    assert np.allclose(out, before.mean())  # every section replaced by the patch mean
    single = patch[:, :1]
    assert np.array_equal(EMAugment(missing_section=1.0, misalignment=1.0).apply(single, np.random.default_rng(0)),
                          single)


def test_em_augment_slip_moves_one_section_with_edge_replication():
    patch = np.random.default_rng(3).random((1, 3, 6, 6))
    for seed in range(10):
        out = EMAugment(misalignment=1.0, max_shift=2).apply(patch, np.random.default_rng(seed))
        changed = [z for z in range(3) if not np.array_equal(out[0, z], patch[0, z])]
        assert len(changed) <= 1
        for z in changed:
            matches = []
            for dy, dx in itertools.product(range(-2, 3), repeat=2):
                rows = [min(max(y - dy, 0), 5) for y in range(6)]
                cols = [min(max(x - dx, 0), 5) for x in range(6)]
                shifted = np.array([[patch[0, z, r, c] for c in cols] for r in rows])
                matches.append(np.array_equal(out[0, z], shifted))
            assert any(matches)


def test_em_augment_intensity_is_an_affine_change_per_section():
    patch = np.random.default_rng(4).random((2, 3, 4, 4))
    strength = 0.3
    out = EMAugment(intensity=strength).apply(patch, np.random.default_rng(9))
    for c, z in itertools.product(range(2), range(3)):
        slope, offset = np.polyfit(patch[c, z].ravel(), out[c, z].ravel(), 1)
        assert np.allclose(out[c, z], slope * patch[c, z] + offset)
        assert abs(slope - 1) <= strength + 1e-9
        assert abs(offset) <= strength * patch[c].std() + 1e-9
    assert not np.allclose(out, patch)
    assert math.isfinite(float(out.sum()))
