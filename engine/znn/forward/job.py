"""`znn forward`: a trained network over every sample of `forward_range` (reference §8).

For each sample the input images are read, preprocessed and mirrored (`is_bd_mirror`),
tiled with `forward_outsz` (or, with `auto`, the planner's fastest patch whose forward
pass fits the RAM budget after the input and output volumes are counted), stitched, passed
through a channel softmax when the cost function is a softmax (boundary maps), and
written to `<output_prefix>_sample<N>_<output>.h5` (dataset /main, maps x z x y x x),
plus one TIFF per map with `forward_tif = yes`. A file is only replaced once complete.

Before the first sample is read, every sample is checked from the shapes of its input files:
each must hold at least one input window (the field of view), and with an explicit
`forward_outsz` the network and the whole volumes must fit in the memory available.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from znn.base.errors import ConfigError
from znn.base.geometry import Triple, fit_tile, output_shape
from znn.base.triples import triple
from znn.data.dataset import forward_input_shapes, load_forward_inputs
from znn.forward.outputs import check_outputs, output_paths, write_outputs
from znn.forward.planning import BudgetError, plan_tile
from znn.forward.predict import TileDone, iter_predict
from znn.io.h5net import load_network
from znn.io.trained_network import trained_network
from znn.jobs.resolved import ForwardSettings, ResolvedForward
from znn.jobs.rules import check_output_maps
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.znnfile import read_znn
from znn.network.net import Network
from znn.planning.memory_fit import memory_shortfall
from znn.planning.planner import budget_from_string


@dataclass(frozen=True)
class SampleStarted:
    sample_id: int
    volume: Triple  # input volume after mirroring
    outsz: Triple  # the tile (output patch) used
    tiles: int
    plan: str | None = None  # the planner's summary with forward_outsz = auto


@dataclass(frozen=True)
class TileProgress:
    sample_id: int
    done: int
    total: int


@dataclass(frozen=True)
class SampleWritten:
    sample_id: int
    paths: tuple[str, ...]
    shape: tuple[int, ...]  # of the first output, (maps, z, y, x)


@dataclass(frozen=True)
class ForwardFinished:
    samples: tuple[int, ...]  # written
    stopped: bool


ForwardEvent = SampleStarted | TileProgress | SampleWritten | ForwardFinished


def forward_network_file(run: ResolvedForward, net_path: str | Path | None) -> Path:
    """The trained network to run: `-n` if given, else `forward_net` (which must exist)."""
    if net_path is not None:
        path = Path(net_path)
        if not path.is_file():
            raise ConfigError("network file not found (-n/--net)", file=str(path),
                              expected="an existing .h5 network file")
        return path
    if run.forward_net.is_dir():
        raise run.provenance.error("forward_net", f"the trained network {run.forward_net} is a directory",
                                   expected="a saved network .h5 file")
    if not run.forward_net.is_file():
        raise run.provenance.error("forward_net", f"the trained network {run.forward_net} does not exist (ZNN "
                                   "silently ran a random network; napari-znn refuses)",
                                   expected="a saved network such as <train_net_prefix>_current.h5")
    return run.forward_net


def choose_tile(run: ForwardSettings, spec: NetSpec, volume: Triple, fov: Triple, *,
                num_threads: int, output_bytes: int) -> tuple[Triple, str | None]:
    """The forward tile for a volume: `forward_outsz`, or with `auto` the planner's choice under
    `forward_ram_budget` (see `plan_tile`), fitted to the volume."""
    if run.outsz != "auto":
        return fit_tile(volume, run.outsz, fov), None
    try:
        return plan_tile(spec, volume, fov, budget=budget_from_string(run.ram_budget), output_bytes=output_bytes,
                         dtype=run.dtype, conv_mode=run.conv_mode, num_threads=num_threads)
    except BudgetError as error:
        raise run.provenance.error("forward_ram_budget", str(error), expected="a larger budget, or a blockwise "
                                   "forward pass", found=run.ram_budget) from None


def _shape_text(shape: Iterable[int]) -> str:
    return "x".join(map(str, shape))


def check_sample(run: ResolvedForward, spec: NetSpec, sample_id: int, fov: Triple,
                 num_threads: int) -> None:
    """Refuse a sample before any is read: an input smaller than the field of view, or (with an
    explicit forward_outsz) a network and volumes that would not fit in the memory available."""
    def refuse(message: str, expected: str) -> ConfigError:
        return run.provenance.error("forward_outsz", message, expected=expected,
                                    found="auto" if run.outsz == "auto" else ",".join(map(str, run.outsz)))

    dtype = np.dtype(run.dtype)
    volume_bytes = 0
    volume: Triple | None = None
    for source in forward_input_shapes(run.data_spec, sample_id, spec.input_names).values():
        shape = triple(source.shape[-3:])
        mirrored = triple(n + f - 1 for n, f in zip(shape, fov)) if run.mirror else shape
        if any(n < f for n, f in zip(mirrored, fov)):
            after = f" ({_shape_text(mirrored)} after mirroring)" if run.mirror else ""
            raise refuse(f"forward_outsz is shrunk to fit a volume, but even one output voxel needs an input window "
                         f"of the field of view {_shape_text(fov)}, larger than the image {source.file} of shape "
                         f"{source.shape}{after} in [sample{sample_id}]",
                         "a larger volume" + ("" if run.mirror else ", or 'is_bd_mirror = yes'"))
        volume = volume or mirrored
        volume_bytes += int(np.prod(mirrored)) * dtype.itemsize
    if run.outsz == "auto" or volume is None:
        return  # the planner chooses a tile that fits its budget
    tile = fit_tile(volume, run.outsz, fov)
    maps = sum(spec.nodes[name].size for name in spec.output_names)
    volume_bytes += maps * int(np.prod(output_shape(volume, fov))) * dtype.itemsize
    shortfall = memory_shortfall(NetworkGraph(spec, tile), dtype=run.dtype, conv_mode=run.conv_mode,
                                 num_threads=num_threads, training=False, volume_bytes=volume_bytes)
    if shortfall is None:
        return
    advice = ("a smaller forward_outsz or 'forward_outsz = auto', "
              + ("" if run.conv_mode == "direct" else "'forward_conv_mode = direct' (no spectra), ")
              + "or a network with fewer maps")
    if volume_bytes > shortfall.available:
        advice = "a blockwise forward pass (znn forward --blockwise), which holds only blocks of the volumes"
    raise refuse(shortfall.describe(f"the forward pass of [sample{sample_id}] ({_shape_text(tile)} tiles of a "
                                    f"{_shape_text(volume)} volume, {run.conv_mode}, {run.dtype})"), advice)


def run_forward(run: ResolvedForward, *, net_path: str | Path | None = None,
                sample_ids: Iterable[int] | None = None, stop: threading.Event | None = None
                ) -> Generator[ForwardEvent, None, None]:
    """Forward every sample of a job's resolved settings (`JobConfig.require_forward()`); yields
    progress events. Setting `stop` ends it between tiles (the sample in progress is not written)."""
    spec = read_znn(run.network_file)
    check_output_maps(run.output_kind, run.provenance, {name: spec.nodes[name].size for name in spec.output_names},
                      run.network_file, training=False)
    run.data_spec.check_against_network(spec.input_names, spec.output_names)
    network_file = forward_network_file(run, net_path)
    saved = load_network(network_file)
    dtype = np.dtype(run.dtype)
    threads = run.num_threads
    fov = NetworkGraph(spec, (1, 1, 1)).fov
    ids = tuple(sample_ids) if sample_ids is not None else run.forward_range
    for sample_id in ids:
        check_sample(run, spec, sample_id, fov, threads)
    check_outputs(run, spec, fov, ids, network_file)
    networks: dict[Triple, Network] = {}
    written: list[int] = []
    try:
        for sample_id in ids:
            inputs = load_forward_inputs(run.data_spec, sample_id, fov=fov, mirror=run.mirror,
                                         input_names=spec.input_names, dtype=dtype)
            volume: Triple = next(iter(inputs.values())).shape
            out = output_shape(volume, fov)
            maps = sum(spec.nodes[n].size for n in spec.output_names)
            output_bytes = maps * int(np.prod(out)) * dtype.itemsize
            tile, plan = choose_tile(run, spec, volume, fov, num_threads=threads,
                                     output_bytes=output_bytes)
            if tile not in networks:
                networks[tile] = trained_network(saved, tile, spec=spec, dtype=dtype, conv_mode=run.conv_mode,
                                                 num_threads=threads)
            predicting = iter_predict(networks[tile], inputs, softmax=run.softmax)
            first = next(predicting)
            yield SampleStarted(sample_id, volume, tile, first.total, plan)
            yield TileProgress(sample_id, first.done, first.total)
            outputs = None
            while outputs is None:
                if stop is not None and stop.is_set():
                    yield ForwardFinished(tuple(written), True)
                    return
                try:
                    step: TileDone = next(predicting)
                except StopIteration as finished:
                    outputs = finished.value
                else:
                    yield TileProgress(sample_id, step.done, step.total)
            paths = write_outputs(output_paths(run.output_prefix, sample_id, outputs), outputs, tif=run.tif)
            written.append(sample_id)
            first_output = next(iter(outputs.values()))
            yield SampleWritten(sample_id, tuple(str(p) for p in paths), first_output.shape)
    finally:
        for net in networks.values():
            net.close()
    yield ForwardFinished(tuple(written), False)
