"""Sample data: a synthetic anisotropic EM stack with its ground-truth segmentation."""

from __future__ import annotations

from typing import Any

from znn.data import make_em_volume

LayerDataTuple = tuple[Any, dict[str, Any], str]


def synthetic_em() -> list[LayerDataTuple]:
    """The raw image and the cell labels, scaled so that sections look as thick as they are."""
    volume = make_em_volume(seed=0, misaligned_sections=0, missing_sections=0)
    scale = (volume.params["anisotropy"], 1.0, 1.0)
    return [
        (volume.raw, {"name": "synthetic EM", "scale": scale}, "image"),
        (volume.labels, {"name": "synthetic labels", "scale": scale, "opacity": 0.4}, "labels"),
    ]
