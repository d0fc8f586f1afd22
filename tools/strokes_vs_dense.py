"""Training from painted strokes against training from dense labels, same network, same time.

    .venv/bin/python tools/strokes_vs_dense.py --data ../shared/data/isbi2012 --minutes 5

Reads an ISBI-2012-style stack (`train-volume.tif`, `train-labels.tif`: 0 = membrane), paints a
few short strokes on three sections from the labels (`znn.data.strokes.paint_strokes`), writes
two job folders with the same network and settings (dense labels; sparse strokes), trains each
for the same number of minutes with `znn train`, predicts every section and scores both maps
against the dense labels: pixel error of the boundary map thresholded at 0.5, and V_rand
(ISBI's foreground-restricted Rand score, per section) of its watershed segmentation. Prints
one table; `--out` keeps the job folders.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _train(cfg: Path, minutes: float, threads: int) -> float:
    started = time.monotonic()
    cli = "import sys; from znn.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", cli, "train", "-c", str(cfg), "--minutes", str(minutes),
                    "--threads", str(threads), "--quiet"], check=True)
    return time.monotonic() - started


def _scores(cfg: Path, image: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    from znn.evaluate.report import ground_truth_segments, score_segmentation
    from znn.evaluate.segment import segment_boundary
    from znn.forward.image import iter_predict_image
    from znn.io.h5net import load_network
    from znn.netspec.znnfile import parse_znn

    spec = parse_znn((cfg.parent / "network.znn").read_text())
    weights = cfg.parent / "net" / "net_current.h5"
    generator = iter_predict_image(image, spec, weights, conv_mode="direct")
    try:
        while True:
            next(generator)
    except StopIteration as done:
        maps = next(iter(done.value.values()))
    boundary = maps[1]
    pixel_error = float(np.mean((boundary > threshold) != (labels == 0)))
    segmentation = segment_boundary(boundary, threshold=threshold)
    truth, _ = ground_truth_segments(labels)
    scores = score_segmentation(segmentation, truth, per_section=True)
    return {"iterations": float(load_network(weights).state["iteration"]), "pixel_error": pixel_error,
            "v_rand": scores.v_rand, "v_info": scores.v_info}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with train-volume.tif, train-labels.tif")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time of each run")
    parser.add_argument("--network", default="N4")
    parser.add_argument("--sections", default="3,10,16", help="the sections that get strokes")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--strokes-outsz", default="1,256,256",
                        help="training patch of the strokes run: larger than the dense run's 1,100,100, so that "
                             "an update sees strokes of both kinds (a 100x100 patch around one stroke rarely does)")
    parser.add_argument("--out", type=Path, help="keep the job folders here (default: a temporary folder)")
    args = parser.parse_args(argv)

    import tifffile

    from znn.data.strokes import paint_strokes
    from znn.jobs import read_cfg
    from znn.jobs.folder import write_job_folder
    from znn.netspec.library import network_path

    image = tifffile.imread(args.data / "train-volume.tif")
    labels = tifffile.imread(args.data / "train-labels.tif")
    sections = [int(z) for z in args.sections.split(",")]
    strokes = paint_strokes(labels, sections, strokes_per_section=12, length=20, width=2, rng=0)
    print(f"{len(sections)} of {labels.shape[0]} sections painted: {np.count_nonzero(strokes)} voxels "
          f"({100 * np.count_nonzero(strokes) / strokes.size:.3f} % of the stack; "
          f"{np.count_nonzero(strokes == 1)} membrane, {np.count_nonzero(strokes == 2)} cell)")
    root = args.out or Path(tempfile.mkdtemp(prefix="strokes-vs-dense-"))
    job = read_cfg(Path(__file__).resolve().parents[1] / "examples" / "isbi2012" / "job.cfg", load_spec=False)
    text = network_path(args.network).read_text()
    dense_outsz = ",".join(str(n) for n in job.training.train_outsz or ())
    dense = write_job_folder(root / "dense", network_text=text, image=image, labels=labels, job=job)
    job.training.train_outsz = tuple(int(n) for n in args.strokes_outsz.split(","))  # type: ignore[assignment]
    runs = {"dense labels": dense,
            "strokes": write_job_folder(root / "strokes", network_text=text, image=image, labels=strokes, job=job,
                                        label_mode="sparse_strokes")}
    rows = {}
    for name, cfg in runs.items():
        seconds = _train(cfg, args.minutes, args.threads)
        rows[name] = _scores(cfg, image, labels, threshold=0.5) | {"seconds": seconds}
    print(f"\ntraining patch: dense {dense_outsz}, strokes {args.strokes_outsz}")
    print(f"{'labels':<14}{'updates':>9}{'train s':>9}{'pixel error':>13}{'V_rand':>9}{'V_info':>9}")
    for name, row in rows.items():
        print(f"{name:<14}{row['iterations']:>9.0f}{row['seconds']:>9.0f}{row['pixel_error']:>13.4f}"
              f"{row['v_rand']:>9.4f}{row['v_info']:>9.4f}")
    print(f"(all {labels.shape[0]} sections against the dense labels; job folders in {root})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
