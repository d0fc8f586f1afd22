"""How many CPU cores this process may use, and thread counts capped at that.

A thread count above the cores buys nothing (the engine's threads compute, they do not wait) and a
large one fails late (`can't start new thread`, or a memory estimate that blames the patch size),
so every count a user gives is capped here, and the commands say so in one note.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask in containers and batch jobs, else the count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def capped_threads(requested: int) -> int:
    """ZNN's rule (a count <= 0 means every core), capped at the usable cores."""
    cores = usable_cores()
    return cores if requested <= 0 else min(requested, cores)


def cap_note(setting: str, requested: int | None) -> str | None:
    """The note for a count above the cores ('--threads 64 is more than the 16 cores: 16 are used'),
    None when the count fits."""
    cores = usable_cores()
    if requested is None or requested <= cores:
        return None
    return f"{setting} {requested} is more than the {cores} cores this process may use: {cores} are used"
