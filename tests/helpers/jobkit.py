"""Tiny training jobs for tests: generated volumes, tiny2d, small patches."""

from __future__ import annotations

from pathlib import Path

from .paths import NETWORKS

SPEC = """\
[image1]
fnames = synthetic:raw?shape={z},{y},{x}&seed=3
pp_types = standard2D
is_auto_crop = no

[label1]
fnames = synthetic:labels?shape={z},{y},{x}&seed=3
pp_types = auto
is_auto_crop = no

[image2]
fnames = synthetic:raw?shape=2,{y},{x}&seed=4
pp_types = standard2D
is_auto_crop = no

[label2]
fnames = synthetic:labels?shape=2,{y},{x}&seed=4
pp_types = auto
is_auto_crop = no

[sample1]
input = 1
output = 1

[sample2]
input = 2
output = 2
"""

CFG = """\
[parameters]
fnet_spec = {network}
fdata_spec = data.spec
num_threads = {threads}
dtype = {dtype}
out_type = boundary
seed = {seed}
train_net_prefix = run/net
train_range = 1
test_range = 2
train_outsz = {outsz}
train_conv_mode = fft
cost_fn = auto
eta = {eta}
anneal_factor = 0.9
Num_iter_per_annealing = 7
momentum = 0.9
weight_decay = 0.001
is_data_aug = yes
is_bd_mirror = yes
rebalance_mode = global
Num_iter_per_show = {show}
Num_iter_per_test = {test}
test_num = 4
Num_iter_per_save = {save}
Max_iter = {max_iter}
{optimizer_line}forward_range = 2
forward_net = run/net_current.h5
forward_conv_mode = fft
forward_outsz = {forward_outsz}
output_prefix = out/pred
"""


def write_job(folder: Path, *, max_iter: int = 20, show: int = 5, test: int = 10, save: int = 10,
              outsz: str = "1,24,24", dtype: str = "float32", threads: int = 1, seed: int = 5,
              eta: float = 0.05, shape: tuple[int, int, int] = (3, 64, 64), forward_outsz: str = "1,32,32",
              network: str | None = None, optimizer: str | None = None) -> Path:
    """A job folder with a .cfg, a .spec of generated volumes and (by default) tiny2d."""
    folder.mkdir(parents=True, exist_ok=True)
    z, y, x = shape
    (folder / "data.spec").write_text(SPEC.format(z=z, y=y, x=x))
    cfg = folder / "job.cfg"
    cfg.write_text(CFG.format(network=network or (NETWORKS / "tiny2d.znn"), threads=threads, dtype=dtype,
                              seed=seed, outsz=outsz, eta=eta, show=show, test=test, save=save,
                              max_iter=max_iter, forward_outsz=forward_outsz,
                              optimizer_line=f"optimizer = {optimizer}\n" if optimizer else ""))
    return cfg


def run_training(cfg: Path, **schedule: object) -> list:
    """Read the job, train it to the end in a training session (as `znn train` does), return the
    training events; `schedule` overrides keys of its schedule (max_iter=10)."""
    from dataclasses import replace

    from znn.app.session import SessionNote, TrainingSession
    from znn.jobs import read_cfg

    settings = read_cfg(cfg).require_training()
    settings = replace(settings, schedule=replace(settings.schedule, **schedule))
    return [event for event in TrainingSession(settings).events() if not isinstance(event, SessionNote)]


def trained_job(folder: Path) -> Path:
    """A job trained for 10 updates (checkpoints at 5 and 10); returns its .cfg."""
    cfg = write_job(folder, max_iter=10, save=5)
    run_training(cfg)
    return cfg
