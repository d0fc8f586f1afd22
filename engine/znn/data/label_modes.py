"""What the values of a label volume mean (a `[labelN]`'s `label_mode`), turned into ZNN's convention.

The rest of the pipeline (`targets`, `rebalance`, `sampling`) knows one convention, ZNN's:
id 0 is boundary, other ids are objects, and an optional mask says which voxels count. Each mode
is converted to that once, when its volume is loaded:

* `dense_boundary` (the default; ZNN, ISBI 2012): 0 = membrane, other values = cells. Unchanged.
* `dense_instances` (napari's Labels layers): 0 = background, each cell its own id, and cells may
  touch. Affinity outputs use the ids as they are (two different ids never connect). Boundary
  outputs need a boundary between touching cells: a voxel becomes boundary when an in-plane (y or
  x) neighbour carries a different non-zero id *smaller* than its own. Only one side of each
  contact is marked, so the drawn boundary is one voxel thin, like a traced membrane, and does not
  depend on flips; 0 voxels stay boundary and are not widened.
* `sparse_strokes` (a few painted lines): 0 = unlabelled. The mask is the painted voxels (ANDed
  with any `fmasks`), so unlabelled voxels count nowhere: not in the cost, the gradient, the
  rebalancing, the validation cost or the pixel error, and patches are centred on painted voxels.
  Boundary outputs: `stroke_membrane` becomes 0 (membrane) and `stroke_cell` becomes 1 (cell); any
  other painted value is refused. Affinity outputs: painted values are object ids, and an edge
  counts only when BOTH of its voxels are painted (ZNN's mask rule keeps an edge when either is).

`guess_label_mode` looks at a label volume and says which mode it most likely uses, and why.
"""

from __future__ import annotations

import numpy as np

from znn.base.errors import VolumeError
from znn.base.modes import LabelMode, OutputKind
from znn.data.checks import check_stroke_values, sample_sections

SPARSE: LabelMode = "sparse_strokes"
_FEW_VALUES = 8  # a painted volume uses a handful of values, a dense one many ids


def instance_boundaries(ids: np.ndarray) -> np.ndarray:
    """A copy of instance `ids` (z, y, x) in ZNN's convention: a voxel whose in-plane neighbour has a
    different non-zero id smaller than its own becomes 0 (boundary); see the module docstring."""
    out = np.array(ids, copy=True)
    for z in range(out.shape[0]):  # one section at a time keeps the temporaries small
        section = np.asarray(ids[z])
        boundary = np.zeros(section.shape, dtype=bool)
        for axis in (0, 1):
            later = section[1:, :] if axis == 0 else section[:, 1:]
            earlier = section[:-1, :] if axis == 0 else section[:, :-1]
            touching = (later != earlier) & (later != 0) & (earlier != 0)
            if axis == 0:
                boundary[1:, :] |= touching & (later > earlier)
                boundary[:-1, :] |= touching & (earlier > later)
            else:
                boundary[:, 1:] |= touching & (later > earlier)
                boundary[:, :-1] |= touching & (earlier > later)
        out[z][boundary] = 0
    return out


def stroke_labels(strokes: np.ndarray, kind: OutputKind, *, membrane: int, cell: int, file: str,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(labels, mask) of painted strokes: the mask is the painted voxels; boundary labels are 1 where
    `cell` was painted and 0 elsewhere (membrane, or unlabelled and masked out); affinity labels are
    the painted ids. Raises VolumeError naming `file` for a value that is not allowed or no stroke."""
    if kind == "boundary":
        check_stroke_values(strokes, file, membrane, cell)
        return (strokes == cell).astype(np.uint8), (strokes != 0).astype(np.uint8)
    check_stroke_values(strokes, file)
    return strokes, (strokes != 0).astype(np.uint8)


def convert_labels(labels: np.ndarray, mask: np.ndarray | None, mode: LabelMode, kind: OutputKind, *,
                   membrane: int = 1, cell: int = 2, file: str = "") -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, mask) in ZNN's convention from a label volume in `mode` and its `fmasks` volume (or
    None). `dense_boundary` returns both arrays unchanged (the very same objects)."""
    if mode == "dense_boundary":
        return labels, mask
    if mode == "dense_instances":
        return (labels if kind == "affinity" else instance_boundaries(labels)), mask
    if mode != SPARSE:
        raise ValueError(f"unknown label mode {mode!r}")
    converted, painted = stroke_labels(labels, kind, membrane=membrane, cell=cell, file=file)
    if mask is not None:
        painted &= (np.asarray(mask) > 0).astype(np.uint8)
        if not painted.any():
            raise VolumeError("no painted voxel lies where the mask (fmasks) is on: nothing to train on",
                              file=file, expected="strokes inside the mask", found="none")
    return converted, painted


# --------------------------------------------------------------------------- guessing


def _neighbour_pairs(labels: np.ndarray) -> tuple[int, int]:
    """In-plane neighbour pairs (touching: two different non-zero ids, zero: one 0 and one id)."""
    touching = zero = 0
    for section in sample_sections(labels):
        for later, earlier in ((section[1:, :], section[:-1, :]), (section[:, 1:], section[:, :-1])):
            differ = later != earlier
            with_zero = (later == 0) | (earlier == 0)
            touching += int(np.count_nonzero(differ & ~with_zero))
            zero += int(np.count_nonzero(differ & with_zero))
    return touching, zero


def _listed(values: np.ndarray) -> str:
    return ", ".join(str(int(v)) for v in values)


def guess_label_mode(labels: np.ndarray, kind: OutputKind = "boundary") -> tuple[LabelMode, str]:
    """The label mode `labels` (z, y, x) most likely uses and one sentence saying why, in user terms.

    Mostly 0 (over 90 %, or over half with at most a handful of values) reads as painted strokes.
    Otherwise the in-plane neighbour pairs decide: cells that touch each other directly in at least
    a fifth of the borders between different values are instances; 0 lying between the cells (or
    all borders touching 0) is ZNN's membrane convention.
    """
    volume = np.asarray(labels)
    if volume.size == 0:
        return "dense_boundary", "the label volume is empty: ZNN's convention (0 = membrane) is assumed"
    zeros = volume.size - int(np.count_nonzero(volume))
    share = zeros / volume.size
    painted = np.unique(volume[volume != 0]) if share > 0.5 else np.zeros(0, volume.dtype)
    if share > 0.9 or (share > 0.5 and painted.size <= _FEW_VALUES):
        percent = f"{100 * share:.1f} % of the voxels are 0 and "
        if painted.size == 0:
            return SPARSE, percent[:-5] + ": sparse strokes, but nothing is painted yet"
        what = f"only value{'s' if painted.size > 1 else ''} {_listed(painted[:_FEW_VALUES])}"
        what += " are painted" if painted.size > 1 else " is painted"
        if painted.size > _FEW_VALUES:
            what = f"{painted.size} values are painted"
        if kind == "affinity":
            return SPARSE, f"{percent}{what}: sparse strokes (each value one object)"
        if set(painted.tolist()) <= {1, 2}:
            return SPARSE, f"{percent}{what}: sparse strokes (1 = membrane, 2 = cell)"
        return SPARSE, (f"{percent}{what}: sparse strokes (say which value is membrane and which is cell; "
                        "the defaults are 1 = membrane, 2 = cell)")
    touching, zero = _neighbour_pairs(volume)
    percent = f"{100 * share:.1f} % of the voxels are 0"
    if touching + zero == 0:
        return "dense_boundary", f"{percent} and no two neighbours differ: ZNN's convention (0 = membrane) is assumed"
    contact = touching / (touching + zero)
    if contact >= 0.2:
        return "dense_instances", (f"cells touch each other directly in {100 * contact:.0f} % of the borders "
                                   f"between different values ({percent}): dense instances, each cell its own "
                                   "id, 0 = background")
    return "dense_boundary", (f"{percent} and lie between the cells ({100 * (1 - contact):.0f} % of the borders "
                              "between different values involve 0): dense labels, 0 = membrane")
