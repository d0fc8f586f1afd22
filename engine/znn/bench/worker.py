"""One benchmark configuration, measured in a process of its own.

`python -m znn.bench.worker '<config JSON>'` prints one JSON object (the last line of
stdout). A fresh process per configuration keeps peak RSS and thread pools clean: the
runner sets the OpenMP/BLAS thread variables before the libraries load.

Timing follows ZNN's `speed_test`: inputs and output gradients drawn from U[-1, 1], one
untimed forward, warm-up updates, then timed updates where one update is a backward pass
with its weight update followed by the next forward pass (updates may overlap that forward).
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import statistics
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from math import prod
from typing import Any, cast

import numpy as np

from znn.base.errors import ZnnError
from znn.base.modes import ConvMode
from znn.bench.cases import ENGINE_OURS, SETUP_PHASES, WARMUP_PHASE, Config
from znn.netspec.library import network_path
from znn.netspec.znnfile import read_znn


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


class Watchdog:
    """Ends the process with a 'skipped' result when a guarded phase runs past the cap.

    Numba, FFTW and torch release the GIL while they compute, so a timer thread can
    report and exit even while the main thread is inside a long kernel.
    """

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self._lock = threading.Lock()
        self._active: str | None = None

    @contextmanager
    def phase(self, name: str, limit_s: float) -> Iterator[None]:
        started = time.perf_counter()
        timer = threading.Timer(limit_s, self._expire, args=(name, started, limit_s))
        timer.daemon = True
        with self._lock:
            self._active = name
        timer.start()
        try:
            yield
        finally:
            with self._lock:
                self._active = None
            timer.cancel()

    def _expire(self, name: str, started: float, limit_s: float) -> None:
        with self._lock:
            if self._active != name:
                return
            elapsed = time.perf_counter() - started
            self.result.update(status="skipped", skip_kind="time", peak_rss_mib=peak_rss_mib(),
                               skip_phase=name, skip_after_s=round(elapsed, 3),
                               reason=f"{name} was still running after {elapsed:.1f} s "
                                      f"(limit {limit_s:g} s)")
            emit(self.result)
            os._exit(0)  # the main thread is inside a kernel that cannot be interrupted


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def uniform_sets(shapes: Mapping[str, tuple[int, ...]], count: int, rng: np.random.Generator,
                 batch: bool = False) -> list[dict[str, np.ndarray]]:
    """`count` dicts of float32 arrays from U[-1, 1]; `batch` prepends a batch axis of 1."""
    lead = (1,) if batch else ()
    return [{name: rng.uniform(-1.0, 1.0, lead + tuple(shape)).astype(np.float32)
             for name, shape in shapes.items()} for _ in range(count)]


def summarise(update_s: list[float], forward_s: list[float], voxels: int) -> dict[str, Any]:
    """Medians, spread and throughput of the timed rounds."""
    spread = statistics.stdev(update_s) if len(update_s) > 1 else 0.0
    forward_median = statistics.median(forward_s)
    return {
        "update_s": [round(t, 6) for t in update_s],
        "update_median_s": statistics.median(update_s),
        "update_stdev_s": spread,
        "update_mean_s": statistics.fmean(update_s),
        "update_stderr_s": statistics.pstdev(update_s) / len(update_s) ** 0.5,  # ZNN's report
        "forward_s": [round(t, 6) for t in forward_s],
        "forward_median_s": forward_median,
        "forward_voxels_per_s": voxels / forward_median if forward_median > 0 else None,
    }


def measure(config: Config, result: dict[str, Any], build: Callable[[], Any],
            step: Callable[[Any, int], None], forward_only: Callable[[Any, int], None],
            after_build: Callable[[Any], bool] = lambda model: True) -> Any:
    """Run the phases shared by both engines; returns the model.

    build() -> model; after_build(model) -> whether to go on timing it; step(model, k):
    backward with gradient set k, weight update, forward with input set k (set 0 is the
    untimed first forward); forward_only(model, k), k = -1 for that first forward.
    """
    guard = Watchdog(result)
    result["base_rss_mib"] = peak_rss_mib()  # interpreter and libraries, before the network
    started = time.perf_counter()
    with guard.phase(SETUP_PHASES[0], config.setup_cap_s):
        model = build()
    result["build_s"] = time.perf_counter() - started
    if not after_build(model):
        return model
    started = time.perf_counter()
    with guard.phase(SETUP_PHASES[1], config.setup_cap_s):
        forward_only(model, -1)
    result["first_forward_s"] = time.perf_counter() - started
    warmups = []
    for k in range(config.warmup):
        started = time.perf_counter()
        with guard.phase(WARMUP_PHASE, config.cap_s):
            step(model, 1 + k)
        warmups.append(time.perf_counter() - started)
    result["warmup_s"] = round(max(warmups), 3)
    if max(warmups) > config.cap_s:  # when the watchdog could not fire in time
        result.update(status="skipped", skip_kind="time", skip_phase=WARMUP_PHASE,
                      skip_after_s=result["warmup_s"],
                      reason=f"the warm-up update took {max(warmups):.1f} s (cap {config.cap_s:g} s)")
        return model
    update_s = []
    for k in range(config.repeats):
        started = time.perf_counter()
        step(model, 1 + config.warmup + k)
        update_s.append(time.perf_counter() - started)
    forward_s = []
    for k in range(max(3, config.repeats // 2)):  # forward passes vary less than updates
        started = time.perf_counter()
        forward_only(model, k)
        forward_s.append(time.perf_counter() - started)
    result.update(summarise(update_s, forward_s, prod(config.outsz)), status="ok")
    return model


def blas_kernels() -> str:
    """Which BLAS libraries are loaded and which kernel they run (OpenBLAS's core type)."""
    from threadpoolctl import threadpool_info

    found = [f"{info.get('prefix')} {info.get('architecture') or '?'}" for info in threadpool_info()
             if info.get("user_api") == "blas"]
    return ", ".join(found) or "no BLAS loaded"


def run_ours(config: Config, result: dict[str, Any]) -> None:
    from znn.fft import plans
    from znn.network.net import Network

    # Measured FFTW plans (kept as wisdom in the user cache) are what a long run would use.
    plans.set_planner_effort(plans.MEASURE)
    spec = read_znn(network_path(config.net))
    kwargs: dict[str, Any] = {"dtype": "float32", "conv_mode": config.mode, "seed": config.seed}
    # The task-parallel engine adds num_threads; older engines run on one thread.
    if "num_threads" in inspect.signature(Network).parameters:
        kwargs["num_threads"] = config.threads
    else:
        result["note"] = "engine without num_threads: ran single-threaded"
    rng = np.random.default_rng(config.seed)
    rounds = 1 + config.warmup + config.repeats
    holder: dict[str, Any] = {}

    def build() -> Any:
        net = Network(spec, config.outsz, **kwargs)
        holder["net"] = net
        holder["inputs"] = uniform_sets(net.graph.input_sizes, rounds, rng)
        holder["grads"] = uniform_sets(net.graph.output_sizes, rounds, rng)
        return net

    def step(net: Any, k: int) -> None:
        net.backward(holder["grads"][k])
        net.update()
        net.forward(holder["inputs"][k])

    def forward_only(net: Any, k: int) -> None:
        if k >= 0:
            net.set_phase("test")  # inference, as ZNN's forward.py runs it
        net.forward(holder["inputs"][max(k, 0)])

    def after_build(net: Any) -> bool:
        from znn.parallel.optimize import format_report

        modes = dict(getattr(net, "conv_modes", {}))
        result["conv_modes"] = dict(sorted(Counter(modes.values()).items()))
        result["conv_modes_by_edge"] = modes
        result["conv_mode_report"] = format_report(getattr(net, "conv_mode_report", {})).splitlines()
        result["blas"] = blas_kernels()
        for label, earlier in (config.reuse or {}).items():
            if earlier == modes:  # the very configuration measured in another row
                result.update(status="same", same_as=label,
                              reason=f"{config.mode} chose the conv modes of the {label} row")
                return False
        return True

    try:
        net = measure(config, result, build, step, forward_only, after_build)
    except ZnnError as error:
        if "net" in holder:
            raise
        result.update(status="unsupported", reason=str(error))  # e.g. a mode this engine lacks
        return
    result["threads_used"] = getattr(net, "num_threads", 1 if "note" in result else config.threads)
    close = getattr(net, "close", None)
    if callable(close):
        close()


def run_peer(config: Config, result: dict[str, Any]) -> None:
    try:
        import torch
    except ImportError:
        from znn.bench.torch_peer import INSTALL_HINT

        result.update(status="missing", reason=INSTALL_HINT)
        return
    from znn.bench.torch_peer import TorchPeer
    from znn.params.init import initial_parameters

    torch.set_num_threads(config.threads)
    spec = read_znn(network_path(config.net))
    rng = np.random.default_rng(config.seed)
    rounds = 1 + config.warmup + config.repeats
    state: dict[str, Any] = {}

    def build() -> Any:
        peer = TorchPeer(spec, config.outsz, dtype="float32")
        peer.load_params(initial_parameters(spec, config.seed))  # the weights ours starts from
        state["optimizer"] = torch.optim.SGD(peer.parameters(), lr=1e-4)
        state["inputs"] = uniform_sets(peer.graph.input_sizes, rounds, rng)
        state["grads"] = [{name: torch.from_numpy(a) for name, a in grads.items()}
                          for grads in uniform_sets(peer.graph.output_sizes, rounds, rng, batch=True)]
        return peer

    def step(peer: Any, k: int) -> None:
        outputs = state["outputs"]
        torch.autograd.backward([outputs[n] for n in outputs], [state["grads"][k][n] for n in outputs])
        state["optimizer"].step()
        state["optimizer"].zero_grad(set_to_none=True)
        state["outputs"] = peer.forward(state["inputs"][k])

    def forward_only(peer: Any, k: int) -> None:
        if k < 0:  # the untimed first forward builds the graph the first backward needs
            state["outputs"] = peer.forward(state["inputs"][0])
            return
        peer.train = False
        state.pop("outputs", None)
        with torch.no_grad():
            peer.forward(state["inputs"][k])

    measure(config, result, build, step, forward_only)
    result["threads_used"] = torch.get_num_threads()
    result["blas"] = f"torch CPU capability {torch.backends.cpu.get_cpu_capability()}"


def prewarm(modes: list[ConvMode]) -> None:
    """Build, run and update tiny2d once per mode so that numba's kernel cache is filled."""
    from znn.network.net import Network

    spec = read_znn(network_path("tiny2d"))
    for mode in modes:
        try:
            net = Network(spec, (1, 4, 4), conv_mode=mode, seed=0)
        except ZnnError:
            continue  # a mode this engine lacks: the configuration will say so
        shapes = uniform_sets(net.graph.input_sizes, 1, np.random.default_rng(0))[0]
        net.forward(shapes)
        net.backward(uniform_sets(net.graph.output_sizes, 1, np.random.default_rng(1))[0])
        net.update()
        net.forward(shapes)
        close = getattr(net, "close", None)
        if callable(close):
            close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "--prewarm":
        # runner.prewarm sends only modes of OUR_MODES
        prewarm(cast("list[ConvMode]", args[1].split(",")))
        return 0
    config = Config.from_json_dict(json.loads(args[0]))
    result: dict[str, Any] = {"config": config.to_json_dict(), "status": "error", "reason": None}
    try:
        if config.engine == ENGINE_OURS:
            run_ours(config, result)
        else:
            run_peer(config, result)
    except Exception as error:  # a failed row must not end the whole benchmark
        result.update(status="error", reason=f"{type(error).__name__}: {error}",
                      traceback=traceback.format_exc(limit=6))
    result["peak_rss_mib"] = peak_rss_mib()
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
