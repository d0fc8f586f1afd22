"""`max_filter`: dense sliding-window max (ZNN's replacement for pooling in dense output).

The window's taps sit `sparsity` apart; its `stride` does not subsample but multiplies the
sparsity of every later layer, which dilates their kernels (reference §1.5). The forward
pass records the flat index of each winner; the backward pass routes gradients there.
"""

from __future__ import annotations

import numpy as np

from znn.layers.base import ONE, EdgeGeometry, EdgeGroup, EdgeKind, EdgeWork, SavedState, Triple, WorkTerms

INDEX_DTYPE = np.dtype(np.int64)  # arg-max positions are flat offsets into the source map


def route_to_winners(work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
    """out[m] = gradient of source map m: each output gradient added at its winner (pooling)."""
    from znn.kernels import pooling

    assert work.grad is not None and work.saved is not None
    out.fill(0)
    for m in range(a, b):
        pooling.max_filter_backward_add(work.grad[m], work.saved[m], out[m - a])


class MaxFilter(EdgeKind):
    name = "max_filter"
    keys = ("type", "input", "output", "size", "stride")
    required = ("input", "output", "size", "stride")
    windowed = True
    strided = True

    def stride(self, edge: EdgeGroup) -> Triple:
        return edge.stride or ONE

    def saved_state(self, geo: EdgeGeometry, maps: int, dtype: np.dtype, training: bool) -> SavedState:
        return SavedState((maps, *geo.out_size), INDEX_DTYPE)

    def work(self, geo: EdgeGeometry, n_in: int, n_out: int) -> WorkTerms:
        # One comparison per tap and output voxel, one kernel call per map.
        return WorkTerms(elementwise_ops=n_out * int(np.prod(geo.out_size)) * int(np.prod(geo.kernel)), calls=n_out)

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        from znn.kernels import pooling

        assert work.saved is not None
        size = np.array(work.geo.kernel, dtype=np.int64)
        dilation = np.array(work.geo.dilation, dtype=np.int64)
        for m in range(a, b):
            pooling.max_filter_forward(work.src[m], size, dilation, out[m - a], work.saved[m])

    def backward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        route_to_winners(work, a, b, out)
