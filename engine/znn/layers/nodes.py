"""`input` and `sum` nodes: an input holds the data; a sum node is the sum of its edges."""

from __future__ import annotations

from znn.layers.base import NodeKind


class Input(NodeKind):
    name = "input"
    keys = ("type", "size", "dense")
    ignored_keys = ("function", "function_args")
    is_input = True


class Sum(NodeKind):
    name = "sum"
    keys = ("type", "size", "dense")
    ignored_keys = ("function", "function_args")
