"""The `gemm` convolution: per-tap BLAS products over blocks of rows (`kernels.conv_gemm`).

This module plans the blocks (rows of one z-slice), keeps each thread's scratch, limits
the BLAS to one thread per call (the engine's threads are the parallelism), and provides the
chunk methods the sequential engine uses. The task engine schedules this mode per layer
(`layer_level`): blocks of rows are its tasks (`znn.parallel.gemm_tasks`), since the maps
of one layer are too few to split its products by.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from math import ceil

import numpy as np

from znn.layers.base import EdgeGeometry, EdgeWork, Triple

# Voxels per product: large enough for BLAS to run near its peak on the long dimension,
# small enough that a layer splits into a few blocks per thread.
TARGET_COLUMNS = 4096
# Below this many source maps a product per tap is too thin (the sum over maps is its inner
# dimension): the sources are unrolled into one (maps x taps) matrix and multiplied once.
UNROLL_BELOW = 16

Block = tuple[int, int, int]  # (z, y0, y1): rows [y0, y1) of slice z

_blas_lock = threading.Lock()
_blas_limited = False


def limit_blas_threads() -> None:
    """Make the BLAS the products call (scipy's) run on the calling thread only.

    Each engine thread runs its own products; a BLAS thread pool beside the engine's would
    oversubscribe the cores. numpy's own BLAS (a separate library in the wheels) keeps its
    threads.
    """
    global _blas_limited
    with _blas_lock:
        if _blas_limited:
            return
        import scipy.linalg  # noqa: F401 - loads the BLAS the products call
        from threadpoolctl import ThreadpoolController

        controller = ThreadpoolController()
        blas = [lib for lib in controller.lib_controllers if lib.user_api == "blas"]
        for lib in [lib for lib in blas if "scipy" in lib.filepath] or blas:
            lib.set_num_threads(1)
        _blas_limited = True


def row_blocks(size: Triple, row_width: int, n_threads: int) -> list[Block]:
    """Blocks of whole rows of each z-slice, about TARGET_COLUMNS voxels of `row_width`
    each, and at least two per thread when the grid has that many rows."""
    slices, rows = size[0], size[1]
    per = max(1, TARGET_COLUMNS // max(1, row_width))
    per = min(per, max(1, ceil(slices * rows / (2 * n_threads))))
    return [(z, y, min(y + per, rows)) for z in range(slices) for y in range(0, rows, per)]


def forward_blocks(geo: EdgeGeometry, n_threads: int) -> list[Block]:
    return row_blocks(geo.out_size, geo.in_size[2], n_threads)


def input_grad_blocks(geo: EdgeGeometry, n_threads: int) -> list[Block]:
    return row_blocks(geo.in_size, geo.in_size[2], n_threads)


def unrolled(n_in: int) -> bool:
    """Whether a layer with `n_in` source maps unrolls them (one product) or multiplies per tap."""
    return n_in < UNROLL_BELOW


_scratch = threading.local()


def scratch(name: str, rows: int, columns: int, dtype: np.dtype) -> np.ndarray:
    """This thread's reusable (rows, columns) buffer `name` (a product or unrolled sources)."""
    store: dict[tuple[str, str], np.ndarray] | None = getattr(_scratch, "store", None)
    if store is None:
        store = _scratch.store = {}
    key = (name, np.dtype(dtype).str)
    flat = store.get(key)
    if flat is None or flat.size < rows * columns:
        flat = store[key] = np.empty(rows * columns, dtype=dtype)
    return flat[:rows * columns].reshape(rows, columns)


def workspace_bytes(geo: EdgeGeometry, n_in: int, n_out: int, itemsize: int, n_threads: int) -> int:
    """One thread's scratch for this layer: the largest block product it holds, and the
    unrolled sources of a layer with few source maps."""
    rows = max(y1 - y0 for _, y0, y1 in forward_blocks(geo, n_threads))
    forward = n_out * rows * geo.in_size[2]
    reach = (geo.kernel[2] - 1) * geo.dilation[2]
    unrolled_sources = n_in * geo.kernel[0] * geo.kernel[1] * (rows * geo.in_size[2] + reach) if unrolled(n_in) else 0
    return (forward + unrolled_sources) * itemsize


def pass_buffers_bytes(geo: EdgeGeometry, n_in: int, n_out: int, itemsize: int, training: bool) -> int:
    """What a training pass keeps per layer: the widened output gradient."""
    if not training:
        return 0
    return WideGradient.size(geo, n_out) * itemsize


def _arrays(geo: EdgeGeometry) -> tuple[np.ndarray, np.ndarray]:
    return np.array(geo.kernel, np.int64), np.array(geo.dilation, np.int64)


def forward_weights(kernels: np.ndarray) -> np.ndarray:
    """The forward product's weights: per tap, or one matrix for unrolled sources."""
    from znn.kernels import conv_gemm

    if unrolled(kernels.shape[0]):
        return conv_gemm.unrolled_weights(kernels)
    return conv_gemm.forward_weights(kernels)


def forward_block(work: EdgeWork, weights: np.ndarray, block: Block, out: np.ndarray, accumulate: bool) -> None:
    """out[:, z, y0:y1] for the target maps `weights` holds (forward_weights of their kernels)."""
    from znn.kernels import blas, conv_gemm

    z, y0, y1 = block
    src = work.src
    tmp = scratch("product", weights.shape[1], (y1 - y0) * src.shape[3], src.dtype)
    kshape, dilation = _arrays(work.geo)
    fn = blas.gemm_for(src.dtype)
    if unrolled(src.shape[0]):
        rows = scratch("sources", weights.shape[2], _unrolled_length(work.geo, y1 - y0), src.dtype)
        conv_gemm.forward_block_unrolled(fn, src, weights, kshape, dilation, z, y0, y1, rows, tmp, out, accumulate)
    else:
        conv_gemm.forward_block(fn, src, weights, kshape, dilation, z, y0, y1, tmp, out, accumulate)


@dataclass
class WideGradient:
    """The output gradient laid out with the source's row width (zeros past the output's x
    extent) after a margin of zeros: what the kernel gradient and the input gradient read."""

    flat: np.ndarray
    margin: int
    shape: tuple[int, int, int]  # (n_out, out z, out y)

    @staticmethod
    def size(geo: EdgeGeometry, n_out: int) -> int:
        from znn.kernels.conv_gemm import wide_margin

        return wide_margin(geo.kernel, geo.dilation) + n_out * geo.out_size[0] * geo.out_size[1] * geo.in_size[2]

    @classmethod
    def for_gradient(cls, grad: np.ndarray, geo: EdgeGeometry, current: WideGradient | None = None) -> WideGradient:
        """A buffer for `grad` (reused when `current` fits); fill it with `fill`."""
        from znn.kernels.conv_gemm import wide_margin

        size = cls.size(geo, grad.shape[0])
        if current is not None and current.flat.size == size and current.flat.dtype == grad.dtype:
            return current
        return cls(np.empty(size, dtype=grad.dtype), wide_margin(geo.kernel, geo.dilation),
                   (grad.shape[0], geo.out_size[0], geo.out_size[1]))

    def fill(self, grad: np.ndarray, a: int, b: int) -> None:
        """Copy maps [a, b) of the output gradient in (the first call, a = 0, zeroes the margin)."""
        from znn.kernels.conv_gemm import widen_gradient

        widen_gradient(grad, a, b, self.flat, self.margin)

    @property
    def dims(self) -> np.ndarray:
        return np.array(self.shape, np.int64)


def input_grad_block(work: EdgeWork, weights: np.ndarray, wide: WideGradient, block: Block, out: np.ndarray,
                     accumulate: bool) -> None:
    """out[:, z, y0:y1] of the source gradient for the sources `weights` holds (forward weights:
    (taps, n_out, n_in) of their kernels)."""
    from znn.kernels import blas, conv_gemm

    z, y0, y1 = block
    kshape, dilation = _arrays(work.geo)
    conv_gemm.input_grad_block(blas.gemm_for(out.dtype), wide.flat, wide.margin, wide.dims, weights, kshape,
                               dilation, z, y0, y1, out, accumulate)


def _unrolled_length(geo: EdgeGeometry, rows: int) -> int:
    """Voxels of one unrolled window: the block's rows plus the reach of the x taps."""
    return rows * geo.in_size[2] + (geo.kernel[2] - 1) * geo.dilation[2]


def kernel_grad_shape(geo: EdgeGeometry, n_in: int, n_out: int) -> tuple[int, ...]:
    """The partial kernel gradient one block produces (see `kernel_grad_result`)."""
    kz, ky, kx = geo.kernel
    return (kx, n_out, n_in * kz * ky) if unrolled(n_in) else (kz * ky * kx, n_out, n_in)


def kernel_grad_block(work: EdgeWork, wide: WideGradient, block: Block, partial: np.ndarray) -> None:
    """partial (kernel_grad_shape) = the kernel gradient of one block of output rows."""
    from znn.kernels import blas, conv_gemm

    z, y0, y1 = block
    src = work.src
    kshape, dilation = _arrays(work.geo)
    fn = blas.gemm_for(src.dtype)
    if unrolled(src.shape[0]):
        rows = scratch("sources", partial.shape[2], _unrolled_length(work.geo, y1 - y0), src.dtype)
        conv_gemm.kernel_grad_block_unrolled(fn, src, wide.flat, wide.margin, wide.dims, kshape, dilation, z, y0,
                                             y1, rows, partial)
    else:
        conv_gemm.kernel_grad_block(fn, src, wide.flat, wide.margin, wide.dims, kshape, dilation, z, y0, y1,
                                    partial)


def kernel_grad_result(total: np.ndarray, geo: EdgeGeometry, n_in: int) -> np.ndarray:
    """Summed partials -> (n_in, n_out, kz, ky, kx) in ZNN's layout."""
    from znn.kernels import conv_gemm

    if unrolled(n_in):
        return conv_gemm.kernel_grad_from_unrolled(total, geo.kernel)
    return conv_gemm.kernel_grad_from_taps(total, geo.kernel)


class GemmConv:
    """Direct convolution as per-tap BLAS products (see `znn.kernels.conv_gemm`)."""

    name = "gemm"
    layer_level = True  # the task engine splits it by blocks of rows, not by maps

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        assert work.kernels is not None
        limit_blas_threads()
        weights = forward_weights(work.kernels[:, a:b])
        for block in forward_blocks(work.geo, 1):
            forward_block(work, weights, block, out, False)

    def input_grad(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        from znn.kernels.conv_gemm import forward_weights as tap_weights

        assert work.kernels is not None and work.grad is not None
        limit_blas_threads()
        weights = tap_weights(work.kernels[a:b])
        wide = WideGradient.for_gradient(work.grad, work.geo)
        wide.fill(work.grad, 0, work.grad.shape[0])
        for block in input_grad_blocks(work.geo, 1):
            input_grad_block(work, weights, wide, block, out, False)

    def kernel_grad(self, work: EdgeWork, a: int, b: int, kgrad: np.ndarray) -> None:
        assert work.grad is not None
        limit_blas_threads()
        grad = work.grad[a:b]
        wide = WideGradient.for_gradient(grad, work.geo)
        wide.fill(grad, 0, b - a)
        n_in = work.src.shape[0]
        total = np.zeros(kernel_grad_shape(work.geo, n_in, b - a), dtype=grad.dtype)
        partial = np.empty_like(total)
        for block in forward_blocks(work.geo, 1):
            kernel_grad_block(work, wide, block, partial)
            total += partial
        kgrad[:, a:b] += kernel_grad_result(total, work.geo, n_in)

