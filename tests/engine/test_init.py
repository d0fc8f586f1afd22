"""Initialisers (reference §2.4): distributions, defaults, draw order, weight tying, seeding.

Statistical checks use fixed seeds and tolerances of 5 standard errors of the statistic,
so a correct implementation passes with overwhelming probability and a wrong parameter
(e.g. variance instead of standard deviation) fails by far more.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from znn.base.errors import NetworkSpecError
from znn.netspec.spec import EdgeGroup, NodeGroup
from znn.netspec.znnfile import parse_znn
from znn.params.init import (
    init_arguments,
    init_biases,
    init_kernels,
    initial_parameters,
    tie_kernel_blocks,
)


def conv(init: str | None, init_args: tuple[float, ...] | None = None, size=(1, 3, 3),
         repeat=None) -> EdgeGroup:
    return EdgeGroup(name="conv1", type="conv", input="a", output="b", size=size, init=init,
                     init_args=init_args, repeat=repeat)


def transfer(size: int, init: str | None, init_args: tuple[float, ...] | None = None) -> NodeGroup:
    return NodeGroup(name="nl1", type="transfer", size=size, function="rectify_linear",
                     init=init, init_args=init_args)


def rng(seed: int = 12345) -> np.random.Generator:
    return np.random.default_rng(seed)


class CountingGenerator:
    """Stands in for a Generator: every draw returns 0, 1, 2, ... so positions are visible."""

    def uniform(self, low, high, size):
        return np.arange(size, dtype=np.float64)

    def normal(self, loc, scale, size):
        return np.arange(size, dtype=np.float64)


# ----------------------------------------------------------------------------- distributions


def test_uniform_default_range_mean_and_spread():
    kernels = init_kernels(conv("uniform", size=(5, 5, 5)), 20, 20, rng(), np.float64)
    values = kernels.ravel()
    n = values.size  # 50 000
    assert values.min() >= -0.1 and values.max() < 0.1
    assert values.min() < -0.099 and values.max() > 0.099  # the whole range is used
    sd = 0.2 / math.sqrt(12)
    assert abs(values.mean()) < 5 * sd / math.sqrt(n)
    # Standard error of a sample SD: sd·sqrt((kurtosis − 1)/(4n)), kurtosis 9/5 for a uniform.
    assert abs(values.std() - sd) < 5 * sd * math.sqrt(0.8 / (4 * n))


def test_uniform_single_value_is_symmetric_range():
    assert init_arguments("uniform", (0.3,)) == (-0.3, 0.3)
    values = init_kernels(conv("uniform", (0.3,), size=(4, 4, 4)), 10, 10, rng(), np.float64).ravel()
    assert values.min() >= -0.3 and values.max() < 0.3
    assert values.min() < -0.29 and values.max() > 0.29


def test_uniform_two_values_are_bounds():
    values = init_kernels(conv("uniform", (0.5, 2.0), size=(4, 4, 4)), 10, 10, rng(), np.float64).ravel()
    assert values.min() >= 0.5 and values.max() < 2.0
    assert abs(values.mean() - 1.25) < 5 * (1.5 / math.sqrt(12)) / math.sqrt(values.size)


def test_gaussian_mean_and_standard_deviation():
    values = init_kernels(conv("gaussian", (0.5, 2.0), size=(5, 5, 5)), 20, 20, rng(), np.float64).ravel()
    n = values.size
    assert abs(values.mean() - 0.5) < 5 * 2.0 / math.sqrt(n)
    assert abs(values.std() - 2.0) < 5 * 2.0 / math.sqrt(2 * n)


def test_gaussian_defaults_are_mean_0_sd_001():
    assert init_arguments("gaussian", None) == (0.0, 0.01)
    values = init_kernels(conv("gaussian", size=(5, 5, 5)), 20, 20, rng(), np.float64).ravel()
    assert abs(values.std() - 0.01) < 5 * 0.01 / math.sqrt(2 * values.size)


@pytest.mark.parametrize(("n_in", "n_out", "size", "bound"), [
    (1, 48, (1, 3, 3), 0.1166),   # reference §2.4, affinity test net
    (48, 48, (1, 5, 5), 0.05),
    (200, 3, (1, 1, 1), 0.1719),
])
def test_xavier_bound_matches_the_reference(n_in, n_out, size, bound):
    edge = conv("xavier", size=size)
    volume = size[0] * size[1] * size[2]
    exact = math.sqrt(6) / math.sqrt(n_in * volume + n_out * volume)
    assert exact == pytest.approx(bound, abs=5e-5)
    largest = 0.0
    for seed in range(20):
        values = init_kernels(edge, n_in, n_out, rng(seed), np.float64)
        largest = max(largest, float(np.abs(values).max()))
        assert np.abs(values).max() <= exact
    # 20 draws of >= 600 values each: the largest |w| comes within 0.5 % of the bound.
    assert largest > 0.995 * exact


def test_msra_standard_deviation():
    n_in, n_out, size = 8, 16, (3, 3, 3)
    values = init_kernels(conv("msra", size=size), n_in, n_out, rng(), np.float64).ravel()
    sd = math.sqrt(2 / (n_in * 27))  # fan_in = 8 maps * 27 voxels
    n = values.size
    assert abs(values.mean()) < 5 * sd / math.sqrt(n)
    assert abs(values.std() - sd) < 5 * sd / math.sqrt(2 * n)


def test_bernoulli_probability():
    values = init_kernels(conv("bernoulli", (0.3,), size=(5, 5, 5)), 10, 10, rng(), np.float64).ravel()
    assert set(np.unique(values)) == {0.0, 1.0}
    p = 0.3
    assert abs(values.mean() - p) < 5 * math.sqrt(p * (1 - p) / values.size)
    default = init_kernels(conv("bernoulli", size=(5, 5, 5)), 10, 10, rng(), np.float64).ravel()
    assert abs(default.mean() - 0.5) < 5 * 0.5 / math.sqrt(default.size)


def test_zero_and_constant():
    assert not init_kernels(conv("zero"), 2, 3, rng()).any()
    constant = init_kernels(conv("constant", (0.25,)), 2, 3, rng())
    assert constant.shape == (2, 3, 1, 3, 3)
    assert np.all(constant == np.float32(0.25))


def test_dtype_is_respected():
    assert init_kernels(conv("uniform"), 2, 3, rng(), np.float64).dtype == np.float64
    assert init_kernels(conv("uniform"), 2, 3, rng(), np.float32).dtype == np.float32


def test_bad_arguments_name_the_group():
    with pytest.raises(NetworkSpecError, match="conv1.*init_args"):
        init_kernels(conv("uniform", (0.2, 0.1)), 1, 1, rng())
    with pytest.raises(NetworkSpecError, match="conv1.*init_args"):
        init_kernels(conv("gaussian", (0.0, -1.0)), 1, 1, rng())
    with pytest.raises(NetworkSpecError, match="init"):
        init_kernels(conv(None), 1, 1, rng())


# ----------------------------------------------------------------------------- biases


def test_biases_without_init_are_zero():
    biases = init_biases(transfer(7, None), rng(), np.float64)
    assert biases.shape == (7,) and not biases.any()


def test_biases_draw_their_size_values():
    assert np.all(init_biases(transfer(4, "constant", (0.5,)), rng()) == 0.5)
    biases = init_biases(transfer(20000, "gaussian", (1.0, 0.5)), rng(), np.float64)
    assert abs(biases.mean() - 1.0) < 5 * 0.5 / math.sqrt(20000)
    assert abs(biases.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * 20000)
    counted = init_biases(transfer(5, "uniform"), CountingGenerator(), np.float64)
    assert list(counted) == [0, 1, 2, 3, 4]


def test_fan_initialisers_cannot_initialise_biases():
    with pytest.raises(NetworkSpecError, match="nl1.*fan-in"):
        init_biases(transfer(3, "xavier"), rng())


# ----------------------------------------------------------------------------- draw order


def test_draw_order_follows_znn_layout():
    """Value number k·S + z + s0·y + s0·s1·x lands in kernel [i, j] at (z, y, x), k = i·n_out + j."""
    n_in, n_out, (s0, s1, s2) = 2, 3, (2, 3, 4)
    kernels = init_kernels(conv("uniform", size=(s0, s1, s2)), n_in, n_out, CountingGenerator(), np.float64)
    assert kernels.shape == (n_in, n_out, s0, s1, s2)
    volume = s0 * s1 * s2
    for i in range(n_in):
        for j in range(n_out):
            for z in range(s0):
                for y in range(s1):
                    for x in range(s2):
                        expected = (i * n_out + j) * volume + z + s0 * y + s0 * s1 * x
                        assert kernels[i, j, z, y, x] == expected


def test_draw_order_for_2d_kernels_swaps_y_and_x():
    """§7.3: a (1, k, k) kernel read from ZNN's stream is the row-major block transposed."""
    kernels = init_kernels(conv("gaussian", size=(1, 3, 3)), 1, 1, CountingGenerator(), np.float64)
    assert kernels[0, 0, 0].tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


# ----------------------------------------------------------------------------- weight tying


def test_tie_kernel_blocks_hand_example():
    kernel = np.arange(8, dtype=np.float64).reshape(1, 1, 1, 2, 4)
    tied = tie_kernel_blocks(kernel, (1, 1, 2))
    assert tied[0, 0, 0].tolist() == [[0.5, 0.5, 2.5, 2.5], [4.5, 4.5, 6.5, 6.5]]
    tied_y = tie_kernel_blocks(kernel, (1, 2, 1))
    assert tied_y[0, 0, 0].tolist() == [[2, 3, 4, 5], [2, 3, 4, 5]]


def test_tie_kernel_blocks_keeps_each_block_mean():
    kernels = rng().normal(size=(2, 3, 4, 6, 2)).astype(np.float32)
    tied = tie_kernel_blocks(kernels, (2, 3, 1))
    assert tied.dtype == np.float32 and tied.shape == kernels.shape
    block = tied[1, 2, 2:4, 3:6, 1]
    assert np.all(block == block[0, 0])
    assert block[0, 0] == pytest.approx(kernels[1, 2, 2:4, 3:6, 1].mean(), rel=1e-6)
    assert tie_kernel_blocks(kernels, (1, 1, 1)) is kernels
    with pytest.raises(ValueError, match="multiple"):
        tie_kernel_blocks(kernels, (3, 1, 1))


def test_init_kernels_ties_blocks_when_repeat_is_set():
    edge = conv("uniform", size=(2, 2, 4), repeat=(2, 2, 2))
    kernels = init_kernels(edge, 1, 1, CountingGenerator(), np.float64)
    # Stream 0..15, first axis fastest: x in {0,1} holds 0..7, x in {2,3} holds 8..15.
    assert np.all(kernels[0, 0, :, :, :2] == 3.5)
    assert np.all(kernels[0, 0, :, :, 2:] == 11.5)


# ----------------------------------------------------------------------------- whole networks

NET = """
nodes input
type input
size 2

nodes hidden
type transfer
function tanh
function_args 1.7159,0.6666
size 4
init constant
init_args 0.1

nodes output
type transfer
function linear
size 3

edges conv1
type conv
init xavier
size 1,3,3
input input
output hidden

edges conv2
type conv
init gaussian
init_args 0,0.02
size 2,2,2
input hidden
output output
"""


def test_initial_parameters_shapes_and_zero_momentum():
    params = initial_parameters(parse_znn(NET), seed=3, dtype=np.float32)
    assert params.dtype == np.float32
    assert params.kernels["conv1"].shape == (2, 4, 1, 3, 3)
    assert params.kernels["conv2"].shape == (4, 3, 2, 2, 2)
    assert params.biases["hidden"].shape == (4,) and np.all(params.biases["hidden"] == np.float32(0.1))
    assert params.biases["output"].shape == (3,) and not params.biases["output"].any()
    assert set(params.biases) == {"hidden", "output"}  # input nodes have no biases
    for name, momentum in [*params.kernel_momentum.items(), *params.bias_momentum.items()]:
        assert not momentum.any(), name
    assert all(a.dtype == np.float32 for _name, a in params.arrays())


def test_initial_parameters_are_reproducible():
    spec = parse_znn(NET)
    first = initial_parameters(spec, seed=42, dtype=np.float64)
    again = initial_parameters(spec, seed=42, dtype=np.float64)
    other = initial_parameters(spec, seed=43, dtype=np.float64)
    assert first.equal(again)
    assert not first.equal(other)
    assert not np.array_equal(first.kernels["conv1"], other.kernels["conv1"])
