"""Painted strokes: drawing a few on a labelled volume, and holding some back for validation.

`paint_strokes` imitates what a user paints in napari on a few sections of a stack whose full
truth is known (the synthetic generator's labels, 0 = membrane): short lines along membranes and
short lines inside cells, 1-3 pixels wide, on a tiny share of the voxels. The result is a
`sparse_strokes` label volume (0 = unlabelled), for the napari sample and experiments.

`split_strokes` divides painted voxels into training and held-back validation strokes by
connected components, so that no validation voxel touches a training stroke.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage

_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def _walk(on: np.ndarray, start: tuple[int, int], steps: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A path of `on` pixels from `start` that keeps moving away from it: a line along a membrane."""
    path = [start]
    seen = {start}
    y, x = start
    for _ in range(steps):
        options = [(y + dy, x + dx) for dy, dx in _NEIGHBOURS
                   if 0 <= y + dy < on.shape[0] and 0 <= x + dx < on.shape[1] and on[y + dy, x + dx]
                   and (y + dy, x + dx) not in seen]
        if not options:
            break
        far = [(p[0] - start[0]) ** 2 + (p[1] - start[1]) ** 2 + rng.random() for p in options]
        y, x = options[int(np.argmax(far))]
        path.append((y, x))
        seen.add((y, x))
    return path


def _line(centre: tuple[int, int], length: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """The pixels of a straight segment of `length` through `centre` in a random direction."""
    angle = rng.uniform(0.0, np.pi)
    offsets = np.arange(length) - (length - 1) / 2.0
    ys = np.rint(centre[0] + offsets * np.sin(angle)).astype(int)
    xs = np.rint(centre[1] + offsets * np.cos(angle)).astype(int)
    return list(dict.fromkeys(zip(ys.tolist(), xs.tolist())))


def _thicken(path: Iterable[tuple[int, int]], shape: tuple[int, ...], width: int, allowed: np.ndarray) -> np.ndarray:
    """The path widened to about `width` pixels, kept on the `allowed` pixels."""
    line = np.zeros(shape, dtype=bool)
    for y, x in path:
        if 0 <= y < shape[0] and 0 <= x < shape[1]:
            line[y, x] = True
    if width > 1:
        line = ndimage.binary_dilation(line, structure=np.ones((width, width), dtype=bool))
    return line & allowed


def paint_strokes(labels: np.ndarray, sections: Iterable[int], *, membrane: int = 1, cell: int = 2,
                  strokes_per_section: int = 8, length: int = 16, width: int = 2,
                  rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Strokes painted on `sections` of `labels` (z, y, x; 0 = membrane, as `make_em_volume` gives).

    Each section gets `strokes_per_section` strokes, half along membranes (value `membrane`, on
    membrane pixels only) and half inside cells (value `cell`, straight lines kept at least two
    pixels from any membrane and inside one cell), each about `length` pixels long and `width`
    (1-3) wide. Everything else is 0 (unlabelled). With the defaults about 0.3 % of a 128x128
    section is painted. Returns a uint8 volume of `labels`' shape.
    """
    if not 1 <= width <= 3:
        raise ValueError(f"width must be 1, 2 or 3 pixels, not {width}")
    rng = np.random.default_rng(rng)
    volume = np.asarray(labels)
    out = np.zeros(volume.shape, dtype=np.uint8)
    for z in sections:
        section = volume[int(z)]
        is_membrane = section == 0
        inside = ndimage.distance_transform_edt(~is_membrane)
        membrane_pixels = np.argwhere(is_membrane)
        deep = np.argwhere(inside >= 4)  # room for a line that stays in its cell
        for k in range(strokes_per_section):
            if k % 2 == 0 and len(membrane_pixels):
                y, x = (int(v) for v in membrane_pixels[rng.integers(len(membrane_pixels))])
                painted = _thicken(_walk(is_membrane, (y, x), length - 1, rng), section.shape, width, is_membrane)
                out[int(z)][painted] = membrane
            elif k % 2 == 1 and len(deep):
                y, x = (int(v) for v in deep[rng.integers(len(deep))])
                allowed = (section == section[y, x]) & (inside >= 2)
                painted = _thicken(_line((y, x), length, rng), section.shape, width, allowed)
                out[int(z)][painted] = cell
    return out


def split_strokes(strokes: np.ndarray, share: float = 0.2, *, seed: int = 0,
                  usable: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(training mask, validation mask), uint8 volumes of `strokes`' shape, from painted strokes.

    The painted voxels (non-zero) form connected components (face neighbours in 3-D, whatever
    the painted value, so touching strokes stay together), each of the kind (value) most of its
    voxels have. About `share` of the components of each kind, at least one when the kind has two
    or more and never all, chosen with `seed`, are held back for validation: held-back strokes of
    one kind only would let a network that answers that kind everywhere score perfectly.
    `usable` (boolean, optional) marks the voxels a patch can be centred on: only components that
    reach it are held back, and one of those always stays for training.
    With a single (usable) component nothing can be held back: both masks are then all the
    strokes, and validation measures the training strokes themselves.
    """
    values = np.asarray(strokes)
    painted = values != 0
    components, count = ndimage.label(painted)
    reach = np.unique(components[painted & usable]) if usable is not None else np.arange(1, count + 1)
    reach = reach[reach > 0]
    if count < 2 or reach.size < 2:
        mask = painted.astype(np.uint8)
        return mask, mask.copy()
    rng = np.random.default_rng(seed)
    kinds = _component_kinds(values, components, count)
    chosen: list[int] = []
    for kind in np.unique(kinds[1:]):
        total = int(np.count_nonzero(kinds[1:] == kind))
        candidates = reach[kinds[reach] == kind]
        held = min(total - 1, candidates.size - 1, max(1, round(share * total)))
        if held > 0:
            chosen += rng.choice(candidates, size=held, replace=False).tolist()
    if not chosen:  # no kind has two strokes: hold back strokes regardless of kind
        held = min(count - 1, reach.size - 1, max(1, round(share * count)))
        chosen = rng.choice(reach, size=held, replace=False).tolist()
    validation = np.isin(components, chosen)
    return (painted & ~validation).astype(np.uint8), validation.astype(np.uint8)


def _component_kinds(values: np.ndarray, components: np.ndarray, count: int) -> np.ndarray:
    """The most common painted value of each component (index 0 unused)."""
    on = components > 0
    ids, painted = components[on], values[on].astype(np.int64)
    kinds_seen = np.unique(painted)
    votes = np.zeros((count + 1, kinds_seen.size), np.int64)
    np.add.at(votes, (ids, np.searchsorted(kinds_seen, painted)), 1)
    return kinds_seen[votes.argmax(axis=1)]
