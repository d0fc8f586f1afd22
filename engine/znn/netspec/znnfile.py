"""Reading and writing ZNN's `.znn` network files (reference §1.1-§1.3).

Grammar, as ZNN reads it: one `key value` pair per line (only the first two tokens count),
`nodes NAME` / `edges NAME` open a group, every other line sets an option of the latest
group, empty lines are skipped. One compatible extension: a line whose first token starts
with `#` is a comment. (ZNN itself would store it as an option named `#`, which is harmless
inside a group; our writer therefore places comments after the first group header.)

Parsing collects every problem it finds; `parse_znn` raises the first one with the first
`REPORTED_PROBLEMS` attached as `error.problems` (plus a last one saying how many more there
are), so a command line shows a short list; `check_znn` returns them all, for editors.
`read_znn` refuses a binary file, or one far too large to be a network description, before
parsing it.

This module splits the text into groups; `rawgroups` turns each group into a checked
NodeGroup/EdgeGroup, `validate` checks the structure, `znnformat` writes text (its
functions are importable from here too).
"""

from __future__ import annotations

from pathlib import Path

from znn.base.errors import NetworkSpecError
from znn.base.textfile import binary_evidence
from znn.netspec.problems import Problems
from znn.netspec.rawgroups import RawGroup, build_edge, build_node
from znn.netspec.spec import NetSpec
from znn.netspec.validate import check_structure
from znn.netspec.znnformat import format_value, format_znn, group_lines, write_znn

__all__ = ["GROUP_WORDS", "check_znn", "format_value", "format_znn", "group_lines", "parse_znn", "read_znn",
           "write_znn"]

GROUP_WORDS = ("nodes", "edges")
REPORTED_PROBLEMS = 10
# The largest bundled network is a few KiB; a file this large is something else.
MAX_ZNN_BYTES = 8 * 2**20


def parse_znn(text: str, source: str | None = None, *, validate: bool = True) -> NetSpec:
    """Parse `.znn` text into a NetSpec; raise NetworkSpecError on the first problem."""
    spec, problems = _parse(text, source, validate=validate)
    if problems.errors:
        first = problems.errors[0]
        first.problems = problems.errors[:REPORTED_PROBLEMS]
        more = len(problems.errors) - REPORTED_PROBLEMS
        if more > 0:
            first.problems.append(NetworkSpecError(
                f"... and {more} more problem{'s' if more > 1 else ''} in this file (fix the ones above first)",
                file=source))
        raise first
    return spec


def check_znn(text: str, source: str | None = None) -> tuple[list[NetworkSpecError], list[str]]:
    """All errors and warnings of `.znn` text, without raising (for editors)."""
    _spec, problems = _parse(text, source, validate=True)
    return problems.errors, problems.warnings


def read_znn(path: str | Path, *, validate: bool = True) -> NetSpec:
    """Read and validate a `.znn` file; a binary or huge file is refused before parsing."""
    path = Path(path)
    file = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise IsADirectoryError
        if size > MAX_ZNN_BYTES:
            raise NetworkSpecError(f"far too large for a .znn network description ({size / 2**20:.0f} MiB)",
                                   file=file, expected=f"a text file of at most {MAX_ZNN_BYTES // 2**20} MiB")
        data = path.read_bytes()
    except FileNotFoundError:
        raise NetworkSpecError("network file not found", file=file) from None
    except IsADirectoryError:
        raise NetworkSpecError("is a directory, not a network file", file=file) from None
    except OSError as error:
        raise NetworkSpecError(f"cannot read the network file: {error.strerror}", file=file) from None
    evidence = binary_evidence(data)
    if evidence is not None:
        raise NetworkSpecError(f"not a text .znn file ({evidence})", file=file,
                               expected="a text network description ('nodes NAME' and 'edges NAME' groups)")
    return parse_znn(data.decode("utf-8-sig", errors="replace"), file, validate=validate)


def _parse(text: str, source: str | None, *, validate: bool) -> tuple[NetSpec, Problems]:
    problems = Problems(source)
    raw_groups, comments, order = _split_groups(text, problems)
    spec = NetSpec(source=source, comments=comments)
    for raw in raw_groups:
        if raw.kind == "nodes":
            node = build_node(raw, problems)
            if node is not None:
                spec.nodes[raw.name] = node
        else:
            edge = build_edge(raw, problems)
            if edge is not None:
                spec.edges[raw.name] = edge
    spec.order = order
    if validate and not problems.errors:
        check_structure(spec, problems)
    spec.warnings = problems.warnings
    return spec, problems


def _split_groups(text: str, problems: Problems) -> tuple[list[RawGroup], list[str], list[tuple[str, str]]]:
    groups: list[RawGroup] = []
    seen: dict[tuple[str, str], RawGroup] = {}  # node and edge names are separate maps in ZNN
    comments: list[str] = []
    current: RawGroup | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if tokens[0].startswith("#"):
            comments.append(line.strip()[1:].strip())
            continue
        key = tokens[0]
        value = tokens[1] if len(tokens) > 1 else None
        if len(tokens) > 2:
            problems.warn(f"line {number}: text after '{key} {value}' is ignored "
                          "(ZNN reads only the first two words of a line)", line=number,
                          group=current.name if current else None)
        if key in GROUP_WORDS:
            if value is None:
                problems.error(f"'{key}' needs a group name", line=number,
                               expected=f"'{key} NAME'", found=line.strip())
                current = None
                continue
            if "/" in value:
                problems.error("group names cannot contain '/' (they become HDF5 group names)",
                               line=number, group=value, expected="a name without '/'", found=value)
            if (key, value) in seen:
                problems.error(f"duplicate group name (first defined on line {seen[key, value].line})",
                               line=number, group=value, expected="a unique name", found=value)
            current = RawGroup(key, value, number)
            seen[key, value] = current
            groups.append(current)
            continue
        if current is None:
            problems.error("option before the first 'nodes' or 'edges' line", line=number, key=key,
                           expected="a 'nodes NAME' or 'edges NAME' line first", found=line.strip())
            continue
        if value is None:
            problems.error("option has no value", line=number, group=current.name, key=key,
                           expected=f"'{key} VALUE'", found=line.strip())
            continue
        if key in current.options:
            problems.warn(f"key '{key}' set again on line {number} (line {current.options[key][1]} "
                          "is overridden, as in ZNN)", line=number, group=current.name)
        current.options[key] = (value, number)
    order = [(g.kind, g.name) for g in groups]
    return groups, comments, order

