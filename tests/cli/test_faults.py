"""Faults during a run, from the command line: a full disk or a folder made read-only in the
middle of a save, a run killed during one, two runs on one job, and Ctrl-C in `znn train`,
`znn forward` and `znn forward --blockwise`.

Every `znn` runs in a child process in its own session, so that signals and crashes reach
only it. Faults come from tests/helpers/faulthook (a sitecustomize that the child loads,
acting only when its variables are set), and the full disk from a real small tmpfs mounted
in a private mount namespace of the child where the machine allows that (root and
`unshare`), else from the hook.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.badinput import expect_refusal, file_hashes
from tests.helpers.jobkit import run_training, write_job
from tests.helpers.paths import REPO
from znn.base.atomic import temporary_target
from znn.io.h5net import load_network

FAULTHOOK = REPO / "tests" / "helpers" / "faulthook"
TIMEOUT = 240


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    paths = [str(FAULTHOOK), str(REPO / "engine"), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONUNBUFFERED="1", **(extra or {}))


class Child:
    """`znn ARGV` in its own session; its output lines are collected as they come."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
                 prefix: list[str] | None = None) -> None:
        self.process = subprocess.Popen([*(prefix or []), sys.executable, "-m", "znn", *argv], cwd=cwd,
                                        env=_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        start_new_session=True)
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(name, stream), daemon=True)
                         for name, stream in (("out", self.process.stdout), ("err", self.process.stderr))]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for(self, stream: str, text: str, timeout: float = TIMEOUT) -> str:
        """The first line of `stream` ('out' or 'err') containing `text`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [line for line in self.lines[stream] if text in line]
                if found:
                    return found[0]
                if self.process.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(f"exited ({self.process.returncode}) without {text!r}:\n{self.shown()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {text!r} within {timeout} s:\n{self.shown()}")
                self._changed.wait(0.2)

    def signal(self, signum: int, *, group: bool = False) -> None:
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def finish(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        try:
            self.process.wait(timeout)
        finally:
            self.stop()
        for reader in self._readers:
            reader.join(10)
        return self.process.returncode, "\n".join(self.lines["out"]), "\n".join(self.lines["err"])

    def stop(self) -> None:
        """Kill it (and what it started) if it still runs."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def shown(self) -> str:
        return "--- stdout ---\n" + "\n".join(self.lines["out"]) + "\n--- stderr ---\n" + "\n".join(self.lines["err"])


def _znn(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
         prefix: list[str] | None = None) -> tuple[int, str, str]:
    return Child(argv, cwd, env, prefix).finish()


def _one_error(status: int, out: str, err: str, names: list[str]) -> str:
    shown = f"--- stdout ---\n{out}\n--- stderr ---\n{err}"
    assert "Traceback" not in out + err, shown
    assert status == 2, f"exit status {status}:\n{shown}"
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, shown
    for name in names:
        assert name in errors[0], f"{name!r} not in {errors[0]!r}"
    return errors[0]


def _group_ends(group: int, timeout: float = 20) -> bool:
    """Whether every process of the process group has exited within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if temporary_target(p.name) is not None)


def _by_name(folder: Path) -> dict[str, str]:
    return {path.name: digest for path, digest in file_hashes(folder).items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job trained for 10 updates (checkpoints at 5 and 10, saves every 5)."""
    folder = tmp_path_factory.mktemp("trained")
    run_training(write_job(folder, max_iter=10, save=5))
    return folder


def _copy(trained: Path, tmp_path: Path) -> Path:
    job = tmp_path / "job"
    shutil.copytree(trained, job)
    return job


def _resumes(job: Path, first: int, last: int) -> None:
    """The next `znn train` starts from <prefix>_current.h5 at `first` and reaches `last`."""
    status, out, err = _znn(["train", "-c", "job.cfg", "--quiet", "--max-iter", str(last)], job)
    assert status == 0, out + err
    assert f"resuming run/net_current.h5 at iteration {first}:" in out, out
    assert load_network(job / "run/net_current.h5").state["iteration"] == last
    assert _temporaries(job / "run") == [] and not (job / "run/net.train.lock").exists()


# ----------------------------------------------------------------------------- disk full, read-only

TMPFS_RUN = """
run=$1 saved=$2 after=$3 size=$4
shift 4
mount -t tmpfs -o size="$size" tmpfs "$run" || exit 97
cp -a "$saved"/. "$run"/ || exit 98
"$@"
status=$?
rm -f "$run"/filler
cp -a "$run"/. "$after"/
exit $status
"""
_tmpfs: list[bool] = []


def _tmpfs_works(tmp_path: Path) -> bool:
    """Whether a tmpfs can be mounted in a private mount namespace here (root, unshare)."""
    if not _tmpfs:
        probe = tmp_path / "probe"
        probe.mkdir()
        try:
            done = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs '{probe}'"],
                                  capture_output=True, timeout=60)
            _tmpfs.append(done.returncode == 0)
        except (OSError, subprocess.TimeoutExpired):
            _tmpfs.append(False)
        probe.rmdir()
    return _tmpfs[0]


def test_a_full_disk_during_a_save_ends_with_one_line_and_keeps_the_previous_checkpoint(trained, tmp_path):
    job = _copy(trained, tmp_path)
    run = job / "run"
    before = _by_name(run)
    argv = ["train", "-c", "job.cfg", "--quiet", "--max-iter", "20"]
    if _tmpfs_works(tmp_path):
        # A tmpfs over run/ with room for the checkpoints so far and a few more (the check made
        # before the run passes); the disk fills up just before the save of iteration 15.
        saved, after = tmp_path / "saved", tmp_path / "after"
        shutil.copytree(run, saved)
        after.mkdir()
        pages = sum(-(-p.stat().st_size // 4096) for p in run.iterdir()) + 1  # + the lock file
        room = 4 * -(-(run / "net_10.h5").stat().st_size // 4096) + 64
        size = f"{(pages + room) * 4}k"
        result = _znn(argv, job, {"ZNN_TEST_WRITE_FAULT": r"FILL:^net_15\.h5$"},
                      prefix=["unshare", "-m", "sh", "-c", TMPFS_RUN, "sh", str(run), str(saved), str(after), size])
        assert result[0] not in (97, 98), result
        shutil.rmtree(run)
        shutil.copytree(after, run)  # what the full disk held, back where there is room
    else:
        result = _znn(argv, job, {"ZNN_TEST_WRITE_FAULT": r"ENOSPC:^net_15\.h5$"})
    error = _one_error(*result, ["run/net_15.h5", "no space left on device"])
    assert "run/net_current.h5 (iteration 10) is unchanged" in error
    assert _by_name(run) == before  # nothing new, nothing changed: no net_15.h5, no temporary, no lock
    _resumes(job, 11, 20)


@pytest.mark.parametrize("fault, failing, reason, saved", [
    ("EROFS", "net_15.h5", "read-only file system", 10),  # the folder became read-only
    ("EACCES", "net_curve.png", "permission denied", 15),  # ... after the checkpoint was written
])
def test_a_folder_refusing_writes_during_the_run_ends_with_one_line(trained, tmp_path, fault, failing, reason,
                                                                    saved):
    job = _copy(trained, tmp_path)
    run = job / "run"
    before = _by_name(run)
    result = _znn(["train", "-c", "job.cfg", "--quiet", "--max-iter", "20"], job,
                  {"ZNN_TEST_WRITE_FAULT": rf"{fault}:^{failing.replace('.', '[.]')}$"})
    _one_error(*result, [f"run/{failing}", reason, f"(iteration {saved})"])
    after = _by_name(run)
    assert _temporaries(run) == [] and "net.train.lock" not in after
    assert after["net_curve.png"] == before["net_curve.png"]
    if saved == 10:
        assert after == before
    else:
        assert {name for name in after if name not in before} == {"net_15.h5"}
        assert load_network(run / "net_current.h5").state["iteration"] == 15
    _resumes(job, saved + 1, 20)


def test_a_run_killed_during_a_save_leaves_a_temporary_that_the_next_run_removes(trained, tmp_path):
    job = _copy(trained, tmp_path)
    run = job / "run"
    # Temporaries of other prefixes in the same folder are not this run's to remove.
    others = [".net_b_15.h5.0123abcd.tmp", ".other_current.h5.89abcdef.tmp"]
    for name in others:
        (run / name).write_bytes(b"another run's save")
    child = Child(["train", "-c", "job.cfg", "--quiet", "--max-iter", "20"], job,
                  {"ZNN_TEST_WRITE_FAULT": r"HANG:^net_15\.h5$"})
    try:
        temporary = Path(child.wait_for("err", "fault hook: hanging in").split("hanging in ", 1)[1])
        assert temporary.parent == run.resolve() and temporary_target(temporary.name) == "net_15.h5"
        child.signal(signal.SIGKILL)
        assert child.finish()[0] == -signal.SIGKILL
    finally:
        child.stop()
    assert temporary.exists()  # what the killed save left
    assert (run / "net.train.lock").exists()  # no longer locked: its holder is gone

    status, out, err = _znn(["train", "-c", "job.cfg", "--quiet", "--max-iter", "20"], job)
    assert status == 0, out + err
    notes = [line for line in err.splitlines() if "temporary" in line]
    assert len(notes) == 1 and "removed 1 temporary file(s)" in notes[0] and temporary.name in notes[0], err
    assert "resuming run/net_current.h5 at iteration 11:" in out
    assert _temporaries(run) == sorted(others)
    assert load_network(run / "net_current.h5").state["iteration"] == 20
    assert not (run / "net.train.lock").exists()


# ----------------------------------------------------------------------------- one run per folder


def test_a_second_training_of_the_same_job_is_refused_and_the_first_goes_on(tmp_path):
    cfg = write_job(tmp_path / "job", max_iter=1000000, show=5, test=100000, save=100000)
    first = Child(["train", "-c", str(cfg), "--quiet"], tmp_path)
    try:
        first.wait_for("out", "iteration 10:")
        # An edit of the job does not make it another run: same folder, same prefix.
        cfg.write_text(cfg.read_text().replace("eta = 0.05", "eta = 0.01"))
        refused = expect_refusal(tmp_path, ["train", "-c", "{tmp}/job/job.cfg", "--quiet"],
                                 [str(tmp_path / "job/run"), f"PID {first.pid}", "another training run"])
        assert "net.train.lock" in refused.error_lines[0]
        assert first.process.poll() is None
        first.wait_for("out", "iteration 20:")  # unaffected
        first.signal(signal.SIGINT)
        status, out, err = first.finish()
    finally:
        first.stop()
    assert status == 0 and "stopped on request" in out, out + err
    last = load_network(tmp_path / "job/run/net_current.h5").state["iteration"]
    assert last >= 20
    status, out, err = _znn(["train", "-c", str(cfg), "--quiet", "--max-iter", str(last + 2)], tmp_path)
    assert status == 0, out + err
    assert f"at iteration {last + 1}:" in out and f"training ended at iteration {last + 2}" in out


def test_a_second_forward_pass_into_the_same_outputs_is_refused(trained, tmp_path):
    job = _copy(trained, tmp_path)
    first = Child(["forward", "-c", "job.cfg", "--quiet"], job, {"ZNN_TEST_SLOW_TILE": "1"})
    try:
        first.wait_for("out", "sample 2: input")
        expect_refusal(tmp_path, ["forward", "-c", "{tmp}/job/job.cfg", "--quiet"],
                       [str(job / "out"), f"PID {first.pid}", "another forward pass", "output_prefix"])
        status, out, err = first.finish()
    finally:
        first.stop()
    assert status == 0 and "pred_sample2_output.h5" in out, out + err
    assert sorted(p.name for p in (job / "out").iterdir()) == ["pred_sample2_output.h5"]


def test_a_blockwise_run_into_a_store_another_run_writes_is_refused_before_a_cluster_starts(trained, tmp_path):
    from znn.io.runlock import RunLock
    from znn.io.volumes import write_volume

    image = np.random.default_rng(8).integers(0, 255, (2, 40, 40)).astype(np.uint8)
    write_volume(tmp_path / "em.h5", image, dataset="raw")
    net = shutil.copy(trained / "run" / "net_current.h5", tmp_path / "net.h5")
    argv = ["forward", "--blockwise", "--input", "{tmp}/em.h5:raw", "--net", "{tmp}/net.h5", "--output",
            "{tmp}/maps.zarr", "--overwrite", "--workers", "1", "--memory-per-worker", "1GiB", "--quiet"]
    # A scheduler nobody answers at: a refusal that came after connecting would name it instead.
    nobody = ["--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1"]
    with RunLock(tmp_path / "maps.zarr", "blockwise"):  # as a run writing maps.zarr holds it
        expect_refusal(tmp_path, argv + nobody, [f"{tmp_path}: another blockwise prediction", "store 'maps.zarr'",
                                                 f"PID {os.getpid()}", "maps.zarr.blockwise.lock", "another --output"],
                       timeout=TIMEOUT)
    assert not (tmp_path / "maps.zarr").exists()
    status, out, err = _znn([a.replace("{tmp}", str(tmp_path)) for a in argv], tmp_path)
    assert status == 0, out + err  # the holder is gone: the run goes ahead
    assert not (tmp_path / "maps.zarr.blockwise.lock").exists() and Path(net).exists()


# ----------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_in_train_stops_after_the_update_and_twice_aborts(tmp_path, presses):
    write_job(tmp_path, max_iter=1000000, show=5, test=100000, save=100000)
    # Twice: the stop's save hangs, and the second Ctrl-C comes in the middle of it.
    child = Child(["train", "-c", "job.cfg", "--quiet"], tmp_path,
                  {"ZNN_TEST_WRITE_FAULT": r"HANG:^net_\d+\.h5$"} if presses == 2 else None)
    try:
        child.wait_for("out", "iteration 5:")
        before = len(child.lines["err"])
        child.signal(signal.SIGINT)
        if presses == 2:
            child.wait_for("err", "fault hook: hanging in")
            child.signal(signal.SIGINT)
        status, out, err = child.finish()
    finally:
        child.stop()
    said = [line for line in child.lines["err"][before:] if not line.startswith("fault hook:")]
    assert "Traceback" not in out + err
    assert said[0] == "SIGINT: stopping after this update and saving (Ctrl-C again aborts)", err
    run = tmp_path / "run"
    assert _temporaries(run) == [] and not (run / "net.train.lock").exists()
    if presses == 1:
        assert status == 0 and len(said) == 1, err
        assert "stopped on request" in out
        assert load_network(run / "net_current.h5").state["iteration"] >= 5
    else:
        assert status == 130 and len(said) == 2 and said[1].startswith("znn train: interrupted"), err
        assert not (run / "net_current.h5").exists()  # the save in progress was dropped, whole


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_a_closed_terminal_stops_training_after_the_update_with_a_checkpoint(tmp_path, signum):
    """SIGHUP (the terminal or ssh session closed) is handled as SIGTERM: a checkpoint, no lock left."""
    write_job(tmp_path, max_iter=1000000, show=5, test=100000, save=100000)
    child = Child(["train", "-c", "job.cfg", "--quiet"], tmp_path)
    try:
        child.wait_for("out", "iteration 5:")
        before = len(child.lines["err"])
        child.signal(signum)
        status, out, err = child.finish()
    finally:
        child.stop()
    assert "Traceback" not in out + err and status == 0, child.shown()
    assert child.lines["err"][before:] == [f"{signum.name}: stopping after this update and saving (Ctrl-C again "
                                           "aborts)"], err
    assert "stopped on request" in out
    run = tmp_path / "run"
    assert load_network(run / "net_current.h5").state["iteration"] >= 5
    assert _temporaries(run) == [] and not (run / "net.train.lock").exists()


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_in_forward_stops_after_the_tile_and_twice_aborts(trained, tmp_path, presses):
    job = _copy(trained, tmp_path)
    child = Child(["forward", "-c", "job.cfg", "--quiet"], job, {"ZNN_TEST_SLOW_TILE": "2"})
    try:
        child.wait_for("out", "sample 2: input")
        before = len(child.lines["err"])
        child.signal(signal.SIGINT)
        if presses == 2:
            child.wait_for("err", "SIGINT: stopping")
            child.signal(signal.SIGINT)
        status, out, err = child.finish()
    finally:
        child.stop()
    said = child.lines["err"][before:]
    assert "Traceback" not in out + err
    assert said[0] == "SIGINT: stopping after this tile (Ctrl-C again aborts)", err
    if presses == 1:
        assert status == 0 and len(said) == 1, err
        assert "forward pass stopped on request" in out
    else:
        assert status == 130 and len(said) == 2 and said[1].startswith("znn forward: interrupted"), err
    out_folder = job / "out"
    assert not out_folder.exists() or sorted(p.name for p in out_folder.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_process_group_stops_a_blockwise_run_cleanly_and_a_rerun_completes_it(trained, tmp_path,
                                                                                             signum):
    """SIGINT as Ctrl-C in a terminal sends it, SIGTERM as a batch system ends a job, SIGHUP as a closed
    terminal does."""
    import zarr

    from znn.blockwise.store import done_flags
    from znn.io.volumes import write_volume

    image = np.random.default_rng(9).integers(0, 255, (2, 48, 48)).astype(np.uint8)
    write_volume(tmp_path / "em.h5", image, dataset="raw")
    net = trained / "run" / "net_current.h5"

    def argv(output: str) -> list[str]:
        return ["forward", "--blockwise", "--input", f"{tmp_path / 'em.h5'}:raw", "--net", str(net), "--output",
                str(tmp_path / output), "--workers", "2", "--block", "1,16,16", "--memory-per-worker", "1GiB",
                "--quiet"]

    child = Child(argv("maps.zarr"), tmp_path, {"ZNN_TEST_SLOW_BLOCK": "0.3"})
    try:
        child.wait_for("out", "18 to compute on 2 worker(s)")
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # a few blocks done, more in flight
            try:
                if done_flags(tmp_path / "maps.zarr").sum() >= 2:
                    break
            except Exception:  # noqa: BLE001 - read while being written
                pass
            time.sleep(0.05)
        before = len(child.lines["err"])
        child.signal(signum, group=True)  # to the driver and its worker processes alike
        status, out, err = child.finish()
        assert _group_ends(child.pid), "worker processes outlived the driver"
    finally:
        child.stop()
    shown = f"--- stdout ---\n{out}\n--- stderr ---\n{err}"
    assert "Traceback" not in out + err and "failed after" not in out + err, shown
    assert status == 0, shown
    said = f"{signum.name}: stopping after the blocks in progress (Ctrl-C again aborts)"
    assert child.lines["err"][before:] == [said], shown
    assert "stopped on request" in out, shown
    flagged = int(done_flags(tmp_path / "maps.zarr").sum())
    assert 2 <= flagged < 18

    status, out, err = _znn(argv("maps.zarr"), tmp_path)
    assert status == 0 and f"{flagged} already done, {18 - flagged} to compute" in out, out + err
    status, out, err = _znn(argv("whole.zarr"), tmp_path)
    assert status == 0, out + err
    resumed = np.asarray(zarr.open_group(str(tmp_path / "maps.zarr"), mode="r")["output"][:])
    whole = np.asarray(zarr.open_group(str(tmp_path / "whole.zarr"), mode="r")["output"][:])
    assert not np.isnan(whole).any()
    np.testing.assert_array_equal(resumed, whole)
