"""conv_mode="optimize": time each convolution implementation per conv group, on its real
shapes and at the real thread count, and keep the fastest.

Candidates: `fft` (kernel spectra, input spectra, products, inverses; when training also the
gradient spectra, input-gradient products and kernel gradients), `gemm` (im2col + BLAS
products over blocks of rows: forward, input gradient, kernel gradient) and `loop` (numba
loops per map pair). Each runs once untimed (plans, compilation), then once timed, on
random data of the group's sizes, split into the tasks the engine would run and spread
over `num_threads` workers. `gemm` is timed first; a later candidate is stopped between its
phases once it has taken longer than the fastest so far (its untimed run: several times
longer, as that run also builds plans), since it cannot win: on dense N4 at a 1x328x328 tile
this cut the choice from 22 to about 9 s, almost all of it FFT plans of the layers that lose.
`loop` is timed on a sample of map pairs and scaled, since its cost is linear in them and a
full run of a slow layer would take minutes. Decisions are cached per shape and thread count
for the process; `iter_choose_conv_modes` yields one `ConvModeChosen` per conv group, so a
caller can show the choice's progress; `format_report` prints the timings.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Mapping
from functools import partial

import numpy as np

from znn.base.cores import usable_cores
from znn.base.modes import CONV_IMPL_MODES, ConvImplMode, ConvMode
from znn.fft import products, pruned
from znn.fft.conv import transform_shape
from znn.kernels import conv_direct
from znn.kernels.conv_gemm import forward_weights as tap_weights
from znn.layers.base import EdgeWork
from znn.layers.conv import requested_mode
from znn.layers.conv_gemm import (
    Block,
    WideGradient,
    forward_block,
    forward_blocks,
    forward_weights,
    input_grad_block,
    input_grad_blocks,
    kernel_grad_block,
    kernel_grad_shape,
    limit_blas_threads,
)
from znn.layers.table import node_kind
from znn.netspec.graph import EdgeGeometry, NetworkGraph
from znn.netspec.spec import EdgeGroup
from znn.parallel.choice import ConvModeChosen
from znn.parallel.scheduler import Scheduler, Task

_decisions: dict[tuple, dict] = {}
_LOOP_SAMPLE_SECONDS = 0.2  # stop sampling loop pairs after this long

Phase = list[Callable[[], None]]  # independent pieces of work; phases run one after another


WARM_UP_ALLOWANCE = 4.0  # the untimed run may take this many times the best so far (plans, compiling)
WARM_UP_FLOOR_S = 0.05


def _timed(phases: list[Phase], threads: int, beat: float = math.inf) -> float | None:
    """Seconds of the phases on `threads` workers, after one untimed run; None when a run was stopped
    for taking longer than `beat` (the untimed run: WARM_UP_ALLOWANCE times longer)."""
    limits = (WARM_UP_ALLOWANCE * beat + WARM_UP_FLOOR_S, beat)
    with Scheduler(threads) as scheduler:
        for limit in limits:  # the first run builds plans and compiles; the second is timed
            start = time.perf_counter()
            for phase in phases:
                # in batches, so that a slow phase (thousands of kernel spectra) can be stopped part way
                for first in range(0, len(phase), 16 * threads):
                    scheduler.run([Task(fn) for fn in phase[first:first + 16 * threads]])
                    if time.perf_counter() - start > limit:
                        return None
        return time.perf_counter() - start


def _fft_phases(geo: EdgeGeometry, n_in: int, n_out: int, dtype: np.dtype, training: bool,
                need_input_grad: bool, threads: int) -> list[Phase]:
    rng = np.random.default_rng(0)
    N = transform_shape(geo.in_size)
    span = pruned.span_of(geo.kernel, geo.dilation)
    x = rng.standard_normal((n_in, *geo.in_size)).astype(dtype)
    g = rng.standard_normal((n_out, *geo.out_size)).astype(dtype)
    w = rng.standard_normal((n_in * n_out, *geo.kernel)).astype(dtype)
    K = pruned.blocked_stack(n_in, n_out, N, dtype)
    X, Y = pruned.split_stack(n_in, N, dtype), pruned.split_stack(n_out, N, dtype)
    flat = np.arange(n_in * n_out)
    ri, rj = flat // n_out, flat % n_out
    nb = K.shape[0]
    region = tuple(slice(s - 1, n) for s, n in zip(span, geo.in_size))
    pieces = 2 * threads
    bounds = np.linspace(0, nb, pieces + 1).round().astype(int)

    def per_map(fn: Callable[[int], None], count: int) -> Phase:
        return [partial(fn, m) for m in range(count)]

    def forward_products(lo: int, hi: int) -> None:
        products.forward_products(K, X, Y, lo, hi, False)

    def backward_products(lo: int, hi: int) -> None:
        products.backward_products(K, Y, X, lo, hi, False)

    def kernels(a: int) -> None:
        pruned.kernel_spectra(w[a:a + 8], geo.dilation, N, ri[a:a + 8], rj[a:a + 8], K)

    def kernel_grads(a: int) -> None:
        out = np.empty((8, *geo.kernel), dtype=dtype)
        b = min(a + 8, len(flat))
        pruned.kernel_gradients(Y, X, ri[a:b], rj[a:b], geo.kernel, geo.dilation, N, out[:b - a])

    def input_spectrum(m: int) -> None:
        pruned.map_spectrum(x[m], N, X, m)

    def inverse(m: int) -> None:
        pruned.map_inverse(Y, m, N, region, np.empty(geo.out_size, dtype))

    def grad_spectrum(m: int) -> None:
        pruned.map_spectrum(g[m], N, Y, m, tuple(s - 1 for s in span))

    ranges = [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    phases: list[Phase] = [
        [partial(kernels, a) for a in range(0, len(flat), 8)],
        per_map(input_spectrum, n_in),
        [partial(forward_products, lo, hi) for lo, hi in ranges],
        per_map(inverse, n_out),
    ]
    if training:
        phases.append(per_map(grad_spectrum, n_out))
        if need_input_grad:
            phases.append([partial(backward_products, lo, hi) for lo, hi in ranges])
        phases.append([partial(kernel_grads, a) for a in range(0, len(flat), 8)])
    return phases


def _gemm_phases(edge: EdgeGroup, geo: EdgeGeometry, n_in: int, n_out: int, dtype: np.dtype, training: bool,
                 need_input_grad: bool, threads: int) -> list[Phase]:
    limit_blas_threads()
    rng = np.random.default_rng(0)
    src = rng.standard_normal((n_in, *geo.in_size)).astype(dtype)
    grad = rng.standard_normal((n_out, *geo.out_size)).astype(dtype)
    kernels = rng.standard_normal((n_in, n_out, *geo.kernel)).astype(dtype)
    work = EdgeWork(edge, geo, src, training, kernels=kernels, conv_mode="gemm", grad=grad)
    out = np.empty((n_out, *geo.out_size), dtype)
    gin = np.empty((n_in, *geo.in_size), dtype)
    forward, backward = forward_weights(kernels), tap_weights(kernels)
    wide = WideGradient.for_gradient(grad, geo)
    partial_shape = kernel_grad_shape(geo, n_in, n_out)

    def kernel_grad(block: Block) -> None:
        kernel_grad_block(work, wide, block, np.empty(partial_shape, dtype))

    phases: list[Phase] = [[partial(forward_block, work, forward, block, out, False)
                            for block in forward_blocks(geo, threads)]]
    if training:
        phases.append([partial(wide.fill, grad, 0, n_out)])
        pieces: Phase = [partial(kernel_grad, block) for block in forward_blocks(geo, threads)]
        if need_input_grad:
            pieces += [partial(input_grad_block, work, backward, wide, block, gin, False)
                       for block in input_grad_blocks(geo, threads)]
        phases.append(pieces)
    return phases


def _time_loop(geo: EdgeGeometry, n_in: int, n_out: int, dtype: np.dtype, training: bool,
               need_input_grad: bool, threads: int) -> float:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(geo.in_size).astype(dtype)
    g = rng.standard_normal(geo.out_size).astype(dtype)
    w = rng.standard_normal(geo.kernel).astype(dtype)
    d = np.array(geo.dilation, dtype=np.int64)
    out, gin, kg = np.zeros(geo.out_size, dtype), np.zeros(geo.in_size, dtype), np.zeros(geo.kernel, dtype)

    def pair() -> None:
        conv_direct.conv_forward_add(x, w, d, out)
        if training and need_input_grad:
            conv_direct.conv_input_grad_add(g, w, d, gin)
        if training:
            conv_direct.conv_kernel_grad_add(x, g, d, kg)

    pair()
    samples, start = 0, time.perf_counter()
    while samples < n_in * n_out and (samples == 0 or time.perf_counter() - start < _LOOP_SAMPLE_SECONDS):
        pair()
        samples += 1
    single = (time.perf_counter() - start) / samples * n_in * n_out
    return single / min(threads, n_out)  # map pairs are independent: one chunk of targets per thread


def time_candidates(edge: EdgeGroup, geo: EdgeGeometry, n_in: int, n_out: int, dtype: np.dtype, *,
                    training: bool, need_input_grad: bool, threads: int) -> dict[ConvImplMode, float]:
    """Seconds of one pass (training: forward + backward) of a conv group, per implementation; a
    candidate stopped for being slower than one before it is left out."""
    gemm = _timed(_gemm_phases(edge, geo, n_in, n_out, dtype, training, need_input_grad, threads), threads)
    assert gemm is not None  # nothing to beat: never stopped
    times: dict[ConvImplMode, float] = {"gemm": gemm}
    if geo.kernel != (1, 1, 1):  # a 1x1x1 kernel is never transformed (ZNN's rule)
        fft = _timed(_fft_phases(geo, n_in, n_out, dtype, training, need_input_grad, threads), threads, beat=gemm)
        if fft is not None:
            times["fft"] = fft
    times["loop"] = _time_loop(geo, n_in, n_out, dtype, training, need_input_grad, threads)
    return times


Chosen = tuple[dict[str, ConvImplMode], dict[str, dict]]


def choose_conv_modes(graph: NetworkGraph, dtype: np.dtype, edges: list[str], num_threads: int, *,
                      training: bool = True) -> Chosen:
    """The fastest implementation of each given conv edge, and a report of the timings."""
    run = iter_choose_conv_modes(graph, dtype, edges, num_threads, training=training)
    while True:
        try:
            next(run)
        except StopIteration as finished:
            return finished.value


def optimized_edges(graph: NetworkGraph, conv_mode: ConvMode | Mapping[str, ConvMode]) -> list[str]:
    """The conv groups that `conv_mode` asks to be timed (`requested_mode` is 'optimize')."""
    return [name for name, edge in graph.spec.edges.items()
            if edge.is_trainable and requested_mode(edge, graph.edges[name].kernel, conv_mode) == "optimize"]


def iter_choose_conv_modes(graph: NetworkGraph, dtype: np.dtype, edges: list[str], num_threads: int, *,
                           training: bool = True) -> Generator[ConvModeChosen, None, Chosen]:
    """`choose_conv_modes`, yielding a `ConvModeChosen` after each conv group."""
    threads = num_threads or usable_cores()
    chosen: dict[str, ConvImplMode] = {}
    report: dict[str, dict] = {}
    for done, name in enumerate(edges, start=1):
        began = time.perf_counter()
        geo = graph.edges[name]
        n_in, n_out = graph.nodes[geo.source].maps, graph.nodes[geo.target].maps
        need_input_grad = not node_kind(graph.nodes[geo.source].type).is_input
        key = (n_in, n_out, geo.in_size, geo.kernel, geo.dilation, np.dtype(dtype).str, training,
               need_input_grad, threads)
        if key not in _decisions:
            times = time_candidates(graph.spec.edges[name], geo, n_in, n_out, np.dtype(dtype), training=training,
                                    need_input_grad=need_input_grad, threads=threads)
            best = min(times, key=lambda mode: times[mode])
            stopped = {"fft_stopped": True} if geo.kernel != (1, 1, 1) and "fft" not in times else {}
            _decisions[key] = {**{f"{mode}_s": seconds for mode, seconds in times.items()},
                               "mode": best, "threads": threads, **stopped}
        report[name] = dict(_decisions[key])
        chosen[name] = report[name]["mode"]
        yield ConvModeChosen(done, len(edges), name, chosen[name], time.perf_counter() - began)
    return chosen, report


def format_report(report: dict[str, dict]) -> str:
    """One line per conv group: every candidate's time and the choice."""
    lines = []
    for name, row in report.items():
        times = ", ".join(f"{mode} {row[f'{mode}_s'] * 1e3:.1f} ms" if f"{mode}_s" in row else
                          f"{mode} stopped (slower)" for mode in CONV_IMPL_MODES
                          if f"{mode}_s" in row or (mode == "fft" and row.get("fft_stopped")))
        lines.append(f"{name}: {times} at {row['threads']} thread(s) -> {row['mode']}")
    return "\n".join(lines)
