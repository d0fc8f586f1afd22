"""`transfer` nodes: the sum of the incoming edges plus a bias per map, through a transfer
function f (`linear`, `rectify_linear`, `tanh`, `soft_sign`, `logistics`,
`forward_logistics`; reference §2.3). The backward pass multiplies by f' written in terms
of the output, as ZNN does, and the bias gradient is the sum of that over the voxels.
"""

from __future__ import annotations

import numpy as np

from znn.layers.base import NodeGroup, NodeKind, WorkTerms


class Transfer(NodeKind):
    name = "transfer"
    keys = ("type", "size", "dense", "function", "function_args", "init", "init_args", "eta", "momentum",
            "weight_decay")
    required = ("size", "function")
    has_bias = True

    def finish_forward(self, node: NodeGroup, maps: np.ndarray, bias: np.ndarray | None) -> None:
        from znn.kernels import elementwise

        assert bias is not None and node.function is not None
        elementwise.transfer_maps_forward(node.function, maps, bias, node.effective_function_args)

    def finish_backward(self, node: NodeGroup, grad: np.ndarray, maps: np.ndarray) -> np.ndarray:
        from znn.kernels import elementwise

        assert node.function is not None
        return elementwise.transfer_maps_backward(node.function, grad, maps, node.effective_function_args)

    def work(self, voxels: int) -> WorkTerms:
        return WorkTerms(elementwise_ops=voxels, calls=1)  # bias plus transfer function
