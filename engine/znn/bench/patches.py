"""Forward throughput at the best patch under a RAM budget: our planner against PyTorch.

ZNNi's observation is that sliding-window inference should use the largest patch memory
allows, since each patch recomputes FOV-1 voxels of context. This compares output voxels
per second of our engine at the patch `plan_forward_patch` picks with PyTorch at the
best of a ladder of cubic patches whose activations fit the same budget. Each side runs
in its own process, so peak RSS is reported per side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from znn.netspec.graph import NetworkGraph
from znn.netspec.library import network_path
from znn.netspec.znnfile import read_znn

PEER_SIDES = (9, 17, 33, 49)  # cubic outputs tried for the peer, smallest first
PEER_LIMIT_S = 120.0  # stop climbing the ladder once one forward pass takes this long


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _time_forward(run: Callable[[], object], repeats: int) -> float:
    run()  # plans, spectra, allocator warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def ours(net: str, budget: int, threads: int, repeats: int) -> dict[str, Any]:
    from znn.fft import plans
    from znn.network import Network
    from znn.planner import plan_forward_patch

    plans.set_planner_effort(plans.MEASURE)
    spec = read_znn(network_path(net))
    plan = plan_forward_patch(spec, ram_budget_bytes=budget, num_threads=threads)
    with Network(spec, plan.outsz, num_threads=threads, phase="test", seed=0) as engine:
        rng = np.random.default_rng(0)
        x = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in engine.graph.input_sizes.items()}
        seconds = _time_forward(lambda: engine.forward(x), repeats)
    return {"outsz": list(plan.outsz), "seconds": seconds, "voxels_per_s": int(np.prod(plan.outsz)) / seconds,
            "estimate_bytes": plan.memory_bytes, "peak_rss_bytes": _peak_rss_bytes()}


def peer(net: str, budget: int, threads: int, repeats: int) -> dict[str, Any]:
    import torch

    from znn.bench.torch_peer import TorchPeer

    torch.set_num_threads(threads)
    spec = read_znn(network_path(net))
    tried: list[dict[str, Any]] = []
    for side in PEER_SIDES:
        graph = NetworkGraph(spec, (side, side, side))
        # Inference keeps at most a layer's input and output alive; all maps is the safe bound.
        if sum(n.voxels for n in graph.nodes.values()) * 4 > budget:
            break
        model = TorchPeer(spec, (side, side, side), train=False)
        rng = np.random.default_rng(0)
        x = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in graph.input_sizes.items()}

        def run(model: TorchPeer = model, x: dict[str, np.ndarray] = x) -> None:
            with torch.no_grad():
                model.forward(x)
        seconds = _time_forward(run, max(1, repeats // 2))  # the ladder is long: fewer repeats per rung
        tried.append({"outsz": [side] * 3, "seconds": seconds, "voxels_per_s": side ** 3 / seconds})
        if seconds > PEER_LIMIT_S:
            break
    best = max(tried, key=lambda r: r["voxels_per_s"])
    return dict(best, tried=tried, peak_rss_bytes=_peak_rss_bytes())


def compare(net: str, budget: int, threads: int, repeats: int = 3,
            say: Callable[[str], object] = print) -> dict[str, Any]:
    """Run both sides in child processes; returns both results and the ratio."""
    results: dict[str, Any] = {}
    for side in ("ours", "peer"):
        done = subprocess.run([sys.executable, "-m", "znn.bench.patches", side, net, str(budget), str(threads),
                               str(repeats)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{side} forward-throughput run failed:\n{done.stderr[-2000:]}")
        results[side] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[side]
        say(f"{net} forward, {side}: output {'x'.join(map(str, r['outsz']))}, {r['voxels_per_s']:,.0f} voxels/s, "
            f"peak {r['peak_rss_bytes'] / 2**30:.1f} GiB")
    results["ratio"] = results["ours"]["voxels_per_s"] / results["peer"]["voxels_per_s"]
    say(f"{net} forward throughput ours/torch at the best patch under {budget / 2**30:.0f} GiB: "
        f"{results['ratio']:.2f}x")
    return results


if __name__ == "__main__":
    which, name, budget_s, threads_s, repeats_s = sys.argv[1:6]
    run = ours if which == "ours" else peer
    print(json.dumps(run(name, int(budget_s), int(threads_s), int(repeats_s))))
