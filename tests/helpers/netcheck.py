"""Helpers for whole-network tests: random inputs, a linear probe loss, finite differences."""

from __future__ import annotations

import numpy as np

from znn.netspec.znnfile import parse_znn
from znn.network import Network


def build(text: str, outsz, *, dtype="float64", conv_mode="direct", seed=0, **kw) -> Network:
    net = Network(parse_znn(text), outsz, dtype=dtype, conv_mode=conv_mode, seed=seed, **kw)
    # Random, non-degenerate parameters (zero-initialised biases would hide bias bugs).
    rng = np.random.default_rng(seed + 100)
    for arrays in (net.params.kernels, net.params.biases):
        for a in arrays.values():
            a[...] = rng.uniform(-0.5, 0.5, size=a.shape)
    net.invalidate_kernel_spectra()
    return net


def random_inputs(net: Network, seed=1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1, 1, size=s).astype(net.dtype) for n, s in net.graph.input_sizes.items()}


def probe_weights(net: Network, seed=2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-1, 1, size=s).astype(net.dtype) for n, s in net.graph.output_sizes.items()}


def probe_loss(net: Network, inputs, weights, rng_seed=None) -> float:
    """E = sum over outputs of weights * output (dE/d output = weights)."""
    if rng_seed is not None:
        net.rng = np.random.default_rng(rng_seed)  # the same dropout masks every evaluation
    out = net.forward(inputs)
    return float(sum(np.sum(weights[n] * out[n]) for n in out))


def check_parameter_gradients(net: Network, inputs, *, samples=5, eps=1e-6, rng_seed=None) -> float:
    """Largest relative error between backward() gradients and central differences."""
    weights = probe_weights(net)
    probe_loss(net, inputs, weights, rng_seed)
    net.backward(weights)
    analytic = parameter_gradients(net)
    return finite_difference_error(net, analytic, lambda: probe_loss(net, inputs, weights, rng_seed),
                                   samples=samples, eps=eps)


def parameter_gradients(net: Network) -> dict[tuple[str, str], np.ndarray]:
    """Copies of the gradients the last backward() left, keyed ("k", kernel) and ("b", bias)."""
    analytic = {("k", n): g.copy() for n, g in net.kernel_grads.items()}
    analytic.update({("b", n): g.copy() for n, g in net.bias_grads.items()})
    assert analytic, "the network has no parameters to check"
    return analytic


def finite_difference_error(net: Network, analytic, loss, *, samples=5, eps=1e-6) -> float:
    """Largest relative error between `analytic` gradients (see `parameter_gradients`) and central
    differences of `loss()`, at up to `samples` entries of each parameter array."""
    pick = np.random.default_rng(3)
    worst = 0.0
    for (kind, name), grad in analytic.items():
        array = (net.params.kernels if kind == "k" else net.params.biases)[name]
        for flat in pick.choice(array.size, size=min(samples, array.size), replace=False):
            index = np.unravel_index(flat, array.shape)
            saved = array[index]
            array[index] = saved + eps
            net.invalidate_kernel_spectra()
            plus = loss()
            array[index] = saved - eps
            net.invalidate_kernel_spectra()
            minus = loss()
            array[index] = saved
            net.invalidate_kernel_spectra()
            numeric = (plus - minus) / (2 * eps)
            scale = max(abs(numeric), abs(grad[index]), 1e-3)
            worst = max(worst, abs(numeric - grad[index]) / scale)
    return worst
