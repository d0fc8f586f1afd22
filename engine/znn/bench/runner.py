"""`znn bench`: time our engine and the PyTorch peer, one fresh process per configuration.

The runner never imports numba or torch itself: each configuration runs in
`python -m znn.bench.worker` with the OpenMP/BLAS thread variables set to its thread
count, so thread pools and peak memory belong to that configuration alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from znn.base.cores import usable_cores
from znn.base.modes import ConvMode
from znn.bench.cases import (
    DEFAULT_CAP_S,
    ENGINE_OURS,
    OUR_MODES,
    Case,
    Config,
    PeerThreads,
    cases_for,
    default_threads,
    plan_configs,
)
from znn.bench.report import (
    LEGEND,
    blas_summary,
    machine_info,
    machine_text,
    markdown_table,
    table_rows,
    write_results,
)
from znn.netspec.graph import NetworkGraph
from znn.netspec.library import network_path
from znn.netspec.memory import estimate_memory
from znn.netspec.vocabulary import Triple
from znn.netspec.znnfile import read_znn

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
# Some machines pin OpenBLAS to older kernels (an older OpenBLAS broke on their CPU) while
# PyTorch's oneDNN picks its own: workers drop both settings together so that each engine
# runs the kernels the CPU supports, and the table says which ran.
OPENBLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
STARTUP_ALLOWANCE_S = 120.0  # interpreter, imports and cached-kernel loading per process


@dataclass
class BenchOptions:
    """What `znn bench` was asked to run."""

    nets: list[str] | None = None
    outsz: Triple | None = None
    threads: list[int] | None = None  # 0 = all cores; None = 1 and all cores
    modes: list[str] = field(default_factory=lambda: list(OUR_MODES))
    repeats: int | None = None  # None: 3 (the full table must fit 20 minutes on 2 cores)
    warmup: int = 1
    cap_s: float = DEFAULT_CAP_S
    output: Path = Path("bench-results")
    quick: bool = False
    peer: bool = True
    peer_threads: PeerThreads = "all"  # time the peer at every thread count, or at all cores only
    prewarm: bool = True

    def resolved_repeats(self) -> int:
        return self.repeats if self.repeats is not None else 3

    def resolved_threads(self) -> list[int]:
        if not self.threads:
            return default_threads(self.quick)
        return sorted({usable_cores() if t == 0 else t for t in self.threads})


@dataclass
class BenchRun:
    results: list[dict[str, Any]]
    table: str
    markdown_path: Path
    json_path: Path
    interrupted: bool = False


def child_environment(threads: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in OPENBLAS_PINS}
    for name in THREAD_VARIABLES:
        env[name] = str(threads)
    return env


def hard_timeout(config: Config) -> float:
    """Backstop for a worker whose own watchdog could not fire: every phase within its limit."""
    setup = 2 * config.setup_cap_s
    rounds = config.warmup + 2 * config.repeats  # updates and forward passes, each under the cap
    return STARTUP_ALLOWANCE_S + 1.5 * (setup + config.cap_s * rounds)


def _worker_command(argument: str, *flags: str) -> list[str]:
    return [sys.executable, "-m", "znn.bench.worker", *flags, argument]


def run_worker(config: Config) -> dict[str, Any]:
    """Measure one configuration in a fresh process; failures become 'error' results."""
    base = {"config": config.to_json_dict(), "status": "error"}
    try:
        done = subprocess.run(_worker_command(json.dumps(config.to_json_dict())), capture_output=True,
                              text=True, env=child_environment(config.threads), timeout=hard_timeout(config))
    except subprocess.TimeoutExpired as stop:
        return base | {"status": "skipped", "skip_kind": "time",
                       "reason": f"process killed after {stop.timeout:.0f} s (hard timeout)"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    if done.returncode < 0:
        why = f"worker killed by signal {-done.returncode}"
        if done.returncode == -9:
            why += " (out of memory?)"
    else:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        why = f"worker exited with status {done.returncode}: {last}"
    return base | {"reason": why}


def inferred_skip(config: Config, too_slow: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A 'skipped' result without running, when a no-harder configuration already ran past the cap.

    Fewer threads or a larger output never make a step faster, so a time skip with more
    (or as many) threads at a smaller (or the same) output carries over, and so does its
    lower bound on the time of one update.
    """
    for slow in too_slow:
        other = Config.from_json_dict(slow["config"])
        if (other.engine, other.mode, other.net) != (config.engine, config.mode, config.net):
            continue
        if other.threads >= config.threads and all(a <= b for a, b in zip(other.outsz, config.outsz)):
            return {"config": config.to_json_dict(), "status": "skipped", "skip_kind": "inferred",
                    "skip_phase": slow.get("skip_phase"), "skip_after_s": slow.get("skip_after_s"),
                    "reason": f"not run: {other.case.label} with {_threads_text(other.threads)} already "
                              f"exceeded the {config.cap_s:g} s cap"}
    return None


def _threads_text(count: int) -> str:
    return "1 thread" if count == 1 else f"{count} threads"


def memory_skip(config: Config) -> dict[str, Any] | None:
    """A 'skipped' result when our engine's own estimate exceeds the memory available now."""
    available = available_memory()
    if config.engine != ENGINE_OURS or available is None:
        return None
    graph = NetworkGraph(read_znn(network_path(config.net)), config.outsz)
    # optimize may pick fft everywhere, which the estimate assumes for it
    need = estimate_memory(graph, conv_mode=cast(ConvMode, config.mode), num_threads=config.threads).total
    if need <= 0.9 * available:
        return None
    return {"config": config.to_json_dict(), "status": "skipped", "skip_kind": "memory",
            "reason": f"needs about {need / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available"}


def model_skip(config: Config) -> dict[str, Any] | None:
    """A 'skipped' result for direct mode when the cost model puts one update (about three
    forward passes of work) beyond the cap: trying it would only burn the cap."""
    if config.engine != ENGINE_OURS or config.mode != "direct":
        return None
    from znn.planning.planner import estimated_seconds

    graph = NetworkGraph(read_znn(network_path(config.net)), config.outsz)
    update_s = 3 * estimated_seconds(graph, conv_mode="direct", num_threads=config.threads)
    if update_s <= config.cap_s:
        return None
    return {"config": config.to_json_dict(), "status": "skipped", "skip_kind": "model",
            "reason": f"modelled at about {update_s:.0f} s per update (cap {config.cap_s:g} s)"}


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is no such file)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def with_reuse(config: Config, results: list[dict[str, Any]]) -> Config:
    """An optimize config that knows the conv modes of the fft/direct rows of its case."""
    if config.engine != ENGINE_OURS or config.mode != "optimize":
        return config
    earlier = {}
    for result in results:
        other = result["config"]
        # Rows that were timed, or stopped by the cap once built, both tell their conv modes.
        if (result["status"] in ("ok", "skipped") and "conv_modes_by_edge" in result
                and other["engine"] == ENGINE_OURS and other["mode"] != "optimize"
                and (other["net"], tuple(other["outsz"]), other["threads"])
                == (config.net, config.outsz, config.threads)):
            earlier[other["mode"]] = result["conv_modes_by_edge"]
    return replace(config, reuse=earlier or None)


def resolve_same(result: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Fill a 'same' result with the outcome of the row whose configuration it repeats."""
    if result["status"] != "same":
        return result
    config = result["config"]
    for other in results:
        mine = other["config"]
        if (mine["engine"], mine["mode"], mine["net"], mine["outsz"], mine["threads"]) == (
                ENGINE_OURS, result["same_as"], config["net"], config["outsz"], config["threads"]):
            copied = {k: v for k, v in other.items() if k not in ("config", "note")}
            return copied | {"config": config, "same_as": result["same_as"],
                             "note": f"same conv modes as the {result['same_as']} row: its outcome"}
    return result


def prewarm(modes: list[str], threads: int, say: Callable[[str], None]) -> None:
    """Compile numba kernels into their cache once, outside every timed configuration."""
    ours = [m for m in modes if m in OUR_MODES]
    if not ours:
        return
    say("warming kernel caches (tiny2d) ...")
    subprocess.run(_worker_command(",".join(ours), "--prewarm"), capture_output=True, text=True,
                   env=child_environment(threads), timeout=600)


def _stop_on_sigterm() -> Any:
    """Treat SIGTERM like Ctrl-C while benchmarking, so the running worker dies with us."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, interrupt)


def describe_result(result: dict[str, Any]) -> str:
    status = result["status"]
    same = f" (= {result['same_as']} row)" if result.get("same_as") else ""
    if status == "ok":
        return (f"{result['update_median_s']:.3g} s/update (±{result['update_stdev_s']:.2g}), "
                f"forward {result['forward_voxels_per_s']:,.0f} voxels/s, "
                f"peak {result['peak_rss_mib']:.0f} MiB{same}")
    return f"{status}: {result.get('reason') or ''}".rstrip(": ") + same


def run_bench(options: BenchOptions, say: Callable[[str], None] = print) -> BenchRun:
    """Run every configuration, print progress and the table, and write the result files."""
    started = datetime.now()
    cases: list[Case] = cases_for(options.nets, options.outsz, options.quick)
    for case in cases:  # a bad name, file or size fails here, before any process starts
        NetworkGraph(read_znn(network_path(case.net)), case.outsz)
    threads = options.resolved_threads()
    configs = plan_configs(cases, threads, options.modes, with_peer=options.peer, peer_threads=options.peer_threads,
                           repeats=options.resolved_repeats(), warmup=options.warmup, cap_s=options.cap_s)
    info = machine_info()
    say(f"machine: {machine_text(info)}")
    if options.peer and info["versions"]["torch"] is None:
        say("torch not installed: pip install -e '.[bench]' (timing our engine only)")
    if options.prewarm:
        prewarm(options.modes, max(threads), say)
    results: list[dict[str, Any]] = []
    too_slow: list[dict[str, Any]] = []
    interrupted = False
    clock = time.perf_counter()
    previous_handler = _stop_on_sigterm()
    try:
        for index, config in enumerate(configs, 1):
            config = with_reuse(config, results)
            began = time.perf_counter()
            result = (inferred_skip(config, too_slow) or model_skip(config) or memory_skip(config)
                      or run_worker(config))
            result = resolve_same(result, results)
            result["wall_s"] = round(time.perf_counter() - began, 2)  # process start included
            if result.get("skip_kind") in ("time", "inferred"):
                too_slow.append(result)
            results.append(result)
            say(f"[{index}/{len(configs)}] {config.describe()}: {describe_result(result)}")
    except KeyboardInterrupt:  # keep what was measured so far (the running worker is killed)
        interrupted = True
        say("interrupted: writing the configurations measured so far")
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    settings = {"threads": threads, "modes": options.modes, "repeats": options.resolved_repeats(),
                "warmup": options.warmup, "cap_s": options.cap_s, "quick": options.quick,
                "peer": options.peer, "peer_threads": options.peer_threads,
                "cases": [[c.net, list(c.outsz)] for c in cases],
                "openblas_pins_dropped": {name: os.environ[name] for name in OPENBLAS_PINS if name in os.environ},
                "wall_s": round(time.perf_counter() - clock, 1), "interrupted": interrupted}
    rows = table_rows(results)
    table = markdown_table(rows)
    info["blas"] = blas_summary(results)
    md_path, json_path = write_results(options.output, rows, results, info, settings, started)
    say("")
    say(f"BLAS kernels: {info['blas']}")
    say(table)
    say(LEGEND)
    say("")
    say(f"wrote {md_path} and {json_path} ({settings['wall_s']:.0f} s)")
    return BenchRun(results, table, md_path, json_path, interrupted)


__all__ = ["BenchOptions", "BenchRun", "run_bench"]
