"""`znn demo`: generate synthetic EM data, train tiny2d for a few minutes, predict a separate
test volume, segment it and print pixel error, boundary F1 and adapted Rand error.

Everything is written to --output (default demo-output/): data, job files, checkpoints,
the learning-curve PNG, the predicted boundary map and scores.json.
"""

from __future__ import annotations

import argparse

from znn.commands.console import Console


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train and evaluate on generated data in a few minutes",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default="demo-output", metavar="DIR", help="folder for everything (default demo-output)")
    p.add_argument("--minutes", type=float, default=3.0, metavar="M", help="training time (default 3)")
    p.add_argument("--seed", type=int, default=1, help="seed of the data and the training (default 1)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="worker threads (default 0 = all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from znn.app.demo import format_scores, run_demo
    from znn.commands import checks
    from znn.forward.job import ForwardFinished, SampleStarted, SampleWritten, TileProgress
    from znn.io.training_state import SEED_MAX
    from znn.io.writable import Origin, check_output_folder

    checks.positive("--minutes", args.minutes, " (training time)")
    checks.at_least("--threads", args.threads, 0, " (0 = all cores)")
    checks.at_least("--seed", args.seed, 0)
    checks.at_most("--seed", args.seed, SEED_MAX)
    check_output_folder(args.output, Origin.flag("--output", args.output), what="demo's files")

    console = Console(quiet=args.quiet)

    def show(event: object) -> None:
        if isinstance(event, SampleStarted | TileProgress | SampleWritten | ForwardFinished):
            console.forward_event(event)
        else:
            console.training_event(event)

    scores = run_demo(args.output, minutes=args.minutes, seed=args.seed, threads=args.threads, show=show,
                      say=console.line)
    console.line("test volume (never seen in training):")
    console.line(format_scores(scores))
    return 0
