"""The kind of every `.znn` group type: adding a layer type is one module and one line here."""

from __future__ import annotations

from znn.layers.base import EdgeKind, NodeKind
from znn.layers.conv import Conv
from znn.layers.crop import Crop
from znn.layers.dropout import Dropout
from znn.layers.dummy import Dummy
from znn.layers.max_filter import MaxFilter
from znn.layers.max_pool import MaxPool
from znn.layers.maxout import MaxoutEdge, MaxoutNode
from znn.layers.nodes import Input, Sum
from znn.layers.transfer import Transfer

EDGE_KINDS: dict[str, EdgeKind] = {kind.name: kind for kind in (
    Conv(), MaxFilter(), MaxPool(), Dropout(), Crop(), MaxoutEdge(), Dummy())}

NODE_KINDS: dict[str, NodeKind] = {kind.name: kind for kind in (Input(), Sum(), Transfer(), MaxoutNode())}


def edge_kind(type_name: str) -> EdgeKind:
    return EDGE_KINDS[type_name]


def node_kind(type_name: str) -> NodeKind:
    return NODE_KINDS[type_name]
