"""The training loop: events, checkpoints, resume, stop, NaN handling, learning."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.jobkit import run_training, write_job
from znn.io.h5net import load_network
from znn.jobs import read_cfg
from znn.train import trainer as trainer_module
from znn.train.checkpoint import checkpoint_path, current_path
from znn.train.events import (
    Checkpoint,
    Failed,
    Finished,
    PredictNow,
    Preview,
    Show,
    Started,
    Step,
    Stop,
    Validation,
)
from znn.train.setup import prepare_training
from znn.train.trainer import Trainer


def test_events_follow_the_show_test_save_intervals(tmp_path):
    cfg = write_job(tmp_path, max_iter=20, show=5, test=10, save=10)
    events = run_training(cfg)
    assert isinstance(events[0], Started) and events[0].first_iteration == 1
    assert [e.iteration for e in events if isinstance(e, Step)] == list(range(1, 21))
    assert [e.iteration for e in events if isinstance(e, Show)] == [5, 10, 15, 20]
    assert [e.iteration for e in events if isinstance(e, Validation)] == [10, 20]
    saves = [e for e in events if isinstance(e, Checkpoint)]
    assert [e.path.rsplit("_", 1)[1] for e in saves] == ["init.h5", "10.h5", "20.h5"]
    assert saves[0].current is None and saves[1].current is not None
    assert isinstance(events[-1], Finished) and events[-1].reason == "max_iter" and events[-1].iteration == 20
    saved = load_network(current_path(tmp_path / "run/net"))
    curve = saved.learning_curve
    assert list(curve.train_it) == [5, 10, 15, 20] and list(curve.test_it) == [10, 20]
    shows = [e for e in events if isinstance(e, Show)]
    assert np.allclose(curve.train_err, [s.cost for s in shows])
    assert saved.state["iteration"] == 20 and saved.state["seed"] == 5
    assert (tmp_path / "run" / "net_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_averages_are_the_mean_of_the_steps(tmp_path):
    # Without masks the interval cost is the mean of the per-update costs (equal patch sizes).
    cfg = write_job(tmp_path, max_iter=30, show=5, test=100, save=20)
    events = run_training(cfg, max_iter=10)
    steps = [e for e in events if isinstance(e, Step)]
    shows = [e for e in events if isinstance(e, Show)]
    assert shows[0].cost == pytest.approx(np.mean([s.cost for s in steps[:5]]), rel=1e-9)
    assert shows[1].pixel_error == pytest.approx(np.mean([s.pixel_error for s in steps[5:]]), rel=1e-9)
    # eta is multiplied by 0.9 after every 7th update (ZNN: after iteration i with i % 7 == 0)
    assert [s.eta for s in steps[5:8]] == pytest.approx([0.05, 0.05, 0.05 * 0.9])  # iterations 6, 7, 8


def _weights(path):
    return load_network(path).params


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_gives_the_same_weights_as_one_run(tmp_path, optimizer):
    # 2N updates in one run against N, a new process-like start that resumes, and N more.
    n = 12
    extra = {"optimizer": optimizer, "eta": 0.05 if optimizer == "sgd" else 0.002}
    whole = write_job(tmp_path / "whole", max_iter=2 * n, save=n, test=6, dtype="float64", **extra)
    run_training(whole)
    parts = write_job(tmp_path / "parts", max_iter=2 * n, save=n, test=6, dtype="float64", **extra)
    first = run_training(parts, max_iter=n)
    assert first[-1].iteration == n
    second = run_training(parts)
    assert isinstance(second[0], Started) and second[0].first_iteration == n + 1
    assert second[0].resumed_from.endswith("net_current.h5")
    a, b = _weights(tmp_path / "whole/run/net_current.h5"), _weights(tmp_path / "parts/run/net_current.h5")
    for (name, x), (_, y) in zip(a.arrays(), b.arrays(), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-12, err_msg=name)
    ca = load_network(tmp_path / "whole/run/net_current.h5").learning_curve
    cb = load_network(tmp_path / "parts/run/net_current.h5").learning_curve
    np.testing.assert_array_equal(ca.train_it, cb.train_it)
    np.testing.assert_allclose(ca.test_err, cb.test_err, rtol=1e-9)


def test_stop_command_saves_and_resume_continues(tmp_path):
    cfg = write_job(tmp_path, max_iter=1000, save=500, test=500)
    setup = prepare_training(read_cfg(cfg).require_training())
    trainer = Trainer(setup)
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, Step) and event.iteration == 7:
            trainer.send(Stop())
    setup.net.close()
    assert events[-1] == Finished(7, "stopped", str(current_path(tmp_path / "run/net")))
    assert checkpoint_path(tmp_path / "run/net", 7).exists()
    assert load_network(current_path(tmp_path / "run/net")).state["iteration"] == 7
    again = run_training(cfg, max_iter=9)
    assert again[0].first_iteration == 8 and again[-1].iteration == 9


def test_predict_now_sent_into_the_generator_yields_a_preview(tmp_path):
    """Previews run on a test-phase network of their own, tiled for the image, with the training
    weights as they are: the same maps as the sequential reference engine gives with those weights."""
    from znn.base.geometry import mirror_pad
    from znn.data.preprocess import preprocess
    from znn.forward.predict import predict_volume
    from znn.network.net import Network

    cfg = write_job(tmp_path, max_iter=200, save=100, test=100, show=100)
    setup = prepare_training(read_cfg(cfg).require_training())
    image = np.random.default_rng(0).integers(0, 255, (2, 40, 50)).astype(np.uint8)
    trainer = Trainer(setup)
    run = trainer.run()
    previews, expected = [], {}
    event = next(run)
    while True:
        sent = None
        if isinstance(event, Step) and event.iteration == 3:
            sent = PredictNow(image, tag="view")
        if isinstance(event, Step) and event.iteration == 4:  # smaller than a training patch: tiles shrink
            sent = PredictNow(image[:, :10, :10], tag="small")
        if isinstance(event, Preview):
            previews.append(event)
            shown = image if event.tag == "view" else image[:, :10, :10]
            reference = Network(setup.spec, (1, *shown.shape[1:]), dtype="float32", params=setup.net.params.copy(),
                                executor="sequential", phase="test")
            volume = mirror_pad(preprocess(shown, "standard2D", "float32"), setup.fov)
            expected[event.tag] = predict_volume(reference, {"input": volume}, softmax=True)["output"]
        if isinstance(event, Step) and event.iteration == 5:
            sent = Stop()
        try:
            event = run.send(sent)
        except StopIteration:
            break
    setup.net.close()
    assert [p.tag for p in previews] == ["view", "small"] and previews[0].iteration == 3
    maps = previews[0].outputs["output"]
    assert maps.shape == (2, 2, 40, 50)  # mirrored: one output voxel per image voxel
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, rtol=1e-5)  # boundary maps after softmax
    for preview in previews:
        np.testing.assert_allclose(preview.outputs["output"], expected[preview.tag], atol=1e-5)
    assert previews[1].outputs["output"].shape == (2, 2, 10, 10)
    assert not trainer.previewer._nets  # the preview networks end with the run


def test_nan_cost_stops_without_saving_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    cfg = write_job(tmp_path, max_iter=100, save=5, test=100)
    real = trainer_module.compute_cost

    def poisoned(name, outputs, labels, masks=None):
        result = real(name, outputs, labels, masks)
        if poisoned.calls == 8:
            result.cost = float("nan")
        poisoned.calls += 1
        return result

    poisoned.calls = 0
    monkeypatch.setattr(trainer_module, "compute_cost", poisoned)
    events = run_training(cfg)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.iteration == 9
    assert "NaN" in failed.message and "eta" in failed.suggestion
    assert failed.checkpoint == str(current_path(tmp_path / "run/net"))
    assert load_network(failed.checkpoint).state["iteration"] == 5
    assert not checkpoint_path(tmp_path / "run/net", 9).exists()
    assert not any(isinstance(e, Checkpoint) and e.iteration > 5 for e in events)


def test_training_lowers_the_validation_cost(tmp_path):
    cfg = write_job(tmp_path, max_iter=300, show=50, test=300, save=299, outsz="1,32,32", threads=0,
                    shape=(4, 96, 96))
    setup = prepare_training(read_cfg(cfg).require_training())
    trainer = Trainer(setup)
    before = trainer.validate(0)
    events = list(trainer.run())
    setup.net.close()
    after = [e for e in events if isinstance(e, Validation)][-1]
    assert after.cost < 0.7 * before.cost, (before, after)
    assert after.pixel_error < before.pixel_error


def test_seeding_reports_loaded_and_new_layers(tmp_path):
    first = write_job(tmp_path / "a", max_iter=10, save=5)
    run_training(first)
    # the last conv layer renamed: it starts fresh, and the file's conv4 has nowhere to go
    text = (tmp_path / "a/job.cfg").read_text()
    source = text.split("fnet_spec = ")[1].split("\n")[0]
    net = open(source).read().replace("edges conv4", "edges conv4b")
    (tmp_path / "b").mkdir()
    (tmp_path / "b/renamed.znn").write_text(net)
    second = write_job(tmp_path / "b", max_iter=12, save=5, network=str(tmp_path / "b/renamed.znn"))
    setup = prepare_training(read_cfg(second).require_training(), seed_network=tmp_path / "a/run/net_current.h5")
    events = list(Trainer(setup).run())
    setup.net.close()
    started = events[0]
    assert "conv4b" in started.new_layers and "conv4" in started.not_copied
    assert {"conv1", "conv2", "conv3", "nconv1"} <= set(started.loaded_layers)
    # a new run: its own iterations from 1 to Max_iter (ZNN carried the seed's count on)
    assert started.first_iteration == 1 and started.seeded_from and not started.resumed_from
    assert any("counts its own updates from iteration 1" in note for note in started.notes)
    assert [e.iteration for e in events if isinstance(e, Step)] == list(range(1, 13))
    assert events[-1].iteration == 12 and events[-1].checkpoint == str(tmp_path / "b/run/net_current.h5")
    original = load_network(tmp_path / "a/run/net_current.h5")
    start = load_network(tmp_path / "b/run/net_init.h5")  # iteration 0: the seed's weights, no momentum
    assert np.array_equal(start.params.kernels["conv1"], original.params.kernels["conv1"])
    assert not start.params.kernel_momentum["conv1"].any() and original.params.kernel_momentum["conv1"].any()
    assert start.learning_curve is None or len(start.learning_curve.train_it) == 0
    seeded = load_network(tmp_path / "b/run/net_current.h5")
    assert seeded.state["iteration"] == 12
    assert not np.allclose(seeded.params.kernels["conv1"], original.params.kernels["conv1"])  # trained further


def test_seeding_refuses_to_overwrite_an_existing_run(tmp_path):
    from znn.base.errors import ConfigError

    cfg = write_job(tmp_path, max_iter=10, save=5)
    run_training(cfg)
    with pytest.raises(ConfigError, match="already exists"):
        prepare_training(read_cfg(cfg).require_training(), seed_network=tmp_path / "run/net_current.h5")


@pytest.mark.parametrize("stop_at", [None, 7])
def test_an_interactive_run_leaves_the_curve_to_a_child_process(tmp_path, stop_at):
    """draw_curve=False: no save draws <prefix>_curve.png; `python -m znn.io.curve_plot` draws the
    curve the last checkpoint holds, in a process of its own."""
    import subprocess
    import sys

    from matplotlib.image import imread

    from znn.io.curve_plot import plot_learning_curve

    cfg = write_job(tmp_path, max_iter=20, show=5, test=10, save=5)
    trainer = Trainer(prepare_training(read_cfg(cfg).require_training()), draw_curve=False)
    run = trainer.run()
    events = []
    try:
        for event in run:
            events.append(event)
            if stop_at is not None and isinstance(event, Step) and event.iteration == stop_at:
                trainer.request_stop()
    finally:
        trainer.net.close()
    saves = [e for e in events if isinstance(e, Checkpoint)]
    assert len(saves) >= 2 and saves[-1].iteration == (stop_at or 20)
    assert all(e.curve_png is None for e in saves)
    png = tmp_path / "run" / "net_curve.png"
    assert not png.exists()
    child = subprocess.run([sys.executable, "-m", "znn.io.curve_plot", saves[-1].path, str(png), "--title", "net"],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    # the picture of the checkpoint's curve, as the run would have drawn it in-process
    expected = plot_learning_curve(load_network(saves[-1].path).learning_curve, tmp_path / "expected.png", title="net")
    assert imread(png).shape[:2] == (400, 1000) and np.array_equal(imread(png), imread(expected))


def test_the_curve_drawing_child_names_a_bad_checkpoint(tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "net_20.h5"
    bad.write_text("not a network")
    child = subprocess.run([sys.executable, "-m", "znn.io.curve_plot", str(bad), str(tmp_path / "net_curve.png")],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 1 and not (tmp_path / "net_curve.png").exists()
    [line] = child.stderr.strip().splitlines()
    assert str(bad) in line and "not an HDF5 file" in line
