"""conv_mode="optimize": time FFT and direct convolution per conv group on its real shapes.

For each conv edge group the FFT path (kernel spectra, input spectra, products, inverse;
in training also the gradient spectra, input-gradient products and kernel gradients) and
the direct path (forward, input gradient, kernel gradient) are timed once on random data
of the group's true sizes, single-threaded. Direct convolution is timed on a sample of
kernel pairs and scaled, since its cost is linear in them and a full run of a slow layer
would take minutes. The faster mode wins; decisions are cached per shape for the process.
"""

from __future__ import annotations

import time

import numpy as np

from znn.fft import products, pruned
from znn.fft.conv import transform_shape
from znn.kernels import conv_direct
from znn.layers.table import node_kind
from znn.modes import ConvImplMode
from znn.netspec.graph import NetworkGraph

_decisions: dict[tuple, dict] = {}
_DIRECT_SAMPLE_SECONDS = 0.2  # stop sampling direct pairs after this long


def _time_fft(n_in: int, n_out: int, in_size: tuple, kernel: tuple, dilation: tuple, dtype: np.dtype,
              need_input_grad: bool) -> float:
    rng = np.random.default_rng(0)
    N = transform_shape(in_size)
    span = pruned.span_of(kernel, dilation)
    out_size = tuple(n - s + 1 for n, s in zip(in_size, span))
    x = rng.standard_normal((n_in, *in_size)).astype(dtype)
    g = rng.standard_normal((n_out, *out_size)).astype(dtype)
    w = rng.standard_normal((n_in * n_out, *kernel)).astype(dtype)
    K = pruned.blocked_stack(n_in, n_out, N, dtype)
    X, Y = pruned.split_stack(n_in, N, dtype), pruned.split_stack(n_out, N, dtype)
    flat = np.arange(n_in * n_out)
    ri, rj = flat // n_out, flat % n_out
    dest = np.empty(out_size, dtype=dtype)
    kgrad = np.empty((8, *kernel), dtype=dtype)
    nb = K.shape[0]

    def run() -> None:
        for a in range(0, len(flat), 8):
            pruned.kernel_spectra(w[a:a + 8], dilation, N, ri[a:a + 8], rj[a:a + 8], K)
        for m in range(n_in):
            pruned.map_spectrum(x[m], N, X, m)
        products.forward_products(K, X, Y, 0, nb, False)
        region = tuple(slice(s - 1, n) for s, n in zip(span, in_size))
        for m in range(n_out):
            pruned.map_inverse(Y, m, N, region, dest)
        for m in range(n_out):
            pruned.map_spectrum(g[m], N, Y, m, tuple(s - 1 for s in span))
        if need_input_grad:
            products.backward_products(K, Y, X, 0, nb, False)
        for a in range(0, len(flat), 8):
            b = min(a + 8, len(flat))
            pruned.kernel_gradients(Y, X, ri[a:b], rj[a:b], kernel, dilation, N, kgrad[:b - a])

    run()  # plans and compilation are not part of the steady state
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _time_direct(n_in: int, n_out: int, in_size: tuple, kernel: tuple, dilation: tuple, dtype: np.dtype,
                 need_input_grad: bool) -> float:
    rng = np.random.default_rng(0)
    span = pruned.span_of(kernel, dilation)
    out_size = tuple(n - s + 1 for n, s in zip(in_size, span))
    x = rng.standard_normal(in_size).astype(dtype)
    g = rng.standard_normal(out_size).astype(dtype)
    w = rng.standard_normal(kernel).astype(dtype)
    d = np.array(dilation, dtype=np.int64)
    out, gin, kg = np.zeros(out_size, dtype), np.zeros(in_size, dtype), np.zeros(kernel, dtype)

    def pair() -> None:
        conv_direct.conv_forward_add(x, w, d, out)
        if need_input_grad:
            conv_direct.conv_input_grad_add(g, w, d, gin)
        conv_direct.conv_kernel_grad_add(x, g, d, kg)

    pair()
    samples, start = 0, time.perf_counter()
    while samples < n_in * n_out and (samples == 0 or time.perf_counter() - start < _DIRECT_SAMPLE_SECONDS):
        pair()
        samples += 1
    return (time.perf_counter() - start) / samples * n_in * n_out


def choose_conv_modes(graph: NetworkGraph, dtype: np.dtype, edges: list[str],
                      num_threads: int) -> tuple[dict[str, ConvImplMode], dict[str, dict]]:
    """{edge: "fft"|"direct"} for the given conv edges, and a report of the timings."""
    chosen: dict[str, ConvImplMode] = {}
    report: dict[str, dict] = {}
    for name in edges:
        geo = graph.edges[name]
        n_in, n_out = graph.nodes[geo.source].maps, graph.nodes[geo.target].maps
        need_input_grad = not node_kind(graph.nodes[geo.source].type).is_input
        key = (n_in, n_out, geo.in_size, geo.kernel, geo.dilation, dtype.str, need_input_grad)
        if key not in _decisions:
            t_fft = _time_fft(n_in, n_out, geo.in_size, geo.kernel, geo.dilation, dtype, need_input_grad)
            t_direct = _time_direct(n_in, n_out, geo.in_size, geo.kernel, geo.dilation, dtype,
                                    need_input_grad)
            _decisions[key] = {"fft_s": t_fft, "direct_s": t_direct,
                               "mode": "fft" if t_fft <= t_direct else "direct"}
        report[name] = dict(_decisions[key])
        chosen[name] = "fft" if report[name]["mode"] == "fft" else "direct"
    return chosen, report


def format_report(report: dict[str, dict]) -> str:
    """One line per conv group: both timings and the choice."""
    lines = []
    for name, r in report.items():
        lines.append(f"{name}: fft {r['fft_s'] * 1e3:.1f} ms, direct {r['direct_s'] * 1e3:.1f} ms "
                     f"-> {r['mode']}")
    return "\n".join(lines)
