"""`znn info NET.znn --outsz z,y,x [--diagram FILE.svg]`: print a network's layers, sizes, parameters
and memory; draw it."""

from __future__ import annotations

import argparse

from znn.netspec.graph import NetworkGraph
from znn.netspec.library import network_path
from znn.netspec.summary import summary_text
from znn.netspec.znnfile import read_znn


def parse_triple(text: str) -> tuple[int, int, int]:
    """`1,100,100` -> (1, 100, 100); a single number n means 1,n,n."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected z,y,x integers, found {text!r}") from None
    if len(values) == 1:
        values = (1, values[0], values[0])
    if len(values) != 3 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected three positive integers z,y,x, found {text!r}")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print a network's layer table, field of view, sizes and memory",
                       description=__doc__)
    p.add_argument("network", help="a .znn network file, or the name of a bundled network (e.g. N4)")
    p.add_argument("--outsz", type=parse_triple, default=(1, 1, 1),
                   help="output patch size z,y,x (default 1,1,1)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="precision used for the memory estimate (default float32)")
    p.add_argument("--no-cache-spectra", action="store_true",
                   help="estimate memory with kernel-spectrum caching off")
    p.add_argument("--diagram", metavar="FILE", default=None,
                   help="also draw the network (groups, sizes, receptive fields, parameters) into FILE: "
                        ".svg, .png or .pdf")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from znn.io.writable import Origin

    if Path(args.network).is_dir():
        raise Origin.flag("NETWORK", args.network).error("is a folder", expected="a .znn file or a bundled "
                                                                                "network name such as N4")
    if args.diagram is not None:  # refused before any work
        from znn.io.writable import check_output_file
        from znn.netspec.diagram import FORMATS

        origin = Origin.flag("--diagram", args.diagram)
        if Path(args.diagram).suffix.lower() not in FORMATS:
            raise origin.error("has no drawing format as its suffix", expected=f"a file ending in {', '.join(FORMATS)}")
        check_output_file(args.diagram, origin, what="diagram")
    spec = read_znn(network_path(args.network))
    graph = NetworkGraph(spec, args.outsz)
    print(f"{args.network}  (output patch {'x'.join(map(str, args.outsz))})")
    for warning in spec.warnings:
        print(f"warning: {warning}")
    print(summary_text(graph, dtype=args.dtype, cache_spectra=not args.no_cache_spectra))
    if args.diagram is not None:
        from znn.netspec.diagram import draw

        written = draw(graph, args.diagram, title=f"{Path(args.network).stem} (output patch "
                                                  f"{'x'.join(map(str, args.outsz))})")
        print(f"diagram written to {written}")
    return 0
