"""The live layer while training: every N updates the trainer predicts the slab around the
section in view, and the map lands where the view was when it was asked for.

One request is in flight at a time, so previews follow the view rather than queue up behind
the trainer; the slab is taken on the main thread (a few sections of at most PREVIEW_SIDE
pixels square) and the prediction runs in the worker between updates.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from napari_znn._layers import update_live_layer, view_slab
from znn.base.modes import OutputKind
from znn.train.events import PredictNow, Preview

if TYPE_CHECKING:
    import napari

    from napari_znn._session import TrainingState
    from znn.netspec.spec import NetSpec


class LivePreview:
    """Asks the running trainer for previews and writes them into the live layer."""

    def __init__(self, viewer: napari.viewer.Viewer, image_layer: Callable[[], Any],
                 spec: Callable[[], NetSpec | None], kind: Callable[[], OutputKind]) -> None:
        self.viewer = viewer
        self.image_layer, self.spec, self.kind = image_layer, spec, kind
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.sections: dict[str, tuple[int, int, int, int]] = {}  # request tag -> where its map goes

    def reset(self, commands: queue.SimpleQueue) -> None:
        """A new run: its command queue, nothing in flight."""
        self.commands = commands
        self.sections.clear()

    def maybe_request(self, iteration: int, every: int, stopping: bool) -> None:
        layer = self.image_layer()
        if not every or iteration % every or layer is None or stopping or self.sections:
            return
        slab, section = view_slab(self.viewer, layer, self.spec())
        tag = f"live-{iteration}"  # the view may move before the preview comes back
        self.sections[tag] = section
        self.commands.put(PredictNow(slab, pp_type="standard2D", tag=tag))

    def show(self, event: Preview, state: TrainingState) -> None:
        section = self.sections.pop(event.tag, None)
        if event.error:
            state.message = f"live preview skipped: {event.error}"
            return
        layer = self.image_layer()
        if section is None or layer is None:
            return
        update_live_layer(self.viewer, layer, event.outputs, section, kind=self.kind())
