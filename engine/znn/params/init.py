"""Initial values of kernels and biases, as ZNN's initialisers draw them (reference §2.4).

Every function takes a `numpy.random.Generator`, so a run is reproducible from its seed.
An edge group draws all n_in·n_out·s0·s1·s2 values in one call, in the order of ZNN's
binary layout (§7.3); the stream is then arranged into the engine's kernel orientation,
so kernel [i, j] holds what ZNN's loader would produce from the same stream.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

from znn.base.errors import NetworkSpecError
from znn.netspec.spec import EdgeGroup, NetSpec, NodeGroup
from znn.netspec.vocabulary import (
    FAN_INITIALISERS,
    INITIALISERS,
    Triple,
    init_args_problem,
    resolve_init_args,
)
from znn.params.net_params import NetParams, kernels_from_znn_order


def init_arguments(init: str, given: tuple[float, ...] | None) -> tuple[float, ...]:
    """`init_args` with ZNN's defaults; a single uniform value r means the range [-r, r)."""
    return resolve_init_args(init, given)


def draw_values(init: str, args: tuple[float, ...], count: int, rng: np.random.Generator, *,
                fan_in: int | None = None, fan_out: int | None = None) -> np.ndarray:
    """`count` values (float64) of initialiser `init` with resolved arguments `args`."""
    if init == "zero":
        return np.zeros(count)
    if init == "constant":
        return np.full(count, float(args[0]))
    if init == "uniform":
        return rng.uniform(args[0], args[1], size=count)
    if init == "gaussian":
        return rng.normal(args[0], args[1], size=count)
    if init == "bernoulli":
        return (rng.random(size=count) < args[0]).astype(np.float64)
    if init in FAN_INITIALISERS:
        if fan_in is None or fan_out is None:
            raise ValueError(f"initialiser '{init}' needs fan_in and fan_out")
        if init == "xavier":
            bound = math.sqrt(6.0) / math.sqrt(fan_in + fan_out)
            return rng.uniform(-bound, bound, size=count)
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=count)
    raise ValueError(f"unknown initialiser '{init}'")


def _checked_arguments(group: NodeGroup | EdgeGroup) -> tuple[float, ...]:
    """Resolved `init_args` of a group; specs built in code skip the parser, so check again."""
    assert group.init is not None
    args = init_arguments(group.init, group.init_args)
    problem = init_args_problem(group.init, args)
    if problem is not None:
        found = ",".join(repr(v) for v in group.init_args or ())
        raise NetworkSpecError(problem, line=group.line_of("init_args"), group=group.name,
                               key="init_args", expected=INITIALISERS[group.init].form, found=found)
    return args


def tie_kernel_blocks(kernels: np.ndarray, repeat: Triple) -> np.ndarray:
    """Replace every `repeat`-shaped block of each kernel by its mean (weight tying, §1.3).

    Works on the last three axes of any array. Returns `kernels` itself, not a copy,
    when `repeat` is (1, 1, 1), since there is nothing to tie.
    """
    r0, r1, r2 = repeat
    if (r0, r1, r2) == (1, 1, 1):
        return kernels
    *lead, s0, s1, s2 = kernels.shape
    if s0 % r0 or s1 % r1 or s2 % r2:
        raise ValueError(f"kernel size {(s0, s1, s2)} is not a multiple of repeat {tuple(repeat)}")
    blocks = kernels.reshape(*lead, s0 // r0, r0, s1 // r1, r1, s2 // r2, r2)
    means = blocks.mean(axis=(-5, -3, -1), keepdims=True, dtype=np.float64)
    tied = np.broadcast_to(means, blocks.shape).reshape(kernels.shape)
    return tied.astype(kernels.dtype)


def init_kernels(edge: EdgeGroup, n_in: int, n_out: int, rng: np.random.Generator,
                 dtype: DTypeLike = np.float32) -> np.ndarray:
    """Initial kernels (n_in, n_out, z, y, x) of a conv edge group."""
    if not edge.is_trainable:
        raise ValueError(f"edge group '{edge.name}' of type '{edge.type}' has no kernels")
    if edge.init is None:
        raise NetworkSpecError("a conv edge needs an initialiser", line=edge.line, group=edge.name,
                               key="init", expected="an 'init' line, e.g. 'init xavier'")
    size = edge.kernel
    volume = size[0] * size[1] * size[2]
    values = draw_values(edge.init, _checked_arguments(edge), n_in * n_out * volume, rng,
                         fan_in=n_in * volume, fan_out=n_out * volume)
    # The stream fills ZNN's layout (kernel i·n_out + j, first axis fastest); convert it.
    kernels = kernels_from_znn_order(values.reshape(n_in, n_out, *size)).astype(dtype)
    return tie_kernel_blocks(kernels, edge.effective_repeat)


def init_biases(node: NodeGroup, rng: np.random.Generator, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Initial biases (size,) of a transfer node group; zeros when it has no `init`."""
    if not node.has_bias:
        raise ValueError(f"node group '{node.name}' of type '{node.type}' has no biases")
    if node.init is None:
        return np.zeros(node.size, dtype=dtype)
    if node.init in FAN_INITIALISERS:
        raise NetworkSpecError(f"'{node.init}' needs a kernel's fan-in and cannot initialise biases",
                               line=node.line_of("init"), group=node.name, key="init",
                               expected="zero, constant, uniform, gaussian or bernoulli", found=node.init)
    values = draw_values(node.init, _checked_arguments(node), node.size, rng)
    return values.astype(dtype)


def initial_parameters(spec: NetSpec, seed: int | None, dtype: DTypeLike = np.float32) -> NetParams:
    """Fresh parameters of a network, momentum buffers zero.

    One generator serves every group, in ZNN's construction order: node groups by name,
    then edge groups by name. `seed=None` draws fresh entropy.
    """
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    biases = {}
    for name in sorted(spec.nodes):
        node = spec.nodes[name]
        if node.has_bias:
            biases[name] = init_biases(node, rng, dtype)
    kernels = {}
    for name in sorted(spec.edges):
        edge = spec.edges[name]
        if edge.is_trainable:
            n_in, n_out = spec.nodes[edge.input].size, spec.nodes[edge.output].size
            kernels[name] = init_kernels(edge, n_in, n_out, rng, dtype)
    return NetParams(
        kernels=kernels,
        kernel_momentum={name: np.zeros_like(k) for name, k in kernels.items()},
        biases=biases,
        bias_momentum={name: np.zeros_like(b) for name, b in biases.items()},
        dtype=dtype,
    )
