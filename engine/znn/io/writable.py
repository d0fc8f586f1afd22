"""Where a command will write, checked before it starts any work.

A command names every location it writes (`check_output_folder`, `check_output_file`), and
each is refused up front with one line when it cannot work out: a file stands where a
folder must be, a folder where a file must be, the folder cannot be written (a real probe
file is created and removed, so a read-only mount or a full quota fails here and not after
an hour of work), or the output is one of the command's own inputs (compared after
resolving symbolic links and relative parts; an HDF5 dataset counts as its file, a zarr
array as its store).

Each refusal names the path and how the user gave it: a command-line flag (`Origin.flag`)
or a key of a `.cfg` file (`znn.jobs.resolved.Provenance.origin`, with file and line).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from znn.base.errors import ConfigError, FileFormatError, ZnnError


class CommandLineError(ZnnError):
    """A path or value given on the command line that the command cannot use."""


@dataclass(frozen=True)
class Origin:
    """How the user gave a path: a command-line flag, or a key of a `.cfg` file."""

    name: str  # '--output', '-o', or a .cfg key such as 'output_prefix'
    value: str  # as the user wrote it
    file: str | None = None  # the .cfg (or .spec) holding the key; None for a flag
    line: int | None = None
    group: str = "parameters"

    @classmethod
    def flag(cls, flag: str, value: str | Path) -> Origin:
        return cls(flag, str(value))

    def describe(self, text: str) -> str:
        """`text` (which starts with the path) after the flag, or after the .cfg file, line and key."""
        if self.file is None:
            return f"{self.name} {text}"
        where = f"{self.file}{'' if self.line is None else f':{self.line}'}"
        return f"{where}: group '{self.group}', key '{self.name}': {text}"

    def naming(self, error: FileFormatError) -> ZnnError:
        """An error about the file a flag gave, with the flag in front (errors about files a .cfg
        names already say where they come from)."""
        if self.file is not None:
            return error
        return CommandLineError(self.describe(str(error)))

    def error(self, problem: str, expected: str | None = None) -> ZnnError:
        """The one-line error: `FLAG VALUE: problem; expected ...`, or the .cfg file, line and key."""
        if self.file is not None:
            return ConfigError(problem, file=self.file, line=self.line, group=self.group, key=self.name,
                               expected=expected, found=self.value)
        text = f"{self.name} {self.value}: {problem}"
        return CommandLineError(text + (f"; expected {expected}" if expected else ""))


def check_output_folder(folder: str | Path, origin: Origin, *, what: str = "outputs") -> None:
    """`folder` will take new files: nothing but folders on its path, created where missing
    (as the command would create them), and a probe file can be written and removed there."""
    folder = Path(folder)
    for part in (folder, *folder.parents):
        if part.is_dir():
            break
        if part.exists() or part.is_symlink():
            raise origin.error(f"{part} is a file, not a folder", expected=f"a folder for the {what}")
    try:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise origin.error(f"cannot create the folder {folder} ({_reason(error)})",
                           expected=f"a folder that can hold the {what}") from None
    probe_writable(folder, origin, what=what)


def probe_writable(folder: str | Path, origin: Origin, *, what: str = "outputs") -> None:
    """Create, write and remove a small file in `folder`; refuse with `origin` if that fails."""
    probe = Path(folder) / f".znn-write-test-{os.getpid()}-{secrets.token_hex(4)}"
    created = False
    try:
        handle = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
        try:
            os.write(handle, b"znn")
        finally:
            os.close(handle)
    except OSError as error:
        raise origin.error(f"cannot write in the folder {folder} ({_reason(error)})",
                           expected=f"a writable folder for the {what}") from None
    finally:
        if created:
            with suppress(OSError):
                os.unlink(probe)


def check_output_file(path: str | Path, origin: Origin, *, what: str = "output",
                      inputs: Iterable[tuple[str | Path, str]] = ()) -> None:
    """`path` can be written as a file: not an existing folder, in a usable folder (see
    `check_output_folder`), and none of `inputs` ((path, description) pairs, the description
    such as 'the input MAPS maps.h5')."""
    path = Path(path)
    refuse_overwriting_inputs(path, origin, inputs)
    if path.is_dir():
        raise origin.error(f"{path} is an existing folder", expected=f"a file name for the {what}")
    check_output_folder(path.parent, origin, what=what)


def refuse_overwriting_inputs(path: str | Path, origin: Origin, inputs: Iterable[tuple[str | Path, str]]) -> None:
    """Refuse an output that is, contains or lies inside one of `inputs` ((path, description) pairs)."""
    for source, description in inputs:
        if overlaps(path, source):
            raise origin.error(f"{path} is also {description}; writing it would destroy that input",
                               expected="an output path that is not an input")


def real_path(path: str | Path) -> Path:
    """Absolute, with symbolic links and '..' resolved (also for paths that do not exist yet)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def overlaps(a: str | Path, b: str | Path) -> bool:
    """Whether writing `a` could change `b`: the same file (also through links) or one inside the other."""
    first, second = real_path(a), real_path(b)
    if first == second or first in second.parents or second in first.parents:
        return True
    with suppress(OSError):
        return os.path.samefile(first, second)  # hard links
    return False


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__
