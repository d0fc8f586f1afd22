"""`znn bench estimate`: the dock's seconds-per-update estimate against measured updates.

Calibrates the cost model afresh (as the dock does once per machine), then for each bundled
network estimates one training update at a typical training patch and times real updates
(optimize, as the dock trains by default) with the same thread count. Reports the ratio
estimate/measured per network; the target is within 30 %.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from znn.base.cores import usable_cores
from znn.bench.report import machine_info
from znn.netspec.graph import NetworkGraph
from znn.netspec.library import network_path
from znn.netspec.vocabulary import Triple
from znn.netspec.znnfile import read_znn
from znn.planning.update_cost import calibrate, measure_update, update_seconds

CASES: tuple[tuple[str, Triple], ...] = (
    ("tiny2d", (1, 64, 64)), ("N4", (1, 64, 64)), ("N4", (1, 128, 128)), ("N4_affinity", (1, 64, 64)),
    ("VD2D", (1, 64, 64)), ("VD2D3D", (1, 64, 64)), ("3d_3", (9, 9, 9)), ("3d_5", (9, 9, 9)),
    ("3d_7", (5, 5, 5)))
TARGET = 0.30


@dataclass(frozen=True)
class EstimateRow:
    net: str
    outsz: Triple
    estimated_s: float
    measured_s: float

    @property
    def ratio(self) -> float:
        return self.estimated_s / self.measured_s


def run_estimate_bench(output: Path, threads: int = 0, cases: tuple[tuple[str, Triple], ...] = CASES,
                       say: Any = print) -> tuple[Path, Path]:
    threads = threads or usable_cores()
    started = time.perf_counter()
    calibration = calibrate(threads)
    calibration_s = time.perf_counter() - started
    say(f"calibrated in {calibration_s:.1f} s: BLAS x{calibration.gemm_scale:.2f}, FFT x{calibration.fft_scale:.2f}, "
        f"the rest x{calibration.other_scale:.2f} of the default speeds")
    rows = []
    for net, outsz in cases:
        path = network_path(net)
        graph = NetworkGraph(read_znn(path), outsz)
        estimated = update_seconds(graph, conv_mode="optimize", rates=calibration.rates)
        measured = measure_update(path.read_text(), outsz, "optimize", threads)
        rows.append(EstimateRow(net, outsz, estimated, measured))
        say(f"{net} {'x'.join(map(str, outsz))}: estimated {estimated:.3f} s, measured {measured:.3f} s "
            f"(x{estimated / measured:.2f})")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    output.mkdir(parents=True, exist_ok=True)
    md, js = output / f"estimate-{stamp}.md", output / f"estimate-{stamp}.json"
    within = sum(abs(r.ratio - 1) <= TARGET for r in rows)
    lines = [f"# Seconds per update: estimate against measurement ({stamp})", "",
             f"{threads} threads, conv mode optimize, float32; calibration {calibration_s:.1f} s "
             f"(BLAS x{calibration.gemm_scale:.2f}, FFT x{calibration.fft_scale:.2f}, "
             f"the rest x{calibration.other_scale:.2f}); "
             f"{within} of {len(rows)} within {TARGET:.0%}.", "",
             "| net | outsz | estimated s | measured s (median of 3) | estimate/measured |",
             "|---|---|---|---|---|"]
    lines += [f"| {r.net} | {'x'.join(map(str, r.outsz))} | {r.estimated_s:.3f} | {r.measured_s:.3f} | "
              f"{r.ratio:.2f} |" for r in rows]
    lines += ["", f"Machine: {machine_info()['cpu']}, {machine_info()['usable_cores']} usable cores."]
    md.write_text("\n".join(lines) + "\n")
    js.write_text(json.dumps({"threads": threads, "calibration_s": calibration_s,
                              "gemm_scale": calibration.gemm_scale, "fft_scale": calibration.fft_scale,
                              "other_scale": calibration.other_scale,
                              "machine": machine_info(),
                              "rows": [{"net": r.net, "outsz": r.outsz, "estimated_s": r.estimated_s,
                                        "measured_s": r.measured_s, "ratio": r.ratio} for r in rows]}, indent=1))
    return md, js
