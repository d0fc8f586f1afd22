"""`maxout` nodes and edges: a node's maps are the voxel-wise maximum over its incoming
maxout edges, instead of their sum (reference §2.2).

The node kind does the work: it takes every incoming map, remembers which edge won each
voxel (ties: the first edge in file order), and in the backward pass sends the gradient to
the winning edge only. Maxout edges are plain connections into such a node.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from znn.layers.base import EdgeKind, EdgeWork, NodeKind

WINNER_DTYPE = np.dtype(np.int64)


class MaxoutEdge(EdgeKind):
    name = "maxout"
    keys = ("type", "input", "output")
    required = ("input", "output")
    target_node_type = "maxout"

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        raise TypeError("maxout edges are combined by their maxout node")

    def backward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        raise TypeError("maxout edges are combined by their maxout node")


class MaxoutNode(NodeKind):
    name = "maxout"
    keys = ("type", "size", "dense")
    ignored_keys = ("function", "function_args")
    combines_edges = True
    edge_type = "maxout"

    def combine_forward(self, sources: Sequence[np.ndarray], a: int, b: int, out: np.ndarray,
                        winner: np.ndarray) -> None:
        """out = max over sources of maps [a, b); winner[a:b] = index of the winning source."""
        stacked = np.stack([s[a:b] for s in sources])
        won = np.argmax(stacked, axis=0)  # ties: the first edge in file order wins
        winner[a:b] = won
        out[...] = np.take_along_axis(stacked, won[None], axis=0)[0]

    def combine_backward(self, grad: np.ndarray, winner: np.ndarray, k: int, a: int, b: int,
                         out: np.ndarray) -> None:
        """out = the gradient of maps [a, b) where source k won, 0 elsewhere."""
        np.copyto(out, np.where(winner[a:b] == k, grad[a:b], 0))
