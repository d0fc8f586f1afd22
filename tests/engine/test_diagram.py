"""Network diagrams: every group drawn and named, receptive fields that add up edge by edge, and
`znn info --diagram` writing SVG and PNG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from znn.commands.cli import main
from znn.netspec.diagram import draw, layout, receptive_fields
from znn.netspec.graph import NetworkGraph
from znn.netspec.library import list_networks
from znn.netspec.znnfile import read_znn

BUNDLED = sorted(dict(list_networks()))


def _graph(name: str) -> NetworkGraph:
    return NetworkGraph(read_znn(dict(list_networks())[name]), (1, 1, 1))


@pytest.mark.parametrize("name", BUNDLED)
def test_every_group_of_a_bundled_network_is_named_in_its_svg(name, tmp_path):
    graph = _graph(name)
    svg = draw(graph, tmp_path / f"{name}.svg", title=name)
    texts = " ".join(t.text or "" for t in ET.parse(svg).iter() if t.tag.endswith("text"))
    groups = [*graph.spec.nodes, *graph.spec.edges]
    missing = [g for g in groups if g not in texts]
    assert not missing, missing
    ids = {element.get("id") for element in ET.parse(svg).iter()}
    assert {f"node-{n}" for n in graph.spec.nodes} | {f"edge-{e}" for e in graph.spec.edges} <= ids


@pytest.mark.parametrize("name", BUNDLED)
def test_receptive_fields_agree_with_the_graphs_field_of_view(name):
    # the drawing walks forward from the inputs; the graph's fov pass walks back from the output
    graph = _graph(name)
    fields = receptive_fields(graph)
    for output in graph.spec.output_names:
        assert fields[output] == graph.fov
    if all(edge.type != "max_pool" for edge in graph.edges.values()):  # dense: every node at input resolution
        for node in graph.order:
            after = graph.nodes[node]
            assert fields[node] == tuple(w - (f - 1) * s for w, f, s in zip(graph.fov, after.fov, after.sparsity))


def test_branches_sit_side_by_side_and_chains_in_one_column():
    diagram = layout(_graph("VD2D3D"))  # two input branches join at nconv1c
    inputs = [diagram.nodes[n] for n in ("input", "input-r")]
    assert inputs[0].y == inputs[1].y and inputs[0].x != inputs[1].x
    chain = layout(_graph("N4"))
    assert len({box.x for box in chain.nodes.values()}) == 1 and chain.rows == len(chain.nodes)


def test_znn_info_writes_svg_and_png(tmp_path, capsys):
    for suffix, magic in ((".svg", b"<?xml"), (".png", b"\x89PNG")):
        target = tmp_path / f"tiny2d{suffix}"
        assert main(["info", "tiny2d", "--outsz", "1,64,64", "--diagram", str(target)]) == 0
        assert target.read_bytes().startswith(magic)
        assert f"diagram written to {target}" in capsys.readouterr().out
