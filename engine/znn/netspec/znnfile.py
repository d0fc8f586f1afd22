"""Reading and writing ZNN's `.znn` network files (reference §1.1-§1.3).

Grammar, as ZNN reads it: one `key value` pair per line (only the first two tokens count),
`nodes NAME` / `edges NAME` open a group, every other line sets an option of the latest
group, empty lines are skipped. One compatible extension: a line whose first token starts
with `#` is a comment. (ZNN itself would store it as an option named `#`, which is harmless
inside a group; our writer therefore places comments after the first group header.)

Parsing collects every problem it finds; `parse_znn` raises the first one with the full
list attached as `error.problems`, so an editor can show them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from znn.errors import NetworkSpecError, did_you_mean
from znn.netspec.spec import EdgeGroup, NetSpec, NodeGroup
from znn.netspec.vocabulary import (
    ALL_EDGE_KEYS,
    ALL_NODE_KEYS,
    EDGE_KEYS,
    EDGE_REQUIRED,
    EDGE_TYPES,
    FAN_INITIALISERS,
    IGNORED_KEYS,
    INERT_KEYS,
    INITIALISERS,
    NODE_KEYS,
    NODE_REQUIRED,
    NODE_TYPES,
    REJECTED_EDGE_TYPES,
    TRANSFER_FUNCTIONS,
    ArgRule,
    init_args_problem,
    resolve_init_args,
)

GROUP_WORDS = ("nodes", "edges")


@dataclass
class _RawGroup:
    kind: str
    name: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)


class _Problems:
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
        self.warnings.append(prefix + message)


def parse_znn(text: str, source: str | None = None, *, validate: bool = True) -> NetSpec:
    """Parse `.znn` text into a NetSpec; raise NetworkSpecError on the first problem."""
    spec, problems = _parse(text, source, validate=validate)
    if problems.errors:
        first = problems.errors[0]
        first.problems = list(problems.errors)
        raise first
    return spec


def check_znn(text: str, source: str | None = None) -> tuple[list[NetworkSpecError], list[str]]:
    """All errors and warnings of `.znn` text, without raising (for editors)."""
    _spec, problems = _parse(text, source, validate=True)
    return problems.errors, problems.warnings


def read_znn(path: str | Path, *, validate: bool = True) -> NetSpec:
    """Read and validate a `.znn` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise NetworkSpecError("network file not found", file=str(path)) from None
    except IsADirectoryError:
        raise NetworkSpecError("is a directory, not a network file", file=str(path)) from None
    return parse_znn(text, str(path), validate=validate)


def _parse(text: str, source: str | None, *, validate: bool) -> tuple[NetSpec, _Problems]:
    problems = _Problems(source)
    raw_groups, comments, order = _split_groups(text, problems)
    spec = NetSpec(source=source, comments=comments)
    for raw in raw_groups:
        if raw.kind == "nodes":
            node = _build_node(raw, problems)
            if node is not None:
                spec.nodes[raw.name] = node
        else:
            edge = _build_edge(raw, problems)
            if edge is not None:
                spec.edges[raw.name] = edge
    spec.order = order
    if validate and not problems.errors:
        from znn.netspec.validate import check_structure

        check_structure(spec, problems)
    spec.warnings = problems.warnings
    return spec, problems


def _split_groups(text: str, problems: _Problems) -> tuple[list[_RawGroup], list[str], list[tuple[str, str]]]:
    groups: list[_RawGroup] = []
    seen: dict[tuple[str, str], _RawGroup] = {}  # node and edge names are separate maps in ZNN
    comments: list[str] = []
    current: _RawGroup | None = None
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
            current = _RawGroup(key, value, number)
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


class _Reader:
    """Typed access to one raw group's options, reporting problems with their line."""

    def __init__(self, raw: _RawGroup, problems: _Problems) -> None:
        self.raw = raw
        self.problems = problems
        self.ok = True

    def line(self, key: str) -> int:
        return self.raw.options[key][1] if key in self.raw.options else self.raw.line

    def fail(self, message: str, key: str, expected: str, found: str | None) -> None:
        self.ok = False
        self.problems.error(message, line=self.line(key), group=self.raw.name, key=key,
                            expected=expected, found=found)

    def text(self, key: str) -> str | None:
        return self.raw.options[key][0] if key in self.raw.options else None

    def integer(self, key: str, *, minimum: int) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            self.fail("bad value", key, what, value)
            return None
        return number

    def triple(self, key: str, *, minimum: int) -> tuple[int, int, int] | None:
        value = self.text(key)
        if value is None:
            return None
        kind = "positive integers" if minimum == 1 else "integers >= 0"
        expected = f"three {kind} z,y,x separated by commas without spaces, e.g. 1,3,3"
        parts = value.split(",")
        try:
            numbers = tuple(int(p) for p in parts)
        except ValueError:
            numbers = ()
        if len(numbers) != 3 or min(numbers) < minimum:
            self.fail("bad triple", key, expected, value)
            return None
        return numbers  # type: ignore[return-value]

    def real(self, key: str, *, low: float, high: float | None, low_open: bool = False) -> float | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = None
        bad = number is None or number != number or number < low or (low_open and number == low)
        if not bad and high is not None and number > high:  # type: ignore[operator]
            bad = True
        if bad:
            bracket = "(" if low_open else "["
            upper = f"{high}]" if high is not None else "inf)"
            self.fail("bad value", key, f"a number in {bracket}{low}, {upper}", value)
            return None
        return number

    def numbers(self, key: str) -> tuple[float, ...] | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return tuple(float(p) for p in value.split(","))
        except ValueError:
            self.fail("bad list of numbers", key, "numbers separated by commas, e.g. 1.7159,0.6666", value)
            return None

    def choice(self, key: str, choices: tuple[str, ...] | list[str], what: str) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        if value not in choices:
            self.fail(f"unknown {what}{did_you_mean(value, choices)}", key,
                      "one of " + ", ".join(choices), value)
            return None
        return value

    def check_keys(self, allowed: tuple[str, ...], ignored: tuple[str, ...], every_key: list[str]) -> dict[str, str]:
        """Reject unknown keys; warn about keys ZNN ignores; return inert extras."""
        extra: dict[str, str] = {}
        for key, (value, number) in self.raw.options.items():
            if key in allowed:
                continue
            if key in INERT_KEYS:
                extra[key] = value
            elif key in ignored:
                extra[key] = value
                if key == "stride" and value == self.text("size"):
                    continue  # max_pool's customary stride equal to its size: nothing to say
                self.problems.warn(f"key '{key}' is ignored by ZNN for type '{self.text('type')}'",
                                   line=number, group=self.raw.name)
            else:
                kind = "node" if self.raw.kind == "nodes" else "edge"
                if key in every_key:
                    message = f"key not allowed for {kind} type '{self.text('type')}'"
                else:
                    message = f"unknown key{did_you_mean(key, every_key)}"
                self.fail(message, key, "one of " + ", ".join(k for k in allowed if k != "type"), key)
        return extra

    def require(self, required: tuple[str, ...], group_type: str) -> None:
        for key in required:
            if key not in self.raw.options:
                self.ok = False
                self.problems.error(f"missing required key for type '{group_type}'", line=self.raw.line,
                                    group=self.raw.name, key=key, expected=f"a '{key}' line")

    def args(self, key: str, rule: ArgRule, owner: str) -> tuple[float, ...] | None:
        values = self.numbers(key)
        if values is not None and len(values) not in rule.counts:
            self.fail(f"wrong number of arguments for '{owner}'", key, rule.form, self.text(key))
            return None
        if values is not None and key == "init_args":
            problem = init_args_problem(owner, resolve_init_args(owner, values))
            if problem:
                self.fail(problem, key, rule.form, self.text(key))
                return None
        return values

    def group_type(self, types: tuple[str, ...]) -> str | None:
        if "type" not in self.raw.options:
            self.ok = False
            self.problems.error("missing required key", line=self.raw.line, group=self.raw.name,
                                key="type", expected="'type' with one of " + ", ".join(types))
            return None
        value = self.text("type")
        if self.raw.kind == "edges" and value in REJECTED_EDGE_TYPES:
            self.fail(f"edge type '{value}' is not supported: {REJECTED_EDGE_TYPES[value]}", "type",
                      "one of " + ", ".join(types), value)
            return None
        return self.choice("type", types, f"{self.raw.kind[:-1]} type")


def _build_node(raw: _RawGroup, problems: _Problems) -> NodeGroup | None:
    r = _Reader(raw, problems)
    node_type = r.group_type(NODE_TYPES)
    if node_type is None:
        return None
    extra = r.check_keys(NODE_KEYS[node_type], IGNORED_KEYS.get(node_type, ()), ALL_NODE_KEYS)
    r.require(NODE_REQUIRED[node_type], node_type)
    function = function_args = init = init_args = None
    if node_type == "transfer":
        function = r.choice("function", tuple(TRANSFER_FUNCTIONS), "transfer function")
        if function is not None:
            function_args = r.args("function_args", TRANSFER_FUNCTIONS[function], function)
        init = r.choice("init", tuple(INITIALISERS), "initialiser")
        if init in FAN_INITIALISERS:
            r.fail(f"'{init}' needs a kernel's fan-in and cannot initialise biases", "init",
                   "zero, constant, uniform, gaussian or bernoulli", init)
        elif init is not None:
            init_args = r.args("init_args", INITIALISERS[init], init)
        elif "init_args" in raw.options:
            problems.warn("'init_args' without 'init' is ignored", line=r.line("init_args"), group=raw.name)
    node = NodeGroup(
        name=raw.name, type=node_type, size=r.integer("size", minimum=1) or 0,
        function=function, function_args=function_args, init=init, init_args=init_args,
        eta=r.real("eta", low=0.0, high=None), momentum=r.real("momentum", low=0.0, high=1.0),
        weight_decay=r.real("weight_decay", low=0.0, high=None),
        dense=r.integer("dense", minimum=0), extra=extra, line=raw.line,
        key_lines={k: n for k, (_v, n) in raw.options.items()},
    )
    return node if r.ok else None


def _build_edge(raw: _RawGroup, problems: _Problems) -> EdgeGroup | None:
    r = _Reader(raw, problems)
    edge_type = r.group_type(EDGE_TYPES)
    if edge_type is None:
        return None
    extra = r.check_keys(EDGE_KEYS[edge_type], IGNORED_KEYS.get(edge_type, ()), ALL_EDGE_KEYS)
    r.require(EDGE_REQUIRED[edge_type], edge_type)
    init = r.choice("init", tuple(INITIALISERS), "initialiser")
    init_args = r.args("init_args", INITIALISERS[init], init) if init is not None else None
    fft = r.integer("fft", minimum=0)
    if fft is not None and fft > 1:
        r.fail("bad value", "fft", "0 (direct) or 1 (FFT)", r.text("fft"))
    edge = EdgeGroup(
        name=raw.name, type=edge_type, input=r.text("input") or "", output=r.text("output") or "",
        size=r.triple("size", minimum=1),
        stride=r.triple("stride", minimum=1) if edge_type in ("conv", "max_filter") else None,
        init=init, init_args=init_args,
        eta=r.real("eta", low=0.0, high=None), momentum=r.real("momentum", low=0.0, high=1.0),
        weight_decay=r.real("weight_decay", low=0.0, high=None), fft=fft,
        repeat=r.triple("repeat", minimum=1),
        ratio=r.real("ratio", low=0.0, high=1.0, low_open=True),
        offset=r.triple("offset", minimum=0), extra=extra, line=raw.line,
        key_lines={k: n for k, (_v, n) in raw.options.items()},
    )
    if edge.repeat is not None and edge.size is not None:
        if any(s % q for s, q in zip(edge.size, edge.repeat)):
            r.fail("kernel size must be a multiple of 'repeat'", "repeat",
                   f"divisors of size {','.join(map(str, edge.size))}", r.text("repeat"))
    return edge if r.ok else None


# ----------------------------------------------------------------------------- writing

_NODE_KEY_ORDER = ("type", "size", "function", "function_args", "init", "init_args",
                   "eta", "momentum", "weight_decay", "dense")
_EDGE_KEY_ORDER = ("type", "input", "output", "size", "stride", "init", "init_args", "ratio",
                   "offset", "repeat", "fft", "eta", "momentum", "weight_decay")


def format_value(value: object) -> str:
    """A value as ZNN's option strings spell it (triples and lists comma-separated)."""
    if isinstance(value, tuple | list):
        return ",".join(format_value(v) for v in value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def group_lines(group: NodeGroup | EdgeGroup) -> list[str]:
    """The `key value` lines of one group, header first."""
    lines = [f"{group.kind} {group.name}"]
    order = _NODE_KEY_ORDER if isinstance(group, NodeGroup) else _EDGE_KEY_ORDER
    for key in order:
        value = getattr(group, key)
        if value is not None:
            lines.append(f"{key} {format_value(value)}")
    lines.extend(f"{key} {value}" for key, value in group.extra.items())
    return lines


def format_znn(spec: NetSpec) -> str:
    """The `.znn` text of a spec; parse_znn(format_znn(s)) == s."""
    names = [(k, n) for k, n in spec.order if n in (spec.nodes if k == "nodes" else spec.edges)]
    listed = {n for _k, n in names}
    names += [("nodes", n) for n in spec.nodes if n not in listed]
    names += [("edges", n) for n in spec.edges if n not in listed]
    blocks = []
    for index, (kind, name) in enumerate(names):
        lines = group_lines(spec.nodes[name] if kind == "nodes" else spec.edges[name])
        if index == 0 and spec.comments:
            # After the first header: ZNN stores such lines as a harmless option.
            lines[1:1] = [f"# {c}".rstrip() for c in spec.comments]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def write_znn(spec: NetSpec, path: str | Path) -> None:
    Path(path).write_text(format_znn(spec), encoding="utf-8")
