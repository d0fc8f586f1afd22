"""The `znn` command line: one subcommand per module in `znn.commands`."""

from __future__ import annotations

import argparse
import sys

from znn import __version__
from znn.errors import ZnnError

SUBCOMMANDS = ("info", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="znn", description="ZNN convolutional networks for EM connectomics, on CPUs.")
    parser.add_argument("--version", action="version", version=f"znn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from znn.commands import bench, info

    info.add_parser(sub)
    bench.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ZnnError as error:
        for problem in getattr(error, "problems", [error]):
            print(f"znn {args.command}: error: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
