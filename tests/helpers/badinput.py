"""Running the `znn` command on bad input and checking that it fails the way a careful tool does.

`expect_refusal(tmp_path, argv, names)` runs `znn ARGV` in a child process (so that nothing a
crash leaves behind, and no signal, reaches the test process) and asserts:

* exit status 2;
* no Python traceback anywhere in the output;
* exactly one `error:` line, which contains every string of `names` (the file, and the key,
  line, section or flag that is wrong);
* no file that existed under `tmp_path` before the run was changed or removed.

Paths in `argv` may use `{tmp}` for `tmp_path`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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


def run_znn(tmp_path: Path, argv: list[str], *, timeout: float = 300, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> Refusal:
    """`python -m znn ARGV` with `{tmp}` replaced; returns status and output."""
    args = [str(a).replace("{tmp}", str(tmp_path)) for a in argv]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO / "engine"), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    environment.update(env or {})
    done = subprocess.run([sys.executable, "-m", "znn", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or tmp_path, env=environment)
    return Refusal(done.returncode, done.stdout, done.stderr)


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
