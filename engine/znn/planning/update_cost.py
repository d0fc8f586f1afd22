"""Seconds per training update before training starts: the cost model, calibrated on this machine.

An update is a forward pass, a backward pass and the weight update. Each conv group costs what its
implementation does: GEMM its three products (forward, input gradient, kernel gradient) at a BLAS
speed that falls for thin matrices (few input taps K = maps x kernel voxels, few output maps N,
few output voxels M: each factor x/(x+x0), fitted to OpenBLAS on x86); FFT its map transforms,
its spectrum products (memory-bound) and its pruned kernel spectra and gradients. For `optimize`
each group is counted in the implementation the model finds faster, as optimize times them when
training starts. Everything else (transfer functions, pooling, sums, bias gradients, the
scheduler's per-group work) is element-wise work plus a cost per group.

`calibrate` times whole updates of three small networks, each dominated by one kind of work (the
rest, BLAS products, FFTs), and scales the model's speeds to match (a few seconds). The result is kept per
machine and thread count in the cache folder, so the estimate costs nothing afterwards.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from math import log2, prod
from pathlib import Path

import numpy as np

from znn.base.modes import ConvMode
from znn.fft.fftsize import fft_shape, spectrum_elements
from znn.layers.table import edge_kind, node_kind
from znn.netspec.graph import NetworkGraph
from znn.netspec.memory import conv_implementation
from znn.netspec.znnfile import parse_znn

CACHE_NAME = "update-rates.json"
CALIBRATION_VERSION = 5  # bump when the model's terms change: older calibrations no longer fit
# Half-efficiency points of BLAS products (taps per output, output maps, output voxels).
GEMM_K0, GEMM_N0, GEMM_M0 = 60.0, 24.0, 1300.0
LOOP_SLOWDOWN = 10.0  # the numba loops against GEMM, as measured by optimize


@dataclass(frozen=True)
class UpdateRates:
    """Speeds at one thread count; the defaults were fitted on 2 cores of a recent x86."""

    gemm_flops_per_s: float = 62e9  # BLAS products of wide matrices
    transform_s: float = 5.1e-10  # per FFT flop (2.5 N log2 N per transform)
    product_s: float = 1.7e-9  # per spectrum element multiplied and accumulated
    kernel_fft_s: float = 3.3e-10  # pruned kernel spectra and gradients, per pair x tap x element / depth
    pair_s: float = 2.7e-5  # per pair of maps: the calls for its products, kernel spectrum and gradient
    elementwise_s: float = 1.0e-9  # per element-wise operation
    group_s: float = 1.0e-4  # per group and pass: scheduling, Python


DEFAULT_UPDATE_RATES = UpdateRates()


def gemm_seconds(graph: NetworkGraph, name: str, rates: UpdateRates = DEFAULT_UPDATE_RATES) -> float:
    """One conv group's update by BLAS products."""
    e = graph.edges[name]
    n_in, n_out = graph.nodes[e.source].maps, graph.nodes[e.target].maps
    passes = 3 if graph.nodes[e.source].type != "input" else 2  # no gradient flows into the image
    k, m = n_in * prod(e.kernel), prod(e.out_size)
    flops = 2 * m * k * n_out * passes
    efficiency = k / (k + GEMM_K0) * n_out / (n_out + GEMM_N0) * m / (m + GEMM_M0)
    return flops / (rates.gemm_flops_per_s * efficiency)


def fft_seconds(graph: NetworkGraph, name: str, rates: UpdateRates = DEFAULT_UPDATE_RATES) -> float:
    """One conv group's update in the frequency domain."""
    e = graph.edges[name]
    n_in, n_out = graph.nodes[e.source].maps, graph.nodes[e.target].maps
    input_grad = graph.nodes[e.source].type != "input"
    n = prod(fft_shape(e.in_size))
    maps = 2 * n_in + n_out + (n_out if input_grad else 0)  # inputs, inverses, gradients, input gradients
    pairs = n_in * n_out
    return (rates.transform_s * 2.5 * n * log2(max(n, 2)) * maps
            + rates.product_s * pairs * spectrum_elements(e.in_size) * (3 if input_grad else 2)
            + rates.kernel_fft_s * pairs * prod(e.kernel) * n / e.in_size[0] + rates.pair_s * pairs)


def conv_seconds(graph: NetworkGraph, name: str, conv_mode: ConvMode,
                 rates: UpdateRates = DEFAULT_UPDATE_RATES) -> float:
    """One conv group's update in the implementation `conv_mode` gives it (optimize: the faster)."""
    gemm = gemm_seconds(graph, name, rates)
    if graph.edges[name].kernel == (1, 1, 1):
        return gemm  # never transformed
    if conv_mode == "optimize":
        return min(gemm, fft_seconds(graph, name, rates))
    implementation = conv_implementation(graph, name, conv_mode)
    if implementation == "fft":
        return fft_seconds(graph, name, rates)
    return gemm * (LOOP_SLOWDOWN if implementation == "loop" else 1.0)


def other_seconds(graph: NetworkGraph, rates: UpdateRates = DEFAULT_UPDATE_RATES) -> float:
    """Everything but the conv products: node passes (forward, backward, bias gradient), pooling
    and the like (forward and backward), and each group's fixed cost."""
    elementwise, groups = 0, 0
    for e in graph.edges.values():
        groups += 2
        if not edge_kind(e.type).trainable:
            terms = edge_kind(e.type).work(e, graph.nodes[e.source].maps, graph.nodes[e.target].maps)
            elementwise += 2 * terms.elementwise_ops
    for node in graph.nodes.values():
        elementwise += 3 * node_kind(node.type).work(node.voxels).elementwise_ops
        groups += 2
    return elementwise * rates.elementwise_s + groups * rates.group_s


def update_seconds(graph: NetworkGraph, *, conv_mode: ConvMode = "optimize",
                   rates: UpdateRates = DEFAULT_UPDATE_RATES) -> float:
    """Modelled seconds of one training update of `graph` (float32, the rates' thread count)."""
    convs = sum(conv_seconds(graph, name, conv_mode, rates) for name, e in graph.edges.items()
                if edge_kind(e.type).trainable)
    return convs + other_seconds(graph, rates)


# ---------------------------------------------------------------------------- calibration

def _chain(layers: list[tuple[str, str, int]]) -> str:
    """A chain network from (kind, window, maps) rows: conv rows get a transfer node, max-filter
    rows (window z,y,x; stride the same) a sum node; the last row is the output."""
    groups, last = ["nodes input\ntype input\nsize 1"], "input"
    for index, (kind, window, maps) in enumerate(layers):
        node = "output" if index == len(layers) - 1 else f"n{index}"
        if kind == "conv":
            groups.append(f"edges e{index}\ntype conv\ninput {last}\noutput {node}\nsize {window}\ninit xavier")
            function = "linear" if node == "output" else "rectify_linear"
            groups.append(f"nodes {node}\ntype transfer\nsize {maps}\nfunction {function}")
        else:
            groups.append(f"edges e{index}\ntype max_filter\ninput {last}\noutput {node}\nsize {window}\n"
                          f"stride {window}")
            groups.append(f"nodes {node}\ntype sum\nsize {maps}")
        last = node
    return "\n\n".join(groups) + "\n"


# Three short measurements, each dominated by one kind of work and shaped like the networks labs
# train: the per-group and element-wise costs (a small 2-D net), BLAS products (an N4-like net in
# GEMM mode), transforms and spectrum products (a 3-D net with 5x5x5 kernels in FFT mode).
CALIBRATION_NETS: dict[str, tuple[str, tuple[int, int, int], ConvMode]] = {
    "rest": (_chain([("conv", "1,3,3", 8), ("max_filter", "1,2,2", 8), ("conv", "1,3,3", 12),
                     ("conv", "1,1,1", 2)]), (1, 64, 64), "direct"),
    "gemm": (_chain([("conv", "1,4,4", 48), ("max_filter", "1,2,2", 48), ("conv", "1,5,5", 48),
                     ("max_filter", "1,2,2", 48), ("conv", "1,4,4", 48), ("conv", "1,1,1", 2)]),
             (1, 32, 32), "direct"),
    "fft": (_chain([("conv", "5,5,5", 32), ("conv", "5,5,5", 32), ("conv", "1,1,1", 2)]), (32, 32, 32), "fft"),
}


@dataclass(frozen=True)
class Calibration:
    """Speeds fitted on this machine for `num_threads` threads."""

    machine: str
    num_threads: int
    rates: UpdateRates
    gemm_scale: float  # fitted speed / default speed
    fft_scale: float
    other_scale: float
    version: int = CALIBRATION_VERSION


def cpu_model() -> str:
    """The processor's marketing name where the OS tells it, else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_key() -> str:
    """What identifies this machine's speed: processor, cores and operating system."""
    return f"{cpu_model()} | {os.cpu_count()} cpus | {platform.system()}"


def measure_update(text: str, outsz: tuple[int, int, int], conv_mode: ConvMode, num_threads: int,
                   repeats: int = 3) -> float:
    """Median seconds of one update (backward, update, forward) of a network, after one warm-up."""
    from znn.network.net import Network

    spec = parse_znn(text)
    rng = np.random.default_rng(0)
    with Network(spec, outsz, conv_mode=conv_mode, num_threads=num_threads, seed=0) as net:
        inputs = {n: rng.uniform(-1, 1, s).astype("float32") for n, s in net.graph.input_sizes.items()}
        grads = {n: rng.uniform(-1, 1, s).astype("float32") for n, s in net.graph.output_sizes.items()}
        net.forward(inputs)
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            net.backward(grads)
            net.update()
            net.forward(inputs)
            times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def calibrate(num_threads: int, measure: Callable[..., float] = measure_update) -> Calibration:
    """Scale the model's speeds to this machine: each calibration network's update is modelled as
    BLAS + FFT + the rest at the default speeds, and the three scales that best match the measured
    updates (least squares of relative errors, scales positive) become this machine's speeds."""
    rows, times = [], []
    for text, outsz, mode in CALIBRATION_NETS.values():
        graph = NetworkGraph(parse_znn(text), outsz)
        convs = [n for n, e in graph.edges.items() if e.type == "conv"]
        ffts = [n for n in convs if mode == "fft" and graph.edges[n].kernel != (1, 1, 1)]
        gemm_part = sum(gemm_seconds(graph, n) for n in convs if n not in ffts)
        fft_part = sum(fft_seconds(graph, n) for n in ffts)
        seconds = measure(text, outsz, mode, num_threads)
        rows.append([gemm_part / seconds, fft_part / seconds, other_seconds(graph) / seconds])
        times.append(seconds)
    from scipy.optimize import nnls

    inverse, _residual = nnls(np.array(rows), np.ones(len(rows)))
    # A scale the measurements cannot pin down (zero) keeps the default; bounds keep a busy moment
    # from producing nonsense speeds.
    gemm, fft, rest = (min(20.0, max(0.05, 1 / v)) if v > 0 else 1.0 for v in inverse)
    base = DEFAULT_UPDATE_RATES
    rates = replace(base, gemm_flops_per_s=base.gemm_flops_per_s * gemm, transform_s=base.transform_s / fft,
                    product_s=base.product_s / fft, kernel_fft_s=base.kernel_fft_s / fft, pair_s=base.pair_s / fft,
                    elementwise_s=base.elementwise_s / rest, group_s=base.group_s / rest)
    return Calibration(machine_key(), num_threads, rates, gemm, fft, rest)


def cache_file() -> Path:
    from znn.fft.plans import cache_dir

    return cache_dir() / CACHE_NAME


def load_calibration(num_threads: int, path: Path | None = None) -> Calibration | None:
    """This machine's calibration for `num_threads`, or None when there is none (or it is unreadable)."""
    path = path or cache_file()
    try:
        entries = json.loads(path.read_text())
        entry = entries[f"{machine_key()} | {num_threads} threads"]
        if entry.get("version") != CALIBRATION_VERSION:
            return None
        return Calibration(entry["machine"], int(entry["num_threads"]), UpdateRates(**entry["rates"]),
                           float(entry["gemm_scale"]), float(entry["fft_scale"]), float(entry["other_scale"]),
                           CALIBRATION_VERSION)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_calibration(calibration: Calibration, path: Path | None = None) -> None:
    """Keep a calibration beside the others; a cache that cannot be written is skipped silently
    (the estimate is then calibrated again next time)."""
    from znn.base.atomic import atomic_write_text

    path = path or cache_file()
    try:
        entries = json.loads(path.read_text()) if path.exists() else {}
        if not isinstance(entries, dict):
            entries = {}
    except (OSError, ValueError):
        entries = {}
    entries[f"{calibration.machine} | {calibration.num_threads} threads"] = asdict(calibration)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(entries, indent=1))
    except OSError:
        pass


def calibrated(num_threads: int, measure: Callable[..., float] = measure_update) -> Calibration:
    """The cached calibration, or a new one (measured now and cached)."""
    found = load_calibration(num_threads)
    if found is None:
        found = calibrate(num_threads, measure)
        save_calibration(found)
    return found


def main(argv: list[str] | None = None) -> int:
    """`python -m znn.planning.update_cost --threads N`: calibrate for N threads and cache the result."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m znn.planning.update_cost", description=main.__doc__)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    found = calibrate(args.threads)
    save_calibration(found)
    print(json.dumps(asdict(found)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
