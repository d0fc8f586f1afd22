"""ZNN's SGD update rule for kernels and biases (reference §3.3).

G is the gradient summed over all voxels of the patch; every gradient is divided by
`patch_voxels` = z*y*x of one output map. Weight decay also acts on biases. For kernels
with momentum 0 the momentum buffer is left as it is (ZNN keeps what it loaded); biases
always go through the momentum form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Hyper:
    """Learning rate, momentum and weight decay of one layer group."""

    eta: float
    momentum: float
    weight_decay: float


def update_kernel(weights: np.ndarray, velocity: np.ndarray, grad: np.ndarray, hyper: Hyper,
                  patch_voxels: int) -> None:
    """Apply one update to a kernel array and its momentum buffer, in place."""
    eta, mu, lam = hyper.eta, hyper.momentum, hyper.weight_decay
    step = eta / patch_voxels
    if mu == 0:
        weights *= 1.0 - eta * lam
        weights -= step * grad
        return
    velocity *= mu
    velocity -= step * grad
    velocity -= (eta * lam) * weights
    weights += velocity


def update_bias(bias: np.ndarray, velocity: np.ndarray, grad: np.ndarray, hyper: Hyper,
                patch_voxels: int) -> None:
    """Apply one update to a bias vector and its momentum buffer, in place."""
    velocity *= hyper.momentum
    velocity -= (hyper.eta * hyper.weight_decay) * bias
    velocity -= (hyper.eta / patch_voxels) * grad
    bias += velocity
