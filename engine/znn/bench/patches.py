"""Forward throughput at the best patch under a RAM budget: our planner against PyTorch.

ZNNi's observation is that sliding-window inference should use the largest patch memory
allows, since each patch recomputes FOV-1 voxels of context. This compares output voxels
per second of our engine at the patch `plan_forward_patch` picks (for each conv mode; the
faster counts) with PyTorch at the best of a ladder of patches (cubic for 3-D nets, 1 x s x s
for 2-D ones) whose activations fit the same budget. Each side runs in its own process, so
peak RSS is reported per side.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from znn.base.modes import ConvMode
from znn.netspec.graph import NetworkGraph
from znn.netspec.library import network_path
from znn.netspec.znnfile import read_znn

PEER_SIDES = (9, 17, 33, 49)  # cubic outputs tried for the peer on 3-D nets, smallest first
PEER_SIDES_2D = (64, 128, 256, 512, 1024)  # 1 x s x s outputs on 2-D nets (field of view 1 in z)
OUR_MODES: tuple[ConvMode, ...] = ("direct", "fft")  # each planned under the budget; the faster one counts
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
    """The planner's patch under the budget for each conv mode, measured; the fastest wins."""
    from znn.fft import plans
    from znn.network import Network
    from znn.planning.planner import plan_forward_patch

    plans.set_planner_effort(plans.MEASURE)
    spec = read_znn(network_path(net))
    tried: list[dict[str, Any]] = []
    for mode in OUR_MODES:
        plan = plan_forward_patch(spec, ram_budget_bytes=budget, num_threads=threads, conv_mode=mode)
        with Network(spec, plan.outsz, num_threads=threads, phase="test", seed=0, conv_mode=mode) as engine:
            rng = np.random.default_rng(0)
            x = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in engine.graph.input_sizes.items()}
            seconds = _time_forward(partial(engine.forward, x), repeats)
        tried.append({"mode": mode, "outsz": list(plan.outsz), "seconds": seconds,
                      "voxels_per_s": int(np.prod(plan.outsz)) / seconds, "estimate_bytes": plan.memory_bytes})
    best = max(tried, key=lambda r: float(r["voxels_per_s"]))
    return dict(best, tried=tried, peak_rss_bytes=_peak_rss_bytes())


def peer(net: str, budget: int, threads: int, repeats: int) -> dict[str, Any]:
    import torch

    from znn.bench.torch_peer import TorchPeer

    torch.set_num_threads(threads)
    spec = read_znn(network_path(net))
    tried: list[dict[str, Any]] = []
    flat = NetworkGraph(spec, (1, 1, 1)).fov[0] == 1  # a 2-D net: any z works, xy sets the overhead
    for side in PEER_SIDES_2D if flat else PEER_SIDES:
        outsz = (1, side, side) if flat else (side, side, side)
        graph = NetworkGraph(spec, outsz)
        # Inference keeps at most a layer's input and output alive; all maps is the safe bound.
        if sum(n.voxels for n in graph.nodes.values()) * 4 > budget:
            break
        model = TorchPeer(spec, outsz, train=False)
        rng = np.random.default_rng(0)
        x = {n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in graph.input_sizes.items()}

        def run(model: TorchPeer = model, x: dict[str, np.ndarray] = x) -> None:
            with torch.no_grad():
                model.forward(x)
        seconds = _time_forward(run, max(1, repeats // 2))  # the ladder is long: fewer repeats per rung
        tried.append({"outsz": list(outsz), "seconds": seconds, "voxels_per_s": int(np.prod(outsz)) / seconds})
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
        mode = f" ({r['mode']})" if "mode" in r else ""
        say(f"{net} forward, {side}{mode}: output {'x'.join(map(str, r['outsz']))}, {r['voxels_per_s']:,.0f} "
            f"voxels/s, peak {r['peak_rss_bytes'] / 2**30:.1f} GiB")
    results["ratio"] = results["ours"]["voxels_per_s"] / results["peer"]["voxels_per_s"]
    say(f"{net} forward throughput ours/torch at the best patch under {budget / 2**30:.0f} GiB: "
        f"{results['ratio']:.2f}x")
    return results


if __name__ == "__main__":
    which, name, budget_s, threads_s, repeats_s = sys.argv[1:6]
    run = ours if which == "ours" else peer
    print(json.dumps(run(name, int(budget_s), int(threads_s), int(repeats_s))))
