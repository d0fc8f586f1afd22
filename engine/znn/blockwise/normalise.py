"""Input normalisation for blocks: the statistics of whole sections (or the whole volume),
computed once over the volume, applied to every block.

A block sees only part of a section, so it cannot compute `standard2D`'s per-section mean
and std itself. The statistics are gathered section by section (as tasks on the cluster)
with the very numpy calls of `znn.data.preprocess`, so a block is normalised exactly as the
whole volume would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from znn.data.preprocess import canonical_pp_type


@dataclass(frozen=True)
class SectionStats:
    """Per-section float64 statistics of sections z0 … z0 + len − 1."""

    z0: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    total: tuple[float, ...]  # sum of the section's values
    squares: tuple[float, ...]  # sum of squared differences from `centre` (0 when not given)
    nonfinite: tuple[int, ...] = ()  # NaN or infinite voxels of each section


def section_stats(volume: np.ndarray, z0: int, centre: float | None = None) -> SectionStats:
    """Statistics of each section of `volume` (z, y, x), the first being section `z0`; also
    counts each section's NaN and infinite voxels (an input to refuse, see `first_nonfinite_section`)."""
    means, stds, lows, highs, totals, squares, nonfinite = [], [], [], [], [], [], []
    for section in np.asarray(volume):
        values = section.astype(np.float64)
        nonfinite.append(int(values.size - np.count_nonzero(np.isfinite(values))) if section.dtype.kind in "fc"
                         else 0)
        means.append(float(values.mean()))
        stds.append(float(values.std()))
        lows.append(float(values.min()))
        highs.append(float(values.max()))
        totals.append(float(values.sum()))
        if centre is not None:
            diff = values - centre
            squares.append(float(np.sum(diff * diff)))
        else:
            squares.append(0.0)
    return SectionStats(z0, tuple(means), tuple(stds), tuple(lows), tuple(highs), tuple(totals), tuple(squares),
                        tuple(nonfinite))


def first_nonfinite_section(parts: list[SectionStats]) -> tuple[int, int] | None:
    """(section, count) of the first section holding NaN or infinite voxels, else None."""
    for part in sorted(parts, key=lambda p: p.z0):
        for k, count in enumerate(part.nonfinite):
            if count:
                return part.z0 + k, count
    return None


@dataclass(frozen=True)
class Normalisation:
    """How to turn raw voxels of section z into network input (`pp_type` as in a .spec)."""

    pp_type: str
    mean: tuple[float, ...] = ()  # per section (standard2D) or one value (standard3D)
    std: tuple[float, ...] = ()  # 0 marks a constant section/volume: it becomes zeros
    low: float = 0.0  # symetric_rescale
    span: float = 0.0

    def apply(self, block: np.ndarray, sections: np.ndarray, dtype: str = "float32") -> np.ndarray:
        """`block` (z, y, x) whose z-th plane is original section `sections[z]`, normalised."""
        out = np.empty(block.shape, dtype=dtype)
        for k, z in enumerate(sections):
            values = block[k].astype(np.float64)
            if self.pp_type == "none":
                out[k] = block[k]
            elif self.pp_type == "symetric_rescale":
                out[k] = 2.0 * (values - self.low) / self.span - 1.0 if self.span > 0 else 0.0
            else:
                i = int(z) if self.pp_type == "standard2D" else 0
                mean, std = self.mean[i], self.std[i]
                out[k] = (values - mean) / std if std > 0 and np.isfinite(std) else 0.0
        return out


def normalisation_from(pp_type: str, parts: list[SectionStats], voxels_per_section: int,
                       squares: list[SectionStats] | None = None) -> Normalisation:
    """Combine per-section statistics (in any order) into the volume's normalisation.

    standard3D needs a second pass, `squares`, computed with `centre` = the global mean
    (`global_mean`), because its std is taken around the mean of the whole volume.
    """
    kind = canonical_pp_type(pp_type)
    parts = sorted(parts, key=lambda p: p.z0)
    lows = [v for p in parts for v in p.low]
    highs = [v for p in parts for v in p.high]
    if kind == "none":
        return Normalisation(kind)
    if kind == "symetric_rescale":
        return Normalisation(kind, low=min(lows), span=max(highs) - min(lows))
    if kind == "standard2D":
        mean = tuple(v for p in parts for v in p.mean)
        std = tuple(0.0 if lo == hi else s
                    for lo, hi, s in zip(lows, highs, (v for p in parts for v in p.std)))
        return Normalisation(kind, mean=mean, std=std)
    overall = global_mean(parts, voxels_per_section)
    if min(lows) == max(highs) or squares is None:
        return Normalisation(kind, mean=(overall,), std=(0.0,))
    total = sum(v for p in squares for v in p.squares)
    count = voxels_per_section * len(lows)
    return Normalisation(kind, mean=(overall,), std=(float(np.sqrt(total / count)),))


def global_mean(parts: list[SectionStats], voxels_per_section: int) -> float:
    sections = sum(len(p.total) for p in parts)
    return float(sum(v for p in parts for v in p.total) / (voxels_per_section * sections))


def needs_second_pass(pp_type: str) -> bool:
    return canonical_pp_type(pp_type) == "standard3D"
