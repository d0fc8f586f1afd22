"""Whether a sample's labels can mean anything, checked before training on them.

Values alone can be fine while the labels make no sense: the image bound as its own label (the
net learns to copy its input), a label volume that is in fact an image (its values change between
most neighbouring voxels, `checks.check_not_an_image`), or painted strokes that mark one class only
(the net learns that everything is membrane, and the pixel error of that class reads 0). Each is
refused with a `VolumeError` naming the label file; the loader adds the `.spec` line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from znn.base.errors import VolumeError
from znn.base.modes import LabelMode, OutputKind
from znn.data.checks import check_not_an_image, sample_sections


def check_not_the_image(label: np.ndarray, label_file: str, image: np.ndarray, image_file: str,
                        image_section: str) -> None:
    """Refuse a label volume that is the sample's image (the same file, or the same voxels)."""
    same_file = label_file == image_file
    if same_file or (label.shape == image.shape and _informative(image)
                     and all(np.array_equal(label[z], image[z]) for z in range(label.shape[0]))):
        how = "the same file" if same_file else f"the same voxels as {image_file}"
        raise VolumeError(f"the label volume is the image of [{image_section}] itself ({how}): a network trained on "
                          "it learns to copy its input", file=label_file,
                          expected="the labels drawn for that image (a separate volume)")


def _informative(image: np.ndarray) -> bool:
    """More than two grey values: a label equal to a blank (or binary) image may be a coincidence."""
    return np.unique(sample_sections(image, 4)).size > 2


def check_dense_labels(label: np.ndarray, file: str, mode: LabelMode) -> None:
    """Dense labels (every voxel labelled) must not look like an image; strokes are mostly 0 and pass."""
    if mode != "sparse_strokes":
        check_not_an_image(label, file)


@dataclass
class StrokeClasses:
    """What the painted strokes of a training set mark, summed over its samples, to refuse a set that
    shows the network one class only."""

    kind: OutputKind
    first_file: str | None = None
    membrane: int = 0  # painted membrane voxels (boundary outputs)
    cell: int = 0  # painted cell voxels
    objects: set[int] = field(default_factory=set)  # painted ids, up to two (affinity outputs)
    values: tuple[int, int] = (1, 2)  # stroke_membrane, stroke_cell of the first strokes

    def add(self, converted: np.ndarray, painted: np.ndarray, file: str, membrane: int, cell: int) -> None:
        """Count one sample's converted strokes (boundary: 0 membrane / 1 cell; affinity: ids) and mask."""
        if self.first_file is None:
            self.first_file, self.values = file, (membrane, cell)
        on = painted.astype(bool)
        if self.kind == "boundary":
            cells = int(np.count_nonzero(on & (converted == 1)))
            self.cell += cells
            self.membrane += int(np.count_nonzero(on)) - cells
        elif len(self.objects) < 2:
            self.objects.update(int(v) for v in np.unique(converted[on])[:2])

    def check(self) -> None:
        if self.first_file is None:
            return
        membrane, cell = self.values
        if self.kind == "boundary" and not (self.membrane and self.cell):
            painted, missing = (("membrane", f"cell (stroke_cell = {cell})") if self.membrane else
                                ("cell", f"membrane (stroke_membrane = {membrane})"))
            raise VolumeError(f"the strokes of the training samples mark {painted} only: the network would learn "
                              f"that everything is {painted}", file=self.first_file,
                              expected=f"strokes of both classes: paint some {missing} as well")
        if self.kind == "affinity" and len(self.objects) < 2:
            raise VolumeError("the strokes of the training samples paint one object only: every affinity "
                              "between painted voxels would be 1", file=self.first_file,
                              expected="strokes of at least two objects (two different values)")
