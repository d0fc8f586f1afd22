"""From the raw `key value` lines of one `.znn` group to a checked NodeGroup or EdgeGroup.

Every value is checked against ZNN's vocabulary (reference §1.2-§1.3); each problem is
reported with its line, and a group with an error is left out of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from znn.base.errors import did_you_mean
from znn.netspec.problems import Problems
from znn.netspec.spec import EdgeGroup, NodeGroup
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


@dataclass
class RawGroup:
    """One `nodes NAME` / `edges NAME` group as written: option -> (value, line)."""

    kind: str
    name: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)


class _Reader:
    """Typed access to one raw group's options, reporting problems with their line."""

    def __init__(self, raw: RawGroup, problems: Problems) -> None:
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
        return numbers

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


def build_node(raw: RawGroup, problems: Problems) -> NodeGroup | None:
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


def build_edge(raw: RawGroup, problems: Problems) -> EdgeGroup | None:
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

