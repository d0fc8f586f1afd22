"""The weight update rules for kernels and biases: ZNN's SGD (reference §3.3) and Adam.

SGD (ZNN's rule). G is the gradient summed over all voxels of the patch; every gradient is
divided by `patch_voxels` = z*y*x of one output map. Weight decay also acts on biases. For
kernels with momentum 0 the momentum buffer is left as it is (ZNN keeps what it loaded);
biases always go through the momentum form.

Adam (a napari-znn extension, `optimizer = adam`; Kingma & Ba 2015, with AdamW's decoupled
weight decay). The momentum buffer holds the first moment (beta1 = the momentum), a second
buffer of the same shape the second moment. The step is eta * m̂ / (sqrt(v̂) + eps): its size
does not depend on the gradient's scale, so a patch with a few dozen painted voxels moves the
weights as far as a densely labelled one, and rare large gradients do not throw them away.
The division by `patch_voxels` is left out (it would only rescale the gradient).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ADAM_BETA2 = 0.999
ADAM_EPSILON = 1e-8


@dataclass(frozen=True)
class AdamStep:
    """What Adam needs besides a layer's eta: the step number (from 1) gives the bias corrections."""

    step: int
    beta1: float
    beta2: float = ADAM_BETA2
    epsilon: float = ADAM_EPSILON

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError(f"Adam steps count from 1, not {self.step}")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError(f"Adam's betas must lie in [0, 1), not {self.beta1}, {self.beta2}")

    @property
    def first_correction(self) -> float:
        return 1.0 - self.beta1 ** self.step

    @property
    def second_correction(self) -> float:
        return 1.0 - self.beta2 ** self.step


@dataclass(frozen=True)
class Hyper:
    """Learning rate, momentum and weight decay of one layer group; `adam` set: Adam's step."""

    eta: float
    momentum: float
    weight_decay: float
    adam: AdamStep | None = None


def _adam(weights: np.ndarray, first: np.ndarray, second: np.ndarray, grad: np.ndarray, hyper: Hyper) -> None:
    adam = hyper.adam
    assert adam is not None
    first *= adam.beta1
    first += (1.0 - adam.beta1) * grad
    second *= adam.beta2
    second += (1.0 - adam.beta2) * np.square(grad)
    if hyper.weight_decay:
        weights *= 1.0 - hyper.eta * hyper.weight_decay
    # eta * m̂ / (sqrt(v̂) + eps), with the corrections folded into two scalars
    step = hyper.eta * math.sqrt(adam.second_correction) / adam.first_correction
    denominator = np.sqrt(second)
    denominator += adam.epsilon * math.sqrt(adam.second_correction)
    weights -= step * first / denominator


def update_kernel(weights: np.ndarray, velocity: np.ndarray, grad: np.ndarray, hyper: Hyper,
                  patch_voxels: int, second: np.ndarray | None = None) -> None:
    """Apply one update to a kernel array and its momentum buffer (and, for Adam, its second
    moment `second`), in place."""
    if hyper.adam is not None:
        if second is None:
            raise ValueError("Adam needs the second-moment buffer of the kernel")
        _adam(weights, velocity, second, grad, hyper)
        return
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
                patch_voxels: int, second: np.ndarray | None = None) -> None:
    """Apply one update to a bias vector and its momentum buffer (Adam: and `second`), in place."""
    if hyper.adam is not None:
        if second is None:
            raise ValueError("Adam needs the second-moment buffer of the bias")
        _adam(bias, velocity, second, grad, hyper)
        return
    velocity *= hyper.momentum
    velocity -= (hyper.eta * hyper.weight_decay) * bias
    velocity -= (hyper.eta / patch_voxels) * grad
    bias += velocity
