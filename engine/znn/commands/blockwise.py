"""`znn forward --blockwise`: predict volumes larger than memory block by block on a
dask.distributed cluster (a LocalCluster by default, or `--scheduler ADDRESS`), writing a
zarr store that a second run completes after an interruption.

Two ways to name the work: `-c job.cfg` (every forward_range sample; outputs
`<output_prefix>_sample<N>.zarr`), or `--input VOLUME --net NET.h5 --output OUT.zarr`.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from znn.base.errors import ConfigError
from znn.commands import checks
from znn.commands.console import Console, stop_on_signals
from znn.io.writable import Origin


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("blockwise (dask.distributed)")
    g.add_argument("--blockwise", action="store_true", help="predict block by block into a zarr store")
    g.add_argument("--input", metavar="VOLUME", help="volume to predict (tif, h5[:dataset], zarr[:array], "
                   "optionally [z0:z1]) instead of the job's samples")
    g.add_argument("--output", metavar="OUT.zarr", help="output store for --input")
    g.add_argument("--network", metavar="NET.znn",
                   help="network description: a .znn file or a bundled name such as N4 "
                        "(default: the one stored in --net)")
    g.add_argument("--pp-type", default=None, help="input normalisation for --input (default standard2D)")
    g.add_argument("--no-mirror", action="store_true", help="do not mirror the borders (output shrinks by fov-1)")
    g.add_argument("--softmax", choices=("auto", "yes", "no"), default="auto",
                   help="channel softmax of the outputs (auto: as the job's or checkpoint's cost function says)")
    g.add_argument("--scheduler", metavar="ADDRESS", help="an existing dask scheduler (default: a LocalCluster)")
    g.add_argument("--scheduler-timeout", type=float, default=None, metavar="SECONDS",
                   help="how long to wait for --scheduler to answer (default 5)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="LocalCluster worker processes (default: cores / --threads-per-worker)")
    g.add_argument("--threads-per-worker", type=int, default=1, metavar="T", help="engine threads per block")
    g.add_argument("--memory-per-worker", default=None, metavar="SIZE",
                   help="memory of each worker, e.g. 4GiB (default: 80%% of RAM shared by the workers)")
    g.add_argument("--block", default=None, metavar="Z,Y,X", help="block shape (default: the planner's)")
    g.add_argument("--retries", type=int, default=2, metavar="N", help="retries of a failed block (default 2)")
    g.add_argument("--overwrite", action="store_true", help="start again even if the output holds another run")


def _requests(args: argparse.Namespace, memory: int) -> list[Any]:
    from znn.base.errors import FileFormatError
    from znn.blockwise.run import BlockwiseRequest
    from znn.io.h5net import load_network
    from znn.jobs import values as v
    from znn.netspec.znnfile import format_znn, read_znn

    _check_counts(args)
    block = None
    if args.block:
        try:
            block = v.parse_triple(args.block)
        except v.BadValue as bad:
            raise ConfigError(bad.problem, file="command line", key="--block", expected=bad.expected,
                              found=bad.found) from None
    common = dict(block_shape=block, memory_per_worker=memory, threads_per_worker=args.threads_per_worker,
                  retries=args.retries, overwrite=args.overwrite)
    if args.input:
        if not args.net or not args.output:
            raise ConfigError("--input needs --net NET.h5 and --output OUT.zarr", file="command line")
        checks.existing_file("--net", args.net, "saved network .h5 file")
        try:
            saved = load_network(args.net)
        except FileFormatError as error:
            raise Origin.flag("--net", args.net).naming(error) from None
        text = format_znn(read_znn(_network_file(args)) if args.network else saved.spec)
        softmax = args.softmax == "yes" or (args.softmax == "auto" and
                                            "softmax" in str((saved.state or {}).get("cost_fn", "")))
        return [BlockwiseRequest(input=args.input, output=args.output, network_text=text, weights=args.net,
                                 pp_type=args.pp_type or "standard2D", mirror=not args.no_mirror,
                                 softmax=softmax, input_origin=Origin.flag("--input", args.input),
                                 output_origin=Origin.flag("--output", args.output), **common)]
    if not args.config:
        raise ConfigError("give -c JOB.cfg, or --input VOLUME --net NET.h5 --output OUT.zarr", file="command line")
    return _job_requests(args, common)


def _network_file(args: argparse.Namespace) -> Any:
    """The --network description (a .znn path or a bundled name), its errors naming the flag."""
    from znn.base.errors import FileFormatError
    from znn.netspec.library import network_path

    try:
        return network_path(args.network)
    except FileFormatError as error:
        raise Origin.flag("--network", args.network).naming(error) from None


def _check_counts(args: argparse.Namespace) -> None:
    """Numbers and names from the command line, checked before a cluster starts."""
    from znn.data.preprocess import canonical_pp_type

    for flag, value, least in (("--workers", args.workers, 1), ("--threads-per-worker", args.threads_per_worker, 1),
                               ("--retries", args.retries, 0)):
        if value is not None and value < least:
            raise ConfigError(f"{flag} must be at least {least}", file="command line", key=flag, found=str(value))
    checks.positive("--scheduler-timeout", args.scheduler_timeout, " (seconds)")
    if args.pp_type is not None:
        try:
            canonical_pp_type(args.pp_type)
        except ValueError as error:
            raise ConfigError(str(error), file="command line", key="--pp-type", found=args.pp_type) from None


def sample_ids(args: argparse.Namespace) -> tuple[int, ...] | None:
    """--range as sample ids (None: not given), a bad value refused naming the flag."""
    from znn.jobs import values as v

    if not args.range:
        return None
    try:
        return tuple(v.parse_range(args.range))
    except v.BadValue as bad:
        raise ConfigError(bad.problem, file="command line", key="--range", expected=bad.expected,
                          found=bad.found) from None


def _job_requests(args: argparse.Namespace, common: dict[str, Any]) -> list[Any]:
    from znn.blockwise.run import BlockwiseRequest
    from znn.data.dataset import forward_input_location
    from znn.forward.job import forward_network_file
    from znn.jobs import read_cfg
    from znn.netspec.znnfile import read_znn

    ids = sample_ids(args)
    job = read_cfg(args.config)
    run = job.require_forward(network_file=_network_file(args) if args.network else None)
    spec = read_znn(run.network_file)
    if len(spec.input_names) != 1:
        raise ConfigError("blockwise prediction needs a network with one input", file=str(run.network_file))
    weights = forward_network_file(run, args.net)
    softmax = args.softmax == "yes" or (args.softmax == "auto" and run.softmax)
    output_origin = run.provenance.origin("output_prefix")
    requests = []
    for sample_id in ids if ids is not None else run.forward_range:
        location, pp_type = forward_input_location(run.data_spec, sample_id, spec.input_names[0])
        output = f"{run.output_prefix}_sample{sample_id}.zarr"
        requests.append(BlockwiseRequest(input=location, output=output, network_text=run.network_file.read_text(),
                                         weights=str(weights), pp_type=args.pp_type or pp_type,
                                         mirror=run.mirror and not args.no_mirror, softmax=softmax,
                                         dtype=run.dtype, output_origin=output_origin,
                                         input_origin=_image_origin(job, sample_id, spec.input_names[0], location),
                                         **common))
    return requests


def _image_origin(job: Any, sample_id: int, node: str, location: str) -> Origin:
    """Where the .spec names the volume of a sample's input, for refusals of its voxels."""
    data = job.loaded_data_spec()
    image_id = data.samples[sample_id].binding_for(node)
    image = data.images[image_id]
    return Origin("fnames", location, file=str(data.source), line=image.lines.get("fnames"),
                  group=f"image{image_id}")


def run_blockwise(args: argparse.Namespace) -> int:
    from znn.base.cores import cap_note, usable_cores
    from znn.blockwise.cluster import CONNECT_TIMEOUT_S, cluster_client
    from znn.blockwise.run import BlockwiseFinished, iter_blockwise, prepare_blockwise
    from znn.jobs import values as v
    from znn.planning.planner import budget_from_string, total_ram_bytes

    console = Console(quiet=args.quiet)
    cores = usable_cores()
    # On a local cluster, counts above the cores are capped (with a note): more threads or worker
    # processes only compete for the same cores, and a huge count fails late (no thread, no memory).
    # A remote scheduler's machines have cores of their own: their counts are left as given.
    local = args.scheduler is None
    for flag, value in (("--threads-per-worker", args.threads_per_worker), ("--workers", args.workers)):
        note = cap_note(flag, value) if local else None
        if note:
            console.note(f"note: {note}")
    if local:
        args.threads_per_worker = min(args.threads_per_worker, cores)
    workers = min(args.workers, cores) if args.workers and local else args.workers
    workers = workers or max(1, cores // max(args.threads_per_worker, 1))
    try:
        memory = (budget_from_string(v.parse_ram_budget(args.memory_per_worker)) if args.memory_per_worker
                  else int(total_ram_bytes() * 0.8 / workers))
    except v.BadValue as bad:
        raise ConfigError(bad.problem, file="command line", key="--memory-per-worker", expected=bad.expected,
                          found=bad.found) from None
    requests = _requests(args, memory)
    prepared = [prepare_blockwise(request) for request in requests]  # refusals come before the cluster
    stop = threading.Event()
    stopped = False
    timeout = args.scheduler_timeout if args.scheduler_timeout is not None else CONNECT_TIMEOUT_S
    # The LocalCluster's workers ignore Ctrl-C (the terminal sends it to them too): the
    # driver stops them, after the blocks in progress, and a second Ctrl-C aborts (130).
    with stop_on_signals(stop.set, console, "after the blocks in progress"), \
            cluster_client(args.scheduler, workers=workers, memory_per_worker=memory,
                           connect_timeout=timeout) as client:
        for request, ready in zip(requests, prepared):
            for event in iter_blockwise(request, client, stop=stop, prepared=ready):
                console.blockwise_event(event)
                stopped = stopped or (isinstance(event, BlockwiseFinished) and event.stopped)
            if stopped or stop.is_set():
                break
    return 0  # also after a stop on request: the blocks written are flagged, a rerun completes them
