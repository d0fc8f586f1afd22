"""`znn segment MAPS -o SEG`: boundary maps (watershed) or affinities (waterz mean-affinity
agglomeration) to a label volume.

MAPS is what `znn forward` writes (an .h5 with (maps, z, y, x), or a blockwise .zarr), or any
3-D boundary probability volume. Channels decide the kind unless --kind says it: 3 are
affinities (ZNN's x, y, z), 2 are (object, boundary) and the boundary is used, 1 is a
boundary probability. Several thresholds write one volume each, named SEG_t<threshold>.
With --gt LABELS the scores of each threshold are printed (see `znn evaluate`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="boundary maps or affinities to a label volume",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("maps", metavar="MAPS", help="predicted maps (h5 / zarr / tif, optionally FILE:dataset)")
    p.add_argument("-o", "--output", required=True, metavar="SEG", help="label volume to write (.h5 .tif .zarr)")
    p.add_argument("-t", "--threshold", type=float, nargs="+", default=None, metavar="T",
                   help="boundary: probability below which a voxel seeds a cell (default 0.5); "
                        "affinity: waterz merge threshold, higher merges more (default 0.5)")
    p.add_argument("--kind", choices=("auto", "boundary", "affinity"), default="auto")
    p.add_argument("--3d", dest="three_d", action="store_true",
                   help="boundary: segment in 3-D (default: section by section, for anisotropic EM)")
    p.add_argument("--min-size", type=int, default=0, metavar="N", help="boundary: drop seeds smaller than N")
    p.add_argument("--gt", default=None, metavar="LABELS", help="score each threshold against these labels")
    p.set_defaults(run=run)


def load_maps(location: str) -> np.ndarray:
    """(channels, z, y, x) from a forward output, or a 3-D map as one channel."""
    from znn.io.volumes import read_volume

    maps = read_volume(location, ndim=None)
    if maps.ndim == 3:
        maps = maps[np.newaxis]
    if maps.ndim != 4:
        raise ValueError(f"{location}: expected maps of shape (channels, z, y, x) or (z, y, x), got {maps.shape}")
    return maps


def output_for(output: str, threshold: float, several: bool) -> Path:
    path = Path(output)
    if not several:
        return path
    return path.with_name(f"{path.stem}_t{threshold:g}{path.suffix}")


def run(args: argparse.Namespace) -> int:
    from znn.errors import ZnnError

    try:
        return _run(args)
    except ValueError as error:  # bad volumes: one line naming the file, not a traceback
        raise ZnnError(f"{args.maps}: {error}") from None


def _run(args: argparse.Namespace) -> int:
    from znn.evaluate.maps import kind_of, segment_maps
    from znn.evaluate.report import ground_truth_segments, score_segmentation
    from znn.io.volumes import read_volume, write_volume

    maps = load_maps(args.maps)
    kind = kind_of(maps, args.kind)
    thresholds = args.threshold or [0.5]
    truth = None
    if args.gt:
        truth, converted = ground_truth_segments(read_volume(args.gt))
        if converted:
            print(f"{args.gt}: a membrane image; its regions per section are the true segments")
    for threshold, labels in segment_maps(maps, kind, thresholds, per_section=not args.three_d,
                                           min_size=args.min_size):
        path = output_for(args.output, threshold, len(thresholds) > 1)
        write_volume(path, labels.astype(np.uint32) if labels.max() < 2**32 else labels)
        count = len(np.unique(labels)) - (1 if (labels == 0).any() else 0)
        print(f"{kind} threshold {threshold:g}: {count} segments -> {path}")
        if truth is not None:
            scores = score_segmentation(labels, truth, per_section=kind == "boundary" and not args.three_d)
            for line in scores.lines():
                print("  " + line)
    return 0
