"""Forward-pass patch planner: the output patch with the best throughput that fits in RAM.

In a sliding-window forward pass every patch recomputes FOV-1 voxels of context along each
axis, so larger patches waste less work on their borders (the ZNNi observation), while memory
grows with the patch. The planner enumerates output sizes the network accepts, keeps those
whose memory estimate fits a budget, ranks them by modelled output voxels per second (the
cost model in `znn.planning.forward_cost`, re-exported here), and can time the best few with a
caller's `measure` function to settle the choice.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from math import prod
from pathlib import Path

from znn.base.errors import ZnnError
from znn.netspec.graph import NetworkGraph
from znn.netspec.memory import estimate_memory
from znn.netspec.spec import NetSpec
from znn.netspec.vocabulary import Triple
from znn.planning.forward_cost import (
    DEFAULT_RATES,
    ConvModes,
    CostRates,
    ForwardWork,
    PlanError,
    calibrate_rates,
    estimated_seconds,
    estimated_work,
    fft_edge_names,
    thread_scratch_bytes,
)

__all__ = [
    "DEFAULT_RATES", "CandidateRow", "CostRates", "ForwardWork", "PatchPlan", "PlanError",
    "budget_from_string", "calibrate_rates", "candidate_outputs", "estimated_seconds",
    "estimated_work", "fft_edge_names", "format_bytes", "plan_forward_patch",
    "thread_scratch_bytes", "total_ram_bytes",
]


# ------------------------------------------------------------------------- candidates

def _default_sides(max_side: int) -> list[int]:
    """1, 2, ..., 64, then steps of 2 to 128, of 4 to 256, ...: dense where sizes differ most."""
    sides, side, step = [], 1, 1
    while side <= max_side:
        sides.append(side)
        if side >= 64 * step:
            step *= 2
        side += step
    return sides


def _powers_of_two(limit: int) -> list[int]:
    return [1 << i for i in range(max(0, limit).bit_length()) if 1 << i <= limit]


def _shapes(graph: NetworkGraph, sides: list[int], max_z: int | None) -> list[Triple]:
    fov = graph.fov
    flat = fov[0] == 1 and all(e.kernel[0] == 1 for e in graph.edges.values())
    shapes: set[Triple] = set()
    if flat:
        # A 2-D net may take several sections at once: z > 1 is valid, though it saves no border.
        zs = _powers_of_two(8 if max_z is None else max_z)
        shapes.update((z, s, s) for s in sides for z in zs)
        return sorted(shapes, key=lambda t: (prod(t), t))
    for s, t in zip(sides, sides[1:] + [0]):
        shapes.add((s, s, s))
        if t:  # near-cubes fill the volume gap between neighbouring cubes
            shapes.update({(s, s, t), (s, t, t)})
    if fov[0] * 4 <= min(fov[1], fov[2]):
        # Anisotropic nets (thin along z) may do best with slabs rather than cubes.
        zs = _powers_of_two(max(sides) if max_z is None else max_z)
        shapes.update((z, s, s) for s in sides for z in zs if z < s)
    return sorted(shapes, key=lambda t: (prod(t), t))


def _candidate_graphs(spec: NetSpec, max_side: int | None, max_z: int | None,
                      sides: Iterable[int] | None) -> list[NetworkGraph]:
    probe = NetworkGraph(spec, (1, 1, 1))  # a spec that fails here is broken at every size
    flat = probe.fov[0] == 1
    if sides is None:
        chosen = _default_sides(max_side or (1024 if flat else 256))
    else:
        chosen = sorted({int(s) for s in sides if int(s) >= 1})
        if max_side is not None:
            chosen = [s for s in chosen if s <= max_side]
    graphs = []
    for outsz in _shapes(probe, chosen, max_z):
        try:
            graphs.append(NetworkGraph(spec, outsz))
        except ZnnError:
            continue  # an output size this network cannot produce
    return graphs


def candidate_outputs(spec: NetSpec, *, max_side: int | None = None, max_z: int | None = None,
                      sides: Iterable[int] | None = None) -> list[Triple]:
    """Output sizes (z, y, x) worth considering for `spec`, smallest volume first.

    2-D nets (field of view 1 along z): squares y = x over `sides`, with z in 1, 2, 4, ...
    up to `max_z` (default 8). 3-D nets: cubes and near-cubes over `sides`, plus slabs
    (z a power of two below y = x) when the field of view is thin along z. `sides` defaults
    to every side up to 64 and sparser steps beyond, up to `max_side` (1024 for 2-D nets,
    256 for 3-D). Sizes that `NetworkGraph` rejects are left out.
    """
    return [g.outsz for g in _candidate_graphs(spec, max_side, max_z, sides)]


# ------------------------------------------------------------------------- planning

@dataclass(frozen=True)
class CandidateRow:
    """One considered output size: its memory need, fit, and throughput."""

    outsz: Triple
    input_size: Triple  # spatial size of the first input
    memory_bytes: int  # forward-pass estimate plus every thread's scratch
    fits: bool
    modelled_seconds: float
    measured_seconds: float | None = None

    @property
    def output_voxels(self) -> int:
        return prod(self.outsz)

    @property
    def modelled_voxels_per_s(self) -> float:
        return self.output_voxels / self.modelled_seconds

    @property
    def measured_voxels_per_s(self) -> float | None:
        return None if self.measured_seconds is None else self.output_voxels / self.measured_seconds


@dataclass(frozen=True)
class PatchPlan:
    """The chosen output patch and every candidate considered (best modelled first)."""

    network: str
    outsz: Triple
    input_sizes: dict[str, tuple[int, int, int, int]]
    memory_bytes: int
    modelled_voxels_per_s: float
    measured_voxels_per_s: float | None
    budget_bytes: int
    settings: str
    candidates: tuple[CandidateRow, ...]

    def summary(self, rows: int = 8) -> str:
        fitting = [c for c in self.candidates if c.fits]
        measured = "" if self.measured_voxels_per_s is None else \
            f", measured {_rate(self.measured_voxels_per_s)}"
        inputs = ", ".join(f"{n} {_fmt(s[1:])}" for n, s in self.input_sizes.items())
        lines = [f"patch plan for {self.network} ({self.settings}), RAM budget {format_bytes(self.budget_bytes)}",
                 f"chosen output {_fmt(self.outsz)} (input {inputs}): needs {format_bytes(self.memory_bytes)}, "
                 f"modelled {_rate(self.modelled_voxels_per_s)}{measured}",
                 f"{len(self.candidates)} sizes considered, {len(fitting)} fit; best by model:",
                 f"{'output':>14} {'input':>14} {'memory':>10} {'modelled':>14} {'measured':>14}"]
        for c in fitting[:rows]:
            m = "" if c.measured_voxels_per_s is None else _rate(c.measured_voxels_per_s)
            mark = " <" if c.outsz == self.outsz else ""
            lines.append(f"{_fmt(c.outsz):>14} {_fmt(c.input_size):>14} {format_bytes(c.memory_bytes):>10} "
                         f"{_rate(c.modelled_voxels_per_s):>14} {m:>14}{mark}".rstrip())
        return "\n".join(lines)


def _fmt(t: Iterable[int]) -> str:
    return "x".join(str(v) for v in t)


def _rate(voxels_per_s: float) -> str:
    for prefix, factor in (("M", 1e6), ("k", 1e3)):
        if voxels_per_s >= factor:
            return f"{voxels_per_s / factor:.3g} {prefix}vox/s"
    return f"{voxels_per_s:.3g} vox/s"


def plan_forward_patch(spec: NetSpec, *, ram_budget_bytes: int, dtype: str = "float32",
                       conv_mode: ConvModes = "fft", cache_spectra: bool = True, num_threads: int = 1,
                       measure: Callable[[Triple], float] | None = None, top_k: int = 3,
                       thread_scratch: int | None = None, rates: CostRates = DEFAULT_RATES,
                       max_side: int | None = None, max_z: int | None = None,
                       sides: Iterable[int] | None = None) -> PatchPlan:
    """The output patch with the most output voxels per second whose forward pass fits.

    Memory need = `estimate_memory(..., training=False)` + `num_threads` x per-thread scratch
    (`thread_scratch` bytes, default `thread_scratch_bytes`). Candidates that fit are ranked
    by modelled throughput; with `measure(outsz) -> seconds per forward pass`, the best
    `top_k` are timed and the fastest measured one is chosen.
    """
    if ram_budget_bytes <= 0:
        raise PlanError(f"RAM budget must be positive, not {ram_budget_bytes} bytes")
    if measure is not None and top_k < 1:
        raise PlanError(f"top_k must be at least 1 to measure candidates, not {top_k}")
    name = Path(spec.source).stem if spec.source else "network"
    graphs = _candidate_graphs(spec, max_side, max_z, sides)
    if not graphs:
        raise PlanError(f"{name}: no candidate output size is valid for this network")
    rows = []
    for g in graphs:
        scratch = thread_scratch_bytes(g, dtype=dtype, conv_mode=conv_mode) if thread_scratch is None \
            else thread_scratch
        need = estimate_memory(g, dtype=dtype, conv_mode=conv_mode, training=False,
                               cache_spectra=cache_spectra).total + num_threads * scratch
        fits = need <= ram_budget_bytes
        seconds = estimated_seconds(g, conv_mode=conv_mode, dtype=dtype, num_threads=num_threads,
                                    cache_spectra=cache_spectra, rates=rates)
        rows.append(CandidateRow(g.outsz, g.input_size, need, fits, seconds))
    fitting = sorted((r for r in rows if r.fits), key=lambda r: (-r.modelled_voxels_per_s, r.memory_bytes))
    if not fitting:
        smallest = min(rows, key=lambda r: r.memory_bytes)
        raise PlanError(
            f"{name}: no output patch fits the RAM budget of {format_bytes(ram_budget_bytes)} "
            f"({ram_budget_bytes} bytes); the smallest candidate, output {_fmt(smallest.outsz)}, needs "
            f"{format_bytes(smallest.memory_bytes)} ({smallest.memory_bytes} bytes) with {num_threads} "
            f"thread(s)' scratch")
    best = fitting[0]
    if measure is not None:
        for i, row in enumerate(fitting[:top_k]):
            seconds = float(measure(row.outsz))
            if not math.isfinite(seconds) or seconds <= 0:
                raise PlanError(f"measure({_fmt(row.outsz)}) returned {seconds!r}; expected positive seconds "
                                "per forward pass")
            fitting[i] = replace(row, measured_seconds=seconds)
        best = max(fitting[:top_k], key=lambda r: r.measured_voxels_per_s or 0.0)
    chosen = next(g for g in graphs if g.outsz == best.outsz)
    others = sorted((r for r in rows if not r.fits), key=lambda r: r.memory_bytes)
    mode = conv_mode if isinstance(conv_mode, str) else "per-edge conv modes"
    settings = (f"{dtype}, {mode}, kernel spectra {'cached' if cache_spectra else 'recomputed'}, "
                f"{num_threads} thread{'s' if num_threads != 1 else ''}")
    return PatchPlan(name, best.outsz, chosen.input_sizes, best.memory_bytes, best.modelled_voxels_per_s,
                     best.measured_voxels_per_s, ram_budget_bytes, settings, tuple(fitting + others))


def forward_timer(spec: NetSpec, *, dtype: str = "float32", conv_mode: ConvModes = "fft",
                  cache_spectra: bool = True, num_threads: int = 1) -> Callable[[Triple], float]:
    """A `measure` for `plan_forward_patch`: seconds of one forward pass of the engine at a
    given output size (after one untimed pass that builds plans and kernel spectra)."""
    import time

    import numpy as np

    from znn.network import Network

    def measure(outsz: Triple) -> float:
        with Network(spec, outsz, dtype=dtype, conv_mode=conv_mode, cache_spectra=cache_spectra,
                     num_threads=num_threads, phase="test", seed=0) as net:
            rng = np.random.default_rng(0)
            inputs = {n: rng.uniform(-1, 1, s).astype(dtype) for n, s in net.graph.input_sizes.items()}
            net.forward(inputs)
            start = time.perf_counter()
            net.forward(inputs)
            return time.perf_counter() - start
    return measure


# ------------------------------------------------------------------------- RAM budget

_UNITS = {"b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": 2**30, "gb": 10**9, "gib": 2**30, "t": 2**40, "tb": 10**12, "tib": 2**40}
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:e([+-]?\d+))?\s*([a-z%]*)\s*$", re.IGNORECASE)
_BUDGET_HELP = "e.g. '16GiB', '500MB', '2G' (binary), '0.5' or '50%' (share of total RAM)"


def _cgroup_limit() -> int | None:
    """Memory limit of this process's container, when one is set (Linux cgroups v2, v1)."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def total_ram_bytes() -> int:
    """Physical RAM, or the container's memory limit when that is smaller."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        raise PlanError("cannot detect total RAM on this system; give the budget with a unit, "
                        "e.g. '16GiB'") from None
    limit = _cgroup_limit()  # inside a container the machine's RAM overstates what we may use
    return min(physical, limit) if limit else physical


def current_rss_bytes() -> int:
    """Resident memory of this process now (interpreter, libraries, loaded volumes), 0 if unknown."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def budget_from_string(text: str, *, total_ram: int | None = None) -> int:
    """Bytes for a RAM budget such as '16GiB', '500MB', '2G', '0.5' or '50%'.

    KB/MB/GB/TB are decimal, KiB/MiB/GiB/TiB and the bare K/M/G/T are binary; a number
    without a unit is a share of total RAM in (0, 1] (`total_ram`, default detected).
    """
    match = _BUDGET.match(text) if isinstance(text, str) else None
    unit = match.group(3).lower() if match else ""
    if not match or (unit and unit != "%" and unit not in _UNITS):
        raise PlanError(f"RAM budget {text!r} is not understood; expected {_BUDGET_HELP}")
    value = float(match.group(1) + (f"e{match.group(2)}" if match.group(2) else ""))
    if unit in ("", "%"):
        share = value / 100 if unit == "%" else value
        if not 0 < share <= 1:
            raise PlanError(f"RAM budget {text!r}: a share of total RAM must lie in (0, 1] (or 0-100%); "
                            f"add a unit for an absolute size, {_BUDGET_HELP}")
        return int(share * (total_ram_bytes() if total_ram is None else total_ram))
    size = int(value * _UNITS[unit])
    if size < 1:
        raise PlanError(f"RAM budget {text!r} must be at least one byte; expected {_BUDGET_HELP}")
    return size


def format_bytes(n: int) -> str:
    """'1.5 GiB'-style size for messages and tables."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"
