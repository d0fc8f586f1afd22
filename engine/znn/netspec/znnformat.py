"""Writing `.znn` text: groups as `key value` lines in ZNN's order (reference §1.1)."""

from __future__ import annotations

from pathlib import Path

from znn.netspec.spec import EdgeGroup, NetSpec, NodeGroup

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
    from znn.base.atomic import atomic_write_text

    atomic_write_text(path, format_znn(spec))
