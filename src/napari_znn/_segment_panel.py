"""The dock's Segment tab: segment the last prediction at a threshold, score it against a
Labels layer. The maps are kept from the prediction, so moving the threshold re-segments
without running the network again. The numbers come from `znn.evaluate`; segmentation runs
in a worker thread and the layer is added on the main thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFormLayout, QLabel, QPushButton, QSlider, QWidget

from napari_znn._layers import LayerChoice
from znn.modes import OutputKind

if TYPE_CHECKING:
    import napari

NO_TRUTH = "(no ground truth)"


@dataclass
class CachedMaps:
    """A prediction kept for segmentation: maps (channels, z, y, x) of the image layer `image`."""

    image: Any
    maps: Any  # numpy or zarr array
    kind: OutputKind


@thread_worker(start_thread=False, ignore_errors=True)
def segment_worker(maps: Any, kind: OutputKind, threshold: float, truth: np.ndarray | None) -> tuple[np.ndarray, Any]:
    from znn.evaluate.maps import segment_maps
    from znn.evaluate.report import ground_truth_segments, score_segmentation

    values = np.asarray(maps[:], dtype=np.float32)
    (_, labels), = segment_maps(values, kind, [threshold], per_section=True)
    scores = None
    if truth is not None:
        segments, _ = ground_truth_segments(truth)
        scores = score_segmentation(labels, segments, per_section=kind == "boundary")
    return labels.astype(np.uint32), scores


class SegmentPanel(QWidget):
    """Threshold slider, Segment button, ground-truth choice and the scores."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.cached: CachedMaps | None = None
        self.worker: Any = None
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(1, 99)
        self.threshold.setValue(50)
        self.threshold.setToolTip("Boundary maps: probability below which a pixel seeds a cell. "
                                  "Affinities: waterz merge threshold (higher merges more).")
        self.threshold_label = QLabel()
        self.truth = LayerChoice(viewer, "labels", extra=[NO_TRUTH])
        self.truth.setToolTip("A Labels layer to score against (label 0 is not scored; an image of 0 and one "
                              "other value is taken as membrane and its regions are the segments)")
        self.segment_button = QPushButton("Segment")
        self.segment_button.setToolTip("Segment the last prediction at this threshold (the network is not re-run)")
        self.source = QLabel("Predict first: the maps of the last prediction are segmented here.")
        self.source.setWordWrap(True)
        self.scores = QLabel()
        self.scores.setWordWrap(True)
        self.scores.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form = QFormLayout(self)
        form.addRow(self.source)
        form.addRow("Threshold", self.threshold)
        form.addRow("", self.threshold_label)
        form.addRow("Ground truth", self.truth)
        form.addRow(self.segment_button)
        form.addRow(self.scores)
        self.threshold.valueChanged.connect(lambda _v: self._show_threshold())
        self.threshold.sliderReleased.connect(self.segment)
        self.segment_button.clicked.connect(self.segment)
        self._show_threshold()
        self._refresh()

    @property
    def threshold_value(self) -> float:
        return self.threshold.value() / 100.0

    def _show_threshold(self) -> None:
        self.threshold_label.setText(f"{self.threshold_value:.2f}")

    def _refresh(self) -> None:
        self.segment_button.setEnabled(self.cached is not None and self.worker is None)

    def set_maps(self, image: Any, maps: Any, kind: OutputKind) -> None:
        """Keep a prediction's maps for segmentation."""
        self.cached = CachedMaps(image, maps, kind)
        self.source.setText(f"Segmenting the {kind} maps predicted for '{image.name}'.")
        self._refresh()

    def segment(self) -> None:
        if self.cached is None or self.worker is not None:
            return
        truth_layer = self.truth.layer()
        truth = np.asarray(truth_layer.data) if truth_layer is not None else None
        cached = self.cached
        self.worker = segment_worker(cached.maps, cached.kind, self.threshold_value, truth)
        self.worker.returned.connect(lambda result: self._show(cached, *result))
        self.worker.errored.connect(lambda error: show_error(f"ZNN segmentation failed: {error}"))
        self.worker.finished.connect(self._done)
        self.scores.setText(f"segmenting at {self.threshold_value:.2f}…")
        self._refresh()
        self.worker.start()

    def _done(self) -> None:
        self.worker = None
        self._refresh()

    def _show(self, cached: CachedMaps, labels: np.ndarray, scores: Any) -> None:
        name = f"ZNN segmentation ({cached.image.name})"
        if name in self.viewer.layers and self.viewer.layers[name].data.shape == labels.shape:
            self.viewer.layers[name].data = labels
        else:
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            self.viewer.add_labels(labels, name=name, scale=cached.image.scale[-3:],
                                   translate=cached.image.translate[-3:], opacity=0.5)
        segments = len(np.unique(labels)) - (1 if (labels == 0).any() else 0)
        text = f"threshold {self.threshold_value:.2f}: {segments} segments"
        if scores is not None:
            text += "<br>" + "<br>".join(scores.lines())
        self.scores.setText(text)
