"""Job folders in and out of the dock: Export writes one for `znn train -c` (never beside a
trained run's checkpoints), Import opens one's image and labels as layers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_znn._runs import holds_checkpoints
from napari_znn._workers import NewRun, write_new_run
from znn.errors import ZnnError

if TYPE_CHECKING:
    import napari

    from znn.jobs.folder import JobFolder


def export_run(request: NewRun) -> Path:
    """Write the job folder of `request`; returns its .cfg."""
    if holds_checkpoints(request.folder):
        raise ZnnError(f"{request.folder} holds a trained run's checkpoints; export into a new or empty folder "
                       "(its checkpoints would no longer fit the job)")
    return write_new_run(request)


def open_job_layers(viewer: napari.viewer.Viewer, found: JobFolder) -> tuple[Any, Any]:
    """Add the job's image (and labels, if it has any) as layers; returns them (labels or None)."""
    from znn.io.volumes import read_volume

    image = viewer.add_image(read_volume(found.image), name=Path(found.image).stem)
    if not found.labels:
        return image, None
    labels = viewer.add_labels(read_volume(found.labels).astype(np.uint32), name=Path(found.labels).stem)
    return image, labels
