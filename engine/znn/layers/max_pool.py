"""`max_pool`: non-overlapping max pooling, a real subsampling (so the net is not dense).

The source must be `size` times the target on every axis (reference §1.6); winners are
recorded as in max_filter, and gradients go back to them.
"""

from __future__ import annotations

import numpy as np

from znn.layers.base import EdgeGeometry, EdgeGroup, EdgeKind, EdgeWork, SavedState, Triple, WorkTerms
from znn.layers.max_filter import INDEX_DTYPE, route_to_winners


def _mul(a: Triple, b: Triple) -> Triple:
    return (a[0] * b[0], a[1] * b[1], a[2] * b[2])


class MaxPool(EdgeKind):
    name = "max_pool"
    keys = ("type", "input", "output", "size")
    required = ("input", "output", "size")
    ignored_keys = ("stride",)
    windowed = True
    dense = False

    def source_extent(self, edge: EdgeGroup, fov: Triple, size: Triple, sparsity: Triple) -> tuple[Triple, Triple]:
        k = self.kernel(edge)
        return _mul(fov, k), _mul(size, k)

    def saved_state(self, geo: EdgeGeometry, maps: int, dtype: np.dtype, training: bool) -> SavedState:
        return SavedState((maps, *geo.out_size), INDEX_DTYPE)

    def work(self, geo: EdgeGeometry, n_in: int, n_out: int) -> WorkTerms:
        return WorkTerms(elementwise_ops=n_out * int(np.prod(geo.out_size)) * int(np.prod(geo.kernel)), calls=n_out)

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        from znn.kernels import pooling

        assert work.saved is not None
        size = np.array(work.geo.kernel, dtype=np.int64)
        for m in range(a, b):
            pooling.max_pool_forward(work.src[m], size, out[m - a], work.saved[m])

    def backward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        route_to_winners(work, a, b, out)
