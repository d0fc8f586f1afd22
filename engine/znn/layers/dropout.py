"""`dropout`: inverted dropout with keep probability `ratio` (reference §2.2, quirk 11).

While training, each voxel is kept with probability `ratio` and scaled by 1/ratio; the
multipliers (0 or 1/ratio) are drawn before the pass, on the calling thread and in file
order, so runs are reproducible whatever the thread count. Testing passes maps through.
"""

from __future__ import annotations

import numpy as np

from znn.layers.base import EdgeGeometry, EdgeGroup, EdgeKind, EdgeWork, SavedState

DEFAULT_KEEP_RATIO = 0.5


def keep_ratio(edge: EdgeGroup) -> float:
    return DEFAULT_KEEP_RATIO if edge.ratio is None else edge.ratio


class Dropout(EdgeKind):
    name = "dropout"
    keys = ("type", "input", "output", "ratio")
    required = ("input", "output")

    def saved_state(self, geo: EdgeGeometry, maps: int, dtype: np.dtype, training: bool) -> SavedState | None:
        return SavedState((maps, *geo.out_size), np.dtype(dtype)) if training else None

    def prepare(self, edge: EdgeGroup, saved: np.ndarray | None, training: bool, rng: np.random.Generator) -> None:
        from znn.kernels import elementwise

        if not training:
            return
        assert saved is not None
        keep = keep_ratio(edge)
        kept = elementwise.draw_dropout_mask(rng, saved.shape, keep)
        np.multiply(kept, saved.dtype.type(1.0 / keep), out=saved)

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        if work.training:
            assert work.saved is not None
            np.multiply(work.src[a:b], work.saved[a:b], out=out)
        else:
            np.copyto(out, work.src[a:b])

    def backward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        assert work.grad is not None
        if work.training:
            assert work.saved is not None
            np.multiply(work.grad[a:b], work.saved[a:b], out=out)
        else:
            np.copyto(out, work.grad[a:b])
