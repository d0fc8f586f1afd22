"""Run passes of a bundled network and print peak RSS growth and the memory estimate as JSON.

Usage: python peak_rss.py NET Z,Y,X MODE TRAINING(0|1) THREADS. Runs in its own process so
that the peak resident set size belongs to this network alone.
"""

import gc
import json
import os
import resource
import sys

import numpy as np

from znn.kernels import warm_up
from znn.netspec.library import network_path
from znn.netspec.memory import estimate_memory
from znn.netspec.znnfile import read_znn
from znn.network import Network


def current_rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Restart the kernel's peak-RSS counter (VmHWM) so earlier peaks (compilation) do not count."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def passes(net: Network, training: bool) -> None:
    rng = np.random.default_rng(0)
    inputs = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in net.graph.input_sizes.items()}
    grads = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in net.graph.output_sizes.items()}
    for _ in range(2):
        net.forward(inputs)
        if training:
            net.backward(grads)
            net.update()
    net.sync()


def main() -> None:
    name, size, mode, training, threads = sys.argv[1:6]
    outsz = tuple(int(v) for v in size.split(","))
    training, threads = training == "1", int(threads)
    warm_up(np.float32)
    # Compile every kernel these passes use on a small patch first: compilation is not the
    # network's memory, and its transient peak must lie below the measured one.
    small = tuple(min(v, 2) for v in outsz)
    passes(Network(read_znn(network_path(name)), small, conv_mode=mode, num_threads=threads, seed=0), training)
    gc.collect()
    base = current_rss()
    resettable = reset_peak()
    net = Network(read_znn(network_path(name)), outsz, conv_mode=mode, num_threads=threads, seed=0)
    passes(net, training)
    peak = peak_rss() if resettable else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    est = estimate_memory(net.graph, dtype="float32", conv_mode=net.conv_modes, training=training,
                          num_threads=net.num_threads)
    print(json.dumps({"grown": peak - base, "estimate": est.total}))


if __name__ == "__main__":
    main()
