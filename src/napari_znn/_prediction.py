"""Predict from the dock: in memory for ordinary layers, blockwise on a local dask cluster
for zarr-backed layers (volumes larger than memory), with progress, cancel and output layers.

Blockwise output goes to a zarr store in the job folder; its layers read that store, so
finished blocks appear as they are written (unfinished ones are NaN, drawn transparent).
Cancelling a blockwise run stops after the blocks in flight; predicting again resumes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QObject, Signal
from superqt.utils import GeneratorWorker, create_worker

from napari_znn._layers import AFFINITY_AXES, as_volume, show_outputs
from napari_znn._reader import LOCATION_KEY
from napari_znn._workers import MapsSaved, SaveMaps, pause_full_collections, predict_worker, zoo_worker
from znn.parallel.choice import ConvModeChosen

if TYPE_CHECKING:
    import napari

    from znn.base.modes import OutputKind
    from znn.jobs import JobConfig
    from znn.jobs.resolved import ForwardSettings

REFRESH_EVERY_S = 0.5  # redraw blockwise output layers at most this often
PP_TYPE = "standard2D"  # the dock normalises every image layer per section


def predict_options(settings: ForwardSettings) -> dict[str, Any]:
    """Keyword arguments of `iter_predict_image` for a job's forward settings: the values
    `znn forward` runs with (effective conv mode, resolved threads), never the text as written."""
    return dict(pp_type=PP_TYPE, mirror=settings.mirror, softmax=settings.softmax, outsz=settings.outsz,
                ram_budget=settings.ram_budget, num_threads=settings.num_threads, dtype=settings.dtype,
                conv_mode=settings.conv_mode)


def zarr_location(layer: Any) -> str | None:
    """The zarr address of a layer read lazily from a zarr store, else None."""
    location = (getattr(layer, "metadata", None) or {}).get(LOCATION_KEY)
    path = getattr(getattr(layer, "source", None), "path", None)
    for candidate in (location, path):
        if candidate and ".zarr" in str(candidate).lower():
            return str(candidate)
    return None


class ChannelView:
    """One channel of a (channels, z, y, x) zarr array, read on demand (napari slices it)."""

    def __init__(self, array: Any, channel: int) -> None:
        self.array, self.channel = array, channel
        self.shape = tuple(array.shape[1:])
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape))

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        return np.asarray(self.array[(self.channel, *key)])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = np.asarray(self.array[self.channel])
        return values.astype(dtype) if dtype is not None else values

    def __len__(self) -> int:
        return self.shape[0]


def blockwise_worker(request: Any, workers: int, memory: int, stop: threading.Event) -> GeneratorWorker:
    """A worker (not started) running `predict_blockwise`; errors are left to the dock."""
    worker = create_worker(predict_blockwise, request, workers, memory, stop, _start_thread=False,
                           _ignore_errors=True)
    assert isinstance(worker, GeneratorWorker)  # a generator function makes a generator worker
    pause_full_collections(worker)
    return worker


def predict_blockwise(request: Any, workers: int, memory: int, stop: threading.Event) -> Generator[Any, None, None]:
    from dataclasses import replace

    from znn.blockwise.cluster import cluster_client
    from znn.blockwise.run import iter_blockwise
    from znn.blockwise.store import StoreMismatch

    with cluster_client(workers=workers, memory_per_worker=memory) as client:
        try:
            yield from iter_blockwise(request, client, stop=stop)
        except StoreMismatch:
            # The dock's store holds maps of older weights (training went on): predict afresh.
            # Raised before the first event, so nothing was shown from the old store.
            yield from iter_blockwise(replace(request, overwrite=True), client, stop=stop)


class PredictionRunner(QObject):
    """Runs one prediction at a time; `planned(done, total, what)` per conv group timed for the
    tile (conv_mode optimize), `progressed(done, total)` per tile or block,
    `maps_ready(image layer, maps, kind)` when it succeeds, `saved(text)` when its maps are on
    disk, `done` when it ends either way."""

    maps_ready = Signal(object, object, str)
    planned = Signal(int, int, str)
    progressed = Signal(int, int)
    saved = Signal(str)
    done = Signal()

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = viewer
        self.worker: Any = None
        self._blockwise = False  # Cancel stops a blockwise run after its blocks in flight
        self._stop = threading.Event()
        self._done = self._total = 0
        self._layers: list[Any] = []
        self._last_refresh = 0.0

    def start(self, layer: Any, network_text: str, weights: Path, job: JobConfig, out_folder: Path,
              save_to: SaveMaps | None = None) -> None:
        """Predict `layer`; blockwise output goes into a store in `out_folder`, in-memory maps are
        saved where `save_to` says (see `Run.output_paths`)."""
        settings = job.forward_settings()
        self._done = self._total = 0
        location = zarr_location(layer)
        self._blockwise = location is not None
        if location is not None:
            self._start_blockwise(layer, location, network_text, weights, settings, out_folder)
        else:
            self._start_in_memory(layer, network_text, weights, settings, save_to)
        self.worker.errored.connect(lambda error: show_error(f"ZNN prediction failed: {error}"))
        self.worker.finished.connect(self._finished)
        self.worker.start()

    def start_zoo(self, layer: Any, model: Any) -> None:
        """Predict `layer` with a bioimage.io package (onnxruntime, tile by tile); the same output
        layers as the run's network (one channel: its boundary map)."""
        self._done = self._total = 0
        self._blockwise = False
        self.worker = zoo_worker(as_volume(layer.data), model)

        def advance(step: tuple[int, int]) -> None:
            self._done, self._total = step
            self.progressed.emit(*step)

        def show(outputs: dict[str, np.ndarray]) -> None:
            maps = next(iter(outputs.values()))
            if maps.shape[0] == 1:  # a boundary probability alone: shown as the second of (object, boundary)
                maps = np.concatenate([1 - maps, maps])
            self._show_in_memory(layer, {model.output_id: maps}, model.kind)

        self.worker.yielded.connect(advance)
        self.worker.returned.connect(show)
        self.worker.errored.connect(lambda error: show_error(f"Prediction with {model.name} failed: {error}"))
        self.worker.finished.connect(self._finished)
        self.worker.start()

    def cancel(self) -> None:
        self._stop.set()
        if self.worker is not None and not self._blockwise:
            self.worker.quit()

    def _finished(self) -> None:
        self.worker = None
        self.done.emit()

    # ------------------------------------------------------------------ in memory

    def _start_in_memory(self, layer: Any, network_text: str, weights: Path, settings: ForwardSettings,
                         save_to: SaveMaps | None) -> None:
        kind = settings.output_kind
        # np.asarray of lazy data is read in the worker, not here
        self.worker = predict_worker(as_volume(layer.data), network_text, str(weights), save_to=save_to,
                                     **predict_options(settings))

        def advance(tile: Any) -> None:
            if isinstance(tile, MapsSaved):
                self.saved.emit("maps saved to " + ", ".join(str(path) for path in tile.paths))
                return
            if isinstance(tile, ConvModeChosen):
                self.planned.emit(tile.done, tile.total, f"{tile.edge} → {tile.mode}")
                return
            self._done += 1
            self._total = tile.total
            self.progressed.emit(self._done, self._total)

        self.worker.yielded.connect(advance)
        self.worker.returned.connect(lambda outputs: self._show_in_memory(layer, outputs, kind))

    def _show_in_memory(self, layer: Any, outputs: dict[str, np.ndarray], kind: OutputKind) -> None:
        show_outputs(self.viewer, layer, outputs, kind)
        self.maps_ready.emit(layer, next(iter(outputs.values())), kind)

    # ------------------------------------------------------------------ blockwise

    def _start_blockwise(self, layer: Any, location: str, network_text: str, weights: Path,
                         settings: ForwardSettings, out_folder: Path) -> None:
        import os

        from znn.blockwise.run import BlockwiseRequest
        from znn.planning.planner import total_ram_bytes

        workers = max(1, os.cpu_count() or 1)
        memory = int(total_ram_bytes() * 0.5 / workers)
        output = out_folder / f"{Path(location.split(':')[0]).stem}_{layer.name}_maps.zarr"
        request = BlockwiseRequest(input=location, output=str(output), network_text=network_text,
                                   weights=str(weights), pp_type=PP_TYPE, mirror=settings.mirror,
                                   softmax=settings.softmax, dtype=settings.dtype, memory_per_worker=memory)
        kind = settings.output_kind
        self._stop = threading.Event()
        self.worker = blockwise_worker(request, workers, memory, self._stop)
        self.worker.yielded.connect(lambda event: self._blockwise_event(layer, output, kind, event))

    def _blockwise_event(self, layer: Any, output: Path, kind: OutputKind, event: Any) -> None:
        from znn.blockwise.run import BlockDone, BlockwiseFinished, BlockwiseStarted

        if isinstance(event, BlockwiseStarted):
            self._total = event.todo
            self.progressed.emit(0, self._total)
            self._layers = self._add_store_layers(layer, output, kind)
        elif isinstance(event, BlockDone):
            self._done += 1
            self.progressed.emit(self._done, self._total)
            if time.monotonic() - self._last_refresh > REFRESH_EVERY_S:
                self._refresh_layers()
        elif isinstance(event, BlockwiseFinished):
            self._refresh_layers()
            if event.stopped:
                show_info("ZNN blockwise prediction stopped; Predict again computes the missing blocks")
            else:
                import zarr

                maps = zarr.open_group(str(output), mode="r")[self._output_name(output)]
                self.maps_ready.emit(layer, maps, kind)

    def _refresh_layers(self) -> None:
        self._last_refresh = time.monotonic()
        for out in self._layers:
            if out in self.viewer.layers:
                out.refresh()

    @staticmethod
    def _output_name(output: Path) -> str:
        import zarr

        from znn.blockwise.store import DONE

        group = zarr.open_group(str(output), mode="r")
        return next(name for name in group.array_keys() if name != DONE)

    def _add_store_layers(self, image: Any, output: Path, kind: OutputKind) -> list[Any]:
        import zarr

        array = zarr.open_group(str(output), mode="r")[self._output_name(output)]
        assert isinstance(array, zarr.Array)  # _output_name picks one of the group's arrays
        geometry = dict(scale=image.scale[-3:], translate=image.translate[-3:], contrast_limits=(0.0, 1.0))
        if kind == "boundary":
            names = {array.shape[0] - 1: f"ZNN boundary ({image.name})"}
        else:
            names = {c: f"ZNN affinity {axis} ({image.name})" for c, axis in enumerate(AFFINITY_AXES)}
        added = []
        for channel, name in names.items():
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            added.append(self.viewer.add_image(ChannelView(array, channel), name=name, **geometry))
        return added
