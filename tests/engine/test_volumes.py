"""Volume I/O: round trips, files written by h5py/tifffile/zarr themselves, RGB ids, errors."""

from __future__ import annotations

import dask.array as da
import h5py
import numpy as np
import pytest
import tifffile
import zarr

from tests.helpers.shared import SHARED, need_shared
from znn.base.errors import VolumeError
from znn.io.volumes import list_volumes, open_volume_lazy, parse_location, read_volume, write_volume

DTYPES = [np.uint8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.float32, np.float64]


def sample(dtype, shape=(3, 5, 7)) -> np.ndarray:
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["vol.h5", "vol.tif", "vol.zarr", "group.zarr/sub/arr", "v.h5:/g/d"])
def test_round_trip_3d(tmp_path, name, dtype):
    data = sample(dtype)
    write_volume(f"{tmp_path}/{name}", data)
    back = read_volume(f"{tmp_path}/{name}")
    assert back.dtype == data.dtype
    np.testing.assert_array_equal(back, data)


@pytest.mark.parametrize("name", ["vol.h5", "vol.tif", "vol.zarr"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint32])
def test_round_trip_4d_needs_ndim(tmp_path, name, dtype):
    data = sample(dtype, shape=(2, 3, 5, 7))
    write_volume(tmp_path / name, data)
    np.testing.assert_array_equal(read_volume(tmp_path / name, ndim=4), data)
    np.testing.assert_array_equal(read_volume(tmp_path / name, ndim=None), data)
    with pytest.raises(VolumeError, match=r"shape \(2, 3, 5, 7\)"):
        read_volume(tmp_path / name)


def test_bool_is_written_and_read_as_uint8(tmp_path):
    mask = np.zeros((2, 4, 4), bool)
    mask[0, 1, 2] = True
    write_volume(tmp_path / "m.h5", mask)
    back = read_volume(tmp_path / "m.h5")
    assert back.dtype == np.uint8 and back.sum() == 1 and back[0, 1, 2] == 1
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["main"] = mask
    assert read_volume(tmp_path / "b.h5").dtype == np.uint8


def test_h5_writer_layout(tmp_path):
    path = tmp_path / "out.h5"
    write_volume(path, sample(np.float32))
    write_volume(path, sample(np.uint32), dataset="labels")
    write_volume(f"{path}:/labels", np.zeros((1, 2, 2), np.uint8))  # replaces it
    with h5py.File(path, "r") as f:
        assert f["main"].compression == "gzip"
        assert f["main"].dtype == np.float32
        assert f["labels"].shape == (1, 2, 2)


def test_tif_writer_is_imagej_for_imagej_types(tmp_path):
    write_volume(tmp_path / "a.tif", sample(np.uint8))
    write_volume(tmp_path / "b.tif", sample(np.uint32))
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        assert tif.is_imagej and tif.imagej_metadata["slices"] == 3
    with tifffile.TiffFile(tmp_path / "b.tif") as tif:
        assert not tif.is_imagej and tif.series[0].shape == (3, 5, 7)


def test_an_interrupted_tif_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.tif"
    write_volume(target, np.ones((2, 8, 8), np.float32))
    before = target.read_bytes()
    real = tifffile.imwrite

    def interrupted(file, data, **kwargs):
        real(file, data, **kwargs)  # the bytes are written, then the process is interrupted
        raise KeyboardInterrupt

    monkeypatch.setattr(tifffile, "imwrite", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_volume(target, np.zeros((4, 16, 16), np.float32))
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]
    monkeypatch.undo()
    write_volume(target, np.zeros((4, 16, 16), np.float32))
    np.testing.assert_array_equal(read_volume(target), np.zeros((4, 16, 16), np.float32))


def test_zarr_writer_chunks(tmp_path):
    write_volume(tmp_path / "big.zarr", np.zeros((40, 300, 300), np.uint8))
    stored = zarr.open_array(tmp_path / "big.zarr", mode="r")
    assert stored.chunks == (16, 128, 128)


def test_write_conflicting_dataset_names(tmp_path):
    with pytest.raises(VolumeError, match="two different datasets"):
        write_volume(f"{tmp_path}/a.h5:/x", sample(np.uint8), dataset="y")
    with pytest.raises(VolumeError, match="TIFF"):
        write_volume(tmp_path / "a.tif", sample(np.uint8), dataset="y")


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2), complex), np.array([["a", "b"], ["c", "d"]]),
                                 np.zeros((1, 1, 1, 1, 1))])
def test_write_rejects_unsupported_arrays(tmp_path, bad):
    with pytest.raises(VolumeError, match="out.h5"):
        write_volume(tmp_path / "out.h5", bad)


# ---------------------------------------------------------- files written by the libraries


def test_h5_main_is_the_default(tmp_path):
    data = sample(np.float32)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["main"] = data
        f["other"] = sample(np.uint8)
    np.testing.assert_array_equal(read_volume(tmp_path / "f.h5"), data)
    np.testing.assert_array_equal(read_volume(f"{tmp_path}/f.h5:/other"), sample(np.uint8))
    np.testing.assert_array_equal(read_volume(f"{tmp_path}/f.h5:other"), sample(np.uint8))


def test_h5_only_3d_dataset_is_found_in_groups(tmp_path):
    data = sample(np.uint16)
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["meta/size"] = np.arange(3)
        f["meta/image2d"] = np.zeros((4, 4))
        f["volumes/raw"] = data
    np.testing.assert_array_equal(read_volume(tmp_path / "f.h5"), data)


def test_tifffile_stacks_and_2d_images(tmp_path):
    stack = sample(np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True)
    tifffile.imwrite(tmp_path / "plain.tiff", sample(np.int32), photometric="minisblack")
    tifffile.imwrite(tmp_path / "image.tif", stack[0])
    np.testing.assert_array_equal(read_volume(tmp_path / "stack.tif"), stack)
    np.testing.assert_array_equal(read_volume(tmp_path / "plain.tiff"), sample(np.int32))
    image = read_volume(tmp_path / "image.tif")
    assert image.shape == (1, 5, 7)
    np.testing.assert_array_equal(image[0], stack[0])


def test_imagej_hyperstack_channels_come_first(tmp_path):
    data = sample(np.float32, shape=(2, 3, 5, 7))  # (c, z, y, x)
    tifffile.imwrite(tmp_path / "h.tif", np.moveaxis(data, 0, 1), imagej=True, metadata={"axes": "ZCYX"})
    np.testing.assert_array_equal(read_volume(tmp_path / "h.tif", ndim=4), data)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_zarr_stores_of_both_formats(tmp_path, zarr_format):
    data = sample(np.float32)
    zarr.create_array(tmp_path / "root.zarr", data=data, zarr_format=zarr_format)
    group = zarr.open_group(tmp_path / "grp.zarr", mode="w", zarr_format=zarr_format)
    group.create_array("labels/s0", data=sample(np.uint32), chunks=(1, 5, 7))
    group.create_array("notes", data=np.arange(4))
    np.testing.assert_array_equal(read_volume(tmp_path / "root.zarr"), data)
    for address in ("grp.zarr", "grp.zarr/labels/s0", "grp.zarr:/labels/s0"):
        np.testing.assert_array_equal(read_volume(f"{tmp_path}/{address}"), sample(np.uint32))


# --------------------------------------------------------------------------------- RGB ids


def test_rgb_stack_becomes_ids(tmp_path):
    rgb = np.zeros((2, 3, 4, 3), np.uint8)
    rgb[0, 0, 0] = (1, 2, 3)
    rgb[1, 2, 3] = (255, 255, 255)
    tifffile.imwrite(tmp_path / "vast.tif", rgb, photometric="rgb")
    with h5py.File(tmp_path / "vast.h5", "w") as f:
        f["main"] = rgb
    for name in ("vast.tif", "vast.h5"):
        ids = read_volume(tmp_path / name)
        assert ids.shape == (2, 3, 4) and ids.dtype == np.uint32
        assert ids[0, 0, 0] == 1 * 65536 + 2 * 256 + 3
        assert ids[1, 2, 3] == 16777215
        assert np.count_nonzero(ids) == 2


def test_single_rgb_image_becomes_one_section_of_ids(tmp_path):
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[1, 1] = (0, 1, 0)
    tifffile.imwrite(tmp_path / "one.tif", rgb, photometric="rgb")
    ids = read_volume(tmp_path / "one.tif")
    assert ids.shape == (1, 3, 4) and ids[0, 1, 1] == 256 and np.count_nonzero(ids) == 1


# ------------------------------------------------------------------------- ndim handling


def test_single_channel_4d_reads_as_3d(tmp_path):
    data = sample(np.float32, shape=(1, 3, 5, 7))
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["main"] = data
    np.testing.assert_array_equal(read_volume(tmp_path / "f.h5"), data[0])


def test_ndim_argument_is_checked(tmp_path):
    write_volume(tmp_path / "a.h5", sample(np.uint8))
    with pytest.raises(ValueError, match="ndim"):
        read_volume(tmp_path / "a.h5", ndim=2)


# -------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(VolumeError, match="not found") as info:
        read_volume(tmp_path / "nope.tif")
    assert info.value.file == str(tmp_path / "nope.tif")


def test_unknown_extension(tmp_path):
    with pytest.raises(VolumeError, match=r"expected \.tif.*found '\.png'"):
        read_volume(tmp_path / "image.png")


def test_missing_h5_dataset_names_it_and_suggests(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["main"] = sample(np.uint8)
        f["label"] = sample(np.uint8)
    with pytest.raises(VolumeError) as info:
        read_volume(f"{tmp_path}/f.h5:/labels")
    err = info.value
    assert err.file == str(tmp_path / "f.h5") and err.key == "/labels"
    assert "did you mean '/label'" in str(err)


def test_several_candidates_are_listed(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["raw"] = sample(np.uint8)
        f["seg"] = sample(np.uint32)
    with pytest.raises(VolumeError, match="several") as info:
        read_volume(tmp_path / "f.h5")
    assert "/raw (3, 5, 7)" in str(info.value) and "/seg (3, 5, 7)" in str(info.value)


def test_no_3d_dataset(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["flat"] = np.zeros((4, 4))
    with pytest.raises(VolumeError, match=r"no 3-D dataset.*/flat \(4, 4\)"):
        read_volume(tmp_path / "f.h5")


def test_wrong_dimensionality_names_file_dataset_and_shape(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["main"] = np.zeros((2, 2, 3, 4, 5))
    with pytest.raises(VolumeError) as info:
        read_volume(tmp_path / "f.h5")
    text = str(info.value)
    assert str(tmp_path / "f.h5") in text and "/main" in text and "(2, 2, 3, 4, 5)" in text


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4), np.complex64), np.array([[[b"ab"]]])])
def test_unsupported_voxel_types(tmp_path, bad):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["main"] = bad
    with pytest.raises(VolumeError, match="unsupported voxel type") as info:
        read_volume(tmp_path / "f.h5")
    assert info.value.key == "/main"


def test_not_a_tiff_or_h5(tmp_path):
    (tmp_path / "fake.tif").write_text("hello")
    (tmp_path / "fake.h5").write_text("hello")
    with pytest.raises(VolumeError, match="TIFF"):
        read_volume(tmp_path / "fake.tif")
    with pytest.raises(VolumeError, match="HDF5"):
        read_volume(tmp_path / "fake.h5")


def test_zarr_errors(tmp_path):
    group = zarr.open_group(tmp_path / "g.zarr", mode="w")
    group.create_array("raw/s0", data=sample(np.uint8))
    with pytest.raises(VolumeError, match="did you mean 'raw/s0'"):
        read_volume(f"{tmp_path}/g.zarr/raw/s1")
    with pytest.raises(VolumeError, match="group, not an array"):
        read_volume(f"{tmp_path}/g.zarr:/raw")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(VolumeError, match="zarr"):
        read_volume(tmp_path / "empty.zarr")


def test_path_parsing():
    loc = parse_location("/data/run.h5:/a/b")
    assert (str(loc.file), loc.kind, loc.inner, loc.key) == ("/data/run.h5", "h5", "a/b", "/a/b")
    loc = parse_location("/data/x.zarr/s/t")
    assert (str(loc.file), loc.kind, loc.inner) == ("/data/x.zarr", "zarr", "s/t")
    assert parse_location("stack.TIFF").kind == "tif"
    with pytest.raises(VolumeError, match="after ':'"):
        parse_location("/data/run.h5/main")


# ------------------------------------------------------------------------ lazy and listing


def test_lazy_volume_reads_blocks(tmp_path):
    data = sample(np.float32, shape=(4, 6, 8))
    for name in ("a.h5", "a.zarr", "a.tif"):
        write_volume(tmp_path / name, data)
        lazy = open_volume_lazy(tmp_path / name)
        assert isinstance(lazy, da.Array) and lazy.shape == data.shape and lazy.dtype == data.dtype
        np.testing.assert_array_equal(lazy[1:3, 2:4].compute(), data[1:3, 2:4])


def test_list_volumes(tmp_path):
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["raw"] = sample(np.uint8)
        f["aff"] = sample(np.float32, shape=(3, 3, 5, 7))
        f["vast"] = np.zeros((3, 5, 7, 3), np.uint8)
        f["meta"] = np.arange(3)
    found = {info.name: info for info in list_volumes(tmp_path / "f.h5")}
    assert sorted(found) == ["/aff", "/raw", "/vast"]
    assert found["/vast"].volume_ndim == 3 and found["/aff"].volume_ndim == 4
    assert [i.name for i in list_volumes(tmp_path / "f.h5", ndim=3)] == ["/raw", "/vast"]


# -------------------------------------------------------------------------- shared data


def test_isbi_training_labels():
    path = need_shared(SHARED / "data" / "isbi2012" / "train-labels.tif")
    labels = read_volume(path)
    assert labels.shape == (20, 512, 512) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == {0, 255}
    # membranes (0) are the minority class in ISBI 2012 labels
    assert 0.1 < np.mean(labels == 0) < 0.4


# ----------------------------------------------------------------------------- paths as users name them


def test_a_folder_of_sections_is_a_stack_in_natural_order_whatever_it_is_called(tmp_path):
    stack = sample(np.uint16, (12, 6, 5))
    folder = tmp_path / "scans.tif"  # a folder named like a file
    folder.mkdir()
    for z, section in enumerate(stack):
        tifffile.imwrite(folder / f"slice_{z + 1}.tif", section)  # slice_10 after slice_9, not after slice_1
    (folder / "notes.txt").write_text("not a section")
    assert parse_location(folder).kind == "sections"
    np.testing.assert_array_equal(read_volume(folder), stack)
    assert open_volume_lazy(folder).shape == (12, 6, 5)
    assert [info.shape for info in list_volumes(folder)] == [(12, 6, 5)]
    with pytest.raises(VolumeError, match="folder of TIFF sections"):
        write_volume(folder, stack)  # never written over


def test_a_folder_of_sections_of_different_shapes_names_the_odd_one(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    tifffile.imwrite(folder / "a1.tif", np.zeros((6, 5), np.uint8))
    tifffile.imwrite(folder / "a2.tif", np.zeros((6, 4), np.uint8))
    with pytest.raises(VolumeError, match=r"a2\.tif.*differ.*\(6, 5\)"):
        read_volume(folder)


def test_existing_paths_are_read_for_what_they_are(tmp_path):
    data = sample(np.uint8)
    (tmp_path / "proj.zarr").mkdir()  # a plain folder named like a store
    tifffile.imwrite(tmp_path / "proj.zarr" / "raw.tif", data)
    np.testing.assert_array_equal(read_volume(tmp_path / "proj.zarr" / "raw.tif"), data)
    (tmp_path / "res.h5").mkdir()  # a folder on the way to a file
    write_volume(tmp_path / "res.h5" / "seg.h5", data)
    assert (tmp_path / "res.h5" / "seg.h5").is_file()
    np.testing.assert_array_equal(read_volume(tmp_path / "res.h5" / "seg.h5"), data)
    write_volume(tmp_path / "store.zarr" / "sub" / "arr", data)  # a real store keeps its inner path
    assert parse_location(tmp_path / "store.zarr" / "sub" / "arr").inner == "sub/arr"
    with h5py.File(tmp_path / "nosuffix", "w") as handle:  # a file without a suffix, by its signature
        handle["main"] = data
    np.testing.assert_array_equal(read_volume(tmp_path / "nosuffix"), data)
    with pytest.raises(VolumeError, match="neither a zarr store nor TIFF sections"):
        read_volume(tmp_path / "res.h5")


def test_a_truncated_tif_is_refused_when_opened(tmp_path):
    path = tmp_path / "em.tif"
    tifffile.imwrite(path, sample(np.uint8, (4, 64, 64)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VolumeError, match=r"em\.tif: the TIFF file is truncated"):
        open_volume_lazy(path)
