"""A network as a table of layers, and table edits that rewrite the `.znn` text.

A *layer* is what a user thinks of as one: a node group with the edge groups that enter it
(a convolution and its transfer function, a max-filter, a pooling, a dropout, a crop) or an
input. `layers(spec)` lists them in the file's order. The edit functions take the `.znn` text
and return the edited text; each changes only the lines it is about (`ZnnText`), so comments,
blank lines and the order of untouched keys survive, and a text nobody edited is never
rewritten. Layers in a simple chain can be inserted after, removed and moved; a layer with
several inputs, or fed by a layer that feeds others, is shown with its inputs named and only
its own values (maps, function, init) can be edited there: the table never rewires a branch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from znn.base.errors import NetworkSpecError
from znn.layers.table import edge_kind
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.validate import topological_order
from znn.netspec.vocabulary import INITIALISERS, TRANSFER_FUNCTIONS, Triple
from znn.netspec.znnedit import ZnnText
from znn.netspec.znnfile import parse_znn

LayerKind = Literal["input", "convolution", "max-filter", "pooling", "dropout", "crop", "maxout", "mixed"]
InsertKind = Literal["convolution", "max-filter", "pooling", "dropout"]
Dimensionality = Literal["2-D", "3-D", "mixed"]

KIND_OF_EDGE: dict[str, LayerKind] = {
    "conv": "convolution", "max_filter": "max-filter", "max_pool": "pooling", "dropout": "dropout",
    "crop": "crop", "maxout": "maxout", "dummy": "mixed"}
INSERT_KINDS: tuple[InsertKind, ...] = ("convolution", "max-filter", "pooling", "dropout")
FUNCTIONS = tuple(TRANSFER_FUNCTIONS)
KERNEL_INITS = tuple(INITIALISERS)
WINDOWED = ("conv", "max_filter", "max_pool")
_PREFIX: dict[InsertKind, str] = {"convolution": "conv", "max-filter": "pool", "pooling": "pool",
                                  "dropout": "dropout"}


@dataclass(frozen=True)
class Layer:
    """One row of the table: a node group and the edge groups into it."""

    node: str
    edges: tuple[str, ...]
    kind: LayerKind
    inputs: tuple[str, ...]  # the node groups those edges come from
    maps: int
    kernel: Triple | None  # the window of the single windowed edge in
    stride: Triple | None  # conv: kernel sparseness; max-filter: the step that dilates later kernels
    function: str | None  # transfer nodes
    init: str | None  # the conv edges' initialiser (when they agree)
    ratio: float | None  # dropout: the keep probability
    is_output: bool
    chained: bool  # one edge in, from a node that feeds nothing else: can be moved and removed

    @property
    def edge(self) -> str | None:
        return self.edges[0] if len(self.edges) == 1 else None

    @property
    def own_maps(self) -> bool:
        """Whether the layer chooses its number of maps (a convolution's transfer node); one-to-one
        layers (pooling, dropout, crop) have their input's."""
        return self.kind in ("convolution", "mixed") and bool(self.edges)


def layers(spec: NetSpec) -> list[Layer]:
    """The table's rows: node groups in the file's order (a topological order when the file's is not)."""
    file_order = [name for kind, name in spec.order if kind == "nodes" and name in spec.nodes]
    order = file_order if _is_topological(spec, file_order) else [
        name for name in topological_order(spec) if isinstance(name, str)]
    outputs = set(spec.output_names)
    rows = []
    for name in order:
        node = spec.nodes[name]
        edges = spec.incoming(name)
        kinds = {KIND_OF_EDGE.get(e.type, "mixed") for e in edges}
        kind: LayerKind = "input" if not edges else (kinds.pop() if len(kinds) == 1 else "mixed")
        single = edges[0] if len(edges) == 1 else None
        inits = {e.init for e in edges if e.type == "conv"}
        chained = single is not None and len(spec.outgoing(single.input)) == 1
        rows.append(Layer(
            node=name, edges=tuple(e.name for e in edges), kind=kind, inputs=tuple(e.input for e in edges),
            maps=node.size, kernel=single.size if single is not None and single.type in WINDOWED else None,
            stride=single.stride if single is not None and single.type in ("conv", "max_filter") else None,
            function=node.function if node.type == "transfer" else None,
            init=inits.pop() if len(inits) == 1 else None,
            ratio=single.ratio if single is not None and single.type == "dropout" else None,
            is_output=name in outputs and bool(edges), chained=chained))
    return rows


def _is_topological(spec: NetSpec, order: list[str]) -> bool:
    place = {name: i for i, name in enumerate(order)}
    return len(place) == len(spec.nodes) and all(place[e.input] < place[e.output] for e in spec.edges.values())


def dimensionality(spec: NetSpec) -> Dimensionality:
    """2-D when every window is one section deep, 3-D when every window of size > 1 in-plane is as deep."""
    windows = [e.size for e in spec.edges.values() if e.type in WINDOWED and e.size is not None]
    if all(w[0] == 1 for w in windows):
        return "2-D"
    if all(w[0] == w[2] for w in windows):
        return "3-D"
    return "mixed"


# ---------------------------------------------------------------------------- edits


def _triple(values: Triple) -> str:
    return ",".join(str(int(v)) for v in values)


def _row(spec: NetSpec, node: str) -> Layer:
    for layer in layers(spec):
        if layer.node == node:
            return layer
    raise NetworkSpecError("no such layer", group=node)


def _refuse(layer: Layer, why: str) -> NetworkSpecError:
    return NetworkSpecError(f"layer '{layer.node}' ({layer.kind}): {why}", group=layer.node)


def _finish(doc: ZnnText) -> str:
    """The edited text, with every one-to-one layer's maps set to its input's (a changed
    convolution's maps flow through the pooling and dropout layers after it)."""
    spec = parse_znn(doc.text, validate=False)
    for name in [n for n in topological_order(spec) if isinstance(n, str)]:
        edges = spec.incoming(name)
        if edges and all(edge_kind(e.type).one_to_one for e in edges):
            wanted = spec.nodes[edges[0].input].size
            if spec.nodes[name].size != wanted:
                spec.nodes[name].size = wanted
                doc.set_value("nodes", name, "size", str(wanted))
    return doc.text


def _set_triple(text: str, node: str, key: str, value: Triple) -> str:
    """`size` (the window) or `stride` of a layer's single edge group."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    if key == "size" and (layer.edge is None or layer.kernel is None):
        raise _refuse(layer, "has no single window to set" if layer.kind != "input" else "inputs have no kernel")
    if key == "stride" and (layer.edge is None or spec.edges[layer.edge].type not in ("conv", "max_filter")):
        raise _refuse(layer, "only convolutions and max-filters have a stride")
    if min(value) < 1:
        raise _refuse(layer, f"a {'kernel' if key == 'size' else 'stride'} needs sizes of at least 1, "
                      f"not {'x'.join(map(str, value))}")
    doc = ZnnText(text)
    doc.set_value("edges", layer.edge or "", key, _triple(value))
    return _finish(doc)


def set_kernel(text: str, node: str, kernel: Triple) -> str:
    """The window (z, y, x) of a layer's convolution, max-filter or pooling."""
    return _set_triple(text, node, "size", kernel)


def set_stride(text: str, node: str, stride: Triple) -> str:
    """A convolution's kernel sparseness or a max-filter's step (which dilates every later kernel)."""
    return _set_triple(text, node, "stride", stride)


def set_maps(text: str, node: str, maps: int) -> str:
    """A convolution layer's number of feature maps (the pooling and dropout after it follow)."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    if not layer.own_maps:
        raise _refuse(layer, "has as many maps as its input" if layer.kind != "input"
                      else "an input's maps are the image's channels")
    if maps < 1:
        raise _refuse(layer, "needs at least 1 map")
    doc = ZnnText(text)
    doc.set_value("nodes", node, "size", str(maps))
    return _finish(doc)


def set_function(text: str, node: str, function: str) -> str:
    """A transfer layer's function; arguments of the old function are dropped."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    if layer.function is None:
        raise _refuse(layer, "has no transfer function")
    if function not in TRANSFER_FUNCTIONS:
        raise _refuse(layer, f"unknown transfer function '{function}' (one of {', '.join(FUNCTIONS)})")
    doc = ZnnText(text)
    if function != layer.function:
        doc.set_value("nodes", node, "function", function)
        doc.remove_key("nodes", node, "function_args")
    return doc.text


def set_init(text: str, node: str, init: str) -> str:
    """The initialiser of a layer's convolution kernels; arguments of the old one are dropped."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    convs = [e for e in layer.edges if spec.edges[e].type == "conv"]
    if not convs:
        raise _refuse(layer, "has no convolution to initialise")
    if init not in INITIALISERS:
        raise _refuse(layer, f"unknown initialiser '{init}' (one of {', '.join(KERNEL_INITS)})")
    doc = ZnnText(text)
    for edge in convs:
        if spec.edges[edge].init != init:
            doc.set_value("edges", edge, "init", init)
            doc.remove_key("edges", edge, "init_args")
    return doc.text


def set_ratio(text: str, node: str, ratio: float) -> str:
    """A dropout layer's keep probability, in (0, 1]."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    if layer.kind != "dropout" or layer.edge is None:
        raise _refuse(layer, "is not a dropout layer")
    if not 0.0 < ratio <= 1.0:
        raise _refuse(layer, f"a keep probability lies in (0, 1], not {ratio}")
    doc = ZnnText(text)
    doc.set_value("edges", layer.edge, "ratio", f"{ratio:g}")
    return doc.text


def set_dimensionality(text: str, target: Literal["2-D", "3-D"]) -> str:
    """Every window and stride one section deep (2-D) or as deep as it is wide (3-D)."""
    spec = parse_znn(text)
    doc = ZnnText(text)
    for edge in spec.edges.values():
        for key in ("size", "stride"):
            value = getattr(edge, key)
            if edge.type not in WINDOWED or value is None:
                continue
            z = 1 if target == "2-D" else value[2]
            if value[0] != z:
                doc.set_value("edges", edge.name, key, _triple((z, value[1], value[2])))
    return doc.text


def _free_names(spec: NetSpec, prefix: str) -> tuple[str, str]:
    number = 1
    while f"{prefix}{number}" in spec.edges or f"n{prefix}{number}" in spec.nodes:
        number += 1
    return f"{prefix}{number}", f"n{prefix}{number}"


def _new_layer(spec: NetSpec, kind: InsertKind, source: str) -> tuple[str, list[list[str]]]:
    """The new node's name and the groups a person would write for a `kind` layer after `source`."""
    edge, node = _free_names(spec, _PREFIX[kind])
    maps = spec.nodes[source].size
    depth = 1 if dimensionality(spec) == "2-D" else 0
    head = [f"edges {edge}", f"type {_edge_type(kind)}", f"input {source}", f"output {node}"]
    if kind == "convolution":
        k = 3
        inits = Counter(e.init for e in spec.edges.values() if e.type == "conv" and e.init)
        functions = Counter(n.function for name, n in spec.nodes.items()
                            if n.function and name not in spec.output_names)
        size = (depth or k, k, k)
        edge_lines = [*head, f"size {_triple(size)}", "stride 1,1,1",
                      f"init {inits.most_common(1)[0][0] if inits else 'xavier'}"]
        node_lines = [f"nodes {node}", "type transfer", f"size {maps}",
                      f"function {functions.most_common(1)[0][0] if functions else 'rectify_linear'}"]
    else:
        window = (depth or 2, 2, 2)
        extra = {"max-filter": [f"size {_triple(window)}", f"stride {_triple(window)}"],
                 "pooling": [f"size {_triple(window)}"], "dropout": ["ratio 0.5"]}[kind]
        edge_lines = [*head, *extra]
        node_lines = [f"nodes {node}", "type sum", f"size {maps}"]
    return node, [edge_lines, node_lines]


def _edge_type(kind: InsertKind) -> str:
    return {"convolution": "conv", "max-filter": "max_filter", "pooling": "max_pool", "dropout": "dropout"}[kind]


def insert_after(text: str, node: str, kind: InsertKind) -> tuple[str, str]:
    """A new `kind` layer fed by `node`, feeding what `node` fed; returns the text and the new node.
    The new groups go after `node`'s group in the file."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    consumers = spec.outgoing(node)
    if layer.is_output or not consumers:
        raise _refuse(layer, "is the output: insert layers before it")
    if len(consumers) > 1:
        raise _refuse(layer, f"feeds {len(consumers)} layers ({', '.join(e.name for e in consumers)}); "
                      "edit this branch in the text")
    new_node, blocks = _new_layer(spec, kind, node)
    doc = ZnnText(text)
    doc.set_value("edges", consumers[0].name, "input", new_node)
    doc.insert_after("nodes", node, blocks)
    return _finish(doc), new_node


def remove(text: str, node: str) -> str:
    """Drop a chained layer; what it fed is fed by its input."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    if layer.kind == "input" or layer.is_output:
        raise _refuse(layer, f"the {'input' if layer.kind == 'input' else 'output'} cannot be removed")
    if layer.edge is None:
        raise _refuse(layer, f"joins {len(layer.edges)} branches ({', '.join(layer.inputs)}); edit it in the text")
    doc = ZnnText(text)
    for consumer in spec.outgoing(node):
        doc.set_value("edges", consumer.name, "input", layer.inputs[0])
    doc.cut("edges", layer.edge)
    doc.cut("nodes", node)
    return _finish(doc)


def move(text: str, node: str, step: Literal[-1, 1]) -> str:
    """Swap a chained layer with the one before (-1) or after (+1) it in the chain; the groups move
    in the file too."""
    spec = parse_znn(text)
    layer = _row(spec, node)
    if step == 1:
        consumers = spec.outgoing(node)
        if len(consumers) != 1:
            raise _refuse(layer, "is the output: nothing comes after it" if not consumers
                          else "feeds several layers; edit this branch in the text")
        first, second = layer, _row(spec, consumers[0].output)
    else:
        if layer.edge is None:
            raise _refuse(layer, "has no single layer before it")
        first, second = _row(spec, layer.inputs[0]), layer
    for one in (first, second):
        if one.kind == "input" or one.is_output or not one.chained or one.edge is None:
            what = "the input" if one.kind == "input" else "the output" if one.is_output else "not in a simple chain"
            raise _refuse(one, f"cannot move: {what}")
    # source -> first -> second -> rest  becomes  source -> second -> first -> rest
    assert first.edge is not None and second.edge is not None
    doc = ZnnText(text)
    rest = [e.name for e in spec.outgoing(second.node)]
    doc.set_value("edges", second.edge, "input", first.inputs[0])
    doc.set_value("edges", first.edge, "input", second.node)
    for edge in rest:
        doc.set_value("edges", edge, "input", first.node)
    moved = [doc.cut("edges", first.edge), doc.cut("nodes", first.node)]
    doc.insert_after("nodes", second.node, moved)
    return _finish(doc)


# ---------------------------------------------------------------------------- consequences


def layer_of_group(spec: NetSpec, group: str | None) -> str | None:
    """The row (node group) a group belongs to: a node is its own row, an edge its target's."""
    if group in spec.nodes:
        return group
    if group in spec.edges:
        return spec.edges[group].output
    return None


def layer_memory(graph: NetworkGraph, itemsize: int = 4) -> dict[str, int]:
    """Bytes of each row for one update: its maps with their gradients, and its kernels with their
    gradients and momentum (spectra and work buffers come on top, in the network's total)."""
    spec, found = graph.spec, {}
    for name, node in graph.nodes.items():
        maps = node.voxels * (1 if node.type == "input" else 2)
        kernels = sum(graph.edges[e.name].parameters for e in spec.incoming(name)) * 3
        found[name] = (maps + kernels) * itemsize
    return found


def memory_problem(graph: NetworkGraph, total: int, available: int) -> tuple[str, str] | None:
    """(row, why) when an update needs more than `available` bytes: the row holding the most is named."""
    if total <= available:
        return None
    per_layer = layer_memory(graph)
    node = max(per_layer, key=per_layer.__getitem__)
    layer = next(r for r in layers(graph.spec) if r.node == node)
    return node, (f"about {_bytes(total)} to train, more than this machine's {_bytes(available)}: layer '{node}' "
                  f"({layer.kind}, {layer.maps} maps of {'x'.join(map(str, graph.nodes[node].size))}) holds the "
                  f"most ({_bytes(per_layer[node])}); use fewer maps there or a smaller training patch")


def _bytes(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
