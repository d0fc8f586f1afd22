"""Training recipes: the settings that suit a way of learning, applied to a job as overrides.

ZNN's defaults (SGD, eta 0.01, a 1x100x100 patch) suit dense labels and long runs. Two ways of
learning need others, measured with `znn bench strokes` on held-out EM sections:

* `STROKES`, a new network from a few painted strokes: a small network (tiny2d) learns them in
  seconds and generalises, a large one (N4) overfits them; Adam, whose step does not depend on
  how few voxels are painted; a patch large enough (1x256x256) to hold strokes of both kinds.
* `FINE_TUNE`, a trained network corrected with strokes: Adam with a thirty times smaller step, so
  that a few dozen updates adjust the network rather than overwrite it; the run's best checkpoint
  (`znn.train.best`) keeps the start until the held-back strokes say something is better. Strokes
  drift a trained network even so (measured on drosophila-vnc from N4-isbi2012: membranes thicken
  as the few stroke voxels the start misses are learnt; 0.00003 drifts about half as far as 0.0001).

`DENSE` is what the benchmark compares with: dense labels, N4, Adam.
A recipe never changes the data bindings, paths or ranges of a job, only how it trains.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from znn.base.modes import Optimizer
from znn.base.triples import Triple
from znn.jobs.job import JobConfig


@dataclass(frozen=True)
class Recipe:
    """Training settings for one way of learning (`network` is the suggested one for a new run)."""

    name: str
    network: str
    train_outsz: Triple
    optimizer: Optimizer
    eta: float
    momentum: float = 0.9
    weight_decay: float = 0.0
    anneal_factor: float = 1.0
    num_iter_per_annealing: int = 100
    num_iter_per_show: int = 20
    num_iter_per_test: int = 50
    test_num: int = 8
    num_iter_per_save: int = 500
    em_aug_intensity: float | None = None

    def patch_for(self, volume: Triple | None) -> Triple:
        """The recipe's training patch, at most half the image across (and its depth), so that patches
        can be centred on most of the painted voxels of a small image."""
        if volume is None:
            return self.train_outsz
        z, y, x = self.train_outsz
        return min(z, volume[0]), min(y, max(1, volume[1] // 2)), min(x, max(1, volume[2] // 2))

    def apply(self, job: JobConfig, volume: Triple | None = None) -> JobConfig:
        """`job` with this recipe's training settings (a new JobConfig; `job` is not changed); `volume`,
        the (z, y, x) extent of the image, caps the patch (`patch_for`)."""
        training = replace(job.training, train_outsz=self.patch_for(volume), optimizer=self.optimizer, eta=self.eta,
                           momentum=self.momentum, weight_decay=self.weight_decay, anneal_factor=self.anneal_factor,
                           num_iter_per_annealing=self.num_iter_per_annealing,
                           num_iter_per_show=self.num_iter_per_show, num_iter_per_test=self.num_iter_per_test,
                           test_num=self.test_num, num_iter_per_save=self.num_iter_per_save)
        data = replace(job.data, is_data_aug=True, is_bd_mirror=True, rebalance_mode="global",
                       em_aug_intensity=self.em_aug_intensity)
        return replace(job, training=training, data=data)

    def describe(self, volume: Triple | None = None) -> str:
        """The settings in a line, for the dock and the logs (the patch as `apply` caps it for `volume`)."""
        decay = (f" (x{self.anneal_factor:g} every {self.num_iter_per_annealing} updates)"
                 if self.anneal_factor != 1.0 else "")
        jitter = f", intensity jitter {self.em_aug_intensity:g}" if self.em_aug_intensity else ""
        return (f"{self.optimizer.capitalize() if self.optimizer == 'adam' else 'SGD'}, learning rate {self.eta:g}"
                f"{decay}, training patch {'x'.join(map(str, self.patch_for(volume)))}, validation every "
                f"{self.num_iter_per_test} updates{jitter}")

    def job(self, volume: Triple | None = None) -> JobConfig:
        """A whole boundary-training job with this recipe (paths and ranges are the job folder's); `volume`
        caps the patch as in `apply`."""
        job = JobConfig()
        job.network.num_threads, job.network.dtype, job.network.out_type = 0, "float32", "boundary"
        job.network.train_conv_mode = job.network.forward_conv_mode = "optimize"
        job.training.cost_fn, job.training.max_iter, job.training.seed = "auto", 10**9, 1
        job.forward.forward_outsz, job.forward.forward_ram_budget = "auto", "50%"
        return self.apply(job, volume)


STROKES = Recipe("strokes", network="tiny2d", train_outsz=(1, 256, 256), optimizer="adam", eta=0.001,
                 anneal_factor=0.9, num_iter_per_annealing=500, num_iter_per_test=100, em_aug_intensity=0.2)
FINE_TUNE = Recipe("fine-tune", network="N4", train_outsz=(1, 128, 128), optimizer="adam", eta=0.00003,
                   num_iter_per_show=5, num_iter_per_test=10, test_num=4, num_iter_per_save=100)
DENSE = Recipe("dense", network="N4", train_outsz=(1, 128, 128), optimizer="adam", eta=0.001,
               num_iter_per_show=10, num_iter_per_test=50, test_num=8, num_iter_per_save=200)


def recipe_for(label_mode: str, *, trained_start: bool) -> Recipe | None:
    """The recipe that suits a run: fine-tuning from a trained start, strokes from scratch, or None
    (dense labels from scratch: the job's own settings)."""
    if trained_start:
        return FINE_TUNE
    if label_mode == "sparse_strokes":
        return STROKES
    return None
