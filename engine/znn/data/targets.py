"""Label patches → training targets and masks (reference §5.4).

Label ids are objects; id 0 is boundary (membrane). Targets are float32 (channels, z, y, x).

Boundary outputs get two channels: 0 = inside an object (label > 0), 1 = boundary.

Affinity outputs get three channels in ZNN's order (x, y, z) = (last, middle, first numpy
axis). The affinity of a voxel along an axis links it to its *predecessor* along that axis
(the voxel with the smaller coordinate) and is 1 only when both carry the same non-zero
id: label 0 never connects, not even to another 0. A patch therefore needs one extra voxel
before it on every axis, which is why the sampler cuts label patches one voxel larger and
`affinity_target` returns a grid one voxel smaller per axis.
"""

from __future__ import annotations

import numpy as np

# Numpy axis (of a (z, y, x) volume) that each affinity channel looks along: x, y, z.
AFFINITY_AXES = (2, 1, 0)


def as_volume(array: np.ndarray, what: str) -> np.ndarray:
    """A (z, y, x) view of a 3-D volume or of a one-channel 4-D patch."""
    volume = np.asarray(array)
    if volume.ndim == 4 and volume.shape[0] == 1:
        volume = volume[0]
    if volume.ndim != 3:
        raise ValueError(f"{what} must be (z, y, x) or (1, z, y, x), got shape {volume.shape}")
    return volume


def boundary_target(label: np.ndarray) -> np.ndarray:
    """(2, z, y, x): channel 0 = label > 0 (object), channel 1 = 1 − channel 0 (boundary)."""
    volume = as_volume(label, "label")
    out = np.empty((2,) + volume.shape, dtype=np.float32)
    out[0] = volume > 0
    out[1] = 1.0 - out[0]
    return out


def boundary_mask(mask: np.ndarray) -> np.ndarray:
    """(2, z, y, x): the binarised mask (> 0) repeated for both boundary channels."""
    on = as_volume(mask, "mask") > 0
    return np.repeat(on[np.newaxis], 2, axis=0).astype(np.float32)


def one_class_target(label: np.ndarray) -> np.ndarray:
    """(1, z, y, x): label > 0 (the historical `one_class` transform)."""
    volume = as_volume(label, "label")
    return (volume > 0)[np.newaxis].astype(np.float32)


def _shrunken(volume: np.ndarray) -> np.ndarray:
    return volume[1:, 1:, 1:]


def _predecessor(volume: np.ndarray, axis: int) -> np.ndarray:
    """For each voxel of the shrunken grid, its neighbour one step back along `axis`."""
    index = [slice(1, None)] * 3
    index[axis] = slice(None, -1)
    return volume[tuple(index)]


def affinity_channel(label_enlarged: np.ndarray, channel: int) -> np.ndarray:
    """Boolean (z−1, y−1, x−1) affinity of one channel (0 = x, 1 = y, 2 = z).

    Exposed so whole-volume statistics can be computed one channel at a time.
    """
    volume = as_volume(label_enlarged, "label")
    here = _shrunken(volume)
    return (here == _predecessor(volume, AFFINITY_AXES[channel])) & (here > 0)


def affinity_target(label_enlarged: np.ndarray) -> np.ndarray:
    """(3, z−1, y−1, x−1) true affinities of a label patch one voxel larger per axis.

    Voxel v of the result is voxel v + (1, 1, 1) of the input; channel c is 1 iff that
    voxel and its predecessor along channel c's axis share a non-zero id.
    """
    volume = as_volume(label_enlarged, "label")
    out = np.empty((3,) + tuple(n - 1 for n in volume.shape), dtype=np.float32)
    for channel in range(3):
        out[channel] = affinity_channel(volume, channel)
    return out


def affinity_mask_channel(mask_enlarged: np.ndarray, channel: int, *, both: bool = False) -> np.ndarray:
    """Boolean (z−1, y−1, x−1) mask of one affinity channel (see `affinity_mask`)."""
    on = as_volume(mask_enlarged, "mask") > 0
    if both:
        return _shrunken(on) & _predecessor(on, AFFINITY_AXES[channel])
    return _shrunken(on) | _predecessor(on, AFFINITY_AXES[channel])


def affinity_mask(mask_enlarged: np.ndarray, *, both: bool = False) -> np.ndarray:
    """(3, z−1, y−1, x−1): channel c is on iff the mask is on at the voxel OR at its
    predecessor along channel c's axis — ZNN's rule, which keeps an edge whenever
    either of its two voxels is annotated. With `both` (painted strokes, where off means
    unlabelled) an edge is on only when BOTH of its voxels are: an edge to an unlabelled
    voxel has no known target."""
    on = as_volume(mask_enlarged, "mask") > 0
    out = np.empty((3,) + tuple(n - 1 for n in on.shape), dtype=np.float32)
    for channel in range(3):
        out[channel] = affinity_mask_channel(on, channel, both=both)
    return out


def affinity_from_labels(labels: np.ndarray) -> np.ndarray:
    """(3, z, y, x) affinities of a whole volume, same size as `labels`.

    Voxels without a predecessor (the first slice/row/column of each channel's axis) are
    0. `affinity_from_labels(L)[:, 1:, 1:, 1:] == affinity_target(L)`. For validation and
    metrics, where outputs are compared on the label's own grid.
    """
    volume = as_volume(labels, "labels")
    out = np.zeros((3,) + volume.shape, dtype=np.float32)
    for channel, axis in enumerate(AFFINITY_AXES):
        later: list[slice] = [slice(None)] * 3
        earlier: list[slice] = [slice(None)] * 3
        later[axis] = slice(1, None)
        earlier[axis] = slice(None, -1)
        here = volume[tuple(later)]
        out[channel][tuple(later)] = (here == volume[tuple(earlier)]) & (here > 0)
    return out
