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

from znn.base.errors import FileFormatError
from znn.commands import checks
from znn.io.writable import Origin


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


def output_for(output: str, threshold: float, several: bool) -> str:
    """The volume location of one threshold's labels: `output` itself, or with several thresholds
    `SEG_t<threshold>` (the file renamed; an HDF5 dataset or zarr array path kept)."""
    from znn.io.volumes import parse_location

    if not several:
        return output
    location = parse_location(output)
    file = location.file.with_name(f"{location.file.stem}_t{threshold:g}{location.file.suffix}")
    return str(file) + (f":{location.key}" if location.inner else "")


def run(args: argparse.Namespace) -> int:
    from znn.base.errors import ZnnError

    try:
        return _run(args)
    except ZnnError:
        raise
    except ValueError as error:  # bad maps: one line naming the file, not a traceback
        raise ZnnError(f"MAPS {args.maps}: {error}") from None


def _check_values(args: argparse.Namespace) -> list[float]:
    thresholds = args.threshold or [0.5]
    for threshold in thresholds:
        checks.within("-t/--threshold", threshold, 0.0, 1.0, " (a probability or mean affinity)")
    named: dict[str, float] = {}
    for threshold in thresholds:  # each threshold writes SEG_t<threshold>: two that print alike write one file
        name = f"{threshold:g}"
        if name in named:
            raise Origin.flag("-t/--threshold", f"{named[name]:g} {threshold!r}").error(
                f"{threshold!r} and {named[name]!r} name the same output (SEG_t{name})",
                expected="thresholds that differ in their first 6 digits")
        named[name] = threshold
    checks.at_least("--min-size", args.min_size, 0, " (voxels)")
    return thresholds


def check_outputs(args: argparse.Namespace, thresholds: list[float]) -> dict[float, str]:
    """The label volume(s) to write, refused before any work if they cannot be written or would
    replace the maps or the ground truth."""
    from znn.io.volumes import parse_location
    from znn.io.writable import check_output_folder, refuse_overwriting_inputs

    inputs = []
    for flag, given, role in (("MAPS", args.maps, "the input"), ("--gt", args.gt, "the ground truth")):
        if given:
            try:
                inputs.append((parse_location(given).file, f"{role} {flag} {given}"))
            except FileFormatError as error:
                raise Origin.flag(flag, given).naming(error) from None
    several = len(thresholds) > 1
    paths = {}
    for threshold in thresholds:
        origin = Origin.flag("-o/--output", args.output)
        try:
            location = parse_location(output_for(args.output, threshold, several))
        except FileFormatError as error:
            raise origin.naming(error) from None
        refuse_overwriting_inputs(location.file, origin, inputs)
        if location.kind != "zarr" and location.file.is_dir():
            raise origin.error(f"{location.file} is an existing folder",
                               expected=f"a file name for the label volume ({location.file.suffix})")
        if location.kind == "zarr" and location.file.exists() and not _replaceable_zarr(location.file):
            raise origin.error(f"{location.file} exists and is not a zarr store",
                               expected="a new .zarr path, or a zarr store to replace")
        check_output_folder(location.file.parent, origin, what="label volume")
        paths[threshold] = output_for(args.output, threshold, several)
    return paths


def _replaceable_zarr(path: Path) -> bool:
    """A zarr store (or an empty folder): what writing a zarr volume may replace."""
    if not path.is_dir():
        return False
    return not any(path.iterdir()) or any((path / name).exists() for name in ("zarr.json", ".zgroup", ".zarray"))


def ground_truth_for(location: str, shape: tuple[int, ...], origin: Origin) -> tuple[np.ndarray, bool]:
    """Ground-truth segment ids of the same (z, y, x) shape as the volume scored, or a one-line
    refusal naming the file: another shape, or float voxels that are not a membrane image."""
    from znn.data.checks import check_not_an_image
    from znn.evaluate.report import ground_truth_segments
    from znn.io.volumes import read_volume

    try:
        labels = read_volume(location)
    except FileFormatError as error:
        raise origin.naming(error) from None
    if labels.shape != shape:
        raise origin.error(f"the ground truth and the volume it scores differ in shape: {labels.shape} vs {shape}",
                           expected="the same z, y, x shape")
    truth, converted = ground_truth_segments(labels)
    if truth.dtype.kind not in "iub":
        raise origin.error(f"holds {labels.dtype} voxels, not segment labels",
                           expected="integer labels (or a membrane image: 0 and one other value)")
    if not truth.any():
        raise origin.error("holds no segment: every voxel is 0 (membrane or unlabelled), so nothing can be scored",
                           expected="ground-truth labels with some segments (ids > 0)")
    try:
        check_not_an_image(labels, location, "ground truth")
    except FileFormatError as error:
        raise origin.naming(error) from None
    return truth, converted


def _run(args: argparse.Namespace) -> int:
    from znn.evaluate.maps import check_probability_maps, kind_of, segment_maps
    from znn.evaluate.report import score_segmentation
    from znn.io.volumes import write_volume

    thresholds = _check_values(args)
    paths = check_outputs(args, thresholds)
    try:
        maps = load_maps(args.maps)
    except FileFormatError as error:
        raise Origin.flag("MAPS", args.maps).naming(error) from None
    check_probability_maps(maps)
    kind = kind_of(maps, args.kind)
    truth = None
    if args.gt:
        truth, converted = ground_truth_for(args.gt, maps.shape[1:], Origin.flag("--gt", args.gt))
        if converted:
            print(f"{args.gt}: a membrane image; its regions per section are the true segments")
    for threshold, labels in segment_maps(maps, kind, thresholds, per_section=not args.three_d,
                                          min_size=args.min_size):
        path = paths[threshold]
        write_volume(path, labels.astype(np.uint32) if labels.max() < 2**32 else labels)
        count = len(np.unique(labels)) - (1 if (labels == 0).any() else 0)
        print(f"{kind} threshold {threshold:g}: {count} segments -> {path}")
        if truth is not None:
            scores = score_segmentation(labels, truth, per_section=kind == "boundary" and not args.three_d)
            for line in scores.lines():
                print("  " + line)
    return 0
