"""Running the `znn` command on bad input and checking that it fails the way a careful tool does.

`expect_refusal(tmp_path, argv, names)` runs `znn ARGV` in a child process (so that nothing a
crash leaves behind, and no signal, reaches the test process) and asserts:

* exit status 2;
* no Python traceback anywhere in the output;
* exactly one `error:` line, which contains every string of `names` (the file, and the key,
  line, section or flag that is wrong);
* no file that existed under `tmp_path` before the run was changed or removed.

Paths in `argv` may use `{tmp}` for `tmp_path`.

The child is forked from a fork server that has imported the engine once (multiprocessing's
`forkserver`: a single-threaded process started clean, never the test process), so a case costs
the command's own work, not a fresh interpreter's imports. It runs `znn.commands.cli.main` exactly
as `python -m znn` does, with its own working folder, environment and output files. A case that
changes the environment the interpreter starts with (an `env` such as a `sitecustomize` hook on
PYTHONPATH, or NUMBA_* read at import) starts a fresh `python -m znn` instead.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.paths import REPO


@dataclass(frozen=True)
class Refusal:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if ": error: " in line]


def file_hashes(root: Path) -> dict[Path, str]:
    """SHA-256 of every file below `root` (folders of zarr stores included)."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            hashes[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


# What every command imports anyway: loaded once in the fork server.
PRELOAD = ["numpy", "scipy.ndimage", "h5py", "tifffile", "numba", "znn.commands.cli", "znn.jobs",
           "znn.data.dataset", "znn.io.volumes", "znn.io.h5net", "znn.network.net", "znn.train.setup"]
_forkserver: multiprocessing.context.ForkServerContext | None = None


def _context() -> multiprocessing.context.ForkServerContext:
    global _forkserver
    if _forkserver is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _forkserver = context
    return _forkserver


def _main_in_child(args: list[str], cwd: str, environment: dict[str, str], out: str, err: str) -> None:
    """The body of the forked child: `python -m znn ARGS` in `cwd`, output to the files `out`, `err`."""
    os.environ.clear()
    os.environ.update(environment)
    os.chdir(cwd)
    for fd, name in ((1, out), (2, err)):
        target = os.open(name, os.O_WRONLY | os.O_TRUNC)
        os.dup2(target, fd)
        os.close(target)
    from znn.commands.cli import main

    try:
        code = main(args)
    except SystemExit as exit:  # argparse's refusals
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:  # a bug: its traceback, as the interpreter would print it
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def run_znn(tmp_path: Path, argv: list[str], *, timeout: float = 300, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Refusal:
    """`python -m znn ARGV` with `{tmp}` replaced; returns status and output."""
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in argv]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO / "engine"), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    if env:  # the interpreter must start with it: a fresh one
        environment.update(env)
        done = subprocess.run([sys.executable, "-m", "znn", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd or tmp_path, env=environment)
        return Refusal(done.returncode, done.stdout, done.stderr)
    with tempfile.TemporaryDirectory() as folder:
        out, err = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        for name in (out, err):
            open(name, "w").close()
        child = _context().Process(target=_main_in_child, args=(args, str(cwd or tmp_path), environment, out, err))
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["znn", *args], timeout)
        with open(out, encoding="utf-8", errors="replace") as stdout, \
                open(err, encoding="utf-8", errors="replace") as stderr:
            return Refusal(child.exitcode if child.exitcode is not None else -1, stdout.read(), stderr.read())


def expect_refusal(tmp_path: Path, argv: list[str], names: list[str], *, timeout: float = 300,
                   env: dict[str, str] | None = None) -> Refusal:
    """Run and assert the refusal described in the module docstring; returns what ran."""
    before = file_hashes(tmp_path)
    result = run_znn(tmp_path, argv, timeout=timeout, env=env)
    output = result.stdout + result.stderr
    shown = f"znn {' '.join(map(str, argv))}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert "Traceback" not in output, f"a traceback instead of a message:\n{shown}"
    assert result.returncode == 2, f"exit status {result.returncode}, expected 2:\n{shown}"
    errors = result.error_lines
    assert len(errors) == 1, f"expected one error line, found {len(errors)}:\n{shown}"
    for name in names:
        wanted = name.replace("{tmp}", str(tmp_path))
        assert wanted in errors[0], f"the error does not name {wanted!r}:\n{errors[0]}"
    after = file_hashes(tmp_path)
    changed = [str(p) for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"existing files changed or removed: {changed}\n{shown}"
    return result
