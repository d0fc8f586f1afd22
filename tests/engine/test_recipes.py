"""Training recipes: which one suits a run, what it changes in a job and what it leaves alone."""

from __future__ import annotations

from znn.jobs import JobConfig, format_cfg
from znn.jobs.recipes import DENSE, FINE_TUNE, STROKES, recipe_for


def test_the_recipe_follows_the_start_then_the_labels():
    assert recipe_for("sparse_strokes", trained_start=True) is FINE_TUNE
    assert recipe_for("dense_boundary", trained_start=True) is FINE_TUNE
    assert recipe_for("sparse_strokes", trained_start=False) is STROKES
    assert recipe_for("dense_instances", trained_start=False) is None


def test_a_recipe_changes_how_the_job_trains_and_nothing_else():
    job = JobConfig()
    job.network.fnet_spec, job.data.fdata_spec, job.training.train_range = "net.znn", "data.spec", (1,)
    job.training.train_net_prefix, job.forward.forward_net = "net/net", "net/net_current.h5"
    before = format_cfg(job)
    tuned = STROKES.apply(job)
    assert format_cfg(job) == before  # the job given is not changed
    assert (tuned.network, tuned.forward) == (job.network, job.forward)
    assert (tuned.training.train_range, tuned.training.train_net_prefix) == ((1,), "net/net")
    assert tuned.training.optimizer == "adam" and tuned.training.eta == STROKES.eta
    assert tuned.training.train_outsz == STROKES.train_outsz and tuned.data.em_aug_intensity == STROKES.em_aug_intensity
    assert "optimizer = adam" in format_cfg(tuned)


def test_the_patch_is_at_most_half_the_image_across():
    assert STROKES.patch_for(None) == (1, 256, 256)
    assert STROKES.patch_for((24, 256, 256)) == (1, 128, 128)
    assert STROKES.patch_for((20, 512, 1024)) == (1, 256, 256)
    assert FINE_TUNE.patch_for((1, 100, 60)) == (1, 50, 30)
    # what the dock says is the patch the form gets
    job = STROKES.apply(STROKES.job(), (24, 256, 256))
    assert "training patch 1x128x128" in STROKES.describe((24, 256, 256)) and job.training.train_outsz == (1, 128, 128)


def test_whole_jobs_hold_every_training_key():
    for recipe in (STROKES, FINE_TUNE, DENSE):
        job = recipe.job()
        assert job.training.optimizer == recipe.optimizer and job.data.is_bd_mirror and job.data.is_data_aug
        assert recipe.describe().startswith("Adam, learning rate")
