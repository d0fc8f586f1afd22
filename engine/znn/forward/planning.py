"""The forward tile under a RAM budget: the planner's choice given what the process already holds."""

from __future__ import annotations

import os

from znn.base.errors import ZnnError
from znn.base.geometry import Triple, fit_tile, output_shape
from znn.base.modes import ConvMode, Dtype
from znn.netspec.spec import NetSpec
from znn.planning.planner import current_rss_bytes, format_bytes, plan_forward_patch

# The memory estimate was measured up to 9% below the real peak RSS growth of FFT forward passes
# (tests/engine/test_memory_rss.py: N4 1.09); the planner gets 90% of what is left so the process stays
# inside the budget.
PLAN_MARGIN = 0.9


class BudgetError(ZnnError):
    """Nothing of the RAM budget is left for the network."""


def plan_tile(spec: NetSpec, volume: Triple, fov: Triple, *, budget: int, output_bytes: int,
              dtype: Dtype = "float32", conv_mode: ConvMode = "fft", num_threads: int = 0) -> tuple[Triple, str]:
    """The fastest tile whose forward pass fits what `budget` leaves after this process's resident
    memory (interpreter, libraries, loaded volumes) and the output volume still to be allocated.
    Returns the tile (fitted to the volume) and the planner's summary."""
    held = current_rss_bytes() + output_bytes
    left = budget - held
    if left <= 0:
        raise BudgetError(f"this process already holds {format_bytes(current_rss_bytes())} and the output volume "
                          f"needs {format_bytes(output_bytes)}: nothing is left of the RAM budget of "
                          f"{format_bytes(budget)} for the network")
    out = output_shape(volume, fov)
    threads = num_threads or (os.cpu_count() or 1)
    plan = plan_forward_patch(spec, ram_budget_bytes=int(left * PLAN_MARGIN), dtype=dtype,
                              conv_mode="fft" if conv_mode == "optimize" else conv_mode, num_threads=threads,
                              max_side=max(out[1], out[2]), max_z=out[0])
    summary = (f"RAM budget {format_bytes(budget)} - {format_bytes(held)} held by the process and the output "
               f"volume, 10% kept in reserve\n{plan.summary(rows=4)}")
    return fit_tile(volume, plan.outsz, fov), summary
