"""`znn train`, `znn forward` and `znn demo` on the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers.jobkit import write_job
from znn.commands.cli import main
from znn.io.h5net import load_network
from znn.train import trainer as trainer_module


@pytest.mark.parametrize("command, flags", [
    ("train", ["-c JOB.cfg, --config", "-s NET.h5, --seed", "-d {", "-k {yes,no}, --is_check", "--threads",
               "--max-iter", "--minutes", "--quiet"]),
    ("forward", ["-c JOB.cfg, --config", "-n NET.h5, --net", "-r IDS, --range", "--outsz", "--budget",
                 "--threads", "--tif"]),
    ("demo", ["--output", "--minutes", "--seed", "--threads"]),
])
def test_help_documents_every_flag(capsys, command, flags):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in flags:
        assert flag in text, flag


def test_train_then_forward_from_the_command_line(tmp_path, capsys):
    cfg = write_job(tmp_path, max_iter=10, save=5)
    assert main(["train", "-c", str(cfg), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "iteration 10: cost" in out and "validation at 10" in out and "reached Max_iter" in out
    assert main(["train", "-c", str(cfg), "--quiet", "--max-iter", "12"]) == 0
    out = capsys.readouterr().out
    assert "at iteration 11" in out and "training ended at iteration 12" in out
    assert main(["forward", "-c", str(cfg), "--quiet", "--tif"]) == 0
    out = capsys.readouterr().out
    assert "pred_sample2_output.h5" in out and (tmp_path / "out/pred_sample2_output_1.tif").exists()


def test_seed_network_starts_a_new_run_counted_from_zero(tmp_path, capsys):
    """-s other_current.h5 --max-iter N makes N updates of a new run and saves its own checkpoint
    (ZNN carried the source's iteration count on, so such a run ended at once)."""
    source = write_job(tmp_path / "a", max_iter=10, save=5)
    assert main(["train", "-c", str(source), "--quiet"]) == 0
    target = write_job(tmp_path / "b", max_iter=20, save=5)
    capsys.readouterr()
    assert main(["train", "-c", str(target), "-s", str(tmp_path / "a/run/net_current.h5"), "--quiet",
                 "--max-iter", "6"]) == 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"starting a new run from the weights of {tmp_path / 'a/run/net_current.h5'}" in text
    assert "trained for 10 iterations there" in text and "counts its own updates from iteration 1" in text
    assert "validation at 0" in text  # the start is scored before its first update
    assert f"training ended at iteration 6 (reached Max_iter); resume from {tmp_path / 'b/run/net_current.h5'}" \
        in text
    assert load_network(tmp_path / "b/run/net_current.h5").state["iteration"] == 6
    assert load_network(tmp_path / "a/run/net_current.h5").state["iteration"] == 10  # the source is untouched


def test_a_job_without_a_required_key_names_it(tmp_path, capsys):
    cfg = write_job(tmp_path)
    cfg.write_text(cfg.read_text().replace("train_range = 1\n", ""))
    assert main(["train", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "train_range" in err and str(cfg) in err


def test_a_missing_volume_names_the_file_and_the_section(tmp_path, capsys):
    cfg = write_job(tmp_path)
    spec = tmp_path / "data.spec"
    spec.write_text(spec.read_text().replace("synthetic:raw?shape=3,64,64&seed=3", "missing.tif", 1))
    assert main(["train", "-c", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "missing.tif" in err and "image1" in err


def test_nan_cost_exits_1_with_advice(tmp_path, capsys, monkeypatch):
    cfg = write_job(tmp_path, max_iter=10, save=5)
    real = trainer_module.compute_cost

    def nan_cost(*args, **kwargs):
        result = real(*args, **kwargs)
        result.cost = float("inf")
        return result

    monkeypatch.setattr(trainer_module, "compute_cost", nan_cost)
    assert main(["train", "-c", str(cfg), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "became infinite at iteration 1" in err and "what to do: lower the learning rate" in err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_and_exits_cleanly(tmp_path, signum):
    cfg = write_job(tmp_path, max_iter=100000, show=5, save=50000, test=50000)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "znn", "train", "-c", str(cfg), "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    seen = []
    deadline = time.monotonic() + 120
    try:
        for line in process.stdout:
            seen.append(line)
            if line.startswith("iteration 5:") or time.monotonic() > deadline:
                break
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped on request" in out, "".join(seen) + out + err
    saved = load_network(tmp_path / "run/net_current.h5")
    assert saved.state["iteration"] >= 5
    assert (tmp_path / f"run/net_{saved.state['iteration']}.h5").exists()


def test_demo_runs_end_to_end_and_scores(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path / "demo"), "--minutes", "0.1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "adapted Rand error" in out and "boundary F1" in out
    import json

    scores = json.loads((tmp_path / "demo/scores.json").read_text())
    assert 0 <= scores["pixel_error"] <= 1 and 0 <= scores["adapted_rand_error"] <= 1
    assert (tmp_path / "demo/out/demo_sample3_output.h5").exists()
