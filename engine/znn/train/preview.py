"""Previews while training: the current weights' maps of an image the caller sends (`PredictNow`).

A preview runs between two updates, so its time is training's. It runs on a network of its own,
built once per tile size for the test phase and sharing the training network's weights (no copy):
the training patch is small (a 1x128x128 output of N4 reads 222x222 pixels, three times its output)
and tiles of up to `PREVIEW_TILE` pixels per side make a whole-section preview several times cheaper.
"""

from __future__ import annotations

import numpy as np

from znn.base.errors import ZnnError
from znn.base.geometry import fit_tile, mirror_pad, output_shape
from znn.data.preprocess import preprocess
from znn.forward.predict import predict_volume
from znn.network.net import Network
from znn.train.events import PredictNow, Preview
from znn.train.setup import TrainingSetup

PREVIEW_TILE = 512  # output pixels per side of a preview tile: memory stays a few hundred MB for N4


class Previewer:
    """Predicts images with the training network's current weights."""

    def __init__(self, setup: TrainingSetup) -> None:
        self.setup = setup
        self._nets: dict[tuple[int, int, int], Network] = {}

    def preview(self, command: PredictNow, iteration: int) -> Preview:
        setup, net = self.setup, self.setup.net
        image = preprocess(np.asarray(command.image), command.pp_type, net.dtype)
        if setup.settings.mirror:
            image = mirror_pad(image, setup.fov)
        try:
            shape = (image.shape[0], image.shape[1], image.shape[2])
            out = output_shape(shape, setup.fov)
            if min(out) < 1:
                raise ZnnError(f"the image {shape} is smaller than the field of view {setup.fov}")
            tile = fit_tile(shape, (out[0], min(out[1], PREVIEW_TILE), min(out[2], PREVIEW_TILE)), setup.fov)
            forward = self._net(tile)
            forward.params = net.params  # the training weights themselves, once queued updates are done
            outputs = predict_volume(forward, {setup.spec.input_names[0]: image}, softmax="softmax" in setup.cost_fn)
        except (ZnnError, ValueError) as error:  # e.g. an image smaller than the patch: training goes on
            return Preview(iteration, {}, command.tag, error=str(error))
        return Preview(iteration, outputs, command.tag)

    def _net(self, tile: tuple[int, int, int]) -> Network:
        if tile not in self._nets:
            net = self.setup.net
            self._nets[tile] = Network(self.setup.spec, tile, dtype=net.dtype, conv_mode=dict(net.conv_modes),
                                       params=net.params, phase="test", num_threads=net.num_threads, seed=0,
                                       niceness=self.setup.niceness)
        return self._nets[tile]

    def close(self) -> None:
        for net in self._nets.values():
            net.close()
        self._nets.clear()
