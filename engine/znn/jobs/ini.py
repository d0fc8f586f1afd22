"""Line-oriented reader for ZNN's ConfigParser-style files (`.cfg` jobs, `.spec` data bindings).

The original ZNN reads both kinds of file with Python 2's `ConfigParser`. Python's own
`configparser` forgets where a key was written, and our error messages must name the line,
so this module re-implements the Python 2 reading rules and keeps a line number per key:

* `[name]` starts a section (section names are case-sensitive);
* `key = value` or `key: value`; keys are case-insensitive (stored lower-cased);
* a line whose *first character* is `#` or `;` is a comment, and so is a line whose first
  word is `rem` (a Python 2 leftover); blank lines are skipped;
* a line starting with whitespace continues the previous value (joined with a newline),
  which is how a `.spec` lists several files: `fnames = a,` newline, indented `b`;
* `;` preceded by whitespace starts an inline comment, but `;` right after another character
  (`img;v2.tif`) and `#` anywhere inside a value (`run#3.h5`) are kept, as ZNN's files need;
  what a comment cut off is kept in `IniEntry.comment`, so that a file name that really contains
  ` ;` can still be found (`DataSpec.file_list`);
* a value written as `""` is the empty string;
* a repeated section is merged into the first one and a repeated key keeps its last value,
  as ConfigParser does; both are reported in `IniDocument.notes` so callers can warn.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from znn.base.errors import ConfigError
from znn.base.textfile import binary_evidence


class ConfigWarning(UserWarning):
    """Something in a `.cfg`/`.spec` file that ZNN accepts but that is probably a mistake."""


_SECTION_RE = re.compile(r"\[(?P<name>[^]]+)\]")
# Same shape as Python 2's option regex: the key may not start with whitespace and
# stops at the first ':' or '='.
_OPTION_RE = re.compile(r"(?P<key>[^:=\s][^:=]*?)\s*[:=]\s*(?P<value>.*)$")


@dataclass
class IniEntry:
    """One `key = value` pair and the line its key is written on."""

    key: str
    spelled: str
    value: str
    line: int
    comment: str = ""  # the inline comment cut from the key's line, blanks before its ';' included


@dataclass
class IniSection:
    """A `[section]` with its header line and its entries keyed by lower-cased key."""

    name: str
    line: int
    entries: dict[str, IniEntry] = field(default_factory=dict)

    def get(self, key: str) -> IniEntry | None:
        return self.entries.get(key.lower())


@dataclass
class IniDocument:
    """A parsed file: its sections in file order plus notes about merged repeats."""

    file: str
    sections: dict[str, IniSection] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _strip_inline_comment(value: str) -> str:
    # Python 2 treats ';' as a comment start only when whitespace precedes it.
    for position, char in enumerate(value):
        if char == ";" and position > 0 and value[position - 1].isspace():
            return value[:position]
    return value


def _is_comment_or_blank(line: str) -> bool:
    if not line.strip() or line[0] in "#;":
        return True
    return line[0] in "rR" and line.split(None, 1)[0].lower() == "rem"


def parse_ini(text: str, file: str = "<text>") -> IniDocument:
    """Parse ConfigParser-style `text`; `file` is only used in messages."""
    document = IniDocument(file=file)
    section: IniSection | None = None
    entry: IniEntry | None = None
    value_lines: list[str] = []

    def finish_entry() -> None:
        if entry is not None:
            entry.value = "\n".join(value_lines)

    for number, line in enumerate(text.splitlines(), start=1):
        if _is_comment_or_blank(line):
            continue
        if line[0].isspace():
            if entry is None:
                raise ConfigError(
                    "an indented line continues a value, but there is no key above it",
                    file=file, line=number, group=section.name if section else None,
                    expected="'key = value' starting in the first column", found=line.strip())
            value_lines.append(line.strip())
            continue
        finish_entry()
        entry, value_lines = None, []
        header = _SECTION_RE.match(line)
        if header:
            name = header.group("name")
            if name in document.sections:
                section = document.sections[name]
                document.notes.append(
                    f"{file}:{number}: section [{name}] repeated (first at line {section.line});"
                    " its keys are merged into the first one")
            else:
                section = IniSection(name=name, line=number)
                document.sections[name] = section
            continue
        option = _OPTION_RE.match(line)
        if option is None:
            raise ConfigError(
                "cannot read this line", file=file, line=number,
                group=section.name if section else None,
                expected="'key = value', 'key: value', '[section]' or a '#' comment",
                found=line.strip())
        if section is None:
            raise ConfigError(
                "a key comes before the first [section] header", file=file, line=number,
                key=option.group("key").strip(), expected="a [section] line first (e.g. [parameters])",
                found=line.strip())
        spelled = option.group("key").rstrip()
        written = option.group("value")
        kept = _strip_inline_comment(written)
        value = kept.strip()
        if value == '""':
            value = ""
        key = spelled.lower()
        previous = section.entries.get(key)
        if previous is not None:
            document.notes.append(
                f"{file}:{number}: key '{spelled}' repeated in [{section.name}] (first at line"
                f" {previous.line}); the last value is used")
        entry = IniEntry(key=key, spelled=spelled, value=value, line=number,
                         comment=written[len(kept.rstrip()):].rstrip())
        value_lines = [value]
        section.entries[key] = entry
    finish_entry()
    return document


def read_ini(path: str | os.PathLike[str]) -> IniDocument:
    """Read and parse the file at `path`; a missing, unreadable or binary file is a ConfigError."""
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=file) from None
    except OSError as error:
        raise ConfigError(f"cannot read the file: {error.strerror}", file=file) from None
    evidence = binary_evidence(data)
    if evidence is not None:
        raise ConfigError(f"not a text file ({evidence})", file=file, expected="UTF-8 or ASCII text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"not a text file ({error.reason} at byte {error.start})",
                          file=file, expected="UTF-8 or ASCII text") from None
    return parse_ini(text, file)
