"""Output layers of the training dock: geometry copied from the image, the live layer's region."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _image(viewer):
    data = np.random.default_rng(0).uniform(0, 255, (6, 40, 50)).astype(np.float32)
    return viewer.add_image(data, name="em", scale=(40, 4, 4), translate=(400, 8, 12))


def test_affinity_outputs_become_one_layer_per_channel_with_the_image_geometry(make_napari_viewer):
    from napari_znn._layers import show_outputs

    viewer = make_napari_viewer()
    image = _image(viewer)
    maps = np.random.default_rng(1).uniform(0, 1, (3, 6, 40, 50)).astype(np.float32)
    added = show_outputs(viewer, image, {"output": maps}, "affinity")
    assert [layer.name for layer in added] == ["ZNN affinity x (em)", "ZNN affinity y (em)", "ZNN affinity z (em)"]
    for channel, layer in enumerate(added):
        np.testing.assert_array_equal(layer.data, maps[channel])
        np.testing.assert_array_equal(layer.scale, image.scale)
        np.testing.assert_array_equal(layer.translate, image.translate)
        assert tuple(layer.contrast_limits) == (0.0, 1.0)


def test_boundary_output_is_the_boundary_channel(make_napari_viewer):
    from napari_znn._layers import show_outputs

    viewer = make_napari_viewer()
    image = _image(viewer)
    maps = np.stack([np.full((6, 40, 50), 0.2, np.float32), np.full((6, 40, 50), 0.7, np.float32)])
    (layer,) = show_outputs(viewer, image, {"output": maps}, "boundary")
    assert layer.name == "ZNN boundary (em)" and np.all(layer.data == np.float32(0.7))


def test_live_preview_lands_on_its_section_and_region(make_napari_viewer):
    from napari_znn._layers import ensure_live_layer, update_live_layer

    viewer = make_napari_viewer()
    image = _image(viewer)
    live = ensure_live_layer(viewer, image, "boundary")
    np.testing.assert_array_equal(live.translate, image.translate)
    preview = np.zeros((2, 3, 10, 20), np.float32)  # (channels, slab sections, y, x)
    preview[1, 2] = 0.5
    update_live_layer(viewer, image, {"output": preview}, (4, 2, 5, 7), kind="boundary")
    expected = np.zeros(image.data.shape, np.float32)
    expected[4, 5:15, 7:27] = 0.5
    np.testing.assert_array_equal(viewer.layers["ZNN boundary (live)"].data, expected)
    assert ensure_live_layer(viewer, image, "boundary") is live  # reused, not recreated


def test_view_slab_covers_the_sections_the_network_needs_around_the_view(make_napari_viewer):
    from napari_znn._layers import view_slab
    from znn.netspec.graph import NetworkGraph
    from znn.netspec.library import network_path
    from znn.netspec.znnfile import read_znn

    viewer = make_napari_viewer()
    image = _image(viewer)
    spec = read_znn(network_path("tiny2d"))
    viewer.dims.set_point(0, 400 + 3 * 40)  # section 3 in world coordinates
    slab, (z, index, y0, x0) = view_slab(viewer, image, spec)
    fov_z = NetworkGraph(spec, (1, 1, 1)).fov[0]
    assert z == 3 and slab.shape[0] == min(6, z + fov_z) - max(0, z - fov_z + 1)
    np.testing.assert_array_equal(slab[index], image.data[3, y0:y0 + slab.shape[1], x0:x0 + slab.shape[2]])


def test_layer_choice_follows_the_layer_list_and_renames(make_napari_viewer, qtbot):
    from napari_znn._layers import LayerChoice

    viewer = make_napari_viewer()
    first = viewer.add_image(np.zeros((2, 8, 8)), name="first")
    viewer.add_labels(np.zeros((2, 8, 8), np.uint8), name="labels")
    choice = LayerChoice(viewer, "image", extra=["(none)"])
    qtbot.addWidget(choice)
    second = viewer.add_image(np.ones((2, 8, 8)), name="second")
    assert [choice.itemText(i) for i in range(choice.count())] == ["(none)", "first", "second"]
    choice.setCurrentText("second")
    assert choice.layer() is second
    second.name = "renamed"
    assert choice.currentText() == "renamed" and choice.layer() is second
    viewer.layers.remove(first)
    assert choice.layer() is second
    choice.setCurrentText("(none)")
    assert choice.layer() is None
