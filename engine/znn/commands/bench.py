"""`znn bench`: time one training update of ZNN's benchmark nets against a PyTorch CPU peer.

One update = one backward pass with its weight update + one forward pass on one patch,
float32, inputs and output gradients from U[-1,1]; the median of the timed repeats after
warm-up is reported, with forward-only throughput and each configuration's peak memory.
Every configuration runs in its own process. Results go to bench-results/bench-<time>.md
and .json. PyTorch comes with the `bench` extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from znn.base.errors import ZnnError
from znn.bench.cases import DEFAULT_CAP_S, OUR_MODES, SETUP_CAP_FACTOR
from znn.commands.info import parse_triple

STROKES_HELP = """znn bench strokes: strokes painted by code on 3 sections of ISBI 2012 (from scratch) and of the
drosophila-vnc stack (starting from N4 trained on ISBI 2012); our network trains on them as the dock
does, and its maps at 30 s, 1, 2 and 5 minutes are scored on the unpainted sections (pixel error,
V_rand, V_info at the best threshold) beside an ilastik-style random forest on the same strokes
and, on ISBI, a network trained on the dense labels of the painted sections. Needs the `bench`
extra (scikit-learn) and the EM stacks (--data). Results: <output>/strokes-<time>.md and .json."""


def _names(values: list[str]) -> list[str]:
    """`a,b c` -> [a, b, c]: lists may be given with commas, spaces or both."""
    return [part for value in values for part in value.split(",") if part]


def _threads(values: list[str]) -> list[int]:
    try:
        counts = [int(v) for v in _names(values)]
    except ValueError:
        raise ZnnError(f"--threads {' '.join(values)}: thread counts must be whole numbers") from None
    if any(c < 0 for c in counts):
        raise ZnnError(f"--threads {' '.join(values)}: thread counts must be >= 0 (0 = all cores)")
    return counts


def _check_networks(flag: str, names: list[str]) -> None:
    """Every network named on the command line exists (a bundled name or a .znn file)."""
    from znn.base.errors import FileFormatError
    from znn.io.writable import Origin
    from znn.netspec.library import network_path

    for name in names:
        try:
            network_path(name)
        except FileFormatError as error:
            raise Origin.flag(flag, name).naming(error) from None


def _check_output(args: argparse.Namespace) -> None:
    from znn.io.writable import Origin, check_output_folder

    check_output_folder(args.output, Origin.flag("--output", args.output), what="results")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, found {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, found {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"the cap must be positive, found {value}")
    return value


def _default_data() -> Path:
    """The shared EM data beside the checkout (ZNN_SHARED_DIR overrides, as for the tests)."""
    import os

    shared = os.environ.get("ZNN_SHARED_DIR")
    return Path(shared) / "data" if shared else Path("..") / "shared" / "data"


def _times(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds separated by commas, e.g. 30,60,120,300, found {text!r}") \
            from None
    if not values or any(v <= 0 for v in values) or list(values) != sorted(values):
        raise argparse.ArgumentTypeError(f"expected increasing positive seconds, e.g. 30,60,120,300, found {text!r}")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time training updates against PyTorch (CPU); 'strokes': learning from "
                       "painted strokes against a random forest", description=__doc__ + "\n" + STROKES_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", nargs="?", choices=("speed", "strokes", "estimate"), default="speed",
                   help="speed (default): the table against PyTorch; strokes: training from painted strokes "
                        "against a random forest on held-out EM sections; estimate: the Network tab's "
                        "seconds-per-update estimate against measured updates of the bundled nets")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 3d_3 at 9x9x9 and N4 at 1x100x100, all cores only, 3 repeats")
    p.add_argument("--nets", nargs="+", metavar="NET",
                   help="networks to time (bundled names such as 3d_3 N4, or .znn paths; commas or "
                        "spaces); default: N4 N4_affinity VD2D VD2D3D 3d_3 3d_5 3d_7 at their default output "
                        "sizes")
    p.add_argument("--outsz", type=parse_triple, metavar="Z,Y,X",
                   help="output patch for every selected net instead of the default sizes (needed for "
                        "nets without a default, e.g. --nets tiny2d --outsz 1,8,8)")
    p.add_argument("--threads", nargs="+", metavar="N",
                   help="thread counts (0 = all cores); default: 1 and all cores (all cores with --quick)")
    p.add_argument("--modes", nargs="+", metavar="MODE", default=list(OUR_MODES),
                   help="our conv modes: fft direct optimize (default: all three; with fewer threads than "
                        "all cores only optimize runs)")
    p.add_argument("--repeats", type=_positive, metavar="N",
                   help="timed updates per configuration (default 3; forward passes: at least 3)")
    p.add_argument("--warmup", type=_positive, default=1, metavar="N",
                   help="untimed warm-up updates before timing (default 1)")
    p.add_argument("--cap", type=_seconds, default=DEFAULT_CAP_S, metavar="SECONDS",
                   help=f"skip a configuration whose warm-up update takes longer than this (building "
                        f"it and its first forward pass may take {SETUP_CAP_FACTOR:g} times as long); "
                        f"slower ones with fewer threads or larger outputs are then skipped without "
                        f"running (default {DEFAULT_CAP_S:g})")
    p.add_argument("--no-peer", action="store_true", help="time our engine only, not the PyTorch peer")
    p.add_argument("--peer-threads", choices=("all", "max"), default="all",
                   help="time the peer at every thread count of --threads (all, default; the torch speedup "
                        "column) or at all cores only (max)")
    p.add_argument("--output", type=Path, default=Path("bench-results"), metavar="DIR",
                   help="folder for bench-<timestamp>.md and .json (default bench-results)")
    p.add_argument("--patches", metavar="NET",
                   help="instead of the table: forward throughput of NET at the patch the planner picks under "
                        "--budget against PyTorch's best cubic patch within the same budget (e.g. 3d_7)")
    p.add_argument("--budget", default="16GiB", metavar="SIZE",
                   help="RAM budget for --patches, e.g. 16GiB or 50%% (default 16GiB)")
    strokes = p.add_argument_group("strokes (znn bench strokes)")
    strokes.add_argument("--data", type=Path, default=None, metavar="DIR",
                         help="folder holding isbi2012/ and drosophila-vnc/ (default: $ZNN_SHARED_DIR/data, else "
                              "../shared/data)")
    strokes.add_argument("--cases", nargs="+", metavar="CASE", default=["isbi", "vnc"],
                         help="isbi (from scratch) and/or vnc (transfer from a net trained on ISBI); default both")
    strokes.add_argument("--times", type=_times, default=(30.0, 60.0, 120.0, 300.0), metavar="S,S,...",
                         help="seconds of training at which the runs are scored (default 30,60,120,300)")
    strokes.add_argument("--start", default="N4-isbi2012", metavar="NET",
                         help="the transfer case's trained network: a bundled name or an .h5 (default N4-isbi2012)")
    strokes.add_argument("--stroke-seed", type=int, default=0, metavar="N",
                         help="where the strokes are painted (default 0)")
    strokes.add_argument("--keep", type=Path, default=None, metavar="DIR",
                         help="keep the run folders here (default: a temporary folder)")
    p.set_defaults(run=run)


def run_patches(args: argparse.Namespace) -> int:
    import json
    import time

    from znn.base.cores import usable_cores
    from znn.bench.patches import compare
    from znn.planning.planner import PlanError, budget_from_string

    threads = (_threads(args.threads)[-1] or usable_cores()) if args.threads else usable_cores()
    _check_networks("--patches", [args.patches])
    try:
        budget = budget_from_string(args.budget)
    except PlanError as error:
        raise ZnnError(f"--budget {args.budget}: {error}") from None
    _check_output(args)
    result = compare(args.patches, budget, threads)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"patches-{args.patches}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written {path}")
    return 0


def run_strokes(args: argparse.Namespace) -> int:
    from znn.bench.strokes import CASES, StrokesOptions, run_strokes_bench
    from znn.netspec.library import trained_network

    cases = _names(args.cases)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        raise ZnnError(f"--cases: unknown case {', '.join(unknown)}; expected some of {', '.join(CASES)}")
    data = args.data or _default_data()
    if not data.is_dir():
        raise ZnnError(f"--data {data}: not a folder; znn bench strokes needs the EM stacks (a folder holding "
                       "isbi2012/ and drosophila-vnc/)")
    if "vnc" in cases:
        trained_network(args.start)  # a missing start is refused before an hour of work
    threads = (_threads(args.threads)[-1] if args.threads else 0)
    _check_output(args)
    options = StrokesOptions(data=data, cases=tuple(cases), times=args.times, threads=threads,
                             seed=args.stroke_seed, start=args.start, output=args.output, keep=args.keep)
    md, js = run_strokes_bench(options)
    print(f"written {md} and {js}")
    return 0


def run(args: argparse.Namespace) -> int:
    from znn.bench.runner import BenchOptions, run_bench

    if args.suite == "strokes":
        return run_strokes(args)
    if args.suite == "estimate":
        from znn.bench.estimate import run_estimate_bench

        _check_output(args)
        md, js = run_estimate_bench(args.output, _threads(args.threads)[-1] if args.threads else 0)
        print(f"written {md} and {js}")
        return 0
    if args.patches:
        return run_patches(args)

    modes = _names(args.modes)
    unknown = [m for m in modes if m not in OUR_MODES]
    if unknown:
        raise ZnnError(f"--modes: unknown conv mode {', '.join(unknown)}; expected some of {', '.join(OUR_MODES)}")
    threads = _threads(args.threads) if args.threads else None
    if args.nets:
        _check_networks("--nets", _names(args.nets))
    _check_output(args)
    options = BenchOptions(nets=_names(args.nets) if args.nets else None, outsz=args.outsz,
                           threads=threads, modes=modes, repeats=args.repeats, warmup=args.warmup,
                           cap_s=args.cap, output=args.output, quick=args.quick, peer=not args.no_peer,
                           peer_threads=args.peer_threads)
    done = run_bench(options)
    if done.interrupted:
        return 130
    return 0 if any(r["status"] == "ok" for r in done.results) else 1
