"""Patch augmentation: ZNN's 16 flips (reference §5.7) and optional EM-defect simulation.

`Flips` is ZNN's `is_data_aug`: four fair coins per patch, applied alike to the input,
label and mask patches so they stay aligned. It is the only augmentation ZNN has.

`EMAugment` is an addition of this re-implementation (off unless asked for). It imitates
the defects of serial-section EM stacks — lost sections, a section that slipped in-plane,
section-to-section contrast changes — on the *input image only*: the labels keep
describing the true tissue, so the network learns to infer it from the neighbouring
sections when one section is bad.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Flips:
    """One of the 16 flip/transpose transforms of a 4-D (c, z, y, x) patch."""

    flip_z: bool
    flip_y: bool
    flip_x: bool
    transpose_yx: bool

    @classmethod
    def draw(cls, rng: np.random.Generator, allow_transpose: bool = True) -> Flips:
        """Four fair coins (`rng.random(4) > 0.5`) in the order z, y, x, transpose.

        With `allow_transpose=False` (non-square patches) the fourth coin is still drawn,
        so the random stream does not depend on patch shapes, but ignored.
        """
        coins = rng.random(4) > 0.5
        return cls(bool(coins[0]), bool(coins[1]), bool(coins[2]),
                   bool(coins[3]) and allow_transpose)

    def apply(self, array4d: np.ndarray) -> np.ndarray:
        """A C-contiguous transformed copy: flip z (axis 1), y (axis 2), x (axis 3), then
        swap y and x. Transposing needs y == x (ValueError otherwise)."""
        out = self._checked(array4d)
        if self.flip_z:
            out = out[:, ::-1]
        if self.flip_y:
            out = out[:, :, ::-1]
        if self.flip_x:
            out = out[:, :, :, ::-1]
        if self.transpose_yx:
            out = out.transpose(0, 1, 3, 2)
        return np.array(out, order="C", copy=True)

    def undo(self, array4d: np.ndarray) -> np.ndarray:
        """The inverse of `apply` (e.g. to map a prediction back onto the volume)."""
        out = self._checked(array4d)
        if self.transpose_yx:
            out = out.transpose(0, 1, 3, 2)
        if self.flip_x:
            out = out[:, :, :, ::-1]
        if self.flip_y:
            out = out[:, :, ::-1]
        if self.flip_z:
            out = out[:, ::-1]
        return np.array(out, order="C", copy=True)

    def _checked(self, array4d: np.ndarray) -> np.ndarray:
        array = np.asarray(array4d)
        if array.ndim != 4:
            raise ValueError(f"flips apply to 4-D (c, z, y, x) patches, got shape {array.shape}")
        if self.transpose_yx and array.shape[2] != array.shape[3]:
            raise ValueError(f"cannot transpose y and x of a non-square patch {array.shape}")
        return array


@dataclass(frozen=True)
class EMAugment:
    """Simulated serial-section EM defects, applied to input patches (c, z, y, x).

    * `missing_section`: probability, per section, that it is replaced by a flat image
      (the patch's mean value per channel — what a blank section looks like after
      normalisation, roughly).
    * `misalignment`: probability that the patch gets one slipped section: a single
      section chosen uniformly, shifted in y and x by integers drawn uniformly from
      [−max_shift, max_shift], edge pixels replicated into the uncovered border. Only one
      section moves (not all following ones), because the labels are not shifted: moving
      a whole block of sections would make half the patch contradict its labels.
    * `intensity`: per-section contrast/brightness jitter v·(1 + a) + b·s with a and b
      drawn uniformly from [−intensity, intensity] per section and channel, s the std of
      the patch channel (1 if it is 0).

    Order: intensity, then misalignment, then missing sections (so a missing section is
    truly flat). Missing sections and misalignment need at least two sections; a patch
    with one section only gets the intensity jitter.
    """

    missing_section: float = 0.0
    misalignment: float = 0.0
    max_shift: int = 8
    intensity: float = 0.0

    def __post_init__(self) -> None:
        for name in ("missing_section", "misalignment"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"EMAugment.{name} is a probability in [0, 1], got {value}")
        if self.max_shift < 0:
            raise ValueError(f"EMAugment.max_shift must be >= 0, got {self.max_shift}")
        if self.intensity < 0:
            raise ValueError(f"EMAugment.intensity must be >= 0, got {self.intensity}")

    @property
    def enabled(self) -> bool:
        """Whether `apply` can change anything at all."""
        slips = self.misalignment > 0 and self.max_shift > 0
        return self.missing_section > 0 or slips or self.intensity > 0

    def apply(self, inputs4d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A new, augmented copy of `inputs4d` (never modified in place)."""
        source = np.asarray(inputs4d)
        if source.ndim != 4:
            raise ValueError(f"EMAugment applies to 4-D (c, z, y, x) patches, got {source.shape}")
        dtype = source.dtype if source.dtype.kind == "f" else np.dtype(np.float32)
        out = source.astype(dtype, copy=True)
        if not self.enabled or out.size == 0:
            return out
        sections = out.shape[1]
        if self.intensity > 0:
            self._jitter(out, rng)
        if sections > 1 and self.misalignment > 0 and self.max_shift > 0:
            if rng.random() < self.misalignment:
                self._slip(out, rng)
        if sections > 1 and self.missing_section > 0:
            missing = rng.random(sections) < self.missing_section
            if missing.any():
                flat = out.mean(axis=(1, 2, 3), dtype=np.float64).astype(dtype)
                out[:, missing] = flat[:, np.newaxis, np.newaxis, np.newaxis]
        return out

    def _jitter(self, out: np.ndarray, rng: np.random.Generator) -> None:
        channels, sections = out.shape[:2]
        scale = out.std(axis=(1, 2, 3), dtype=np.float64)
        scale[~(scale > 0)] = 1.0
        contrast = rng.uniform(-self.intensity, self.intensity, size=(channels, sections))
        brightness = rng.uniform(-self.intensity, self.intensity, size=(channels, sections))
        offset = brightness * scale[:, np.newaxis]
        out *= (1.0 + contrast)[:, :, np.newaxis, np.newaxis].astype(out.dtype)
        out += offset[:, :, np.newaxis, np.newaxis].astype(out.dtype)

    def _slip(self, out: np.ndarray, rng: np.random.Generator) -> None:
        z = int(rng.integers(out.shape[1]))
        dy, dx = (int(v) for v in rng.integers(-self.max_shift, self.max_shift + 1, size=2))
        rows = np.clip(np.arange(out.shape[2]) - dy, 0, out.shape[2] - 1)
        cols = np.clip(np.arange(out.shape[3]) - dx, 0, out.shape[3] - 1)
        out[:, z] = out[:, z][:, rows[:, np.newaxis], cols[np.newaxis, :]]
