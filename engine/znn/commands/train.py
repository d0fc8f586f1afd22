"""`znn train -c job.cfg`: train a network as ZNN's train.py did, resumable and stoppable.

Training starts from `-s SEED.h5` if given, else resumes from `<train_net_prefix>_current.h5`
if it exists, else from a fresh network. Ctrl-C (or SIGTERM, or SIGHUP) finishes the current update,
saves a checkpoint and exits with status 0; a second Ctrl-C aborts at once with status 130
(the last checkpoint is intact: every file is written under a temporary name first).

One training run at a time per train_net_prefix: a second one is refused (status 2) with
the PID of the first. A save that fails (disk full, folder made read-only) ends the run
with status 2 and the previous checkpoint intact.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from znn.commands.console import Console, stop_on_signals, thread_note

EXIT_FAILED = 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a network from a .cfg job file (resumes automatically)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, metavar="JOB.cfg",
                   help="the job file; its fdata_spec names the .spec with the samples")
    p.add_argument("-s", "--seed", metavar="NET.h5", default=None,
                   help="start a new run from this saved network, or a bundled trained one by name (e.g. "
                        "N4-isbi2012): layers are copied by name, the others start fresh (the report says "
                        "which); the run counts its own updates from 0. Refused if the job's "
                        "<train_net_prefix>_current.h5 exists (that run would be overwritten)")
    p.add_argument("-d", "--dtype", choices=("float32", "single", "float64", "double"), default=None,
                   help="override the job's dtype")
    p.add_argument("-k", "--is_check", choices=("yes", "no"), default=None,
                   help="'yes': run a single update and stop (a quick check that the job works)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="worker threads (default: the job's num_threads; 0 = all cores)")
    p.add_argument("--max-iter", type=int, default=None, metavar="N", help="override Max_iter")
    p.add_argument("--minutes", type=float, default=None, metavar="M",
                   help="stop (and save) after M minutes of training")
    p.add_argument("--quiet", action="store_true", help="no progress bar; show, test and save lines only")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from znn.app.session import Budget, SessionNote, TrainingSession
    from znn.base.cores import capped_threads
    from znn.commands import checks
    from znn.jobs import read_cfg

    checks.existing_file("-c/--config", args.config, "job .cfg file")
    seed = _seed_network(args.seed)
    checks.at_least("--threads", args.threads, 0, " (0 = all cores)")
    checks.at_least("--max-iter", args.max_iter, 1)
    checks.positive("--minutes", args.minutes)
    job = read_cfg(args.config)
    settings = job.require_training()
    if args.dtype:
        settings = replace(settings, dtype="float64" if args.dtype in ("float64", "double") else "float32")
    if args.threads is not None:
        settings = replace(settings, num_threads=capped_threads(args.threads))
    if args.max_iter is not None:
        settings = settings.with_max_iter(args.max_iter)
    console = Console(quiet=args.quiet)
    console.note(f"reading {args.config}: network {job.network.fnet_spec}, samples "
                 f"{job.training.train_range} (validation {job.training.test_range})")
    thread_note(console, args.threads, job.network.num_threads)
    session = TrainingSession(settings, seed_network=seed,
                              budget=Budget(updates=1 if args.is_check == "yes" else None, minutes=args.minutes))
    events = session.events()
    first = next(events, None)
    while isinstance(first, SessionNote):  # before training starts, Ctrl-C interrupts at once
        console.note(first.text)
        first = next(events, None)
    if first is None:
        return 0
    status = 0
    with stop_on_signals(session.request_stop, console, "after this update and saving"):
        for event in itertools.chain([first], events):
            if console.training_event(event) == "failed":
                status = EXIT_FAILED
    return status


def _seed_network(given: str | None) -> Path | None:
    """-s: a saved network file, or the name of a bundled trained network."""
    from znn.commands import checks
    from znn.netspec.library import list_trained

    if given is None:
        return None
    library = list_trained()
    if not Path(given).exists() and given in library:
        return library[given]
    checks.existing_file("-s/--seed", given, "saved network .h5 file (or a bundled trained network: "
                         f"{', '.join(library) or 'none'})")
    return Path(given)
