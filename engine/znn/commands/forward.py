"""`znn forward -c job.cfg`: run a trained network over every sample of forward_range.
With --blockwise: block by block on a dask.distributed cluster into zarr stores (options below).

Outputs go to `<output_prefix>_sample<N>_<output>.h5` (dataset /main; boundary maps after
a channel softmax, affinities as the network gives them). `forward_outsz = auto` lets the
planner choose the tile under `forward_ram_budget` (default 50% of RAM). Ctrl-C stops
between tiles (status 0; finished samples stay written), a second Ctrl-C aborts (status
130). One forward pass at a time per output_prefix: a second one is refused (status 2).
"""

from __future__ import annotations

import argparse
import threading

from znn.commands import blockwise, checks
from znn.commands.console import Console, stop_on_signals, thread_note


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("forward", help="run a trained network over the forward_range samples of a job",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", default=None, metavar="JOB.cfg", help="the job file")
    p.add_argument("-n", "--net", default=None, metavar="NET.h5", help="network file (default: forward_net)")
    p.add_argument("-r", "--range", default=None, metavar="IDS",
                   help="sample ids such as 1-3,7 (default: forward_range)")
    p.add_argument("--outsz", default=None, metavar="Z,Y,X|auto", help="override forward_outsz")
    p.add_argument("--budget", default=None, metavar="SIZE",
                   help="RAM budget for --outsz auto, e.g. 8GiB or 50%% (default: forward_ram_budget or 50%%)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="worker threads (default: the job's num_threads; 0 = all cores)")
    p.add_argument("--tif", action="store_true", help="also write one TIFF per output map")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    blockwise.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from znn.base.errors import ConfigError

    checks.at_least("--threads", args.threads, 0, " (0 = all cores)")
    checks.existing_file("-c/--config", args.config, "job .cfg file")
    checks.existing_file("-n/--net", args.net, "saved network .h5 file")
    if args.blockwise:
        return blockwise.run_blockwise(args)
    if not args.config or args.input:
        raise ConfigError("znn forward needs -c JOB.cfg (--input VOLUME works with --blockwise)", file="command line")
    from dataclasses import replace

    from znn.base.cores import capped_threads
    from znn.forward.job import run_forward
    from znn.forward.outputs import remove_stale_temporaries
    from znn.io.runlock import RunLock
    from znn.io.writable import check_output_folder
    from znn.jobs import read_cfg
    from znn.jobs import values as v

    ids = blockwise.sample_ids(args)
    job = read_cfg(args.config)
    for flag, value, parse, setting in (("--outsz", args.outsz, v.parse_outsz_or_auto, "forward_outsz"),
                                        ("--budget", args.budget, v.parse_ram_budget, "forward_ram_budget")):
        if value:
            try:
                setattr(job.forward, setting, parse(value))
            except v.BadValue as bad:
                raise ConfigError(bad.problem, file="command line", key=flag, expected=bad.expected,
                                  found=bad.found) from None
    if args.tif:
        job.forward.forward_tif = True
    console = Console(quiet=args.quiet)
    thread_note(console, args.threads, job.network.num_threads)
    stop = threading.Event()
    settings = job.require_forward()
    if args.threads is not None:
        settings = replace(settings, num_threads=capped_threads(args.threads))
    prefix = settings.output_prefix
    # The folder first, so that a refusal names output_prefix rather than the lock file.
    check_output_folder(prefix.parent, settings.provenance.origin("output_prefix"), what="forward outputs")
    with RunLock(prefix, "forward") as lock, stop_on_signals(stop.set, console, "after this tile"):
        if lock.note:
            console.note(f"note: {lock.note}")
        if lock.held:
            removed = remove_stale_temporaries(prefix)
            if removed:
                console.note(f"note: removed {len(removed)} temporary file(s) that an interrupted write left "
                             f"in {prefix.parent}")
        for event in run_forward(settings, net_path=args.net, sample_ids=ids, stop=stop):
            console.forward_event(event)
    return 0  # also after a stop on request: the samples written are complete
