"""`znn export`: a trained network as a bioimage.io model package (ONNX weights) or a bare ONNX file;
`znn import`: such a package or file back into a `.znn` and a `.h5` checkpoint.

  znn export -c job.cfg -o model.zip                 # the job's latest checkpoint, its normalisation
  znn export --checkpoint net/net_best.h5 -o model.zip
  znn export --net networks/N4.znn -o n4.onnx        # a .onnx name writes the ONNX graph alone
  znn import model.zip -o imported/                  # imported/network.znn + imported/net.h5

The package holds rdf.yaml (model spec 0.5: axes and valid sizes, preprocessing, the meaning of each
output channel, authors, licence, citation), weights.onnx, test tensors computed by the engine, a
README, the network drawn as cover and network.znn. Needs the `export` extra.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from znn.base.errors import ZnnError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a trained network as a bioimage.io package or an ONNX file",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", type=Path, metavar="JOB.cfg", help="the job whose latest checkpoint to export")
    p.add_argument("--checkpoint", type=Path, metavar="FILE.h5", help="these weights (with -c: instead of the latest)")
    p.add_argument("--net", type=Path, metavar="FILE.znn", help="this network (without --checkpoint: fresh weights)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.zip|OUT.onnx")
    p.add_argument("--name", default=None, help="the model's name (default: the network file's)")
    p.add_argument("--author", action="append", default=None, metavar="NAME", help="an author (repeatable)")
    p.add_argument("--license", default="CC-BY-4.0", help="an SPDX licence id (default CC-BY-4.0)")
    p.add_argument("--training-data", default="not named", metavar="TEXT", help="the data it was trained on")
    p.add_argument("--description", default=None, help="one paragraph on what the model does")
    p.add_argument("--kind", choices=("boundary", "affinity", "raw"), default=None,
                   help="without -c: what the outputs mean (default: 2 maps boundary, 3 affinity)")
    p.set_defaults(run=run)
    q = sub.add_parser("import", help="a package or ONNX file written by znn export, back to .znn + .h5",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("package", type=Path, metavar="MODEL.zip|MODEL.onnx")
    q.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    q.set_defaults(run=run_import)


def run(args: argparse.Namespace) -> int:
    from znn.base.atomic import atomic_path
    from znn.export.onnx_graph import build_onnx
    from znn.export.package import PackageInfo, network_text, write_package
    from znn.export.sources import from_files, from_job

    suffix = args.output.suffix.lower()
    if suffix not in (".zip", ".onnx"):
        raise ZnnError(f"-o {args.output}: write a package (.zip) or an ONNX file (.onnx)")
    if args.output.is_dir():
        raise ZnnError(f"-o {args.output}: is a folder; name the file to write")
    started = time.perf_counter()
    if args.config is not None:
        source = from_job(args.config, args.checkpoint)
    else:
        source = from_files(args.net, args.checkpoint, None if args.kind == "raw" else args.kind)
    name = args.name or Path(source.spec.source or "network").stem
    if suffix == ".onnx":
        model = build_onnx(source.spec, source.kernels, source.biases, softmax=source.softmax,
                           doc=f"{name}: exported by napari-znn", network_text=network_text(source.spec))
        with atomic_path(args.output) as temporary:
            temporary.write_bytes(model.SerializeToString())
    else:
        info = PackageInfo(name=name, authors=tuple(args.author or ("napari-znn user",)), license=args.license,
                           training_data=args.training_data,
                           **({"description": args.description} if args.description else {}))
        write_package(source, args.output, info)
    print(f"written {args.output} in {time.perf_counter() - started:.1f} s")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from znn.export.sources import import_package

    if not args.package.is_file():
        raise ZnnError(f"{args.package}: no such file")
    znn_path, h5_path = import_package(args.package, args.output)
    print(f"written {znn_path} and {h5_path}")
    return 0
