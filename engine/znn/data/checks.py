"""What the voxels of a sample's volumes must hold, checked once when a volume is loaded.

* images: finite numbers (a NaN or infinite pixel would turn its whole section into zeros
  after `standard2D`, or into NaN costs, without a word);
* labels: whole-number object ids >= 0 (a float label map such as 0.5 is a probability map or a
  resampled annotation, not ids; a negative id has no meaning in any label mode);
* masks: 0 (off) and 1 (on) only, and at least one voxel on;
* painted strokes (`label_mode = sparse_strokes` of a boundary output): 0 (unlabelled) and the two
  painted values only, and at least one voxel painted. A label that is mostly 0 is normal there.

`check_not_an_image` refuses a label (or segmentation, or ground-truth) volume whose values change
between most neighbouring voxels, as an image's do and a label volume's never do: the usual sign of
the EM stack bound where the labels belong.

Each check raises a `VolumeError` naming the file, the first offending section or voxel and its
value; the loader adds the `.spec` section and line. Volumes are scanned one section at a time,
so the temporaries stay one section large.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from znn.base.errors import VolumeError


def _first_bad(volume: np.ndarray, bad: Callable[[np.ndarray], np.ndarray]) -> tuple[int, tuple[int, ...], int]:
    """(sections with a bad voxel, the first bad voxel (z, y, x), its flat index in `volume`) or
    (0, (), -1) when every voxel is fine."""
    count, flat = 0, -1
    first: tuple[int, ...] = ()
    for z in range(volume.shape[0]):
        where = bad(volume[z])
        if where.any():
            count += 1
            if flat < 0:
                yx = np.unravel_index(int(np.argmax(where)), where.shape)
                first = (z, *(int(i) for i in yx))
                flat = int(np.ravel_multi_index(first, volume.shape))
    return count, first, flat


def check_image_values(volume: np.ndarray, file: str) -> None:
    """Every pixel of an image finite; else name the first section holding NaN or infinity."""
    if volume.dtype.kind != "f":
        return
    count, first, flat = _first_bad(volume, lambda section: ~np.isfinite(section))
    if count:
        value = volume.flat[flat]
        others = f" (and {count - 1} more section{'s' if count > 2 else ''})" if count > 1 else ""
        raise VolumeError(f"section z={first[0]}{others} holds NaN or infinite values, first at (z, y, x) = {first}",
                          file=file, expected="finite pixel values (repair or drop those sections)",
                          found=str(value))


def check_label_values(volume: np.ndarray, file: str) -> None:
    """Label ids whole numbers >= 0; else name the first fractional (NaN, infinite) or negative value."""
    if volume.dtype.kind == "f":
        count, first, flat = _first_bad(volume, lambda section: ~np.isfinite(section) | (section != np.floor(section)))
        if count:
            raise VolumeError(f"label ids must be whole numbers, but {volume.dtype} section z={first[0]} has "
                              f"{volume.flat[flat]} at (z, y, x) = {first}", file=file,
                              expected="integer object ids (0 = boundary), e.g. an integer label volume",
                              found=str(volume.flat[flat]))
    if volume.dtype.kind in "if":
        count, first, flat = _first_bad(volume, lambda section: section < 0)
        if count:
            value = volume.flat[flat]
            raise VolumeError(f"label ids are 0 or positive, but section z={first[0]} has {value:g} at (z, y, x) = "
                              f"{first}", file=file, expected="object ids >= 0 (0 = boundary or unlabelled)",
                              found=f"{value:g}")


IMAGE_LIKE_SHARE = 0.8  # labels change at object borders only; an image between (nearly) all neighbours
_SAMPLED_SECTIONS = 16  # sections looked at in a large volume


def sample_sections(volume: np.ndarray, count: int = _SAMPLED_SECTIONS) -> np.ndarray:
    """At most `count` evenly spread sections of a (z, y, x) volume (all of a small one)."""
    if volume.shape[0] <= count:
        return np.asarray(volume)
    picks = np.linspace(0, volume.shape[0] - 1, count).round().astype(int)
    return np.asarray(volume[np.unique(picks)])


def neighbour_change_share(volume: np.ndarray) -> float:
    """The share of in-plane neighbour pairs whose values differ (over sampled sections)."""
    differ = pairs = 0
    for section in sample_sections(volume):
        for later, earlier in ((section[1:, :], section[:-1, :]), (section[:, 1:], section[:, :-1])):
            differ += int(np.count_nonzero(later != earlier))
            pairs += later.size
    return differ / pairs if pairs else 0.0


def check_not_an_image(volume: np.ndarray, file: str, what: str = "label volume") -> None:
    """Refuse a `what` whose values differ between most neighbouring voxels (see the module docstring)."""
    share = neighbour_change_share(volume)
    if share > IMAGE_LIKE_SHARE:
        raise VolumeError(f"the {what} looks like an image, not labels: {100 * share:.0f} % of neighbouring voxels "
                          "differ (labels change only at object borders)", file=file,
                          expected="labels: one id per object, 0 = membrane (is the image named here?)",
                          found=f"{volume.dtype} values changing from voxel to voxel")


def check_mask_values(volume: np.ndarray, file: str) -> None:
    """A mask of 0 and 1 with at least one 1; else name the first other value."""
    count, first, flat = _first_bad(volume, lambda section: (section != 0) & (section != 1))
    if count:
        raise VolumeError(f"a mask holds 0 (off) and 1 (on) only, but section z={first[0]} has {volume.flat[flat]} "
                          f"at (z, y, x) = {first}", file=file, expected="a volume of 0 and 1 (or true/false)",
                          found=str(volume.flat[flat]))
    if not any(volume[z].any() for z in range(volume.shape[0])):
        raise VolumeError("the mask is 0 everywhere: no voxel could be trained on", file=file,
                          expected="a mask with some voxels 1", found="only 0")


def check_stroke_values(volume: np.ndarray, file: str, membrane: int | None = None, cell: int | None = None) -> None:
    """Some voxels of the strokes painted and, given `membrane` and `cell` (a boundary output), no value
    but 0 and those two; else name the first other value and where it is."""
    def bad(section: np.ndarray) -> np.ndarray:
        return (section != 0) & (section != membrane) & (section != cell)

    count, first, flat = (0, (), -1) if membrane is None or cell is None else _first_bad(volume, bad)
    if count:
        value = volume.flat[flat]
        raise VolumeError(f"painted strokes hold 0 (unlabelled), {membrane} (stroke_membrane) and {cell} (stroke_cell)"
                          f" only, but section z={first[0]} has {value} at (z, y, x) = {first}", file=file,
                          expected=f"0, {membrane} or {cell} (or set stroke_membrane / stroke_cell to the painted "
                                   "values)", found=str(value))
    if not any(volume[z].any() for z in range(volume.shape[0])):
        raise VolumeError("no voxel is painted (label_mode = sparse_strokes): nothing to train on", file=file,
                          expected="some painted strokes", found="only 0")
