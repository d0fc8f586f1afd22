"""Sample data: a synthetic anisotropic EM stack with its ground-truth segmentation, and a few
painted strokes (membrane and cell) on three of its sections, to try training from strokes."""

from __future__ import annotations

from typing import Any

from znn.data import make_em_volume

LayerDataTuple = tuple[Any, dict[str, Any], str]


STROKE_SECTIONS = 3


def synthetic_em() -> list[LayerDataTuple]:
    """The raw image, the cell labels (0 = membrane) and strokes painted on three sections
    (1 = membrane, 2 = cell, 0 = unlabelled), scaled so that sections look as thick as they are."""
    from znn.data.strokes import paint_strokes

    volume = make_em_volume(seed=0, misaligned_sections=0, missing_sections=0)
    scale = (volume.params["anisotropy"], 1.0, 1.0)
    depth = volume.labels.shape[0]
    sections = [round((k + 0.5) * depth / STROKE_SECTIONS) for k in range(STROKE_SECTIONS)]
    strokes = paint_strokes(volume.labels, sections, strokes_per_section=24, length=24, width=3, rng=0)
    return [
        (volume.raw, {"name": "synthetic EM", "scale": scale}, "image"),
        (volume.labels, {"name": "synthetic labels", "scale": scale, "opacity": 0.4}, "labels"),
        (strokes, {"name": "synthetic strokes", "scale": scale, "opacity": 0.9, "visible": False}, "labels"),
    ]
