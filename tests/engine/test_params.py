"""NetParams container and the kernel element order of ZNN's files (reference §7.3)."""

from __future__ import annotations

import numpy as np
import pytest

from znn.base.errors import SavedNetworkError
from znn.netspec.znnfile import parse_znn
from znn.params.net_params import NetParams, kernels_from_znn_order, kernels_to_znn_order

NET = """
nodes input
type input
size 2

nodes out
type transfer
function linear
size 3

edges conv1
type conv
init uniform
size 2,3,4
input input
output out
"""


def params(dtype=np.float64) -> NetParams:
    generator = np.random.default_rng(0)
    kernels = {"conv1": generator.normal(size=(2, 3, 2, 3, 4)).astype(dtype)}
    biases = {"out": generator.normal(size=3).astype(dtype)}
    return NetParams(kernels, {"conv1": np.zeros_like(kernels["conv1"])}, biases,
                     {"out": np.zeros_like(biases["out"])}, dtype)


def test_znn_order_is_fortran_order_per_kernel():
    kernels = np.arange(2 * 3 * 24, dtype=np.float64).reshape(2, 3, 2, 3, 4) ** 1.5
    filters = kernels_to_znn_order(kernels)
    assert filters.shape == kernels.shape and filters.flags.c_contiguous
    for i in range(2):
        for j in range(3):
            assert np.array_equal(filters[i, j].ravel(), kernels[i, j].ravel(order="F"))
    assert np.array_equal(kernels_from_znn_order(filters), kernels)


def test_znn_order_special_cases_of_the_reference():
    """Reference §7.3: cubic kernels come out transposed, (1, k, k) kernels with y and x swapped."""
    cubic = np.arange(27.0).reshape(1, 1, 3, 3, 3)
    assert np.array_equal(kernels_from_znn_order(cubic)[0, 0], cubic[0, 0].transpose(2, 1, 0))
    flat = np.arange(9.0).reshape(1, 1, 1, 3, 3)
    assert np.array_equal(kernels_from_znn_order(flat)[0, 0], flat[0, 0].transpose(0, 2, 1))


def test_copy_is_deep_and_astype_converts():
    original = params()
    duplicate = original.copy()
    assert duplicate.equal(original)
    duplicate.kernels["conv1"][0, 0, 0, 0, 0] += 1
    assert not duplicate.equal(original)
    single = original.astype(np.float32)
    assert single.dtype == np.float32
    assert all(a.dtype == np.float32 for _n, a in single.arrays())
    assert not single.equal(original)  # the dtype differs
    assert np.allclose(single.biases["out"], original.biases["out"], rtol=1e-7)


def test_nan_arrays_and_nan_aware_equality():
    with_nan = params()
    with_nan.kernels["conv1"][1, 2, 0, 0, 0] = np.nan
    with_nan.bias_momentum["out"][:] = np.nan
    assert with_nan.nan_arrays() == ["conv1/filters", "out/momentum_vol"]
    assert with_nan.nan_counts() == {"conv1/filters": 1, "out/momentum_vol": 3}
    assert with_nan.equal(with_nan.copy())
    assert params().nan_arrays() == []


def test_check_against_accepts_matching_shapes():
    params().check_against(parse_znn(NET))


def test_check_against_names_layer_and_shapes():
    wrong = params()
    wrong.kernels["conv1"] = np.zeros((2, 3, 2, 4, 3))
    with pytest.raises(SavedNetworkError) as caught:
        wrong.check_against(parse_znn(NET))
    error = caught.value
    assert error.group == "conv1" and error.key == "filters"
    assert error.expected == "shape (2, 3, 2, 3, 4)" and error.found == "(2, 3, 2, 4, 3)"


def test_check_against_rejects_missing_and_unknown_layers():
    missing = params()
    del missing.biases["out"]
    with pytest.raises(SavedNetworkError, match="out"):
        missing.check_against(parse_znn(NET))
    extra = params()
    extra.biases["ghost"] = np.zeros(3)
    with pytest.raises(SavedNetworkError, match="ghost"):
        extra.check_against(parse_znn(NET))
