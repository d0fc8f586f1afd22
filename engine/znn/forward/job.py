"""`znn forward`: a trained network over every sample of `forward_range` (reference §8).

For each sample the input images are read, preprocessed and mirrored (`is_bd_mirror`),
tiled with `forward_outsz` (or, with `auto`, the planner's fastest patch whose forward
pass fits the RAM budget after the input and output volumes are counted), stitched, passed
through a channel softmax when the cost function is a softmax (boundary maps), and
written to `<output_prefix>_sample<N>_<output>.h5` (dataset /main, maps x z x y x x),
plus one TIFF per map with `forward_tif = yes`. A file is only replaced once complete.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from znn.data.dataset import load_forward_inputs
from znn.errors import ConfigError
from znn.forward.outputs import check_outputs, output_paths, write_outputs
from znn.forward.planning import BudgetError, plan_tile
from znn.forward.predict import TileDone, iter_predict
from znn.forward.tiling import Triple, fit_tile, output_shape
from znn.io.h5net import apply_saved, load_network
from znn.jobs.job import JobConfig
from znn.jobs.resolved import ForwardSettings, ResolvedForward
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.znnfile import read_znn
from znn.network.net import Network
from znn.planner import budget_from_string


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


def forward_network_file(job: JobConfig, run: ResolvedForward, net_path: str | Path | None) -> Path:
    """The trained network to run: `-n` if given, else `forward_net` (which must exist)."""
    if net_path is not None:
        path = Path(net_path)
        if not path.is_file():
            raise ConfigError("network file not found (-n/--net)", file=str(path),
                              expected="an existing .h5 network file")
        return path
    if not run.forward_net.is_file():
        raise ConfigError(f"the trained network {run.forward_net} does not exist (ZNN silently ran a random "
                          "network; napari-znn refuses)", file=str(job.source), line=job.key_line("forward_net"),
                          group="parameters", key="forward_net",
                          expected="a saved network such as <train_net_prefix>_current.h5",
                          found=job.forward.forward_net)
    return run.forward_net


def choose_tile(job: JobConfig, run: ForwardSettings, spec: NetSpec, volume: Triple, fov: Triple, *,
                num_threads: int, output_bytes: int) -> tuple[Triple, str | None]:
    """The forward tile for a volume: `forward_outsz`, or with `auto` the planner's choice under
    `forward_ram_budget` (see `plan_tile`), fitted to the volume."""
    if run.outsz != "auto":
        return fit_tile(volume, run.outsz, fov), None
    try:
        return plan_tile(spec, volume, fov, budget=budget_from_string(run.ram_budget), output_bytes=output_bytes,
                         dtype=run.dtype, conv_mode=run.conv_mode, num_threads=num_threads)
    except BudgetError as error:
        raise ConfigError(str(error), file=str(job.source), key="forward_ram_budget",
                          expected="a larger budget, or a blockwise forward pass", found=run.ram_budget) from None


def run_forward(job: JobConfig, *, net_path: str | Path | None = None, sample_ids: Iterable[int] | None = None,
                num_threads: int | None = None, stop: threading.Event | None = None
                ) -> Generator[ForwardEvent, None, None]:
    """Forward every sample; yields progress events. Setting `stop` ends it between tiles
    (the sample in progress is not written). `num_threads` overrides the job's (0 = all cores)."""
    run = job.require_forward()
    spec = read_znn(run.network_file)
    network_file = forward_network_file(job, run, net_path)
    saved = load_network(network_file)
    dtype = np.dtype(run.dtype)
    threads = num_threads if num_threads is not None else run.num_threads
    fov = NetworkGraph(spec, (1, 1, 1)).fov
    ids = tuple(sample_ids) if sample_ids is not None else run.forward_range
    check_outputs(job, run, spec, fov, ids, network_file)
    networks: dict[Triple, Network] = {}
    written: list[int] = []
    try:
        for sample_id in ids:
            inputs = load_forward_inputs(job, sample_id, fov=fov, mirror=run.mirror,
                                         input_names=spec.input_names, dtype=dtype)
            volume: Triple = next(iter(inputs.values())).shape
            out = output_shape(volume, fov)
            maps = sum(spec.nodes[n].size for n in spec.output_names)
            output_bytes = maps * int(np.prod(out)) * dtype.itemsize
            tile, plan = choose_tile(job, run, spec, volume, fov, num_threads=threads,
                                     output_bytes=output_bytes)
            if tile not in networks:
                net = Network(spec, tile, dtype=dtype, conv_mode=run.conv_mode,
                              phase="test", num_threads=threads, seed=0)
                report = apply_saved(spec, saved, net.params)
                if report.new:
                    net.close()
                    raise ConfigError(f"the trained network lacks layer(s) {', '.join(report.new)} of the "
                                      "network description; they would be random", file=saved.path,
                                      expected=f"a network trained with {job.network.fnet_spec}")
                net.invalidate_kernel_spectra()
                networks[tile] = net
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
