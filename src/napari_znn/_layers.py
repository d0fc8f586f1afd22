"""Layer plumbing of the training dock: layer pickers, the region in view, output layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox

from znn.base.modes import OutputKind

if TYPE_CHECKING:
    import napari

    from znn.netspec.spec import NetSpec

PREVIEW_SIDE = 1024  # the live preview covers at most this many pixels around the view's centre
AFFINITY_AXES = ("x", "y", "z")


LABELS_SAMPLE_SIDE = 256  # labels-likeness is judged on a crop of this side from the middle section
LABELS_EQUAL_NEIGHBOURS = 0.5  # labels are piecewise constant; EM images, even uint8, rarely repeat a pixel


def _middle_crop(data: Any) -> np.ndarray:
    """A small 2-D crop from the middle of `data` (the lowest level of a multiscale image); lazy data
    reads only the crop."""
    level = data[-1] if isinstance(data, list | tuple) else data
    while np.ndim(level) > 2:
        level = level[np.shape(level)[0] // 2]
    rows, cols = np.shape(level)
    top, left = max(0, (rows - LABELS_SAMPLE_SIDE) // 2), max(0, (cols - LABELS_SAMPLE_SIDE) // 2)
    return np.asarray(level[top:top + LABELS_SAMPLE_SIDE, left:left + LABELS_SAMPLE_SIDE])


def looks_like_labels(layer: Any) -> bool:
    """Whether an image layer holds labels rather than intensities: whole numbers, and regions of one
    value (neighbouring pixels mostly equal), as a labels .tif napari opens as an Image; an EM stack,
    even of uint8, is not. Labels layers always are."""
    from napari.layers import Image, Labels

    if isinstance(layer, Labels):
        return True
    if not isinstance(layer, Image) or getattr(layer, "rgb", False):
        return False
    if not np.issubdtype(np.dtype(layer.data[0].dtype if layer.multiscale else layer.data.dtype), np.integer):
        return False
    crop = _middle_crop(layer.data)
    if crop.size < 2 or crop.shape[-1] < 2:
        return True  # too small to tell: whole numbers are all there is to go by
    return float(np.mean(crop[:, 1:] == crop[:, :-1])) >= LABELS_EQUAL_NEIGHBOURS


class LayerChoice(QComboBox):
    """A combo box of the viewer's image or labels layers that follows the layer list; the
    chosen layer stays chosen when it is renamed.

    The labels choice lists Labels layers and image layers that hold labels (`looks_like_labels`:
    napari opens a labels .tif as an Image layer), never the layer `exclude` returns (the image
    picked as Image); a newly added labels layer becomes the pick when nothing plausible was."""

    changed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, kind: str, extra: list[str] | None = None,
                 exclude: Callable[[], Any] | None = None) -> None:
        """`extra`: entries listed before the layers that stand for no layer (e.g. "(none)")."""
        super().__init__()
        self.viewer, self.kind, self.extra = viewer, kind, list(extra or [])
        self.exclude = exclude or (lambda: None)
        self._judged: dict[int, tuple[Any, bool]] = {}  # id(layer) -> (its data, looks like labels)
        self._chosen: Any = None  # the picked layer itself, followed through renames
        self.setToolTip("Any image layer (also ones opened from tif, h5 or zarr)" if kind == "image" else
                        "A Labels layer, or an image layer of whole numbers (a labels .tif opens as one)")
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed,
                      viewer.layers.events.reordered):
            event.connect(lambda _e: self.refresh())
        viewer.layers.events.inserted.connect(lambda e: self._watch(e.value))
        for layer in viewer.layers:
            self._watch(layer)
        self.currentTextChanged.connect(self._picked)
        self.refresh()

    def _watch(self, layer: Any) -> None:
        layer.events.name.connect(lambda _e: self.refresh())

    def _picked(self, name: str) -> None:
        self._chosen = self.viewer.layers[name] if name in self.viewer.layers and name not in self.extra else None
        self.changed.emit()

    def _candidates(self) -> list[Any]:
        from napari.layers import Image, Labels

        if self.kind == "image":
            return [layer for layer in self.viewer.layers if isinstance(layer, Image)]
        from napari_znn._reader import LABEL_NAMES

        excluded = self.exclude()
        labels = [layer for layer in self.viewer.layers if isinstance(layer, Labels)]
        whole = [layer for layer in self.viewer.layers if isinstance(layer, Image) and layer is not excluded
                 and self._holds_labels(layer)]
        # Labels layers first, the natural pick; then images named like labels ("truth.tif").
        named = [layer for layer in whole if LABEL_NAMES.search(layer.name)]
        return labels + named + [layer for layer in whole if layer not in named]

    def _holds_labels(self, layer: Any) -> bool:
        """`looks_like_labels`, judged once per layer and data (a refresh follows every layer event)."""
        judged = self._judged.get(id(layer))
        if judged is None or judged[0] is not layer.data:
            judged = (layer.data, looks_like_labels(layer))
            self._judged[id(layer)] = judged
        return judged[1]

    def refresh(self) -> None:
        still_there = self._chosen is not None and self._chosen in self.viewer.layers
        chosen = self._chosen.name if still_there else self.currentText()
        names = self.extra + [layer.name for layer in self._candidates() if not layer.name.startswith("ZNN ")]
        self.blockSignals(True)
        self.clear()
        self.addItems(names)
        if chosen in names:
            self.setCurrentText(chosen)
        self.blockSignals(False)
        self._picked(self.currentText())

    def layer(self) -> Any:
        name = self.currentText()
        if not name or name in self.extra:
            return None
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def select(self, layer: Any) -> None:
        self.refresh()
        self.setCurrentText(layer.name)


def view_slab(viewer: napari.viewer.Viewer, layer: Any, spec: NetSpec | None
              ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The image around what the viewer shows: the sections the network needs for the current
    one, at most PREVIEW_SIDE pixels around the camera's centre. Returns the slab and
    (section, its index in the slab, y start, x start)."""
    from znn.netspec.graph import NetworkGraph

    data = layer.data if np.ndim(layer.data) >= 3 else layer.data[np.newaxis]  # a 2-D image: one section
    fov_z = NetworkGraph(spec, (1, 1, 1)).fov[0] if spec is not None else 1
    point = list(viewer.dims.point)
    scene = getattr(viewer, "scene", None)  # napari >= 0.9 moved the camera to viewer.scene
    camera = scene.camera if scene is not None else viewer.camera
    centre = list(camera.center)[-2:]
    point[-2:] = centre
    z, y, x = (int(round(v)) for v in [0, *layer.world_to_data(point)][-3:])
    depth, height, width = data.shape[-3:]
    z = min(max(z, 0), depth - 1)
    z0, z1 = max(0, z - fov_z + 1), min(depth, z + fov_z)
    y0 = min(max(0, y - PREVIEW_SIDE // 2), max(0, height - PREVIEW_SIDE))
    x0 = min(max(0, x - PREVIEW_SIDE // 2), max(0, width - PREVIEW_SIDE))
    slab = np.asarray(data[z0:z1, y0:y0 + PREVIEW_SIDE, x0:x0 + PREVIEW_SIDE])
    return slab, (z, z - z0, y0, x0)


def live_layer_name(kind: OutputKind) -> str:
    return f"ZNN {kind} (live)"


def _display_map(maps: np.ndarray, kind: OutputKind) -> np.ndarray:
    # Boundary: the boundary channel; affinity: the mean of the three channels.
    return maps[1] if kind == "boundary" else maps.mean(axis=0)


def ensure_live_layer(viewer: napari.viewer.Viewer, image: Any, kind: OutputKind) -> Any:
    """The live layer, created with the image's geometry if missing. Creating a layer takes a few
    hundred milliseconds of the main thread, so the dock does it before training starts."""
    name = live_layer_name(kind)
    if name in viewer.layers and viewer.layers[name].data.shape == image.data.shape[-3:]:
        return viewer.layers[name]
    if name in viewer.layers:
        viewer.layers.remove(name)
    return viewer.add_image(np.zeros(image.data.shape[-3:], np.float32), name=name, scale=image.scale[-3:],
                            translate=image.translate[-3:], contrast_limits=(0.0, 1.0), colormap="magma",
                            opacity=0.6, blending="additive")


def update_live_layer(viewer: napari.viewer.Viewer, image: Any, outputs: dict[str, np.ndarray],
                      section: tuple[int, int, int, int], *, kind: OutputKind) -> None:
    """Write a preview into the live layer."""
    z, index, y0, x0 = section
    values = _display_map(next(iter(outputs.values())), kind)[index]
    layer = ensure_live_layer(viewer, image, kind)
    target = layer.data if layer.data.ndim == 3 else layer.data[np.newaxis]  # a view: writes reach the layer
    target[z, y0:y0 + values.shape[0], x0:x0 + values.shape[1]] = values
    layer.refresh()


def show_outputs(viewer: napari.viewer.Viewer, image: Any, outputs: dict[str, np.ndarray],
                 kind: OutputKind) -> list[Any]:
    """Show predicted maps with the image's scale and translate, contrast 0-1: in the layers of
    an earlier prediction of this image when there are (new data in a layer takes a few
    milliseconds; adding a layer, about a hundred), else in new layers."""
    maps = next(iter(outputs.values()))
    if np.ndim(image.data) == 2:  # predicted as one section: shown as the 2-D image it came from
        maps = maps[:, 0]
    if kind == "boundary":
        shown = [(f"ZNN boundary ({image.name})", maps[1])]
    else:
        shown = [(f"ZNN affinity {axis} ({image.name})", maps[c])
                 for c, axis in enumerate(AFFINITY_AXES[:maps.shape[0]])]
    return [_show_map(viewer, image, name, values) for name, values in shown]


def _show_map(viewer: napari.viewer.Viewer, image: Any, name: str, values: np.ndarray) -> Any:
    scale, translate = image.scale[-values.ndim:], image.translate[-values.ndim:]
    if name in viewer.layers and np.shape(viewer.layers[name].data) == values.shape:
        layer = viewer.layers[name]
        layer.scale, layer.translate = scale, translate
        layer.data = values
        layer.contrast_limits = (0.0, 1.0)
        return layer
    if name in viewer.layers:
        viewer.layers.remove(name)
    return viewer.add_image(values, name=name, scale=scale, translate=translate, contrast_limits=(0.0, 1.0))


def as_volume(data: Any) -> Any:
    """A layer's data as (z, y, x): a 2-D image gets one section axis (lazy data stays lazy)."""
    return data[np.newaxis] if np.ndim(data) == 2 else data
