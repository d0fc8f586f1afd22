"""Train and pack the bundled network N4-isbi2012 (networks/trained/N4-isbi2012.h5).

    .venv/bin/python tools/train_bundled_n4.py [--data ../shared/data] [--threads 0]

1. trains `examples/N4-isbi2012/job.cfg` with `znn train` (N4 on ISBI 2012's 20 labelled sections,
   Adam, 4000 updates, seed 2012; running the script again resumes an interrupted run);
2. packs its last weights into networks/trained/N4-isbi2012.h5: float32, momentum and Adam's moments
   zeroed (a run that starts from it starts its own optimiser), the iteration count kept;
3. scores the packed network on ISBI 2012 (the sections it was trained on: the fit) and on
   drosophila-vnc stack1 (never seen: transfer), and prints the model card's table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
JOB = REPO / "examples" / "N4-isbi2012" / "job.cfg"
TARGET = REPO / "networks" / "trained" / "N4-isbi2012.h5"


def train(threads: int) -> Path:
    cli = "import sys; from znn.commands.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", cli, "train", "-c", str(JOB), "--threads", str(threads), "--quiet"],
                   check=True)
    return JOB.parent / "runs" / "N4_current.h5"


def pack(checkpoint: Path) -> None:
    from znn.io.h5net import load_network, save_network

    saved = load_network(checkpoint)
    params = saved.params.astype(np.float32)
    params.reset_optimizer_state()
    state = {"iteration": int((saved.state or {})["iteration"]), "seed": int((saved.state or {})["seed"]),
             "trained_by": "tools/train_bundled_n4.py (examples/N4-isbi2012/job.cfg)"}
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    save_network(TARGET, saved.spec, params, stdio=True, state=state)


def score(data: Path, threads: int) -> None:
    import tifffile

    from znn.bench.strokes_runs import predict_sections
    from znn.evaluate.sweep import score_boundary_map
    from znn.io.h5net import load_network
    from znn.netspec.znnformat import format_znn

    text = format_znn(load_network(TARGET).spec)
    stacks = {
        "ISBI 2012, its 20 labelled sections (trained on)": (
            data / "isbi2012" / "train-volume.tif", data / "isbi2012" / "train-labels.tif", lambda v: v == 0),
        "drosophila-vnc stack1, 14 sections (never seen)": (
            data / "drosophila-vnc" / "stack1-raw.tif", data / "drosophila-vnc" / "stack1-labels.tif",
            lambda v: v <= 128),
    }
    print("| stack | pixel error | V_rand | V_info | threshold |\n|---|---:|---:|---:|---:|")
    for name, (image_file, label_file, membrane) in stacks.items():
        image, labels = tifffile.imread(image_file), tifffile.imread(label_file)
        truth = np.where(membrane(labels), 0, 255).astype(np.uint8)
        scores = score_boundary_map(predict_sections(image, text, TARGET, threads), truth)
        print(f"| {name} | {scores.pixel_error:.4f} | {scores.best.v_rand:.4f} | {scores.best.v_info:.4f} | "
              f"{scores.best.threshold:g} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                        help="folder holding isbi2012/ and drosophila-vnc/")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--score-only", action="store_true", help="score the packed network, do not train")
    args = parser.parse_args()
    if not args.score_only:
        pack(train(args.threads))
        print(f"written {TARGET} ({TARGET.stat().st_size / 1e6:.1f} MB)")
    score(args.data, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
