"""The cases of `znn bench strokes`: real ssTEM stacks with dense labels, strokes painted on a few
sections by code, and the sections left unpainted to score on.

* `isbi`: ISBI 2012's 20 labelled sections of 512x512 (0 = membrane, 255 = cell); strokes on
  sections 3, 10 and 16; the network starts from scratch.
* `vnc`: the other Drosophila ssTEM stack (Gerhard et al. 2013, drosophila-vnc `stack1`: 14 sections
  of 1024x1024; label values <= 128 are membrane, the rest cell); strokes on sections 2, 7 and 11;
  the network starts from a net trained on ISBI 2012 alone (transfer: no label of this stack was
  ever seen).

Strokes are `paint_strokes`' short lines along membranes and inside cells, 12 per section (half of
each kind), 20 pixels long and 2 wide: about 0.03 % of the stack's voxels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from znn.base.errors import ZnnError
from znn.data.strokes import paint_strokes

STROKES_PER_SECTION, STROKE_LENGTH, STROKE_WIDTH = 12, 20, 2
MEMBRANE, CELL = 1, 2  # painted values


@dataclass(frozen=True)
class StrokesCase:
    """One stack with its dense truth, the strokes painted on it and where it is scored."""

    name: str
    title: str
    image: np.ndarray  # (z, y, x) raw intensities
    labels: np.ndarray  # (z, y, x) 0 = membrane, 255 = cell
    painted_sections: tuple[int, ...]
    strokes: np.ndarray  # (z, y, x) 0 unlabelled, MEMBRANE, CELL
    start: Path | None = None  # a trained network the run starts from (transfer)

    @property
    def scored_sections(self) -> list[int]:
        return [z for z in range(self.image.shape[0]) if z not in self.painted_sections]

    @property
    def painted_share(self) -> float:
        return float(np.count_nonzero(self.strokes)) / self.strokes.size


def _read(path: Path) -> np.ndarray:
    import tifffile

    if not path.is_file():
        raise ZnnError(f"{path}: not found; znn bench strokes needs the EM stacks (--data names the folder that "
                       "holds isbi2012/ and drosophila-vnc/)")
    return np.asarray(tifffile.imread(path))


def _case(name: str, title: str, image: np.ndarray, labels: np.ndarray, sections: tuple[int, ...], seed: int,
          start: Path | None) -> StrokesCase:
    strokes = paint_strokes(labels, sections, membrane=MEMBRANE, cell=CELL, strokes_per_section=STROKES_PER_SECTION,
                            length=STROKE_LENGTH, width=STROKE_WIDTH, rng=seed)
    return StrokesCase(name, title, image, labels, sections, strokes, start)


def isbi_case(data: Path, seed: int = 0) -> StrokesCase:
    image = _read(data / "isbi2012" / "train-volume.tif")
    labels = np.where(_read(data / "isbi2012" / "train-labels.tif") == 0, 0, 255).astype(np.uint8)
    return _case("isbi", "ISBI 2012, from scratch", image, labels, (3, 10, 16), seed, None)


def vnc_case(data: Path, start: Path, seed: int = 0) -> StrokesCase:
    image = _read(data / "drosophila-vnc" / "stack1-raw.tif")
    labels = np.where(_read(data / "drosophila-vnc" / "stack1-labels.tif") <= 128, 0, 255).astype(np.uint8)
    return _case("vnc", f"drosophila-vnc stack1, from {start.stem} (trained on ISBI 2012 only)", image, labels,
                 (2, 7, 11), seed, start)
