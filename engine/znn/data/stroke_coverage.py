"""Whether painted strokes can teach a network with a given training patch.

Training from strokes centres each output patch on a painted voxel (`znn.data.sampling`) and
learns from the painted voxels inside it. A patch that holds strokes of one kind only (all
membrane, or all cell) teaches the network to answer that kind everywhere; when most patches
are like that, training ends in a constant map. `stroke_coverage` draws patch centres as
training does and counts the patches that hold both kinds, so that a run which would learn
nothing is refused before it starts, with a patch size that works.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from znn.data.sampling import centre_region

ENOUGH_BOTH = 0.25  # below this share of patches holding both kinds, training learns (close to) nothing
SAMPLES = 400  # patch centres drawn; the share is known to about +-0.05


@dataclass(frozen=True)
class StrokeCoverage:
    """How the strokes fill training patches of `outsz`."""

    outsz: tuple[int, int, int]
    centres: int  # painted voxels a patch can be centred on
    both: float  # share of drawn patches holding membrane and cell strokes

    @property
    def enough(self) -> bool:
        return self.centres > 0 and self.both >= ENOUGH_BOTH


def stroke_coverage(strokes: np.ndarray, membrane: int, cell: int, outsz: tuple[int, int, int], *,
                    samples: int = SAMPLES, seed: int = 0) -> StrokeCoverage:
    """Draw `samples` patch centres among the painted voxels (as boundary training does) and count
    the patches of `outsz` (z, y, x) that hold both stroke values."""
    strokes = np.asarray(strokes)
    if strokes.ndim == 2:
        strokes = strokes[np.newaxis]
    region = centre_region(strokes.shape, outsz, "boundary")
    offset = np.array([s.start for s in region])
    centres = np.argwhere(strokes[region] > 0) + offset
    if len(centres) == 0:
        return StrokeCoverage(tuple(outsz), 0, 0.0)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    picked = centres[rng.integers(0, len(centres), size=min(samples, len(centres) * 4))]
    half = np.asarray(outsz) // 2
    both = 0
    for centre in picked:
        lo = np.maximum(centre - half, 0)
        hi = lo + np.asarray(outsz)
        window = strokes[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        both += bool((window == membrane).any() and (window == cell).any())
    return StrokeCoverage(tuple(outsz), len(centres), both / len(picked))  # type: ignore[arg-type]


def smallest_patch_with_both(strokes: np.ndarray, membrane: int, cell: int, outsz: tuple[int, int, int],
                             sides: Sequence[int] = (64, 96, 128, 192, 256, 384, 512)
                             ) -> StrokeCoverage | None:
    """The smallest square patch (same depth as `outsz`, larger in y and x, within the stack) whose
    patches mostly hold both kinds; None when none does."""
    shape = np.shape(strokes)[-2:]
    for side in sides:
        if side <= max(outsz[1], outsz[2]) or side > min(shape):
            continue
        found = stroke_coverage(strokes, membrane, cell, (outsz[0], side, side))
        if found.enough:
            return found
    return None
