"""The errors and warnings found while reading a network, each with its location."""

from __future__ import annotations

from znn.base.errors import NetworkSpecError, printable


class Problems:
    """Collects errors and warnings with their location."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.errors: list[NetworkSpecError] = []
        self.warnings: list[str] = []

    def error(self, message: str, *, line: int | None, group: str | None = None,
              key: str | None = None, expected: str | None = None, found: str | None = None) -> None:
        self.errors.append(NetworkSpecError(
            message, file=self.source, line=line, group=group, key=key,
            expected=expected, found=found))

    def warn(self, message: str, *, line: int | None, group: str | None = None) -> None:
        where = f"{self.source or '<text>'}:{line}" if line is not None else (self.source or "<text>")
        prefix = f"{where}: group '{group}': " if group else f"{where}: "
        self.warnings.append(printable(prefix + message))
