"""The layer table: rows as users think of layers, and edits that rewrite only what they are about.

Truths: hand-written `.znn` files of what a person would write after each edit (tests/engine/data/
layertable), the unedited files themselves (setting every cell to the value it shows changes
nothing), and the field of view walked by hand for an inserted layer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.paths import NETWORKS
from tests.helpers.shared import FIXTURES, need_shared
from znn.base.errors import NetworkSpecError
from znn.netspec import layertable as lt
from znn.netspec.graph import NetworkGraph
from znn.netspec.templates import DEFAULTS, LIMITS, TEMPLATES, TemplateChoice, template_text
from znn.netspec.znnfile import parse_znn

DATA = Path(__file__).parent / "data" / "layertable"
CHAIN = (DATA / "chain.znn").read_text()
FIXTURE_NETS = sorted((FIXTURES / "networks").glob("*.znn")) or [FIXTURES / "networks"]
LIBRARY_NETS = sorted(NETWORKS.glob("*.znn"))


def _same_values_everywhere(text: str) -> str:
    """Set every editable cell of every row to the value the table shows."""
    spec = parse_znn(text)
    for layer in lt.layers(spec):
        if layer.kernel is not None and layer.edge is not None:
            text = lt.set_kernel(text, layer.node, layer.kernel)
        if layer.stride is not None:
            text = lt.set_stride(text, layer.node, layer.stride)
        if layer.own_maps:
            text = lt.set_maps(text, layer.node, layer.maps)
        if layer.function is not None:
            text = lt.set_function(text, layer.node, layer.function)
        if layer.init is not None:
            text = lt.set_init(text, layer.node, layer.init)
        if layer.ratio is not None:
            text = lt.set_ratio(text, layer.node, layer.ratio)
    dims = lt.dimensionality(spec)
    if dims != "mixed":
        text = lt.set_dimensionality(text, dims)
    return text


@pytest.mark.parametrize("path", LIBRARY_NETS, ids=lambda p: p.name)
def test_bundled_networks_survive_the_table_unchanged(path):
    text = path.read_text()
    assert _same_values_everywhere(text) == text
    rows = lt.layers(parse_znn(text))
    assert {r.node for r in rows} == set(parse_znn(text).nodes)


@pytest.mark.parametrize("path", FIXTURE_NETS, ids=lambda p: p.name)
def test_original_znn_networks_survive_the_table_unchanged(path):
    text = need_shared(path).read_text()
    assert _same_values_everywhere(text) == text


@pytest.mark.parametrize(("expected", "edit"), [
    ("kernel", lambda t: lt.set_kernel(t, "output", (1, 5, 5))),
    ("maps", lambda t: lt.set_maps(t, "hidden1", 10)),
    ("function_init", lambda t: lt.set_init(lt.set_function(t, "hidden1", "rectify_linear"), "hidden1", "xavier")),
    ("insert_conv", lambda t: lt.insert_after(t, "pooled1", "convolution")[0]),
    ("insert_dropout", lambda t: lt.insert_after(t, "hidden1", "dropout")[0]),
    ("remove_filter", lambda t: lt.remove(t, "pooled1")),
    ("move_filter_up", lambda t: lt.move(t, "pooled1", -1)),
    ("three_d", lambda t: lt.set_dimensionality(t, "3-D")),
], ids=lambda v: v if isinstance(v, str) else "")
def test_each_edit_gives_the_file_a_person_would_write(expected, edit):
    edited = edit(CHAIN)
    assert edited == (DATA / f"{expected}.znn").read_text()
    parse_znn(edited)  # and it is a valid network


def test_moving_down_undoes_moving_up_in_the_graph():
    there = lt.move(CHAIN, "pooled1", -1)
    back = lt.move(there, "pooled1", 1)
    assert lt.set_maps(back, "hidden1", 6) == back  # maps followed the move back
    assert parse_znn(back) == parse_znn(CHAIN)  # the same groups, whatever their place in the file


def test_two_d_and_back_is_the_original():
    assert lt.set_dimensionality(lt.set_dimensionality(CHAIN, "3-D"), "2-D") == CHAIN


def test_inserted_convolution_grows_the_field_of_view_by_its_dilated_kernel():
    text = (NETWORKS / "N4.znn").read_text()
    before = NetworkGraph(parse_znn(text), (1, 8, 8)).fov
    edited, node = lt.insert_after(text, "npool2", "convolution")
    after = NetworkGraph(parse_znn(edited), (1, 8, 8)).fov
    # after two stride-2 max-filters each tap is 4 voxels apart: a 3x3 kernel reaches 2*4 more
    assert after == (before[0], before[1] + 8, before[2] + 8)
    assert node in parse_znn(edited).nodes


def test_rows_name_the_inputs_of_joined_branches_and_refuse_to_rewire_them():
    text = (NETWORKS / "VD2D3D.znn").read_text()
    rows = {r.node: r for r in lt.layers(parse_znn(text))}
    joined = rows["nconv1c"]
    assert joined.inputs == ("nconv1b", "nconv1b-r") and not joined.chained
    assert joined.kind == "convolution" and joined.kernel is None
    with pytest.raises(NetworkSpecError, match="joins 2 branches"):
        lt.remove(text, "nconv1c")
    with pytest.raises(NetworkSpecError, match="no single window"):
        lt.set_kernel(text, "nconv1c", (1, 3, 3))
    # its own values stay editable, and the branches are left as they were
    edited = lt.set_maps(text, "nconv1c", 30)
    assert parse_znn(edited).nodes["nconv1c"].size == 30
    assert parse_znn(edited).nodes["npool1"].size == 30  # the max-filter after it follows
    assert [e.input for e in parse_znn(edited).incoming("nconv1c")] == ["nconv1b", "nconv1b-r"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: lt.remove(t, "input"), "input cannot be removed"),
    (lambda t: lt.remove(t, "output"), "output cannot be removed"),
    (lambda t: lt.insert_after(t, "output", "convolution"), "insert layers before it"),
    (lambda t: lt.move(t, "output", -1), "cannot move: the output"),
    (lambda t: lt.move(t, "hidden1", -1), "cannot move: the input"),
    (lambda t: lt.set_maps(t, "pooled1", 3), "as many maps as its input"),
    (lambda t: lt.set_kernel(t, "hidden1", (1, 0, 3)), "at least 1"),
    (lambda t: lt.set_function(t, "hidden1", "relu"), "unknown transfer function 'relu'"),
    (lambda t: lt.set_ratio(t, "hidden1", 0.5), "not a dropout layer"),
])
def test_edits_that_make_no_sense_are_refused_naming_the_layer(edit, message):
    with pytest.raises(NetworkSpecError, match=message):
        edit(CHAIN)


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_templates_are_valid_networks_the_table_edits(name):
    default = DEFAULTS[name]
    for depth in (LIMITS["depth"][0], default.depth):
        choice = TemplateChoice(name, depth, default.width, default.kernel)
        text = template_text(choice)
        spec = parse_znn(text)
        assert len(spec.input_names) == 1 and spec.output_names == ["output"]
        assert not spec.warnings
        graph = NetworkGraph(spec, (1, 16, 16) if name != "affinity-3d" else (4, 4, 4))
        assert graph.is_dense
        assert sum(1 for e in spec.edges.values() if e.type == "max_filter") == depth
        assert _same_values_everywhere(text) == text
    assert spec.nodes["output"].size == (3 if name == "affinity-3d" else 2)
    assert lt.dimensionality(spec) == {"boundary-2d": "2-D", "vd2d3d": "mixed", "affinity-3d": "3-D"}[name]


def test_template_parameters_are_checked():
    with pytest.raises(Exception, match="depth must lie in"):
        TemplateChoice("boundary-2d", 0, 8, 3)
    wider = parse_znn(template_text(TemplateChoice("boundary-2d", 2, 16, 5)))
    assert wider.nodes["nconv1"].size == 16 and wider.edges["conv1"].size == (1, 5, 5)
