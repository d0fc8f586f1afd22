"""Reusable pyFFTW plans for real 3-D transforms, and persisted FFTW wisdom.

A plan (a `pyfftw.FFTW` object with its own aligned input and output buffers) is built
once per (transform shape, precision, direction, planner effort) and reused by every
later transform of that kind, as ZNN does (§3.6 of the reference).

Thread safety — why a per-thread cache: an FFTW object executes on the buffers it owns,
so two threads running the same object at once would overwrite each other's data;
swapping buffers with `update_arrays` would also mutate shared state. Instead every
thread gets its own plan objects (a `threading.local` cache) and runs them without any
lock; `execute()` releases the GIL, so transforms of different threads overlap. Only
planning and wisdom import/export (FFTW's planner is not re-entrant) take a module lock.
The price is one set of buffers per shape per worker thread.

Plans are single-threaded (threads=1): the engine's scheduler parallelises across maps.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from math import prod
from pathlib import Path

import numpy as np
import pyfftw

ESTIMATE = "FFTW_ESTIMATE"
MEASURE = "FFTW_MEASURE"
_EFFORTS = (ESTIMATE, MEASURE, "FFTW_PATIENT", "FFTW_EXHAUSTIVE")

# FFTW's planner and wisdom functions must not run concurrently.
_planner_lock = threading.Lock()
_wisdom_loaded = False  # set once the user cache has been read into FFTW
_per_thread = threading.local()
_default_effort = ESTIMATE

Region = tuple[slice, ...]


def set_planner_effort(effort: str) -> None:
    """Planner flag for plans built from now on: FFTW_ESTIMATE (default, fast to plan)
    or FFTW_MEASURE (slower to plan, often faster to run; worth saving as wisdom)."""
    global _default_effort
    if effort not in _EFFORTS:
        raise ValueError(f"unknown FFTW planner effort {effort!r}; expected one of {_EFFORTS}")
    _default_effort = effort


def planner_effort() -> str:
    return _default_effort


def real_dtype(dtype: np.dtype | type | str) -> np.dtype:
    """The supported real precision matching `dtype` (float32/complex64 or float64/complex128)."""
    dt = np.dtype(dtype)
    if dt in (np.float32, np.complex64):
        return np.dtype(np.float32)
    if dt in (np.float64, np.complex128):
        return np.dtype(np.float64)
    raise TypeError(f"FFT transforms support float32 and float64 only, not {dt}")


def complex_dtype(dtype: np.dtype | type | str) -> np.dtype:
    return np.dtype(np.complex64 if real_dtype(dtype) == np.float32 else np.complex128)


def spectrum_shape(shape: Sequence[int]) -> tuple[int, ...]:
    """Shape of the half spectrum of a real array of `shape` (last axis n//2+1)."""
    shape = tuple(int(s) for s in shape)
    return shape[:-1] + (shape[-1] // 2 + 1,)


def _thread_plans() -> dict:
    plans = getattr(_per_thread, "plans", None)
    if plans is None:
        plans = _per_thread.plans = {}
    return plans


def get_plan(shape: Sequence[int], dtype: np.dtype | type | str, direction: str,
             effort: str | None = None) -> pyfftw.FFTW:
    """The calling thread's plan for a real transform of `shape`.

    direction "forward" is real -> half spectrum, "inverse" half spectrum -> real.
    The plan's `input_array` / `output_array` are its own aligned buffers.
    """
    shape = tuple(int(s) for s in shape)
    real = real_dtype(dtype)
    effort = effort or _default_effort
    if direction not in ("forward", "inverse"):
        raise ValueError(f"direction must be 'forward' or 'inverse', not {direction!r}")
    key = (shape, real.str, direction, effort)
    plans = _thread_plans()
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = _build_plan(shape, real, direction, effort)
    return plan


def _build_plan(shape: tuple[int, ...], real: np.dtype, direction: str,
                effort: str) -> pyfftw.FFTW:
    global _wisdom_loaded
    measured = effort != ESTIMATE
    if measured and not _wisdom_loaded:
        # Measured plans are slow to make: reuse what earlier runs learnt, once per process.
        load_wisdom()
        _wisdom_loaded = True
    real_buf = pyfftw.empty_aligned(shape, dtype=real)
    spec_buf = pyfftw.empty_aligned(spectrum_shape(shape), dtype=complex_dtype(real))
    axes = tuple(range(len(shape)))
    with _planner_lock:
        if direction == "forward":
            plan = pyfftw.FFTW(real_buf, spec_buf, axes=axes, direction="FFTW_FORWARD",
                               flags=(effort,), threads=1)
        else:
            # The input is our own scratch copy, so FFTW may overwrite it (faster c2r).
            plan = pyfftw.FFTW(spec_buf, real_buf, axes=axes, direction="FFTW_BACKWARD",
                               flags=(effort, "FFTW_DESTROY_INPUT"), threads=1)
    if measured:
        save_wisdom((real,))
    return plan


def make_fftw(a: np.ndarray, b: np.ndarray, axes: tuple[int, ...], inverse: bool) -> pyfftw.FFTW:
    """A single-threaded FFTW plan from `a` to `b` over `axes` at the current planner
    effort; measured plans reuse and extend the saved wisdom."""
    global _wisdom_loaded
    effort = _default_effort
    measured = effort != ESTIMATE
    if measured and not _wisdom_loaded:
        load_wisdom()
        _wisdom_loaded = True
    flags = (effort, "FFTW_DESTROY_INPUT") if inverse else (effort,)
    with _planner_lock:
        plan = pyfftw.FFTW(a, b, axes=axes, direction="FFTW_BACKWARD" if inverse else "FFTW_FORWARD",
                           flags=flags, threads=1)
    if measured:
        save_wisdom((real_dtype(a.dtype),))
    return plan


def clear_plan_cache() -> None:
    """Drop the calling thread's plans (and their buffers)."""
    _thread_plans().clear()


def _leading_region(data_shape: Sequence[int]) -> Region:
    return tuple(slice(0, s) for s in data_shape)


def rfftn(a: np.ndarray, shape: Sequence[int], region: Region | None = None) -> np.ndarray:
    """Half spectrum of `a` zero-padded to `shape` (like numpy.fft.rfftn(a, shape)).

    `region` places `a` elsewhere in the zero array (slices of the padded array, steps
    allowed): e.g. a dilated kernel or a gradient embedded at an offset, without building
    the padded array first. Returns a new complex64/complex128 array.
    """
    a = np.asarray(a)
    plan = get_plan(shape, a.dtype, "forward")
    buf = plan.input_array
    region = _leading_region(a.shape) if region is None else region
    target = buf[region]
    if target.shape != a.shape:
        raise ValueError(f"array of shape {a.shape} does not fit region {region} of {tuple(shape)}")
    if target.size != buf.size:
        buf.fill(0)
    target[...] = a
    plan.execute()
    return plan.output_array.copy()


def irfftn(spectrum: np.ndarray, shape: Sequence[int], region: Region | None = None) -> np.ndarray:
    """Real array of `shape` whose half spectrum is `spectrum`, divided by prod(shape)
    (numpy.fft.irfftn normalisation). With `region`, only that part (slices, steps
    allowed) is returned — cropping and scaling in one pass. The input is not modified."""
    spectrum = np.asarray(spectrum)
    shape = tuple(int(s) for s in shape)
    if spectrum.shape != spectrum_shape(shape):
        raise ValueError(f"spectrum of shape {spectrum.shape} does not match real shape {shape}")
    plan = get_plan(shape, spectrum.dtype, "inverse")
    plan.input_array[...] = spectrum
    plan.execute()
    raw = plan.output_array if region is None else plan.output_array[region]
    result = np.empty(raw.shape, dtype=raw.dtype)
    np.multiply(raw, raw.dtype.type(1.0 / prod(shape)), out=result)
    return result


# ---------------------------------------------------------------------------- wisdom

def cache_dir() -> Path:
    """$ZNN_CACHE_DIR, else $XDG_CACHE_HOME/znn, else ~/.cache/znn."""
    override = os.environ.get("ZNN_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "znn"


# pyfftw.export_wisdom() returns (double, single, long double) wisdom strings.
_WISDOM_SLOT = {"float64": 0, "float32": 1}


def wisdom_path(dtype: np.dtype | type | str) -> Path:
    return cache_dir() / f"fftw-wisdom-{real_dtype(dtype).name}"


def save_wisdom(dtypes: Sequence[np.dtype | type | str] = ("float32", "float64")) -> list[Path]:
    """Write FFTW's accumulated wisdom for each precision; returns the files written.
    A failure to write (read-only home, ...) is not an error: wisdom is only a speed-up."""
    with _planner_lock:
        wisdom = pyfftw.export_wisdom()
    written = []
    for dtype in dtypes:
        path = wisdom_path(dtype)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + f".tmp{os.getpid()}")
            partial.write_bytes(wisdom[_WISDOM_SLOT[real_dtype(dtype).name]])
            os.replace(partial, path)  # atomic: readers never see half a file
        except OSError:
            continue
        written.append(path)
    return written


def load_wisdom(dtypes: Sequence[np.dtype | type | str] = ("float32", "float64")) -> dict[str, bool]:
    """Import saved wisdom; {dtype name: imported?}. A missing, unreadable or corrupt
    file gives False (FFTW rejects malformed wisdom without side effects)."""
    loaded = {}
    for dtype in dtypes:
        name = real_dtype(dtype).name
        try:
            data = wisdom_path(dtype).read_bytes()
        except OSError:
            loaded[name] = False
            continue
        strings = [b"", b"", b""]
        strings[_WISDOM_SLOT[name]] = data
        with _planner_lock:
            ok = pyfftw.import_wisdom(tuple(strings))
        loaded[name] = bool(ok[_WISDOM_SLOT[name]])
    return loaded
