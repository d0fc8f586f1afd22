"""Network geometry: sparsity, field of view, patch sizes, parameters, memory (reference §1.5-§1.9, §9.7)."""

from __future__ import annotations

import pytest

from tests.helpers.paths import NETWORKS
from tests.helpers.shared import FIXTURES, need_shared
from znn.base.errors import NetworkSpecError
from znn.netspec.graph import NetworkGraph
from znn.netspec.memory import estimate_memory, fft_size, spectrum_elements
from znn.netspec.znnfile import parse_znn, read_znn

# Reference §1.9: FOV at output 1x1x1 of the original network files.
REFERENCE_FOV = {
    "2d_10": (4, 175, 175), "2d_20": (4, 365, 365), "2d_30": (4, 555, 555), "2d_40": (4, 745, 745),
    "3d_3": (42, 42, 42), "3d_5": (80, 80, 80), "3d_7": (118, 118, 118),
    "40p": (80, 80, 80), "40ps": (80, 80, 80),
    "N4_relu": (1, 95, 95), "N4_A": (1, 95, 95), "N4_even": (1, 94, 94), "N4_A_even": (1, 94, 94),
    "VD2D": (1, 109, 109), "VD2D3D": (5, 85, 85), "VD2D3D_tanh": (5, 85, 85),
    "hd2d": (1, 155, 155), "hd2d_strided": (1, 155, 155), "hd3d": (13, 111, 111),
    "kisuk": (9, 55, 55), "srini": (1, 37, 37), "srini2d": (1, 37, 37), "srini2da": (3, 24, 20),
    "zinet": (37, 37, 37),
}
# Reference §1.9 output map counts of the output group.
REFERENCE_OUTPUTS = {"2d_10": 3, "3d_7": 3, "N4_relu": 2, "N4_A": 3, "hd2d": 4, "kisuk": 2, "srini": 3,
                     "srini2d": 2, "srini2da": 1, "zinet": 1, "VD2D3D": 2}


@pytest.mark.parametrize("name", sorted(REFERENCE_FOV))
def test_fixture_fov_matches_reference_table(name):
    path = need_shared(FIXTURES / "networks" / f"{name}.znn")
    graph = NetworkGraph(read_znn(path), (1, 1, 1))
    assert graph.fov == REFERENCE_FOV[name]
    if name in REFERENCE_OUTPUTS:
        (maps, *_), = graph.output_sizes.values()
        assert maps == REFERENCE_OUTPUTS[name]


def test_n4_worked_example_every_node():
    """Reference §1.7, table for N4_relu at output 1x100x100."""
    graph = NetworkGraph(read_znn(need_shared(FIXTURES / "networks" / "N4_relu.znn")), (1, 100, 100))
    table = {
        "output": ((1, 16, 16), (1, 1, 1), (1, 100, 100)),
        "nconv5": ((1, 16, 16), (1, 1, 1), (1, 100, 100)),
        "npool4": ((1, 16, 16), (1, 3, 3), (1, 132, 132)),
        "nconv4": ((1, 8, 8), (1, 6, 6), (1, 140, 140)),
        "npool3": ((1, 8, 8), (1, 9, 9), (1, 164, 164)),
        "nconv3": ((1, 4, 4), (1, 18, 18), (1, 168, 168)),
        "npool2": ((1, 4, 4), (1, 21, 21), (1, 180, 180)),
        "nconv2": ((1, 2, 2), (1, 42, 42), (1, 182, 182)),
        "npool1": ((1, 2, 2), (1, 46, 46), (1, 190, 190)),
        "nconv1": ((1, 1, 1), (1, 92, 92), (1, 191, 191)),
        "input": ((1, 1, 1), (1, 95, 95), (1, 194, 194)),
    }
    for name, (sigma, fov, size) in table.items():
        node = graph.nodes[name]
        assert (node.sparsity, node.fov, node.size) == (sigma, fov, size), name
    assert graph.edges["conv2"].span == (1, 9, 9)  # 1x5x5 dilated by 2 (§1.5)
    assert graph.edges["conv5"].span == (1, 33, 33)


@pytest.mark.parametrize("outsz,insz", [((1, 1, 1), (1, 95, 95)), ((1, 100, 100), (1, 194, 194)),
                                        ((5, 100, 100), (5, 194, 194))])
def test_n4_input_sizes(outsz, insz):
    graph = NetworkGraph(read_znn(NETWORKS / "N4.znn"), outsz)
    assert graph.input_size == insz
    assert graph.output_size_for_input(insz) == outsz


def test_3d7_worked_example():
    """Reference §1.8: 3d_7 is not dense; input 4o+114; nl2 2o+48; s1 2o+54; nl1 4o+108."""
    for o in (1, 2, 9, 16):
        graph = NetworkGraph(read_znn(NETWORKS / "3d_7.znn"), (o, o, o))
        assert graph.fov == (118, 118, 118)
        assert graph.input_size == (4 * o + 114,) * 3
        assert graph.nodes["nconv2"].size == (2 * o + 48,) * 3
        assert graph.nodes["npool1"].size == (2 * o + 54,) * 3
        assert graph.nodes["nconv1"].size == (4 * o + 108,) * 3
        assert not graph.is_dense


@pytest.mark.parametrize("name,fov,offset", [("3d_3", 42, 38), ("3d_5", 80, 76), ("3d_7", 118, 114)])
def test_benchmark_nets_match_reference_97(name, fov, offset):
    """Reference §9.7: FOV and input 4o + offset of the 3-D benchmark nets."""
    for o in (1, 9, 12):
        graph = NetworkGraph(read_znn(NETWORKS / f"{name}.znn"), (o, o, o))
        assert graph.fov == (fov,) * 3 and graph.input_size == (4 * o + offset,) * 3
        assert graph.output_size_for_input(graph.input_size) == (o, o, o)


def test_2d_benchmark_nets_pool_in_z():
    path = need_shared(FIXTURES / "networks" / "2d_10.znn")
    graph = NetworkGraph(read_znn(path), (3, 5, 5))
    assert graph.input_size == (12, 4 * 5 + 171, 4 * 5 + 171)


@pytest.mark.parametrize("name,fov", [("N4", (1, 95, 95)), ("N4_affinity", (2, 95, 95)), ("VD2D", (1, 109, 109)),
                                      ("VD2D3D", (5, 85, 85)), ("tiny2d", (1, 18, 18))])
def test_library_nets_are_dense_with_documented_fov(name, fov):
    spec = read_znn(NETWORKS / f"{name}.znn")
    graph = NetworkGraph(spec, (3, 20, 20))
    assert graph.fov == fov and graph.is_dense
    # dense: input = output + fov - 1 for every input
    for maps_z_y_x in graph.input_sizes.values():
        assert maps_z_y_x[1:] == tuple(o + f - 1 for o, f in zip((3, 20, 20), fov))
    assert f"{fov[0]}x{fov[1]}x{fov[2]}" in " ".join(spec.comments)


def test_vd2d3d_library_net_is_equivalent_to_the_original():
    original = read_znn(need_shared(FIXTURES / "networks" / "VD2D3D.znn"))
    ours = read_znn(NETWORKS / "VD2D3D.znn")
    for name, edge in original.edges.items():
        mine = ours.edges[name]
        assert (mine.type, mine.input, mine.output, mine.size, mine.effective_stride) == \
            (edge.type, edge.input, edge.output, edge.size, edge.effective_stride)
    assert {n: g.size for n, g in ours.nodes.items()} == {n: g.size for n, g in original.nodes.items()}


TWO_BRANCHES = """\
nodes input
type input
size 1
edges a
type conv
init zero
size 1,3,3
input input
output left
nodes left
type transfer
function rectify_linear
size 2
edges b
type conv
init zero
size 1,BSIZE
input input
output right
nodes right
type transfer
function rectify_linear
size 2
edges a2
type conv
init zero
size 1,1,1
input left
output join
edges b2
type conv
init zero
size 1,1,1
input right
output join
nodes join
type transfer
function linear
size 1
"""


def test_converging_branches_with_equal_fov_are_fine():
    graph = NetworkGraph(parse_znn(TWO_BRANCHES.replace("BSIZE", "3,3")), (1, 10, 10))
    assert graph.input_size == (1, 12, 12)


def test_converging_branches_with_mismatched_sizes_are_reported():
    text = TWO_BRANCHES.replace("BSIZE", "5,5")
    spec = parse_znn(text, "branches.znn")
    with pytest.raises(NetworkSpecError) as info:
        NetworkGraph(spec, (1, 10, 10))
    message = str(info.value)
    assert "'input'" in message and "1x12x12" in message and "1x14x14" in message
    assert info.value.line in (spec.edges["a"].line, spec.edges["b"].line)
    assert message.startswith("branches.znn:")


def test_converging_branches_with_different_strides_are_reported():
    text = TWO_BRANCHES.replace("BSIZE", "3,3").replace(
        "size 1,3,3\ninput input\noutput left", "size 1,3,3\nstride 1,2,2\ninput input\noutput left")
    with pytest.raises(NetworkSpecError, match="different sparsity"):
        NetworkGraph(parse_znn(text), (1, 10, 10))


def test_field_of_view_that_does_not_fit_is_reported():
    graph = NetworkGraph(read_znn(NETWORKS / "N4.znn"), (1, 1, 1))
    with pytest.raises(NetworkSpecError, match="does not fit"):
        graph.output_size_for_input((1, 60, 60))
    pooled = NetworkGraph(read_znn(NETWORKS / "3d_3.znn"), (1, 1, 1))
    with pytest.raises(NetworkSpecError, match="42 or 46"):
        pooled.output_size_for_input((45, 46, 46))


def test_bad_output_size():
    with pytest.raises(NetworkSpecError, match="three positive integers"):
        NetworkGraph(read_znn(NETWORKS / "N4.znn"), (0, 10, 10))


def test_parameter_count_by_hand():
    graph = NetworkGraph(read_znn(NETWORKS / "N4.znn"), (1, 1, 1))
    kernels = 1 * 48 * 16 + 48 * 48 * 25 + 48 * 48 * 16 * 2 + 48 * 200 * 9 + 200 * 2
    biases = 48 * 4 + 200 + 2
    assert graph.parameter_count == kernels + biases


def test_fft_sizes_are_fftw_friendly():
    assert [fft_size(n) for n in (1, 11, 13, 17, 97, 194, 1021)] == [1, 12, 14, 18, 98, 196, 1024]
    assert spectrum_elements((1, 194, 194)) == 1 * 196 * 99


def test_memory_estimate_by_hand_for_a_tiny_net():
    spec = parse_znn(TWO_BRANCHES.replace("BSIZE", "3,3"))
    graph = NetworkGraph(spec, (1, 10, 10))
    est = estimate_memory(graph, dtype="float64", conv_mode="direct", training=False)
    voxels = 1 * 144 + 2 * 100 + 2 * 100 + 1 * 100  # input 12x12, left/right 10x10, join 10x10
    assert est.activations == voxels * 8 and est.gradients == 0 and est.spectra == 0
    params = 2 * (1 * 2 * 9) + 2 * (2 * 1 * 1) + (2 + 2 + 1)  # kernels a, b; 1x1x1 a2, b2; biases
    assert est.parameters == params * 8
    train = estimate_memory(graph, dtype="float64", conv_mode="fft", training=True)
    assert train.gradients == (voxels - 144) * 8 and train.parameters == 3 * params * 8
    # FFT edges a and b share the input spectrum (12x12 -> 1x12x7 complex of 16 bytes)
    per_map = 1 * 12 * 7 * 16
    shared_input = 1 * per_map
    per_edge = 2 * per_map + 2 * per_map + 1 * per_map + 1 * 2 * per_map
    assert train.spectra == shared_input + 2 * per_edge
    assert train.total > est.total


def test_bundled_library_is_found_by_name():
    from znn.netspec.library import list_networks, network_path

    names = set(list_networks())
    assert {"N4", "N4_affinity", "VD2D", "VD2D3D", "3d_3", "3d_5", "3d_7", "tiny2d"} <= names
    assert network_path("N4") == network_path("N4.znn") == list_networks()["N4"]
    with pytest.raises(NetworkSpecError, match="did you mean 'VD2D'"):
        network_path("VD2")
