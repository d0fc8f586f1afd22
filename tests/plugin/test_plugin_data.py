"""The plugin's sample data and readers, driven through a real napari viewer.

Run under a display: QT_QPA_PLATFORM=xcb xvfb-run -a .venv/bin/python -m pytest tests/plugin/test_plugin_data.py
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import yaml
import zarr

from napari_znn.__main__ import plugin_widget_names
from napari_znn._reader import get_h5_reader, get_zarr_reader
from tests.helpers.paths import REPO

pytestmark = pytest.mark.gui

PLUGIN = "napari-znn"


def layers_by_name(viewer) -> dict:
    return {layer.name: layer for layer in viewer.layers}


def test_sample_opens_as_image_labels_and_strokes(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic_em")
    layers = layers_by_name(viewer)
    assert sorted(layers) == ["synthetic EM", "synthetic labels", "synthetic strokes"]
    raw, labels = layers["synthetic EM"], layers["synthetic labels"]
    assert type(raw).__name__ == "Image" and type(labels).__name__ == "Labels"
    assert raw.data.shape == labels.data.shape == (24, 256, 256)
    assert raw.data.dtype == np.uint8 and labels.data.dtype == np.uint32
    np.testing.assert_allclose(raw.scale, (5.0, 1.0, 1.0))
    np.testing.assert_allclose(labels.scale, (5.0, 1.0, 1.0))
    assert labels.data.max() > 10 and np.any(labels.data == 0)
    strokes = layers["synthetic strokes"]
    assert type(strokes).__name__ == "Labels" and strokes.data.shape == labels.data.shape
    painted = strokes.data != 0
    assert np.count_nonzero(painted.any(axis=(1, 2))) == 3 and 0 < painted.mean() < 0.01  # 3 sections, < 1 %
    # strokes agree with the truth: 1 on membrane (label 0), 2 inside cells
    assert np.all(labels.data[strokes.data == 1] == 0) and np.all(labels.data[strokes.data == 2] > 0)


def test_h5_datasets_become_layers(make_napari_viewer, tmp_path):
    path = tmp_path / "volumes.h5"
    segmentation = np.arange(4 * 6 * 8, dtype=np.uint32).reshape(4, 6, 8)
    image = np.linspace(0, 1, 4 * 6 * 8, dtype=np.float32).reshape(4, 6, 8)
    with h5py.File(path, "w") as f:
        f["volumes/neurons"] = segmentation
        f["em"] = image
        f["resolution"] = np.array([40.0, 4.0, 4.0])  # not a volume: no layer
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    layers = layers_by_name(viewer)
    assert sorted(layers) == ["/em", "/volumes/neurons"]
    assert type(layers["/volumes/neurons"]).__name__ == "Labels"
    assert type(layers["/em"]).__name__ == "Image"
    np.testing.assert_array_equal(layers["/volumes/neurons"].data, segmentation)
    np.testing.assert_array_equal(layers["/em"].data, image)


def test_h5_channel_maps_become_one_image_per_channel(make_napari_viewer, tmp_path):
    path = tmp_path / "affinity.h5"
    maps = np.random.default_rng(0).random((3, 2, 5, 5)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["main"] = maps
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    layers = layers_by_name(viewer)
    assert sorted(layers) == ["/main[0]", "/main[1]", "/main[2]"]
    np.testing.assert_array_equal(layers["/main[2]"].data, maps[2])


def test_zarr_arrays_become_layers(make_napari_viewer, tmp_path):
    path = tmp_path / "sample.zarr"
    group = zarr.open_group(path, mode="w")
    group.create_array("raw", data=np.full((3, 4, 5), 7, np.uint8))
    group.create_array("labels/cells", data=np.ones((3, 4, 5), np.uint64))
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin=PLUGIN)
    layers = layers_by_name(viewer)
    assert sorted(layers) == ["labels/cells", "raw"]
    assert type(layers["raw"]).__name__ == "Image" and layers["raw"].data.dtype == np.uint8
    assert type(layers["labels/cells"]).__name__ == "Labels"
    assert layers["labels/cells"].data.shape == (3, 4, 5)


def test_readers_decline_what_they_cannot_read(tmp_path):
    table = tmp_path / "table.h5"
    with h5py.File(table, "w") as f:
        f["scores"] = np.arange(10.0)
        f["matrix"] = np.eye(3)
    not_h5 = tmp_path / "notes.h5"
    not_h5.write_text("not an HDF5 file")
    (tmp_path / "empty.zarr").mkdir()
    assert get_h5_reader(str(table)) is None
    assert get_h5_reader(str(not_h5)) is None
    assert get_h5_reader(str(tmp_path / "absent.h5")) is None
    assert get_h5_reader(str(tmp_path / "stack.tif")) is None
    assert get_zarr_reader(str(tmp_path / "empty.zarr")) is None


def test_launcher_docks_the_widgets_of_the_manifest():
    manifest = yaml.safe_load((REPO / "napari.yaml").read_text())
    declared = [w["display_name"] for w in manifest["contributions"].get("widgets", [])]
    assert plugin_widget_names() == declared
