"""BLAS matrix products callable from numba with the GIL released (scipy's sgemm/dgemm).

numba's own `np.dot` supports only whole contiguous matrices and picks an operand order
that runs the narrow products of a conv layer (48 maps) at a third of BLAS's speed. Here
the Fortran `?gemm` of `scipy.linalg.cython_blas` is called directly, with leading
dimensions, so a product can read a window of a map and write into part of another.
The function pointer is an argument of the jitted callers (not a global), which keeps them
cacheable; `gemm_for(dtype)` returns the right one.
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any

import numpy as np

from znn.base.jit import cached_njit

N = ord("N")  # operand as stored
T = ord("T")  # operand transposed


def _signature(real: type) -> Any:
    p = ctypes.POINTER
    return ctypes.CFUNCTYPE(None, p(ctypes.c_int8), p(ctypes.c_int8), p(ctypes.c_int), p(ctypes.c_int),
                            p(ctypes.c_int), p(real), p(real), p(ctypes.c_int), p(real), p(ctypes.c_int), p(real),
                            p(real), p(ctypes.c_int))


@cache
def gemm_for(dtype: np.dtype) -> Any:
    """scipy's sgemm (float32) or dgemm (float64) as a ctypes function numba can call."""
    from numba.extending import get_cython_function_address

    kind = np.dtype(dtype)
    if kind == np.float32:
        return _signature(ctypes.c_float)(get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
    if kind == np.float64:
        return _signature(ctypes.c_double)(get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
    raise TypeError(f"BLAS products need float32 or float64, not {kind}")


@cached_njit(nogil=True)
def gemm(fn, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):  # noqa: ANN001, ANN201
    """Row-major C (m x n, row stride ldc) = alpha * op(A) @ op(B) + beta * C.

    A, B and C are 1-D views starting at the first element of each matrix; op is A itself
    (N) or its transpose (T) as stored with row stride lda (likewise B). Column-major BLAS
    computes the transposed product Cᵀ = op(B)ᵀ op(A)ᵀ, which is the same memory.
    """
    flags = np.empty(2, dtype=np.int8)
    flags[0], flags[1] = trans_b, trans_a
    ints = np.empty(6, dtype=np.int32)
    ints[0], ints[1], ints[2], ints[3], ints[4], ints[5] = n, m, k, ldb, lda, ldc
    scalars = np.empty(2, dtype=c.dtype)
    scalars[0], scalars[1] = alpha, beta
    fn(flags[0:1].ctypes, flags[1:2].ctypes, ints[0:1].ctypes, ints[1:2].ctypes, ints[2:3].ctypes,
       scalars[0:1].ctypes, b.ctypes, ints[3:4].ctypes, a.ctypes, ints[4:5].ctypes, scalars[1:2].ctypes,
       c.ctypes, ints[5:6].ctypes)
