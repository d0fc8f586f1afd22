"""Predict one in-memory image with a trained network: what the napari dock's Predict runs.

The same steps as `znn forward` (preprocessing, mirroring, the planner's tile under a RAM
budget, tiling, channel softmax for softmax costs), for an array instead of a `.spec` sample.
`iter_predict_image` yields progress (`ConvModeChosen` per conv group while `optimize` times
the implementations for the tile, then `TileDone` per tile) and returns {output node: (maps, z, y, x)}.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Literal

import numpy as np

from znn.base.errors import ZnnError
from znn.base.geometry import Triple, fit_tile, mirror_pad, output_shape
from znn.base.modes import ConvMode, Dtype
from znn.data.preprocess import preprocess
from znn.forward.planning import plan_tile
from znn.forward.predict import TileDone, iter_predict
from znn.io.h5net import load_network
from znn.io.trained_network import trained_network
from znn.jobs.resolved import DEFAULT_DTYPE, DEFAULT_RAM_BUDGET
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.parallel.choice import ConvModeChosen
from znn.parallel.optimize import iter_choose_conv_modes, optimized_edges
from znn.planning.planner import budget_from_string


def iter_predict_image(image: np.ndarray, spec: NetSpec, weights: str | Path, *, pp_type: str = "standard2D",
                       mirror: bool = True, softmax: bool = True, outsz: Triple | Literal["auto"] = "auto",
                       ram_budget: str = DEFAULT_RAM_BUDGET, num_threads: int = 0, dtype: Dtype = DEFAULT_DTYPE,
                       conv_mode: ConvMode = "fft", niceness: int = 0
                       ) -> Generator[TileDone | ConvModeChosen, None, dict[str, np.ndarray]]:
    """Forward pass of the network saved in `weights` (layers matched by name) over `image` (z, y, x).
    The dock passes a job's `ForwardSettings` (see `napari_znn._prediction.predict_options`) and the
    niceness of its compute threads (`znn.base.niceness`)."""
    if np.ndim(image) != 3:
        raise ZnnError(f"the image must be 3-D (z, y, x), not of shape {np.shape(image)}")
    if len(spec.input_names) != 1:
        raise ZnnError(f"predicting an image needs a network with one input, not {len(spec.input_names)}")
    saved = load_network(weights)
    fov = NetworkGraph(spec, (1, 1, 1)).fov
    volume = preprocess(np.asarray(image), pp_type, dtype)
    if mirror:
        volume = mirror_pad(volume, fov)
    shape: Triple = volume.shape
    if outsz == "auto":
        maps = sum(spec.nodes[n].size for n in spec.output_names)
        output_bytes = maps * int(np.prod(output_shape(shape, fov))) * np.dtype(dtype).itemsize
        tile, _ = plan_tile(spec, shape, fov, budget=budget_from_string(ram_budget), output_bytes=output_bytes,
                            dtype=dtype, conv_mode=conv_mode, num_threads=num_threads)
    else:
        tile = fit_tile(shape, outsz, fov)
    # time the conv implementations here, with progress; the network then finds the choice made
    graph = NetworkGraph(spec, tile)
    yield from iter_choose_conv_modes(graph, np.dtype(dtype), optimized_edges(graph, conv_mode), num_threads,
                                      training=False)
    with trained_network(saved, tile, spec=spec, dtype=dtype, conv_mode=conv_mode, num_threads=num_threads,
                         niceness=niceness) as net:
        return (yield from iter_predict(net, {spec.input_names[0]: volume}, softmax=softmax))
