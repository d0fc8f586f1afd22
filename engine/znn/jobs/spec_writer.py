"""Writing `.spec` files that `znn.jobs.dataspec.read_spec` and the original ZNN read back."""

from __future__ import annotations

import os

from znn.base.atomic import atomic_write_text
from znn.jobs.dataspec import DEFAULT_LABEL_MODE, DEFAULT_STROKE_CELL, DEFAULT_STROKE_MEMBRANE, DataSpec
from znn.jobs.values import format_bool


def _format_files(names: list[str]) -> str:
    # Continuation lines are indented; ZNN joins them with a newline and splits on ",\n".
    return ",\n    ".join(names)


def format_spec(spec: DataSpec) -> str:
    """The text of a `.spec` file that `read_spec` (and the original ZNN) reads back as `spec`."""
    blocks: list[str] = []
    for image_id, image in sorted(spec.images.items()):
        blocks.append(f"[image{image_id}]\n"
                      f"fnames = {_format_files(image.fnames)}\n"
                      f"pp_types = {','.join(image.pp_types)}\n"
                      f"is_auto_crop = {format_bool(image.is_auto_crop)}\n")
    for label_id, label in sorted(spec.labels.items()):
        text = (f"[label{label_id}]\n"
                f"fnames = {_format_files(label.fnames)}\n"
                f"pp_types = {','.join(label.pp_types)}\n"
                f"is_auto_crop = {format_bool(label.is_auto_crop)}\n")
        if label.fmasks:
            text += f"fmasks = {_format_files(label.fmasks)}\n"
        # Keys ZNN does not know are written only when they say something.
        if label.label_mode != DEFAULT_LABEL_MODE:
            text += f"label_mode = {label.label_mode}\n"
        if label.stroke_membrane != DEFAULT_STROKE_MEMBRANE:
            text += f"stroke_membrane = {label.stroke_membrane}\n"
        if label.stroke_cell != DEFAULT_STROKE_CELL:
            text += f"stroke_cell = {label.stroke_cell}\n"
        blocks.append(text)
    for sample_id, sample in sorted(spec.samples.items()):
        lines = "".join(f"{name} = {section_id}\n" for name, section_id in sample.bindings.items())
        blocks.append(f"[sample{sample_id}]\n{lines}")
    return "\n".join(blocks)


def write_spec(spec: DataSpec, path: str | os.PathLike[str]) -> None:
    """Write `spec` as a `.spec` file at `path`."""
    atomic_write_text(path, format_spec(spec))
