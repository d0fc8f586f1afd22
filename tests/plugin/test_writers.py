"""npe2 writers: image layers saved as .h5 / .tif / .zarr read back unchanged with the engine."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_znn._writers import layer_names, write_image, write_images
from znn.io.volumes import list_volumes, read_volume

RNG = np.random.default_rng(7)
BOUNDARY = RNG.random((4, 12, 10), dtype=np.float32)
AFFINITY = RNG.random((3, 4, 12, 10), dtype=np.float32)


@pytest.mark.parametrize("ext", [".h5", ".hdf5", ".tif", ".tiff", ".zarr"])
@pytest.mark.parametrize("array", [BOUNDARY, AFFINITY], ids=["zyx", "czyx"])
def test_single_layer_round_trip(tmp_path, ext, array):
    path = str(tmp_path / f"map{ext}")
    assert write_image(path, array, {"name": "boundary"}) == [path]
    back = read_volume(path, ndim=None)
    assert back.shape == array.shape and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_single_layer_h5_goes_to_main_and_replaces_the_file(tmp_path):
    path = str(tmp_path / "map.h5")
    write_images(path, [(BOUNDARY, {"name": "old"}, "image"), (BOUNDARY, {"name": "older"}, "image")])
    write_image(path, BOUNDARY * 2, {"name": "boundary"})
    assert [info.name for info in list_volumes(path)] == ["/main"]
    np.testing.assert_array_equal(read_volume(path + ":/main"), BOUNDARY * 2)


def test_dask_and_integer_layers(tmp_path):
    lazy = da.from_array(BOUNDARY, chunks=(1, 12, 10))
    write_image(str(tmp_path / "lazy.zarr"), lazy, {"name": "lazy"})
    np.testing.assert_array_equal(read_volume(str(tmp_path / "lazy.zarr")), BOUNDARY)
    raw = (BOUNDARY * 255).astype(np.uint8)
    write_image(str(tmp_path / "raw.tif"), raw, {"name": "raw"})
    back = read_volume(str(tmp_path / "raw.tif"))
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, raw)


def test_rgb_goes_channel_first_and_multiscale_writes_full_resolution(tmp_path):
    rgb = RNG.integers(0, 255, (4, 12, 10, 3), dtype=np.uint8)
    write_image(str(tmp_path / "rgb.h5"), rgb, {"name": "rgb", "rgb": True})
    np.testing.assert_array_equal(read_volume(str(tmp_path / "rgb.h5"), ndim=4),
                                  np.moveaxis(rgb, -1, 0))
    pyramid = [BOUNDARY, BOUNDARY[:, ::2, ::2]]
    write_image(str(tmp_path / "pyramid.h5"), pyramid, {"name": "p", "multiscale": True})
    np.testing.assert_array_equal(read_volume(str(tmp_path / "pyramid.h5")), BOUNDARY)


def affinity_layers() -> list[tuple[np.ndarray, dict, str]]:
    return [(AFFINITY[0], {"name": "affinity x"}, "image"),
            (AFFINITY[1], {"name": "affinity y"}, "image"),
            (AFFINITY[2], {"name": "affinity/z"}, "image"),
            (AFFINITY, {"name": "affinity"}, "image")]


def test_several_layers_to_one_h5(tmp_path):
    path = str(tmp_path / "out.h5")
    assert write_images(path, affinity_layers()) == [path]
    names = sorted(info.name for info in list_volumes(path))
    assert names == ["/affinity", "/affinity_x", "/affinity_y", "/affinity_z"]
    for channel, name in enumerate(["affinity_x", "affinity_y", "affinity_z"]):
        np.testing.assert_array_equal(read_volume(f"{path}:/{name}", ndim=None), AFFINITY[channel])
    back = read_volume(f"{path}:/affinity", ndim=None)
    assert back.shape == AFFINITY.shape
    np.testing.assert_array_equal(back, AFFINITY)


def test_several_layers_to_one_zarr_group(tmp_path):
    path = str(tmp_path / "out.zarr")
    assert write_images(path, affinity_layers()) == [path]
    np.testing.assert_array_equal(read_volume(f"{path}/affinity_y", ndim=None), AFFINITY[1])
    np.testing.assert_array_equal(read_volume(f"{path}:/affinity", ndim=None), AFFINITY)


def test_several_layers_to_one_tif_each(tmp_path):
    path = tmp_path / "out.tif"
    written = write_images(str(path), affinity_layers())
    expected = [tmp_path / f"out_{name}.tif"
                for name in ("affinity_x", "affinity_y", "affinity_z", "affinity")]
    assert written == [str(p) for p in expected]
    for file, array in zip(expected, [AFFINITY[0], AFFINITY[1], AFFINITY[2], AFFINITY]):
        back = read_volume(str(file), ndim=None)
        assert back.shape == array.shape
        np.testing.assert_array_equal(back, array)


def test_layer_names_are_safe_and_unique():
    metas = [{"name": "a b"}, {"name": "a_b"}, {"name": "A_B"}, {"name": "../x"}, {"name": ""}, {}]
    assert layer_names(metas) == ["a_b", "a_b_2", "A_B_3", "x", "layer4", "layer5"]


def test_refuses_other_extensions_and_foreign_directories(tmp_path):
    with pytest.raises(ValueError, match="writes"):
        write_image(str(tmp_path / "map.png"), BOUNDARY, {})
    folder = tmp_path / "notes.zarr"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a zarr store"):
        write_image(str(folder), BOUNDARY, {})
    assert (folder / "keep.txt").read_text() == "mine"


@pytest.mark.gui
@pytest.mark.parametrize("ext", [".h5", ".zarr"])
def test_viewer_saves_layers_through_the_plugin(make_napari_viewer, tmp_path, ext):
    viewer = make_napari_viewer()
    viewer.add_image(BOUNDARY, name="boundary")
    single = tmp_path / f"one{ext}"
    assert viewer.layers.save(str(single), plugin="napari-znn") == [str(single)]
    np.testing.assert_array_equal(read_volume(str(single)), BOUNDARY)

    viewer.add_image(AFFINITY, name="affinity")
    several = tmp_path / f"all{ext}"
    assert viewer.layers.save(str(several), plugin="napari-znn") == [str(several)]
    np.testing.assert_array_equal(read_volume(f"{several}:/boundary"), BOUNDARY)
    np.testing.assert_array_equal(read_volume(f"{several}:/affinity", ndim=4), AFFINITY)
