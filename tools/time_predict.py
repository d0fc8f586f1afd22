"""Time the dock's in-memory Predict of a stack with a trained network: when the conv choice for
the tile is made, when the first tile is done, and the total (what issue 24 measured).

    .venv/bin/python tools/time_predict.py STACK.tif [--network N4-isbi2012] [--conv-mode optimize]
"""

from __future__ import annotations

import argparse
import time

import tifffile

from znn.forward.image import iter_predict_image
from znn.forward.predict import TileDone
from znn.io.h5net import load_network
from znn.netspec.library import trained_network
from znn.parallel.choice import ConvModeChosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stack")
    parser.add_argument("--network", default="N4-isbi2012")
    parser.add_argument("--conv-mode", default="optimize")
    args = parser.parse_args()
    image = tifffile.imread(args.stack)
    weights = trained_network(args.network)
    start = time.monotonic()
    run = iter_predict_image(image, load_network(weights).spec, weights, conv_mode=args.conv_mode, outsz="auto",
                             ram_budget="50%", num_threads=0)
    planned = first = None
    tiles = 0
    try:
        while True:
            event = next(run)
            if isinstance(event, ConvModeChosen) and event.done == event.total:
                planned = time.monotonic() - start
            if isinstance(event, TileDone):
                tiles = event.total
                first = first if first is not None else time.monotonic() - start
    except StopIteration:
        total = time.monotonic() - start
    print(f"{args.network} on {image.shape}, conv mode {args.conv_mode}: conv choice made after "
          f"{planned if planned is not None else 0:.1f} s, first of {tiles} tiles after {first:.1f} s, "
          f"all after {total:.1f} s")


if __name__ == "__main__":
    main()
