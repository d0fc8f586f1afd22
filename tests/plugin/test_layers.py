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


def test_the_labels_picker_never_offers_the_em_image_and_takes_a_new_labels_layer(make_napari_viewer, qtbot):
    """Open the EM stack first (uint8, as ISBI's), then add a Labels layer to paint on: the labels
    pick is the new layer, never the EM image; a labels .tif opened as an Image is offered, but not
    once it is the image picked as Image."""
    from napari_znn._data_tab import DataTab

    viewer = make_napari_viewer()
    rng = np.random.default_rng(1)
    em = viewer.add_image(rng.normal(128, 40, (3, 300, 300)).clip(0, 255).astype(np.uint8), name="train-volume")
    tab = DataTab(viewer)
    qtbot.addWidget(tab)
    assert tab.image.layer() is em
    assert tab.labels.layer() is None and tab.labels.count() == 0
    strokes = viewer.add_labels(np.zeros((3, 300, 300), np.uint8), name="Labels")
    assert tab.labels.layer() is strokes
    cells = np.zeros((3, 300, 300), np.uint8)
    cells[:, :, 150:] = 255
    cells[:, 100:102] = 0
    opened = viewer.add_image(cells, name="train-labels")  # napari's reader: a labels .tif as an Image
    offered = [tab.labels.itemText(i) for i in range(tab.labels.count())]
    assert offered == ["Labels", "train-labels"] and tab.labels.layer() is strokes
    tab.image.setCurrentText("train-labels")
    assert tab.image.layer() is opened
    assert [tab.labels.itemText(i) for i in range(tab.labels.count())] == ["Labels"]


def test_the_labels_layer_there_at_start_up_has_its_mode_guessed(make_napari_viewer, qtbot):
    """A dock opened on a viewer that already holds strokes trains them as strokes: the guess (and its
    reason) is made for the layer picked at start-up, not only for a later pick."""
    from napari_znn._data_tab import DataTab
    from znn.data.strokes import paint_strokes

    viewer = make_napari_viewer()
    truth = np.full((3, 64, 64), 255, np.uint8)
    truth[:, ::16] = 0
    viewer.add_image(np.random.default_rng(0).integers(0, 255, (3, 64, 64)).astype(np.uint8), name="EM")
    viewer.add_labels(paint_strokes(truth, (0, 2), rng=0), name="strokes")
    tab = DataTab(viewer)
    qtbot.addWidget(tab)
    assert tab.labels.currentText() == "strokes"
    assert tab.label_mode.current() == "sparse_strokes"
    assert "Guessed from 'strokes'" in tab.label_mode.reason.text()
