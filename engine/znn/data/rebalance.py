"""Class rebalancing weights that multiply the gradient (reference §4.3).

EM labels are dominated by one class (object interiors outnumber membranes several
times), so ZNN can weight each voxel's gradient by its class. Counts are taken over the
voxels where the mask is on, when there is a mask. With P positive and Z zero voxels,
N = P + Z:

* boundary outputs, mode 'global' (once per sample, whole label volume):
  w_pos = N / (2P), w_zero = N / (2Z), so the weighted counts add up to N;
* everything else — boundary 'patch' (per patch) and affinity 'global' (whole volume) or
  'patch' (per patch), each affinity channel on its own — uses ZNN's "v1" normalisation:
  w_pos = Z / N, w_zero = P / N, so the two weights add up to 1 (10 positive and 15
  zero voxels give 0.6 / 0.4);
* if P or Z is 0 both weights are 1.

Quirks kept on purpose: the two normalisations differ (quirk 9); for boundary outputs
"positive" means label id != 0, counted on the raw ids before binarisation; for affinity
outputs it means true affinity > 0. Weights are given to every voxel of the patch,
masked-out ones included (the mask removes those from the gradient anyway). The mode
names the caller passes are ZNN's *effective* ones (`DataConfig.effective_rebalance_mode`:
'global', 'patch' or None); `rebalance_mode = none` already means 'global' there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from znn.base.modes import Rebalance
from znn.data.targets import as_volume

REBALANCE_MODES: tuple[Rebalance, ...] = ("global", "patch")


def _check_mode(mode: str | None) -> Rebalance | None:
    # Callers without type checking may pass any text: refuse it rather than guess.
    if mode is None or mode in REBALANCE_MODES:
        return mode
    raise ValueError(f"unknown rebalance mode {mode!r}; expected 'global', 'patch' or None "
                     "(map a cfg value with DataConfig.effective_rebalance_mode first)")


def _counts(positive: np.ndarray, mask: np.ndarray | None) -> tuple[int, int]:
    """(P, Z) over the mask-on voxels (all voxels without a mask)."""
    positive = np.asarray(positive, dtype=bool)
    if mask is None:
        n_pos = int(np.count_nonzero(positive))
        return n_pos, positive.size - n_pos
    on = np.asarray(mask) > 0
    if on.shape != positive.shape:
        raise ValueError(f"mask shape {on.shape} differs from the label shape {positive.shape}")
    n_pos = int(np.count_nonzero(positive & on))
    return n_pos, int(np.count_nonzero(on)) - n_pos


def global_boundary_weights(label: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(w_pos, w_zero) = (N/(2P), N/(2Z)) of a whole label volume; positive = id != 0."""
    n_pos, n_zero = _counts(np.asarray(label) != 0, mask)
    if n_pos == 0 or n_zero == 0:
        return 1.0, 1.0
    total = n_pos + n_zero
    return total / (2.0 * n_pos), total / (2.0 * n_zero)


def patch_weights(positive: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    """(w_pos, w_zero) = (Z/N, P/N), ZNN's "v1" normalisation; (1, 1) if P or Z is 0."""
    n_pos, n_zero = _counts(positive, mask)
    if n_pos == 0 or n_zero == 0:
        return 1.0, 1.0
    total = n_pos + n_zero
    return n_zero / total, n_pos / total


def _weight_map(positive: np.ndarray, pair: tuple[float, float]) -> np.ndarray:
    return np.where(positive, np.float32(pair[0]), np.float32(pair[1])).astype(np.float32)


def boundary_weight_map(label_patch: np.ndarray, mode: Rebalance | None,
                        global_pair: tuple[float, float],
                        mask_patch: np.ndarray | None = None) -> np.ndarray | None:
    """(2, z, y, x) weights of a boundary patch (the same map on both channels), or None
    when rebalancing is off. 'global' uses `global_pair` (from `global_boundary_weights`),
    'patch' recomputes v1 weights on this patch (mask-on voxels only)."""
    if _check_mode(mode) is None:
        return None
    label = as_volume(label_patch, "label patch")
    positive = label != 0
    if mode == "patch":
        mask = None if mask_patch is None else as_volume(mask_patch, "mask patch")
        pair = patch_weights(positive, mask)
    else:
        pair = global_pair
    return np.repeat(_weight_map(positive, pair)[np.newaxis], 2, axis=0)


def global_affinity_weights(true_aff: np.ndarray | Sequence[np.ndarray],
                            aff_mask: np.ndarray | Sequence[np.ndarray] | None = None,
                            ) -> list[tuple[float, float]]:
    """Per-channel (w_pos, w_zero) v1 weights of whole-volume true affinities (3, ...).

    Also accepts a sequence of three per-channel arrays, so a caller can build the
    channels one at a time from a large volume.
    """
    if len(true_aff) != 3:
        raise ValueError(f"expected 3 affinity channels, got {len(true_aff)}")
    pairs = []
    for channel in range(3):
        mask = None if aff_mask is None else aff_mask[channel]
        pairs.append(patch_weights(np.asarray(true_aff[channel]) > 0, mask))
    return pairs


def affinity_weight_map(true_aff_patch: np.ndarray, mode: Rebalance | None,
                        global_pairs: Sequence[tuple[float, float]],
                        aff_mask_patch: np.ndarray | None = None) -> np.ndarray | None:
    """(3, z, y, x) weights of an affinity patch, each channel with its own pair, or None
    when rebalancing is off. 'patch' recomputes v1 weights per channel on this patch."""
    if _check_mode(mode) is None:
        return None
    affinity = np.asarray(true_aff_patch)
    if affinity.ndim != 4 or affinity.shape[0] != 3:
        raise ValueError(f"true affinities must be (3, z, y, x), got shape {affinity.shape}")
    if mode == "patch":
        pairs = global_affinity_weights(affinity, aff_mask_patch)
    else:
        pairs = list(global_pairs)
        if len(pairs) != 3:
            raise ValueError(f"expected 3 global weight pairs, got {len(pairs)}")
    out = np.empty(affinity.shape, dtype=np.float32)
    for channel in range(3):
        out[channel] = _weight_map(affinity[channel] > 0, pairs[channel])
    return out
