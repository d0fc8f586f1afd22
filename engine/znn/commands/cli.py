"""The `znn` command line: one subcommand per module in `znn.commands`."""

from __future__ import annotations

import argparse
import sys
import warnings

from znn import __version__
from znn.base.errors import ZnnError, describe_os_error
from znn.jobs.ini import ConfigWarning

SUBCOMMANDS = ("train", "forward", "demo", "info", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="znn", description="ZNN convolutional networks for EM connectomics, on CPUs.")
    parser.add_argument("--version", action="version", version=f"znn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    from znn.commands import bench, demo, evaluate, export, forward, info, segment, train

    train.add_parser(sub)
    forward.add_parser(sub)
    segment.add_parser(sub)
    evaluate.add_parser(sub)
    demo.add_parser(sub)
    info.add_parser(sub)
    bench.add_parser(sub)
    export.add_parser(sub)
    return parser


def _show_warning(command: str):  # noqa: ANN202
    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if issubclass(category, ConfigWarning | UserWarning):
            print(f"znn {command}: warning: {message}", file=sys.stderr, flush=True)
        else:
            original(message, category, filename, lineno, file, line)
    return show


EXIT_ERROR = 2  # the input or the system refused the work: one `error:` line says why
EXIT_INTERRUPTED = 130  # a second Ctrl-C (128 + SIGINT, as shells report it)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Warnings about the user's files read as one line each, not as Python source locations.
    warnings.showwarning = _show_warning(args.command)
    try:
        return int(args.run(args) or 0)
    except ZnnError as error:
        for problem in getattr(error, "problems", [error]):
            print(f"znn {args.command}: error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"znn {args.command}: interrupted; files being written were discarded, finished ones are kept",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as error:
        # The last resort for the system refusing something (a full disk, a vanished folder):
        # one line. Other exceptions are bugs and keep their traceback.
        if error.errno is None and error.filename is None:
            raise
        print(f"znn {args.command}: error: {describe_os_error(error)}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError as error:
        print(f"znn {args.command}: error: out of memory{f' ({error})' if str(error) else ''}; use a smaller "
              "patch, fewer threads or a blockwise forward pass", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
