"""The one way to build a network that predicts with saved weights: forward jobs, image
prediction (the dock), blockwise workers, export and `load_trained` all come through here.

The network is built for its tile, the saved kernels and biases are copied in by layer name
(shapes checked), cached kernel spectra are dropped, and a description with layers the saved
network lacks is refused (those layers would predict with random weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from znn.base.errors import SavedNetworkError
from znn.base.modes import ConvMode, Executor, Phase
from znn.base.triples import Triple
from znn.io.h5net import SavedNetwork, apply_saved, load_network, save_network
from znn.netspec.spec import NetSpec
from znn.netspec.znnfile import read_znn
from znn.network.net import Network


def trained_network(saved: SavedNetwork, outsz: Triple, *, spec: NetSpec | None = None,
                    dtype: str | np.dtype | None = None, conv_mode: ConvMode | Mapping[str, ConvMode] = "fft",
                    num_threads: int = 0, phase: Phase = "test", seed: int = 0,
                    executor: Executor = "tasks", niceness: int = 0) -> Network:
    """A network of `spec` (else the saved one's own) for output patches of `outsz`, holding the
    weights of `saved`. `dtype` defaults to the saved file's."""
    template = saved.spec if spec is None else spec
    net = Network(template, outsz, dtype=saved.dtype if dtype is None else dtype, conv_mode=conv_mode,
                  phase=phase, num_threads=num_threads, seed=seed, executor=executor, niceness=niceness)
    try:
        report = apply_saved(template, saved, net.params)
        if report.new:
            raise SavedNetworkError(f"lacks layer(s) {', '.join(report.new)} of the network description; "
                                    "they would predict with random weights", file=saved.path,
                                    expected="a network trained with this description")
    except BaseException:
        net.close()
        raise
    net.invalidate_kernel_spectra()
    return net


def load_trained(path: str | Path, outsz: Triple, *, spec: NetSpec | str | Path | None = None,
                 **options: object) -> Network:
    """`trained_network` of the file at `path` (NaN or infinite weights refused); `spec` may be a
    description or its `.znn` file."""
    template = read_znn(spec) if isinstance(spec, (str, Path)) else spec
    return trained_network(load_network(path), outsz, spec=template, **options)  # type: ignore[arg-type]


def save_trained(net: Network, path: str | Path, *, stdio: bool = True) -> None:
    """Write the network's description and weights in ZNN's layout, atomically."""
    save_network(path, net.spec, net.params, stdio=stdio)
