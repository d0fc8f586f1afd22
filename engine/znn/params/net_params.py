"""The trainable state of a network: conv kernels, biases and their momentum buffers.

Orientation convention (reference §2.1, §7.3): `kernels[edge][i, j]` is the kernel from
input map i to output map j as a (z, y, x) numpy array, applied as a *true* convolution
(flipped kernel, "valid" mode). ZNN's flat byte order, in which it draws initial values
and writes `.h5` files, is a different arrangement of the same numbers; the two
functions `kernels_from_znn_order` / `kernels_to_znn_order` convert between them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import DTypeLike

from znn.base.errors import SavedNetworkError

if TYPE_CHECKING:
    from znn.netspec.spec import NetSpec


def kernels_from_znn_order(filters: np.ndarray) -> np.ndarray:
    """Kernels (n_in, n_out, s0, s1, s2) from ZNN's layout of the same shape.

    ZNN stores kernel k = i·n_out + j as a run of s0·s1·s2 values with the first axis
    varying fastest (Fortran order), and Python wraps the bytes as a C-order array, so
    K_ij = reshape(ravel_C(filters[i, j]), (s0, s1, s2), order='F').
    """
    n_in, n_out, s0, s1, s2 = filters.shape
    # A C-order reshape to (s2, s1, s0) followed by reversing the axes is that F-order reshape.
    reversed_axes = np.reshape(filters, (n_in, n_out, s2, s1, s0))
    return np.ascontiguousarray(reversed_axes.transpose(0, 1, 4, 3, 2))


def kernels_to_znn_order(kernels: np.ndarray) -> np.ndarray:
    """ZNN's layout (n_in, n_out, s0, s1, s2) of kernels: filters[i, j] = reshape(ravel_F(K_ij))."""
    n_in, n_out, s0, s1, s2 = kernels.shape
    fortran_runs = np.ascontiguousarray(kernels.transpose(0, 1, 4, 3, 2))
    return fortran_runs.reshape(n_in, n_out, s0, s1, s2)


@dataclass
class NetParams:
    """Kernels and biases of one network, with momentum buffers of the same shapes; with Adam
    also second-moment buffers (empty until Adam first updates the network)."""

    kernels: dict[str, np.ndarray]  # conv edge name -> (n_in, n_out, z, y, x)
    kernel_momentum: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]  # transfer node name -> (n,)
    bias_momentum: dict[str, np.ndarray]
    dtype: np.dtype
    kernel_second: dict[str, np.ndarray] = field(default_factory=dict)  # Adam's second moments
    bias_second: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dtype = np.dtype(self.dtype)

    @property
    def has_second_moments(self) -> bool:
        return bool(self.kernel_second or self.bias_second)

    def ensure_second_moments(self) -> None:
        """Zero second-moment buffers for every kernel and bias that has none (Adam's start)."""
        for store, second in ((self.kernels, self.kernel_second), (self.biases, self.bias_second)):
            for name, array in store.items():
                if name not in second:
                    second[name] = np.zeros_like(array)

    def reset_optimizer_state(self) -> None:
        """Zero the momentum buffers and drop the second moments: a new run starts its own optimiser."""
        for momentum in (self.kernel_momentum, self.bias_momentum):
            for array in momentum.values():
                array[...] = 0
        self.kernel_second.clear()
        self.bias_second.clear()

    def arrays(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every array with its saved-file name (`conv1/filters`, `nl1/momentum_vol`, ...)."""
        for name in sorted(self.kernels):
            yield f"{name}/filters", self.kernels[name]
            if name in self.kernel_momentum:
                yield f"{name}/momentum_vol", self.kernel_momentum[name]
            if name in self.kernel_second:
                yield f"{name}/second_moment", self.kernel_second[name]
        for name in sorted(self.biases):
            yield f"{name}/biases", self.biases[name]
            if name in self.bias_momentum:
                yield f"{name}/momentum_vol", self.bias_momentum[name]
            if name in self.bias_second:
                yield f"{name}/second_moment", self.bias_second[name]

    def copy(self) -> NetParams:
        return self.astype(self.dtype)

    def astype(self, dtype: DTypeLike) -> NetParams:
        """A deep copy with every array converted to `dtype`."""
        def convert(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {name: np.array(a, dtype=dtype, copy=True) for name, a in arrays.items()}

        return NetParams(convert(self.kernels), convert(self.kernel_momentum),
                         convert(self.biases), convert(self.bias_momentum), np.dtype(dtype),
                         convert(self.kernel_second), convert(self.bias_second))

    def nan_counts(self) -> dict[str, int]:
        """Number of NaN values per array name, for the arrays that contain any."""
        counts = {}
        for name, array in self.arrays():
            count = int(np.count_nonzero(np.isnan(array)))
            if count:
                counts[name] = count
        return counts

    def nonfinite_counts(self) -> dict[str, tuple[int, int]]:
        """(NaN count, infinite count) per array name, for the arrays holding either."""
        counts = {}
        for name, array in self.arrays():
            finite = np.isfinite(array)
            if not finite.all():
                nan = int(np.count_nonzero(np.isnan(array)))
                counts[name] = (nan, int(array.size - np.count_nonzero(finite)) - nan)
        return counts

    def nan_arrays(self) -> list[str]:
        """Names of the arrays containing NaN (a diverged network), e.g. `conv1/filters`."""
        return list(self.nan_counts())

    def check_against(self, spec: NetSpec, *, file: str | None = None) -> None:
        """Raise SavedNetworkError unless every conv edge and transfer node has arrays of its shape."""
        expected_kernels = {}
        for edge in spec.edges.values():
            if edge.is_trainable:
                n_in, n_out = spec.nodes[edge.input].size, spec.nodes[edge.output].size
                expected_kernels[edge.name] = (n_in, n_out, *edge.kernel)
        expected_biases = {node.name: (node.size,) for node in spec.nodes.values() if node.has_bias}
        _check_shapes(self.kernels, expected_kernels, "filters", "conv edge", file)
        _check_shapes(self.kernel_momentum, expected_kernels, "momentum_vol", "conv edge", file)
        _check_shapes(self.biases, expected_biases, "biases", "transfer node group", file)
        _check_shapes(self.bias_momentum, expected_biases, "momentum_vol", "transfer node group", file)
        if self.has_second_moments:
            _check_shapes(self.kernel_second, expected_kernels, "second_moment", "conv edge", file)
            _check_shapes(self.bias_second, expected_biases, "second_moment", "transfer node group", file)

    def equal(self, other: NetParams) -> bool:
        """Same names, dtype, shapes and values; NaN equals NaN."""
        if self.dtype != other.dtype:
            return False
        pairs = ((self.kernels, other.kernels), (self.kernel_momentum, other.kernel_momentum),
                 (self.biases, other.biases), (self.bias_momentum, other.bias_momentum),
                 (self.kernel_second, other.kernel_second), (self.bias_second, other.bias_second))
        for mine, theirs in pairs:
            if mine.keys() != theirs.keys():
                return False
            for name, array in mine.items():
                if array.dtype != theirs[name].dtype or array.shape != theirs[name].shape:
                    return False
                if not np.array_equal(array, theirs[name], equal_nan=True):
                    return False
        return True


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def _check_shapes(arrays: dict[str, np.ndarray], expected: Mapping[str, tuple[int, ...]],
                  key: str, what: str, file: str | None) -> None:
    for name, shape in expected.items():
        if name not in arrays:
            raise SavedNetworkError(f"no '{key}' array for {what} '{name}'", file=file, group=name,
                                    key=key, expected=f"an array of shape {_shape_text(shape)}",
                                    found="nothing")
        found = tuple(arrays[name].shape)
        if found != shape:
            raise SavedNetworkError(f"wrong shape of '{key}' for {what} '{name}'", file=file, group=name,
                                    key=key, expected=f"shape {_shape_text(shape)}",
                                    found=_shape_text(found))
    for name in arrays:
        if name not in expected:
            raise SavedNetworkError(f"'{key}' array for a layer that is not a {what} of the network",
                                    file=file, group=name, key=key,
                                    expected="one of " + (", ".join(sorted(expected)) or "no layers"),
                                    found=name)
