"""A threshold to segment a boundary map at, chosen without ground truth.

`segment_boundary` seeds a cell at every region of the map below the threshold. Too low a
threshold keeps only the most confident cell interiors (cells without one are lost, or split
by noise); too high a one runs through the gaps of weak membranes and merges cells, down to one
segment per section for a map that never rises far above its background. Between the two the
number of seeds of a cell's size stays level: each cell holds one seed, which grows with the
threshold. `propose_threshold` scans thresholds on a few sections and proposes the highest one
on that plateau (largest seeds, before they merge). Measured on N4 maps of ISBI 2012 and
drosophila-vnc sections, as predicted and made thicker, thinner, noisier, blurred or squeezed
towards 0.5 (14 maps), it scores within 0.025 V_rand of the best threshold in each (0.5 alone:
up to 0.16 below). A map whose counts have no plateau (its values barely spread) is segmented at
the count's peak and called unstable; one with a segment or two per section at every threshold,
or only noise, is weak: no threshold segments it, the network has not learnt the membranes yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

SCAN = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 .. 0.95
NARROW_SPREAD = 0.2  # 5th to 95th percentile of the map narrower than this: it barely separates anything
FLAT_SPREAD = 0.03  # narrower than this once smoothed: the map holds noise, no membranes
SMOOTH = 2.0  # pixels (Gaussian sigma) of smoothing before the spread is measured: noise is not contrast
PLATEAU = 2  # steps each side over which the count must hold (0.1 of probability)
FEW = 2.0  # segments per section at most: the map holds no cells (yet)
LEVEL = 0.9  # the lowest count of a window over its highest: level enough
SECTIONS = 4  # sections scanned (evenly spread): a few are enough and keep it within a second


@dataclass(frozen=True)
class ThresholdCount:
    threshold: float
    segments: float  # seeds of at least min_size voxels, per section scanned


@dataclass(frozen=True)
class ThresholdAdvice:
    """What a scan of a boundary map found: the proposed threshold and the counts behind it."""

    proposed: float
    counts: tuple[ThresholdCount, ...]
    spread: float  # 95th minus 5th percentile of the map's values, smoothed over SMOOTH pixels
    min_size: int
    stable: bool  # the counts hold level around the proposal (else it is their peak)

    @property
    def weak(self) -> bool:
        """Nothing to segment yet: a segment or two per section at every threshold, or values that vary
        by pixel noise only."""
        return max(c.segments for c in self.counts) <= FEW or self.spread < FLAT_SPREAD

    @property
    def narrow(self) -> bool:
        """The map's values barely spread: small changes of the threshold change the segments a lot."""
        return self.spread < NARROW_SPREAD

    def count_at(self, threshold: float) -> float:
        """Segments per section at the scanned threshold nearest `threshold`."""
        return min(self.counts, key=lambda c: abs(c.threshold - threshold)).segments

    def summary(self, every: int = 2) -> str:
        """The counts in a line (every `every`-th threshold scanned), the proposal marked."""
        shown = [c for k, c in enumerate(self.counts) if k % every == every - 1 or c.threshold == self.proposed]
        return " · ".join(f"{'▶' if c.threshold == self.proposed else ''}{c.threshold:.2f}: {c.segments:.0f}"
                          for c in shown)


def _seed_count(section: np.ndarray, threshold: float, min_size: int) -> int:
    """Face-connected regions below `threshold` of at least `min_size` voxels (segment_boundary's seeds)."""
    seeds, count = ndimage.label(section < threshold)
    if count == 0:
        return 0
    sizes = np.bincount(seeds.ravel(), minlength=count + 1)[1:]
    return int(np.count_nonzero(sizes >= min_size))


def default_min_size(section_shape: tuple[int, ...]) -> int:
    """The smallest seed counted as a cell: 1/5000 of a section (52 pixels of 512x512), at least 4."""
    return max(4, int(np.prod(section_shape)) // 5000)


def scanned_sections(depth: int, sections: int = SECTIONS) -> list[int]:
    """Up to `sections` sections of a `depth`-section map, evenly spread."""
    return sorted({int(round(z)) for z in np.linspace(0, depth - 1, min(sections, depth))})


def propose_threshold(boundary: np.ndarray, *, thresholds: tuple[float, ...] = SCAN, sections: int = SECTIONS,
                      min_size: int | None = None) -> ThresholdAdvice:
    """Scan `thresholds` on up to `sections` evenly spread sections of `boundary` ((z,) y, x, membrane
    probability) and propose the one with the most seeds of at least `min_size` voxels (ties: the one
    nearest 0.5)."""
    shape = tuple(np.shape(boundary))
    if len(shape) not in (2, 3) or 0 in shape:
        raise ValueError(f"expected a (z, y, x) or (y, x) boundary map, got shape {shape}")
    if not thresholds:
        raise ValueError("at least one threshold is needed")
    if len(shape) == 2:
        scanned = np.asarray(boundary, dtype=np.float32)[np.newaxis]
    else:  # only the scanned sections are read (the map may be a zarr array on disk)
        scanned = np.stack([np.asarray(boundary[z], dtype=np.float32) for z in scanned_sections(shape[0], sections)])
    if not np.isfinite(scanned).all():
        raise ValueError("the boundary map holds NaN or infinite values")
    size = default_min_size(shape[-2:]) if min_size is None else min_size
    counts = tuple(ThresholdCount(float(t), float(np.mean([_seed_count(s, float(t), size) for s in scanned])))
                   for t in sorted(thresholds))
    proposed, stable = _plateau_top(counts)
    low, high = np.percentile(ndimage.gaussian_filter(scanned, (0, SMOOTH, SMOOTH)), [5, 95])
    return ThresholdAdvice(proposed, counts, float(high - low), size, stable)


def _plateau_top(counts: tuple[ThresholdCount, ...]) -> tuple[float, bool]:
    """The highest threshold whose count holds level (within LEVEL) for PLATEAU steps each side, on
    the plateau with the most seeds, and True; with no plateau, the peak count's threshold (ties:
    nearest 0.5) and False."""
    values = np.array([c.segments for c in counts])
    flat = np.zeros(len(values))  # the count where the whole window each side holds level, else 0
    for k in range(PLATEAU, len(values) - PLATEAU):
        window = values[k - PLATEAU:k + PLATEAU + 1]
        if window.min() >= LEVEL * window.max() and values[k] > FEW:
            flat[k] = values[k]
    if flat.max() > 0:
        return counts[int(np.flatnonzero(flat >= LEVEL * flat.max()).max())].threshold, True
    peak = max(counts, key=lambda c: (c.segments, -abs(c.threshold - 0.5)))
    return peak.threshold, False
