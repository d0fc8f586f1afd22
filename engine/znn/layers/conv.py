"""`conv`: fully connected dilated true convolution (every source map to every target map).

The kind owns the geometry (a kernel window dilated by the source's sparsity, strided) and
delegates the arithmetic to an *implementation*, chosen per edge group by conv mode:

* `gemm` (what `direct` means): im2col blocks and BLAS products (`layers/conv_gemm.py`);
  the task engine splits a layer into blocks of rows (`znn.parallel.gemm_tasks`).
* `loop`: numba loops per map pair (`znn.kernels.conv_direct`), the plain reference of
  direct convolution; a 1x1x1 kernel is a matrix product over maps.
* `fft`: real FFTs (`znn.fft.conv`). Its chunk methods here are the plain per-edge form
  the sequential engine uses; the task engine schedules FFT work per layer instead
  (`layer_level`), sharing transforms between edges (`znn.parallel.fft_tasks`).

A new implementation is one more `ConvImpl` in `CONV_IMPLS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from znn.base.modes import ConvImplMode, ConvMode
from znn.layers.base import ONE, EdgeGeometry, EdgeGroup, EdgeKind, EdgeWork, Triple, WorkTerms
from znn.layers.conv_gemm import GemmConv

DEFAULT_STRIDE: Triple = ONE
DEFAULT_REPEAT: Triple = ONE


class ConvImpl(Protocol):
    """One way of computing a conv edge group on chunks of maps."""

    name: str
    # True: the task engine schedules this mode per layer (shared transforms), not per chunk.
    layer_level: bool

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        """out = Σ_i conv(src_i, W_ij) for target maps j in [a, b)."""

    def input_grad(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        """out = Σ_j adjoint conv(grad_j, W_ij) for source maps i in [a, b)."""

    def kernel_grad(self, work: EdgeWork, a: int, b: int, kgrad: np.ndarray) -> None:
        """kgrad[:, j] += dE/dW_ij for target maps j in [a, b) (kgrad holds every kernel)."""


def _dilation(geo: EdgeGeometry) -> np.ndarray:
    return np.array(geo.dilation, dtype=np.int64)


def _pointwise(geo: EdgeGeometry) -> bool:
    return geo.kernel == ONE


class LoopConv:
    """Direct convolution: numba loops over kernel taps (axpy rows that vectorise)."""

    name = "loop"
    layer_level = False

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        from znn.kernels import conv_direct

        kernels, src, geo = work.kernels, work.src, work.geo
        assert kernels is not None
        if _pointwise(geo):  # a per-voxel matrix product over maps
            np.copyto(out, np.tensordot(kernels[:, a:b, 0, 0, 0], src, axes=(0, 0)))
            return
        out.fill(0)
        dilation = _dilation(geo)
        for j in range(a, b):
            for i in range(kernels.shape[0]):
                conv_direct.conv_forward_add(src[i], kernels[i, j], dilation, out[j - a])

    def input_grad(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        from znn.kernels import conv_direct

        kernels, grad, geo = work.kernels, work.grad, work.geo
        assert kernels is not None and grad is not None
        if _pointwise(geo):
            np.copyto(out, np.tensordot(kernels[a:b, :, 0, 0, 0], grad, axes=(1, 0)))
            return
        out.fill(0)
        dilation = _dilation(geo)
        for i in range(a, b):
            for j in range(kernels.shape[1]):
                conv_direct.conv_input_grad_add(grad[j], kernels[i, j], dilation, out[i - a])

    def kernel_grad(self, work: EdgeWork, a: int, b: int, kgrad: np.ndarray) -> None:
        from znn.kernels import conv_direct

        src, grad, geo = work.src, work.grad, work.geo
        assert grad is not None
        if _pointwise(geo):
            kgrad[:, a:b, 0, 0, 0] += np.tensordot(src, grad[a:b], axes=((1, 2, 3), (1, 2, 3)))
            return
        dilation = _dilation(geo)
        for j in range(a, b):
            for i in range(src.shape[0]):
                conv_direct.conv_kernel_grad_add(src[i], grad[j], dilation, kgrad[i, j])


class FFTConv:
    """Convolution by real FFTs at one transform shape per edge (see `znn.fft.conv`)."""

    name = "fft"
    layer_level = True

    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        from znn.fft.conv import fft_conv_forward

        assert work.kernels is not None
        maps, _ = fft_conv_forward(work.src, work.kernels[:, a:b], work.geo.dilation, cache_spectra=False)
        np.copyto(out, maps)

    def input_grad(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        from znn.fft import conv as fc

        kernels, grad, geo = work.kernels, work.grad, work.geo
        assert kernels is not None and grad is not None
        N = fc.transform_shape(geo.in_size)
        spectra = [fc.grad_spectrum(g, geo.span, N) for g in grad]
        for i in range(a, b):
            total = np.zeros_like(spectra[0])
            for j, G in enumerate(spectra):
                fc.accumulate_products(total, G, fc.kernel_spectrum(kernels[i, j], geo.dilation, N), True)
            out[i - a] = fc.input_grad_from_spectrum(total, N, geo.in_size)

    def kernel_grad(self, work: EdgeWork, a: int, b: int, kgrad: np.ndarray) -> None:
        from znn.fft import conv as fc

        grad, geo, src = work.grad, work.geo, work.src
        assert grad is not None
        N = fc.transform_shape(geo.in_size)
        inputs = [fc.input_spectrum(x, N) for x in src]
        for j in range(a, b):
            G = fc.grad_spectrum(grad[j], geo.span, N)
            for i, X in enumerate(inputs):
                product = np.zeros_like(G)
                fc.accumulate_products(product, G, X, True)
                kgrad[i, j] += fc.kernel_grad_from_spectrum(product, N, geo.kernel, geo.dilation)


def requested_mode(edge: EdgeGroup, kernel: Triple, conv_mode: ConvMode | Mapping[str, ConvMode]) -> ConvMode:
    """The mode a conv group is asked to run in: the given mode, or per group from a mapping
    (a group it leaves out follows its `.znn` `fft` key, as ZNN does). A 1x1x1 kernel is a
    product over maps and never transformed (ZNN's rule): it runs `gemm` unless `loop` is asked."""
    mode: ConvMode = conv_mode.get(edge.name, "fft" if edge.fft else "direct") if isinstance(conv_mode, Mapping) \
        else conv_mode
    if kernel == ONE and mode != "loop":
        return "gemm"
    return mode


def implementation_of(mode: ConvMode) -> ConvImplMode:
    """The implementation a mode names; `optimize` must be timed first (`znn.parallel.optimize`)."""
    if mode == "fft":
        return "fft"
    if mode == "loop":
        return "loop"
    if mode in ("gemm", "direct"):
        return "gemm"
    raise ValueError(f"conv mode {mode!r} names no single implementation")


def planned_implementation(mode: ConvMode) -> ConvImplMode:
    """For estimates made before `optimize` has timed anything: assume the mode that needs
    the most memory (fft) for `optimize`."""
    return "fft" if mode == "optimize" else implementation_of(mode)


CONV_IMPLS: dict[ConvImplMode, ConvImpl] = {"gemm": GemmConv(), "loop": LoopConv(), "fft": FFTConv()}


def conv_impl(mode: ConvImplMode) -> ConvImpl:
    return CONV_IMPLS[mode]


class Conv(EdgeKind):
    name = "conv"
    keys = ("type", "input", "output", "size", "stride", "init", "init_args", "eta", "momentum",
            "weight_decay", "fft", "repeat")
    required = ("input", "output", "size", "init")
    one_to_one = False
    trainable = True
    windowed = True
    strided = True

    def stride(self, edge: EdgeGroup) -> Triple:
        return edge.stride or DEFAULT_STRIDE

    def work(self, geo: EdgeGeometry, n_in: int, n_out: int) -> WorkTerms:
        """Direct convolution's terms; FFT edges are counted by `znn.planning.forward_cost` itself."""
        return WorkTerms(direct_flops=2 * int(np.prod(geo.out_size)) * int(np.prod(geo.kernel)) * n_in * n_out,
                         calls=1)

    # The arithmetic goes to the implementation of the group's conv mode (work.conv_mode).
    def forward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        conv_impl(work.conv_mode).forward(work, a, b, out)

    def backward(self, work: EdgeWork, a: int, b: int, out: np.ndarray) -> None:
        conv_impl(work.conv_mode).input_grad(work, a, b, out)

    def kernel_grad(self, work: EdgeWork, a: int, b: int, kgrad: np.ndarray) -> None:
        """Add dE/dW of target maps [a, b) into kgrad (shaped like every kernel of the group)."""
        conv_impl(work.conv_mode).kernel_grad(work, a, b, kgrad)
