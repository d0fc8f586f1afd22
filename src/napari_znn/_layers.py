"""Layer plumbing of the training dock: layer pickers, the region in view, output layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox

from znn.modes import OutputKind

if TYPE_CHECKING:
    import napari

    from znn.netspec.spec import NetSpec

PREVIEW_SIDE = 512  # the live preview covers at most this many pixels around the view's centre
AFFINITY_AXES = ("x", "y", "z")


class LayerChoice(QComboBox):
    """A combo box of the viewer's image or labels layers that follows the layer list; the
    chosen layer stays chosen when it is renamed.

    The labels choice also lists image layers of whole numbers: napari opens a labels .tif
    as an Image layer, and its values are labels all the same."""

    changed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, kind: str, extra: list[str] | None = None) -> None:
        """`extra`: entries listed before the layers that stand for no layer (e.g. "(none)")."""
        super().__init__()
        self.viewer, self.kind, self.extra = viewer, kind, list(extra or [])
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

        labels = [layer for layer in self.viewer.layers if isinstance(layer, Labels)]
        whole = [layer for layer in self.viewer.layers if isinstance(layer, Image)
                 and not getattr(layer, "rgb", False) and np.issubdtype(np.dtype(layer.data.dtype), np.integer)]
        # Labels layers first, the natural pick; then images named like labels ("truth.tif"):
        # EM stacks are often uint8 too, and must not be the first choice.
        named = [layer for layer in whole if LABEL_NAMES.search(layer.name)]
        return labels + named + [layer for layer in whole if layer not in named]

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
