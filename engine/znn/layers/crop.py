"""`crop`: the source without `offset` voxels on both sides of each axis (reference §1.6)."""

from __future__ import annotations

import numpy as np

from znn.layers.base import EdgeGroup, EdgeKind, EdgeWork, Triple


def crop_offset(edge: EdgeGroup) -> Triple:
    return edge.offset or (0, 0, 0)


def _window(edge: EdgeGroup, shape: tuple[int, ...]) -> tuple[slice, slice, slice]:
    oz, oy, ox = crop_offset(edge)
    z, y, x = shape[-3:]
    return slice(oz, z - oz), slice(oy, y - oy), slice(ox, x - ox)


class Crop(EdgeKind):
    name = "crop"
    keys = ("type", "input", "output", "offset")
    required = ("input", "output", "offset")

    def source_extent(self, edge: EdgeGroup, fov: Triple, size: Triple, sparsity: Triple) -> tuple[Triple, Triple]:
        o = crop_offset(edge)
        return fov, (size[0] + 2 * o[0], size[1] + 2 * o[1], size[2] + 2 * o[2])

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        out[...] = work.src[(slice(a, b), *_window(work.edge, work.src.shape))]

    def backward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        assert work.grad is not None
        out.fill(0)
        out[(slice(None), *_window(work.edge, out.shape))] = work.grad[a:b]
