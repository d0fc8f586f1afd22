"""Random training/validation patches from loaded samples (reference §5.4, §5.6, §5.7).

Alignment. Every volume V of a sample (input images after mirroring, labels) is aligned
with the others at its centre c = (V − 1) // 2, per axis. A patch of size P at deviation
d is the range [c + d − (P − 1) // 2, c + d + P // 2 + 1). A volume allows the deviations
−((V − 1) // 2 − (P − 1) // 2) … V // 2 − P // 2; the sample uses the intersection over
all its inputs and labels (it always contains 0 when every volume is at least as large
as its patch), so one d cuts matching patches everywhere.

Centres. ZNN draws a voxel of the first output's label (or of the voxels where its mask
is on) uniformly among those whose deviation from the label centre is allowed; d is that
voxel minus the label centre. Without a mask the allowed voxels form a box, so we draw
each coordinate uniformly in it instead of listing them; with a mask the flat indices of
the mask-on voxels of the box are listed once, at construction.

Per patch, in ZNN's order: cut → flips (`augment`, same transform for inputs, labels and
masks, y↔x transpose only if every patch is square in y, x) → for affinity outputs drop
the inputs' first slice/row/column and turn the one-voxel-larger label patch into 3
affinity channels → targets, masks, rebalance weights. The optional EM-defect
augmentation (not in ZNN) then changes the inputs only.

Painted strokes (`label_modes[name] == "sparse_strokes"`, converted by `znn.data.label_modes`): the
mask is the painted voxels, so centres are painted voxels of the first output, an affinity edge
counts only when both of its voxels are painted, and `Patch.sparse` names the outputs whose
statistics (pixel error, validation cost) count only the painted voxels. For affinity outputs a
patch whose edge mask is empty (the output grid drops the first slice, which with a one-section
output is where the centre lies half the time) is drawn again.

Choosing between samples (`SampleSet`) is uniform, whatever their sizes: ZNN meant to
weight samples by their number of candidate voxels, but its code weights them equally
(quirk 13), and we keep that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from znn.base.errors import ConfigError
from znn.base.modes import OUTPUT_KINDS, LabelMode, OutputKind, Rebalance
from znn.base.triples import triple
from znn.data.augment import EMAugment, Flips
from znn.data.rebalance import (
    affinity_weight_map,
    boundary_weight_map,
    global_boundary_weights,
    patch_weights,
)
from znn.data.targets import (
    affinity_channel,
    affinity_mask,
    affinity_mask_channel,
    affinity_target,
    boundary_mask,
    boundary_target,
)

SAMPLE_KINDS = OUTPUT_KINDS
_AXES = "(z, y, x)"
# Draws of a sparse affinity sample before giving up on finding a painted edge in the output patch.
MAX_REDRAWS = 200


@dataclass
class Patch:
    """One training example: 4-D (channels, z, y, x) arrays keyed by network node name."""

    inputs: dict[str, np.ndarray]  # input node -> (1, z, y, x) float image
    targets: dict[str, np.ndarray]  # output node -> (C, z, y, x) float32
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # absent: no mask
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # absent: rebalancing off
    sample_id: int = 0
    location: tuple[int, int, int] = (0, 0, 0)  # the drawn voxel of the first output's label
    sparse: frozenset[str] = frozenset()  # outputs trained from strokes: statistics count mask-on voxels only


def deviation_range(volume_shape: tuple[int, ...], patch_shape: tuple[int, ...],
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), inclusive, of the deviations at which `patch_shape` fits in the volume."""
    v = np.asarray(volume_shape[-3:], dtype=np.int64)
    p = np.asarray(patch_shape[-3:], dtype=np.int64)
    return -((v - 1) // 2 - (p - 1) // 2), v // 2 - p // 2


def centre_region(shape: tuple[int, ...], outsz: tuple[int, int, int],
                  kind: OutputKind = "affinity") -> tuple[slice, slice, slice]:
    """The box of voxels of a (z, y, x) label volume on which a patch of `outsz` can be centred for
    an output of `kind` (affinity patches are cut one voxel larger, so 'affinity' suits either)."""
    grow = 1 if kind == "affinity" else 0
    low, high = deviation_range(shape, _grown(outsz, grow))
    centre = (np.asarray(shape[-3:]) - 1) // 2
    z, y, x = (slice(max(0, int(c + a)), max(0, int(c + b + 1))) for c, a, b in zip(centre, low, high))
    return z, y, x


def cut_patch(volume: np.ndarray, deviation: np.ndarray | tuple[int, int, int],
              patch_shape: tuple[int, int, int]) -> np.ndarray:
    """A (1, z, y, x) copy of the patch of `volume` (z, y, x) at `deviation` from its centre."""
    shape = np.asarray(volume.shape, dtype=np.int64)
    size = np.asarray(patch_shape, dtype=np.int64)
    start = (shape - 1) // 2 + np.asarray(deviation, dtype=np.int64) - (size - 1) // 2
    if np.any(start < 0) or np.any(start + size > shape):
        raise ValueError(f"patch {tuple(size)} at deviation {tuple(deviation)} leaves the "
                         f"volume {tuple(shape)}")
    region = tuple(slice(int(a), int(a + n)) for a, n in zip(start, size))
    return np.array(volume[region][np.newaxis], order="C", copy=True)


def _grown(size: tuple[int, int, int], grow: int) -> tuple[int, int, int]:
    return (size[0] + grow, size[1] + grow, size[2] + grow)


def _triple(value: tuple[int, int, int], what: str) -> tuple[int, int, int]:
    triple = tuple(int(n) for n in value)
    if len(triple) != 3 or any(n < 1 for n in triple):
        raise ValueError(f"{what} must be three positive integers {_AXES}, got {tuple(value)}")
    return triple


class TrainingSample:
    """One `[sampleN]`: its loaded volumes and everything needed to cut random patches.

    `images` are already preprocessed (and mirrored when asked); `labels` hold raw ids;
    `masks[name]` is None where an output has no mask. Centres are drawn on the first
    output of `labels` (ZNN's choice too). The arrays are shared, never modified.
    `label_modes` (default: all `dense_boundary`) says which outputs come from painted strokes,
    already converted (`znn.data.label_modes.convert_labels`), whose masks are the painted voxels.
    `source` (the .spec file) is named in errors.
    """

    def __init__(self, sample_id: int, images: Mapping[str, np.ndarray],
                 labels: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray | None], *,
                 input_sizes: Mapping[str, tuple[int, int, int]],
                 output_size: tuple[int, int, int], kind: OutputKind, rebalance: Rebalance | None,
                 augment: bool, em_augment: EMAugment | None = None, source: str = "",
                 label_modes: Mapping[str, LabelMode] | None = None) -> None:
        if kind not in SAMPLE_KINDS:
            raise ValueError(f"kind must be one of {SAMPLE_KINDS}, got {kind!r}")
        if rebalance not in (None, "global", "patch"):
            raise ValueError(f"rebalance must be 'global', 'patch' or None, got {rebalance!r}")
        self.sample_id = int(sample_id)
        self.kind = kind
        self.rebalance = rebalance
        self.augment = bool(augment)
        self.em_augment = em_augment if em_augment is not None and em_augment.enabled else None
        self.source = source
        # Affinity patches are cut one voxel larger per axis and shrunk after the flips.
        grow = 1 if kind == "affinity" else 0
        self.input_patch = {name: _grown(_triple(size, f"input size of '{name}'"), grow)
                            for name, size in input_sizes.items()}
        self.label_patch = _grown(_triple(output_size, "output size"), grow)

        self.images = {name: self._volume(images, name, "input") for name in self.input_patch}
        if not labels:
            raise self._error("a training sample needs a label for its output", key=None,
                              expected="an output node bound to a [labelN]", found="no label")
        self.labels = {name: self._volume(labels, name, "output") for name in labels}
        self.masks = {name: self._mask(masks.get(name), name) for name in self.labels}
        modes = label_modes or {}
        self.sparse = frozenset(name for name in self.labels if modes.get(name) == "sparse_strokes")
        for name in self.sparse:
            if self.masks[name] is None:
                raise self._error(f"output '{name}' is trained from strokes but has no mask of painted voxels",
                                  key=name, expected="the mask of its painted voxels", found="no mask")

        low, high = self._allowed_deviations()
        self._primary = next(iter(self.labels))
        label_shape = np.asarray(self.labels[self._primary].shape, dtype=np.int64)
        self._label_centre = (label_shape - 1) // 2
        self._box_start = self._label_centre + low
        self._box_shape = tuple(int(n) for n in high - low + 1)
        self._candidates = self._mask_candidates()
        self._square = all(size[1] == size[2] for size in
                           [*self.input_patch.values(), self.label_patch])
        self._global = self._global_weights()

    # --- construction helpers ------------------------------------------------------------

    def _error(self, message: str, *, key: str | None, expected: str, found: str) -> ConfigError:
        return ConfigError(message, file=self.source or None, group=f"sample{self.sample_id}",
                           key=key, expected=expected, found=found)

    def _volume(self, arrays: Mapping[str, np.ndarray], name: str, role: str) -> np.ndarray:
        if name not in arrays:
            raise self._error(f"network {role} '{name}' has no volume in this sample", key=name,
                              expected=f"a volume bound to '{name}'", found="nothing")
        volume = np.asarray(arrays[name])
        if volume.ndim != 3:
            raise self._error(f"the {role} volume of '{name}' is not 3-D", key=name,
                              expected=f"a {_AXES} volume", found=f"shape {volume.shape}")
        return volume

    def _mask(self, mask: np.ndarray | None, name: str) -> np.ndarray | None:
        if mask is None:
            return None
        mask = np.asarray(mask)
        if mask.shape != self.labels[name].shape:
            raise self._error(f"the mask of output '{name}' does not match its label", key=name,
                              expected=f"shape {self.labels[name].shape} (the label's)",
                              found=f"shape {mask.shape}")
        return mask

    def _allowed_deviations(self) -> tuple[np.ndarray, np.ndarray]:
        low = np.full(3, np.iinfo(np.int64).min)
        high = np.full(3, np.iinfo(np.int64).max)
        volumes = [(name, "input", vol, self.input_patch[name]) for name, vol in self.images.items()]
        volumes += [(name, "output", vol, self.label_patch) for name, vol in self.labels.items()]
        for name, role, volume, patch in volumes:
            if any(v < p for v, p in zip(volume.shape, patch)):
                what = "image" if role == "input" else "label"
                note = " (affinity patches are one voxel larger per axis)" if self.kind == "affinity" else ""
                raise self._error(
                    f"the {what} volume of {role} '{name}' is smaller than its patch{note}",
                    key=name, expected=f"at least {tuple(patch)} voxels {_AXES}",
                    found=f"shape {tuple(volume.shape)}")
            vol_low, vol_high = deviation_range(volume.shape, patch)
            low, high = np.maximum(low, vol_low), np.minimum(high, vol_high)
        return low, high

    def _centre_mask(self) -> np.ndarray | None:
        """The voxels a centre may be drawn on: the first output's mask. For sparse affinity also a
        voxel before a painted one on axes where the label patch is 2 voxels (a one-voxel output):
        unflipped, the output holds the voxel after the centre (see `MAX_REDRAWS`)."""
        mask = self.masks[self._primary]
        if mask is None or self.kind != "affinity" or self._primary not in self.sparse:
            return mask
        on = np.asarray(mask) > 0
        centres = on.copy()
        for axis, size in enumerate(self.label_patch):
            if size == 2:
                index: list[slice] = [slice(None)] * 3
                after: list[slice] = [slice(None)] * 3
                index[axis], after[axis] = slice(None, -1), slice(1, None)
                centres[tuple(index)] |= on[tuple(after)]
        return centres

    def _mask_candidates(self) -> np.ndarray | None:
        """Flat indices (into the allowed box) of the mask-on voxels of the first output."""
        mask = self._centre_mask()
        if mask is None:
            return None
        start, shape = self._box_start, self._box_shape
        box = mask[tuple(slice(int(a), int(a) + n) for a, n in zip(start, shape))]
        plane = shape[1] * shape[2]
        dtype = np.int32 if box.size < 2**31 else np.int64
        # Slice by slice, so the int64 temporaries of flatnonzero stay small.
        parts = [(np.flatnonzero(box[z] > 0) + z * plane).astype(dtype) for z in range(shape[0])]
        candidates = np.concatenate(parts) if parts else np.zeros(0, dtype)
        if candidates.size == 0:
            stop = tuple(int(a) + n for a, n in zip(start, shape))
            raise self._error(
                f"the mask of output '{self._primary}' has no voxel where a patch can be centred",
                key=self._primary,
                expected=f"a mask voxel > 0 in the box {tuple(int(a) for a in start)}..{stop}"
                         f" {_AXES} (end excluded) of the {tuple(mask.shape)} mask",
                found="none")
        return candidates

    def _global_weights(self) -> dict[str, list[tuple[float, float]]]:
        """Whole-volume rebalance weights (only needed for 'global'), per output."""
        if self.rebalance != "global":
            return {}
        weights: dict[str, list[tuple[float, float]]] = {}
        for name, label in self.labels.items():
            mask = self.masks[name]
            if self.kind == "boundary":
                weights[name] = [global_boundary_weights(label, mask)]
            else:
                # As ZNN: the true affinities of the whole label, on its shrunken grid,
                # one channel at a time to keep memory at one boolean volume.
                both = name in self.sparse
                weights[name] = [
                    patch_weights(affinity_channel(label, c),
                                  None if mask is None else affinity_mask_channel(mask, c, both=both))
                    for c in range(3)]
        return weights

    # --- drawing -------------------------------------------------------------------------

    @property
    def global_weights(self) -> dict[str, list[tuple[float, float]]]:
        """Per output: [(w_pos, w_zero)] (boundary) or one pair per affinity channel."""
        return {name: list(pairs) for name, pairs in self._global.items()}

    @property
    def candidate_count(self) -> int:
        """How many label voxels can be drawn as patch centres."""
        if self._candidates is not None:
            return int(self._candidates.size)
        return int(np.prod(self._box_shape))

    def draw_location(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """A centre voxel of the first output's label, uniformly among the candidates."""
        if self._candidates is None:
            offset = rng.integers(0, np.asarray(self._box_shape))
        else:
            flat = self._candidates[rng.integers(self._candidates.size)]
            offset = np.asarray(np.unravel_index(int(flat), self._box_shape))
        return triple(int(n) for n in self._box_start + offset)

    def patch_at(self, location: tuple[int, int, int], rng: np.random.Generator | None = None,
                 ) -> Patch:
        """The patch centred on `location` (a voxel of the first output's label).

        `rng` drives augmentation; without one no augmentation is applied.
        """
        deviation = np.asarray(location, dtype=np.int64) - self._label_centre
        inputs = {name: cut_patch(vol, deviation, self.input_patch[name])
                  for name, vol in self.images.items()}
        labels = {name: cut_patch(vol, deviation, self.label_patch)
                  for name, vol in self.labels.items()}
        masks = {name: cut_patch(mask, deviation, self.label_patch)
                 for name, mask in self.masks.items() if mask is not None}

        if self.augment and rng is not None:
            flips = Flips.draw(rng, allow_transpose=self._square)
            inputs = {name: flips.apply(a) for name, a in inputs.items()}
            labels = {name: flips.apply(a) for name, a in labels.items()}
            masks = {name: flips.apply(a) for name, a in masks.items()}

        if self.kind == "affinity":
            inputs = {name: np.ascontiguousarray(a[:, 1:, 1:, 1:]) for name, a in inputs.items()}
            targets = {name: affinity_target(a) for name, a in labels.items()}
            masks = {name: affinity_mask(a, both=name in self.sparse) for name, a in masks.items()}
            weights = {name: affinity_weight_map(targets[name], self.rebalance,
                                                 self._global.get(name, [(1.0, 1.0)] * 3),
                                                 masks.get(name))
                       for name in labels}
        else:
            targets = {name: boundary_target(a) for name, a in labels.items()}
            weights = {name: boundary_weight_map(a, self.rebalance,
                                                 self._global.get(name, [(1.0, 1.0)])[0],
                                                 masks.get(name))
                       for name, a in labels.items()}
            masks = {name: boundary_mask(a) for name, a in masks.items()}

        if self.em_augment is not None and rng is not None:
            inputs = {name: self.em_augment.apply(a, rng) for name, a in inputs.items()}
        return Patch(inputs=inputs, targets=targets, masks=masks,
                     weights={name: w for name, w in weights.items() if w is not None},
                     sample_id=self.sample_id, location=(int(location[0]), int(location[1]), int(location[2])),
                     sparse=self.sparse)

    def draw(self, rng: np.random.Generator) -> Patch:
        """A random patch: uniform centre, then augmentation, all from `rng`."""
        for _ in range(MAX_REDRAWS):
            patch = self.patch_at(self.draw_location(rng), rng)
            # A boundary patch always holds its painted centre; an affinity patch may lack a painted edge.
            if self.kind != "affinity" or all(patch.masks[name].any() for name in self.sparse):
                return patch
        raise self._error(f"no painted affinity edge in {MAX_REDRAWS} patches drawn around painted voxels",
                          key=self._primary, expected="strokes at least two voxels long (an edge links two "
                          "painted voxels)", found="isolated painted voxels")


class SampleSet:
    """The samples of a range (`train_range`, `test_range`); draws pick one uniformly."""

    def __init__(self, samples: list[TrainingSample]) -> None:
        if not samples:
            raise ValueError("a SampleSet needs at least one sample")
        self.samples = list(samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[TrainingSample]:
        return iter(self.samples)

    def draw(self, rng: np.random.Generator) -> Patch:
        """Pick a sample uniformly (ZNN quirk 13), then a patch from it."""
        return self.samples[int(rng.integers(len(self.samples)))].draw(rng)
