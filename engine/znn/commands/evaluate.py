"""`znn evaluate SEG GT`: adapted Rand error, VI split/merge and the ISBI 2012
foreground-restricted V_rand / V_info of a segmentation against ground truth.

Ground-truth label 0 (membrane, unlabelled) is not scored. A ground truth with only two
values, 0 and another (an ISBI-style membrane image), is turned into its regions section by
section first. --per-section averages 2-D scores over the sections (as for 2-D segmentations
of anisotropic stacks); the default scores the volume in 3-D.
"""

from __future__ import annotations

import argparse
import json

from znn.base.errors import FileFormatError
from znn.io.writable import Origin


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a segmentation against ground truth",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("segmentation", metavar="SEG", help="label volume (h5 / tif / zarr)")
    p.add_argument("ground_truth", metavar="GT", help="ground-truth labels, or a membrane image")
    p.add_argument("--per-section", action="store_true", help="mean of 2-D scores over the sections")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from znn.base.errors import ZnnError

    try:
        return _run(args)
    except ZnnError:
        raise
    except ValueError as error:  # bad volumes: one line naming the file, not a traceback
        raise ZnnError(f"SEG {args.segmentation}: {error}") from None


def _same_volume(a: str, b: str) -> bool:
    from znn.io.volumes import DEFAULT_H5_DATASET, parse_location, split_sections
    from znn.io.writable import overlaps

    first, second = (parse_location(split_sections(text)[0]) for text in (a, b))
    default = DEFAULT_H5_DATASET.strip("/") if first.kind == "h5" else None
    return overlaps(first.file, second.file) and (first.inner or default) == (second.inner or default) \
        and split_sections(a)[1] == split_sections(b)[1]


def _run(args: argparse.Namespace) -> int:
    from znn.commands.segment import ground_truth_for
    from znn.data.checks import check_not_an_image
    from znn.evaluate.report import score_segmentation
    from znn.io.volumes import read_volume

    origin = Origin.flag("SEG", args.segmentation)
    if _same_volume(args.segmentation, args.ground_truth):
        raise Origin.flag("GT", args.ground_truth).error(
            f"is the segmentation SEG {args.segmentation} itself; it would score perfectly",
            expected="the ground truth in another file or dataset")
    try:
        segmentation = read_volume(args.segmentation)
    except FileFormatError as error:
        raise origin.naming(error) from None
    truth, converted = ground_truth_for(args.ground_truth, segmentation.shape, Origin.flag("GT", args.ground_truth))
    if segmentation.dtype.kind not in "iub":
        raise origin.error(f"holds {segmentation.dtype} values, not labels; segment the maps first (znn segment)",
                           expected="segment labels")
    try:
        check_not_an_image(segmentation, args.segmentation, "segmentation")
    except FileFormatError as error:
        raise origin.naming(error) from None
    scores = score_segmentation(segmentation, truth, per_section=args.per_section)
    if args.json:
        print(json.dumps(scores.as_dict()))
        return 0
    if converted:
        print(f"{args.ground_truth}: a membrane image; its regions per section are the true segments")
    for line in scores.lines():
        print(line)
    return 0
