"""The dock's Segment tab: segment the last prediction at a threshold, score it against a
Labels layer. The maps are kept from the prediction, so moving the threshold re-segments
without running the network again. When boundary maps arrive a few sections are scanned for
the threshold that separates them best (`znn.evaluate.threshold`): the slider moves there and
the segment counts are shown, or the map is called too weak to segment. The numbers come from
`znn.evaluate`; scans and segmentation run in worker threads, layers change on the main thread.
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
from znn.base.modes import OutputKind
from znn.evaluate.threshold import FEW, FLAT_SPREAD, ThresholdAdvice

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


@thread_worker(start_thread=False, ignore_errors=True)
def advice_worker(maps: Any) -> Any:
    """Scan a few sections of boundary maps (channels, z, y, x) for a threshold (only those are read)."""
    from znn.evaluate.threshold import propose_threshold, scanned_sections

    channel = maps.shape[0] - 1  # the boundary channel (znn.evaluate.maps.boundary_channel)
    picked = scanned_sections(maps.shape[1])
    sections = np.stack([np.asarray(maps[channel, z], dtype=np.float32) for z in picked])
    return propose_threshold(sections, sections=len(picked))


def advice_text(advice: ThresholdAdvice) -> str:
    """What the scan found, for the Segment tab."""
    counts = f"Segments per section: {advice.summary()}."
    if advice.weak:
        why = (f"its values vary by pixel noise only (they spread {advice.spread:.3f} once smoothed)"
               if advice.spread < FLAT_SPREAD else
               f"at most {max(c.segments for c in advice.counts):.0f} cell-sized segments per section at any threshold")
        return (f"This map is too weak to segment: {why}. Train longer (or paint more strokes of both kinds) and "
                "predict again.")
    if not advice.stable:
        return (f"Threshold set to {advice.proposed:.2f}, where the map gives the most segments; the map spreads "
                f"only {advice.spread:.2f}, so the segments change a lot with the threshold: train longer for a "
                f"clearer map. {counts}")
    return (f"Threshold set to {advice.proposed:.2f}: the highest before the seeds of cells begin to merge. "
            f"{counts}")


class SegmentPanel(QWidget):
    """Threshold slider, Segment button, ground-truth choice and the scores."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.cached: CachedMaps | None = None
        self.worker: Any = None
        self.advice: ThresholdAdvice | None = None
        self._scan: Any = None  # the running threshold scan
        self._chosen = False  # the threshold was set by the user since the maps came: a scan leaves it
        self._proposing = False
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(1, 99)
        self.threshold.setValue(50)
        self.threshold.setToolTip("Boundary maps: probability below which a pixel seeds a cell. "
                                  "Affinities: waterz merge threshold (higher merges more).")
        self.threshold_label = QLabel()
        self.proposal = QLabel()
        self.proposal.setWordWrap(True)
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
        form.addRow(self.proposal)
        form.addRow("Ground truth", self.truth)
        form.addRow(self.segment_button)
        form.addRow(self.scores)
        self.threshold.valueChanged.connect(self._threshold_changed)
        self.threshold.sliderReleased.connect(self.segment)
        self.segment_button.clicked.connect(self.segment)
        self._show_threshold()
        self._refresh()

    @property
    def threshold_value(self) -> float:
        return self.threshold.value() / 100.0

    def _threshold_changed(self, _value: int) -> None:
        self._chosen = self._chosen or not self._proposing
        self._show_threshold()

    def _show_threshold(self) -> None:
        self.threshold_label.setText(f"{self.threshold_value:.2f}")

    def _refresh(self) -> None:
        self.segment_button.setEnabled(self.cached is not None and self.worker is None)

    def set_maps(self, image: Any, maps: Any, kind: OutputKind) -> None:
        """Keep a prediction's maps for segmentation."""
        self.cached = CachedMaps(image, maps, kind)
        self.advice, self._chosen = None, False
        self.source.setText(f"Segmenting the {kind} maps predicted for '{image.name}'.")
        self.proposal.setText("")
        if kind == "boundary":
            self._propose(self.cached)
        self._refresh()

    def _propose(self, cached: CachedMaps) -> None:
        if self._scan is not None:
            self._scan.quit()
        self.proposal.setText("Looking for the threshold that separates the map best…")
        self._scan = scan = advice_worker(cached.maps)
        scan.returned.connect(lambda advice: self._proposed(cached, advice))
        scan.errored.connect(lambda error: self.proposal.setText(f"No threshold proposed: {error}"))
        scan.finished.connect(lambda: setattr(self, "_scan", None) if self._scan is scan else None)
        scan.start()

    def _proposed(self, cached: CachedMaps, advice: ThresholdAdvice) -> None:
        if cached is not self.cached:
            return  # a newer prediction came in while this one was scanned
        self.advice = advice
        text = advice_text(advice)
        if not advice.weak and self._chosen:
            text = text.replace("Threshold set to", f"You chose {self.threshold_value:.2f}; proposed:")
        elif not advice.weak:
            self._proposing = True
            try:
                self.threshold.setValue(round(advice.proposed * 100))
            finally:
                self._proposing = False
        self.proposal.setText(text)

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
        sections = labels.shape[0] if labels.ndim == 3 and cached.kind == "boundary" else 1
        if self.advice is not None and self.advice.weak:
            text += ": the map is too weak to segment; train longer and predict again"
        elif segments <= FEW * sections:
            text += f" ({segments / sections:.1f} per section): {self._what_to_try()}"
        if scores is not None:
            text += "<br>" + "<br>".join(scores.lines())
        self.scores.setText(text)

    def _what_to_try(self) -> str:
        """Advice when a segmentation came out as a segment or two per section."""
        advice = self.advice
        if advice is None:
            return "the map separates nothing at this threshold; try another"
        if abs(advice.proposed - self.threshold_value) >= 0.01:
            return (f"try {advice.proposed:.2f} ({advice.count_at(advice.proposed):.0f} segments per section in "
                    "the scan)")
        return "the map's membranes have gaps here; train longer or correct it with strokes"
