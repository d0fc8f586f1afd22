"""Editing `.znn` text in place: change one option, add or drop a group, keep everything else.

A table edit must leave the user's file as the user wrote it: comments, blank lines, the order
of keys, spacing. So edits work on the text's lines, not on a parsed spec that is written back:
`ZnnText` knows where each group starts and ends (a group runs from its `nodes NAME` / `edges
NAME` line to the next such line) and changes only the lines an edit is about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from znn.base.errors import NetworkSpecError

GROUP_WORDS = ("nodes", "edges")
_OPTION = re.compile(r"^(\s*)(\S+)(\s+)(\S+)(.*)$")


@dataclass(frozen=True)
class GroupSpan:
    """Lines [start, end) of one group (0-based), header first; `last` is its last non-blank line."""

    kind: str
    name: str
    start: int
    end: int
    last: int


def _is_option(line: str) -> bool:
    tokens = line.split()
    return bool(tokens) and not tokens[0].startswith("#") and tokens[0] not in GROUP_WORDS


class ZnnText:
    """Mutable lines of a `.znn` text; `text` gives the edited text back."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.final_newline = text.endswith("\n") or not text

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.final_newline and self.lines else "")

    # ------------------------------------------------------------------ finding

    def groups(self) -> list[GroupSpan]:
        starts = []
        for number, line in enumerate(self.lines):
            tokens = line.split()
            if len(tokens) >= 2 and tokens[0] in GROUP_WORDS:
                starts.append((number, tokens[0], tokens[1]))
        spans = []
        for index, (start, kind, name) in enumerate(starts):
            end = starts[index + 1][0] if index + 1 < len(starts) else len(self.lines)
            last = max(n for n in range(start, end) if self.lines[n].strip())
            spans.append(GroupSpan(kind, name, start, end, last))
        return spans

    def span(self, kind: str, name: str) -> GroupSpan:
        for span in self.groups():
            if span.kind == kind and span.name == name:
                return span
        raise NetworkSpecError(f"no '{kind} {name}' group in the text", group=name)

    def _key_line(self, kind: str, name: str, key: str) -> int | None:
        """The line that sets `key` (the last one, as a later line overrides an earlier one)."""
        span = self.span(kind, name)
        found = None
        for number in range(span.start + 1, span.end):
            tokens = self.lines[number].split()
            if tokens and tokens[0] == key:
                found = number
        return found

    def value(self, kind: str, name: str, key: str) -> str | None:
        number = self._key_line(kind, name, key)
        if number is None:
            return None
        tokens = self.lines[number].split()
        return tokens[1] if len(tokens) > 1 else None

    # ------------------------------------------------------------------ editing

    def set_value(self, kind: str, name: str, key: str, value: str) -> None:
        """Replace the value on the key's line (spacing kept), or add a `key value` line after the
        group's last option, indented as that option is."""
        number = self._key_line(kind, name, key)
        if number is not None:
            match = _OPTION.match(self.lines[number])
            if match:
                indent, word, gap, _old, rest = match.groups()
                self.lines[number] = f"{indent}{word}{gap}{value}{rest}"
            else:  # a key without a value: give it one
                self.lines[number] = f"{self.lines[number].rstrip()} {value}"
            return
        span = self.span(kind, name)
        options = [n for n in range(span.start + 1, span.end) if _is_option(self.lines[n])]
        after = options[-1] if options else span.start
        indent = re.match(r"^\s*", self.lines[after]).group(0) if options else ""  # type: ignore[union-attr]
        self.lines.insert(after + 1, f"{indent}{key} {value}")

    def remove_key(self, kind: str, name: str, key: str) -> None:
        """Drop every line that sets `key` in the group."""
        span = self.span(kind, name)
        keep = [n for n in range(span.start + 1, span.end)
                if not (self.lines[n].split() and self.lines[n].split()[0] == key)]
        self.lines[span.start + 1:span.end] = [self.lines[n] for n in keep]

    def insert_after(self, kind: str, name: str, blocks: Sequence[Sequence[str]]) -> None:
        """Put new groups (each a list of lines, header first) after a group, one blank line before
        each; the blank lines that followed the group now follow the new ones."""
        span = self.span(kind, name)
        new: list[str] = []
        for block in blocks:
            new += ["", *block]
        self.lines[span.last + 1:span.last + 1] = new

    def cut(self, kind: str, name: str) -> list[str]:
        """Remove a group (its lines up to the next group) and return its lines without trailing
        blanks. The first group cannot be cut: it holds the file's comments."""
        span = self.span(kind, name)
        if span.start == self.groups()[0].start:
            raise NetworkSpecError("the first group of the file cannot be removed or moved", group=name)
        block = self.lines[span.start:span.last + 1]
        del self.lines[span.start:span.end]
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()  # the cut group was the last one: no blank lines at the end
        return block
