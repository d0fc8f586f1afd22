"""Error types shared by the engine.

Every error about a user's file says where (file, line, group, key) and what was
expected versus found, so that a lab member can fix the file without reading code.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Self


class ZnnError(Exception):
    """Base class of every error the engine raises on purpose."""


class FileFormatError(ZnnError, ValueError):
    """A problem in a user's file (.znn, .cfg, .spec, .h5, volume)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        group: str | None = None,
        key: str | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.group = group
        self.key = key
        self.expected = expected
        self.found = found
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or "<text>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [where + ":"]
        if self.group is not None:
            parts.append(f"group '{self.group}',")
        if self.key is not None:
            parts.append(f"key '{self.key}':")
        parts.append(self.message)
        text = " ".join(parts)
        if self.expected is not None:
            text += f"; expected {self.expected}"
        if self.found is not None:
            text += f", found {self.found!r}"
        return printable(text)


class NetworkSpecError(FileFormatError):
    """A malformed or inconsistent `.znn` network description.

    `problems` lists every error found in the file (this one first), for editors.
    """

    problems: list[NetworkSpecError]

    def __init__(self, message: str, **where: object) -> None:
        super().__init__(message, **where)  # type: ignore[arg-type]
        self.problems = [self]


class ConfigError(FileFormatError):
    """A malformed `.cfg` job file or `.spec` data binding file."""


class VolumeError(FileFormatError):
    """A volume file that cannot be read or written as asked."""


class SavedNetworkError(FileFormatError):
    """A saved network `.h5` file that does not match the expected layout."""


def printable(text: str) -> str:
    """`text` with every unprintable character (terminal escapes, NUL, line breaks, ...) written as
    its Python escape, so that a message quoting a damaged file stays one line and cannot garble
    the terminal; tabs become spaces."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else " " if char == "\t" else repr(char)[1:-1] for char in text)


class WriteFailed(ZnnError):
    """A file could not be written (a full disk, a read-only folder, no permission): the
    message names the file and the operating system's reason, then what was kept."""

    def __init__(self, file: str | Path, reason: str, *, context: str = "") -> None:
        self.file = str(file)
        self.reason = reason
        self.context = context
        super().__init__(f"cannot write {self.file}: {reason}" + (f"; {context}" if context else ""))

    @classmethod
    def from_os_error(cls, error: OSError, *, file: str | Path | None = None, context: str = "") -> Self:
        return cls(file if file is not None else (error.filename or "a file"), os_reason(error), context=context)


def os_reason(error: BaseException) -> str:
    """An OSError's reason in words, such as 'no space left on device'."""
    number = getattr(error, "errno", None)
    text = os.strerror(number) if number else (getattr(error, "strerror", None) or str(error) or type(error).__name__)
    return text[:1].lower() + text[1:]


def describe_os_error(error: OSError) -> str:
    """One line for an OSError: the file(s) it is about and the reason."""
    files = [str(f) for f in (error.filename, error.filename2) if f is not None]
    return f"{' -> '.join(files)}: {os_reason(error)}" if files else os_reason(error)


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice most similar to `word`, for 'did you mean' hints."""
    matches = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.5)
    if not matches:
        return None
    lowered = {c.lower(): c for c in choices}
    return lowered[matches[0]]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' or '' when nothing is close."""
    best = closest(word, list(choices))
    return f" (did you mean '{best}'?)" if best else ""
