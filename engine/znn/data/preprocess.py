"""Image normalisation applied to whole input volumes before mirroring (reference §5.3).

The four `pp_types` of an `[imageN]` section:

* ``standard2D``       — every z-section separately: (v − mean) / std;
* ``standard3D``       — the same with one mean and std for the whole volume;
* ``symetric_rescale`` — (sic, one *m*) map [min, max] linearly onto [−1, 1];
* ``none``             — values kept, only the dtype changes.

The std is the population std (numpy's default ``ddof=0``), as in ZNN. Statistics are
accumulated in float64 whatever the output dtype, so float32 output does not lose
precision on large volumes.

Deliberate difference: ZNN divides by zero on a constant section/volume (a missing
section, a blank tile) and trains on NaN. Here a constant section (standard2D), volume
(standard3D) or volume (symetric_rescale) becomes zeros: the value it would have if the
constant were the mean, and a neutral input for the network.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from znn.base.modes import PP_TYPES, PpType

IMAGE_PP_TYPES: tuple[PpType, ...] = PP_TYPES


def canonical_pp_type(pp_type: str) -> PpType:
    """The IMAGE_PP_TYPES entry `pp_type` names, matched as ZNN does: by substring,
    here also ignoring case, so 'None', ' none' and 'Standard2D' are accepted."""
    lowered = str(pp_type).lower()
    for name in IMAGE_PP_TYPES:
        if name.lower() in lowered:
            return name
    raise ValueError(f"unknown image preprocessing type {pp_type!r}; "
                     f"expected one of {', '.join(IMAGE_PP_TYPES)}")


def preprocess(volume: np.ndarray, pp_type: str, dtype: DTypeLike = "float32") -> np.ndarray:
    """A new (z, y, x) array of `dtype` holding `volume` normalised as `pp_type` says.

    `volume` is never modified. Constant sections/volumes give zeros (see module doc).
    """
    kind = canonical_pp_type(pp_type)
    source = np.asarray(volume)
    if source.ndim != 3:
        raise ValueError(f"preprocess expects a 3-D (z, y, x) volume, got shape {source.shape}")
    out_dtype = np.dtype(dtype)
    if out_dtype.kind != "f":
        raise ValueError(f"preprocess produces floating-point volumes, not {out_dtype}")
    out = np.empty(source.shape, dtype=out_dtype)
    if source.size == 0:
        return out

    if kind == "none":
        out[...] = source
    elif kind == "standard2D":
        for z in range(source.shape[0]):
            section = source[z].astype(np.float64)
            constant = section.max() == section.min()
            _standardise_into(out[z], section, section.mean(), 0.0 if constant else section.std())
    elif kind == "standard3D":
        # One pass per section keeps the float64 temporaries one section large.
        mean = source.mean(dtype=np.float64)
        # Test constancy exactly: a rounded mean would give a tiny, non-zero std.
        std = 0.0 if source.max() == source.min() else _global_std(source, mean)
        for z in range(source.shape[0]):
            _standardise_into(out[z], source[z].astype(np.float64), mean, std)
    else:  # symetric_rescale
        low = float(source.min())
        span = float(source.max()) - low
        for z in range(source.shape[0]):
            section = source[z].astype(np.float64)
            if span > 0:
                out[z] = 2.0 * (section - low) / span - 1.0
            else:
                out[z] = 0.0
    return out


def _global_std(source: np.ndarray, mean: float) -> float:
    """Population std of the whole volume, summed section by section."""
    total = 0.0
    for z in range(source.shape[0]):
        diff = source[z].astype(np.float64) - mean
        total += float(np.sum(diff * diff))
    return float(np.sqrt(total / source.size))


def _standardise_into(target: np.ndarray, values: np.ndarray, mean: float, std: float) -> None:
    if std > 0 and np.isfinite(std):
        target[...] = (values - mean) / std
    else:
        target[...] = 0.0
