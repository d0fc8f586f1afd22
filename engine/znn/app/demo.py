"""`znn demo`: the whole workflow on generated data, in a few minutes on a laptop.

It writes a job folder (synthetic EM volumes as .h5, a `.spec`, a `.cfg`, the tiny2d
network), trains for a fixed wall-clock time, runs the forward pass on a separate test
volume, segments the boundary map with a watershed and scores it against the generator's
ground truth. Everything it writes stays in the folder, so the same job can be continued
with `znn train -c <folder>/job.cfg` or opened in napari.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from znn.io.synthetic import make_em_volume
from znn.io.volumes import read_volume, write_volume
from znn.netspec.library import network_path

TRAIN_SHAPE = (16, 256, 256)
VALIDATION_SHAPE = (4, 256, 256)
TEST_SHAPE = (8, 256, 256)

SPEC_TEXT = """\
# Samples of the demo: 1 trains, 2 validates, 3 is predicted (its labels only score the result).
[image1]
fnames = data/train-raw.h5
pp_types = standard2D
is_auto_crop = no

[label1]
fnames = data/train-labels.h5
pp_types = auto
is_auto_crop = no

[image2]
fnames = data/validation-raw.h5
pp_types = standard2D
is_auto_crop = no

[label2]
fnames = data/validation-labels.h5
pp_types = auto
is_auto_crop = no

[image3]
fnames = data/test-raw.h5
pp_types = standard2D
is_auto_crop = no

[sample1]
input = 1
output = 1

[sample2]
input = 2
output = 2

[sample3]
input = 3
"""

CFG_TEXT = """\
# The demo job: tiny2d learns boundary maps of synthetic EM sections.
[parameters]
fnet_spec = tiny2d.znn
fdata_spec = data.spec
num_threads = {threads}
dtype = float32
out_type = boundary
seed = {seed}

train_net_prefix = net/tiny2d
train_range = 1
test_range = 2
train_outsz = 1,64,64
train_conv_mode = fft
cost_fn = auto
eta = 0.05
anneal_factor = 0.9
Num_iter_per_annealing = 200
momentum = 0.9
weight_decay = 0
is_data_aug = yes
is_bd_mirror = yes
rebalance_mode = global
Num_iter_per_show = 50
Num_iter_per_test = 200
test_num = 8
Num_iter_per_save = 500
Max_iter = 100000

forward_range = 3
forward_net = net/tiny2d_current.h5
forward_conv_mode = fft
forward_outsz = auto
forward_ram_budget = 2GiB
output_prefix = out/demo
"""


def write_demo_job(folder: str | Path, *, seed: int = 1, threads: int = 0) -> Path:
    """Generate the volumes and write the job files into `folder`; returns the `.cfg` path.
    Checkpoints of an earlier demo in the same folder are removed (the demo starts fresh)."""
    folder = Path(folder)
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, shape, offset in (("train", TRAIN_SHAPE, 0), ("validation", VALIDATION_SHAPE, 1),
                                ("test", TEST_SHAPE, 2)):
        volume = make_em_volume(shape, seed=seed * 10 + offset)
        write_volume(data / f"{name}-raw.h5", volume.raw)
        write_volume(data / f"{name}-labels.h5", volume.labels)
    shutil.copyfile(network_path("tiny2d"), folder / "tiny2d.znn")
    (folder / "data.spec").write_text(SPEC_TEXT, encoding="utf-8")
    cfg = folder / "job.cfg"
    cfg.write_text(CFG_TEXT.format(seed=seed, threads=threads), encoding="utf-8")
    for old in [*(folder / "net").glob("tiny2d_*.h5"), *(folder / "out").glob("demo_*")]:
        old.unlink()
    return cfg


@dataclass(frozen=True)
class DemoScores:
    """Quality of the boundary map and its segmentation on the test volume."""

    pixel_error: float
    boundary_precision: float
    boundary_recall: float
    boundary_f1: float
    adapted_rand_error: float
    vi_split: float
    vi_merge: float
    segments: float  # per section, mean
    true_segments: float


def score_boundary_map(boundary: np.ndarray, labels: np.ndarray, *, threshold: float = 0.5) -> DemoScores:
    """Score a boundary probability map (1 = membrane) against true labels (0 = membrane).

    The map: pixel error and boundary F1 (1-pixel tolerance). Its segmentation (watershed per
    section, since a 2-D network sees one section at a time): adapted Rand error and VI per
    section against that section's labels, averaged over sections (2-D scoring as in ISBI
    2012; background voxels of the truth are ignored)."""
    from znn.evaluate import (
        adapted_rand_error,
        boundary_f1,
        pixel_error,
        segment_boundary,
        variation_of_information,
    )

    truth_boundary = labels == 0
    f1 = boundary_f1(boundary > threshold, truth_boundary, tolerance=1)
    segmentation = segment_boundary(boundary, threshold=threshold, method="watershed", per_section=True)
    sections = range(labels.shape[0])
    rand = [adapted_rand_error(segmentation[z], labels[z]).error for z in sections]
    vi = [variation_of_information(segmentation[z], labels[z]) for z in sections]
    segments = [len(np.unique(segmentation[z][segmentation[z] > 0])) for z in sections]
    cells = [len(np.unique(labels[z][labels[z] > 0])) for z in sections]
    return DemoScores(pixel_error(boundary, truth_boundary, threshold), f1.precision, f1.recall, f1.f1,
                      float(np.mean(rand)), float(np.mean([v.split for v in vi])),
                      float(np.mean([v.merge for v in vi])), float(np.mean(segments)), float(np.mean(cells)))


def run_demo(folder: str | Path, *, minutes: float = 3.0, seed: int = 1, threads: int = 0,
             show: Callable[[object], object] | None = None, say: Callable[[str], object] = print) -> DemoScores:
    """Write the job, train for `minutes`, predict the test volume, score it; returns the scores.
    `show` receives every training and forward event (the CLI prints them)."""
    from znn.app.session import Budget, TrainingSession
    from znn.forward.job import SampleWritten, run_forward
    from znn.jobs import read_cfg

    folder = Path(folder)
    say(f"writing the demo job and synthetic volumes to {folder}")
    cfg = write_demo_job(folder, seed=seed, threads=threads)
    job = read_cfg(cfg)
    for event in TrainingSession(job.require_training(), budget=Budget(minutes=minutes)).events():
        if show:
            show(event)
    output = None
    for forward_event in run_forward(job.require_forward()):
        if show:
            show(forward_event)
        if isinstance(forward_event, SampleWritten):
            output = forward_event.paths[0]
    assert output is not None
    maps = read_volume(output, ndim=4)
    labels = read_volume(folder / "data" / "test-labels.h5")
    scores = score_boundary_map(maps[1], labels)
    (folder / "scores.json").write_text(json.dumps(asdict(scores), indent=2) + "\n", encoding="utf-8")
    return scores


def format_scores(scores: DemoScores) -> str:
    return "\n".join([
        f"boundary map   pixel error {scores.pixel_error:.4f}, boundary F1 {scores.boundary_f1:.4f} "
        f"(precision {scores.boundary_precision:.4f}, recall {scores.boundary_recall:.4f}, 1-pixel tolerance)",
        f"segmentation   adapted Rand error {scores.adapted_rand_error:.4f}, VI split {scores.vi_split:.3f} / "
        f"merge {scores.vi_merge:.3f} bits (2-D, mean over sections), {scores.segments:.1f} segments per "
        f"section for {scores.true_segments:.1f} true cells",
    ])
