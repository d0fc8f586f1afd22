"""Saved networks in ZNN's `.h5` layout (reference §6.3, §7).

The kernel orientation is checked independently of our own code: a plain numpy/scipy
forward pass of srini2d with the loaded weights must reproduce the network outputs that
ZNN itself stored next to them in its boundary test-suite files.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.signal import convolve

from tests.helpers.shared import FIXTURES, need_shared
from znn.base.errors import SavedNetworkError
from znn.io.curve import LearningCurve
from znn.io.h5net import apply_saved, load_network, save_network
from znn.netspec.znnfile import parse_znn, read_znn
from znn.params.init import initial_parameters
from znn.params.net_params import NetParams

PATCH = "/processing/znn/train/patch"
NETWORK = "/processing/znn/train/network"
BOUNDARY = FIXTURES / "testsuit" / "boundary"


def srini2d():
    return read_znn(need_shared(FIXTURES / "networks" / "srini2d.znn"))


def assert_same_topology(found, expected):
    assert set(found.nodes) == set(expected.nodes)
    assert set(found.edges) == set(expected.edges)
    for name, node in expected.nodes.items():
        other = found.nodes[name]
        assert (other.type, other.size, other.function, other.effective_function_args) == \
            (node.type, node.size, node.function, node.effective_function_args), name
    for name, edge in expected.edges.items():
        other = found.edges[name]
        assert (other.type, other.input, other.output, other.size, other.stride, other.init) == \
            (edge.type, edge.input, edge.output, edge.size, edge.stride, edge.init), name


# ----------------------------------------------------------------------------- ZNN's files


def test_diverged_network_loads_and_names_its_nan_arrays():
    path = need_shared(FIXTURES / "srini2d-net_current.h5")
    with pytest.raises(SavedNetworkError, match=r"conv1/filters \(490 NaN of 490\)"):
        load_network(path)  # refused for use
    with pytest.warns(UserWarning, match=r"conv1/filters \(490 NaN of 490\)"):
        saved = load_network(path, finite=False)  # read to look at
    assert saved.stdio and saved.dtype == np.float32
    counts = saved.params.nan_counts()
    # Reference §7.5.
    assert {k: v for k, v in counts.items() if k.endswith(("filters", "biases"))} == {
        "conv1/filters": 490, "conv2/filters": 4900, "conv3/filters": 4900,
        "conv4/filters": 980, "conv5/filters": 980,
        "nl1/biases": 10, "nl2/biases": 10, "nl3/biases": 10, "nl4/biases": 2}
    assert saved.nan_arrays == list(counts)
    assert "conv6/filters" not in saved.nan_arrays and "nl5/biases" not in saved.nan_arrays
    assert np.allclose(saved.params.biases["output"], [0.00391183, -0.00391628], rtol=1e-6)
    assert saved.options["conv1"]["momentum"] == "0.899999976"
    assert saved.options["conv1"]["fft"] == "1"
    assert_same_topology(saved.spec, srini2d())


@pytest.mark.parametrize(("name", "dtype"),
                         [("net_1_single.h5", np.float32), ("net_1_double.h5", np.float64)])
def test_boundary_testsuite_files_load(name, dtype):
    saved = load_network(need_shared(BOUNDARY / name))
    assert saved.stdio and saved.dtype == dtype and saved.nan_arrays == []
    assert all(a.dtype == dtype for _n, a in saved.params.arrays())
    assert_same_topology(saved.spec, srini2d())
    assert saved.learning_curve.train_it.tolist() == [1]


def forward_srini2d(spec, kernels, biases, patch):
    """Plain numpy forward pass: true valid convolution per map pair (§2.1), bias, transfer function."""
    maps, node = patch.astype(np.float64), "input"
    while spec.outgoing(node):
        (edge,) = spec.outgoing(node)
        target = spec.nodes[edge.output]
        weights = kernels[edge.name].astype(np.float64)
        maps = np.stack([
            sum(convolve(maps[i], weights[i, j], mode="valid") for i in range(weights.shape[0]))
            + float(biases[target.name][j])
            for j in range(weights.shape[1])])
        if target.function == "rectify_linear":
            maps = np.maximum(maps, 0.0)
        else:
            slope, offset = target.effective_function_args
            maps = slope * maps + offset
        node = target.name
    # The boundary job uses softmax_loss: the stored props are the channel softmax (§4.1).
    exp = np.exp(maps - maps.max(axis=0))
    return exp / exp.sum(axis=0)


@pytest.mark.parametrize(("name", "tolerance"), [("net_1_single.h5", 1e-5), ("net_1_double.h5", 1e-10)])
def test_kernel_orientation_reproduces_znn_outputs(name, tolerance):
    path = need_shared(BOUNDARY / name)
    saved = load_network(path)
    with h5py.File(path, "r") as handle:
        patch = handle[f"{PATCH}/inputs/input"][()]
        props = handle[f"{PATCH}/props/output"][()]
        stored_filters = {k: handle[f"{NETWORK}/{k}/filters"][()] for k in saved.params.kernels}
    assert patch.shape == (1, 1, 41, 41) and props.shape == (2, 1, 5, 5)
    ours = forward_srini2d(saved.spec, saved.params.kernels, saved.params.biases, patch)
    assert np.abs(ours - props).max() <= tolerance * np.abs(props).max()
    # The check can fail: the stored arrays taken as they are give a visibly wrong result.
    naive = forward_srini2d(saved.spec, stored_filters, saved.params.biases, patch)
    assert np.abs(naive - props).max() > 1e-3


def dataset_summary(path, *, skip=PATCH):
    """{dataset path: (dtype, shape, string class info, bytes or value, layout, attributes)}."""
    summary = {}
    with h5py.File(path, "r") as handle:
        def visit(name, item):
            if ("/" + name).startswith(skip):
                return
            if isinstance(item, h5py.Group):
                summary[name] = ("group", dict(item.attrs))
                return
            kind = item.id.get_type()
            is_string = kind.get_class() == h5py.h5t.STRING
            text = (kind.get_cset(), kind.is_variable_str()) if is_string else None
            value = item[()]
            content = value.tobytes() if isinstance(value, np.ndarray) else value
            summary[name] = (item.dtype.str, item.shape, text, content,
                             item.id.get_create_plist().get_layout(), dict(item.attrs))
        handle.visititems(visit)
    return summary


@pytest.mark.parametrize("name", ["net_1_single.h5", "net_1_double.h5"])
def test_rewriting_znn_file_reproduces_its_datasets(tmp_path, name):
    """Every network and statistics dataset matches ZNN's file: dtype, shape, string type, bytes."""
    path = need_shared(BOUNDARY / name)
    saved = load_network(path)
    target = tmp_path / name
    save_network(target, saved.spec, saved.params, stdio=True, options=saved.options,
                 learning_curve=saved.learning_curve)
    assert dataset_summary(target) == dataset_summary(path)


def test_save_load_save_is_byte_identical(tmp_path):
    saved = load_network(need_shared(BOUNDARY / "net_1_single.h5"))
    first, second = tmp_path / "first.h5", tmp_path / "second.h5"
    save_network(first, saved.spec, saved.params, stdio=True, learning_curve=saved.learning_curve)
    again = load_network(first)
    save_network(second, again.spec, again.params, stdio=True, learning_curve=again.learning_curve)
    assert first.read_bytes() == second.read_bytes()
    assert again.params.equal(saved.params)
    assert again.learning_curve.equal(saved.learning_curve)
    assert_same_topology(again.spec, saved.spec)


def test_apply_saved_copies_by_name_and_reports(tmp_path):
    path = need_shared(BOUNDARY / "net_1_single.h5")
    saved = load_network(path)
    text = (FIXTURES / "networks" / "srini2d.znn").read_text()
    text = text.replace("edges conv6", "edges conv6\nseeding 0").replace("nodes nl5", "nodes nl5b")
    text = text.replace("output nl5", "output nl5b").replace("input nl5", "input nl5b")
    template = parse_znn(text)
    params = initial_parameters(template, seed=1, dtype=np.float32)
    fresh_conv6 = params.kernels["conv6"].copy()
    report = apply_saved(template, saved, params)
    assert report.loaded == ["conv1", "conv2", "conv3", "conv4", "conv5",
                             "nl1", "nl2", "nl3", "nl4", "output"]
    assert report.new == ["nl5b"]
    assert report.skipped == ["conv6"]
    assert report.not_copied == ["conv6", "nl5"]
    assert report.fft == {f"conv{k}": 1 for k in range(1, 6)}
    assert np.array_equal(params.kernels["conv3"], saved.params.kernels["conv3"])
    assert np.array_equal(params.bias_momentum["nl2"], saved.params.bias_momentum["nl2"])
    assert np.array_equal(params.kernels["conv6"], fresh_conv6)


def test_apply_saved_converts_precision():
    saved = load_network(need_shared(BOUNDARY / "net_1_double.h5"))
    params = initial_parameters(srini2d(), seed=1, dtype=np.float32)
    apply_saved(srini2d(), saved, params)
    assert params.kernels["conv1"].dtype == np.float32
    assert np.allclose(params.kernels["conv1"], saved.params.kernels["conv1"], rtol=1e-6)


def test_apply_saved_rejects_a_shape_mismatch():
    saved = load_network(need_shared(BOUNDARY / "net_1_single.h5"))
    template = parse_znn((FIXTURES / "networks" / "srini2d.znn").read_text().replace(
        "size 1,7,7\nstride 1,1,1\ninput nl2", "size 1,5,5\nstride 1,1,1\ninput nl2"))
    params = initial_parameters(template, seed=1)
    before = params.copy()
    with pytest.raises(SavedNetworkError) as caught:
        apply_saved(template, saved, params)
    error = caught.value
    assert error.group == "conv3" and error.key == "filters"
    assert error.expected == "shape (10, 10, 1, 5, 5)" and error.found == "shape (10, 10, 1, 7, 7)"
    assert params.equal(before)  # nothing copied


# ----------------------------------------------------------------------------- our own files

RICH = """
nodes input
type input
size 2

nodes hidden
type transfer
function tanh
function_args 1.7159,0.6666
size 3
init uniform
init_args 0.05
eta 0.01
load 0

nodes pooled
type sum
size 3

nodes dropped
type sum
size 3

nodes output
type transfer
function logistics
size 2

edges conv1
type conv
init xavier
size 2,3,4
stride 1,1,1
repeat 1,1,2
input input
output hidden

edges pool
type max_pool
size 1,2,2
stride 1,2,2
input hidden
output pooled

edges drop
type dropout
ratio 0.75
input pooled
output dropped

edges conv2
type conv
init msra
size 1,1,1
fft 0
input dropped
output output
"""


def rich_params() -> tuple:
    spec = parse_znn(RICH)
    params = initial_parameters(spec, seed=5, dtype=np.float64)
    generator = np.random.default_rng(9)
    for name in params.kernel_momentum:
        params.kernel_momentum[name] = generator.normal(size=params.kernel_momentum[name].shape)
    params.biases["output"] = np.array([0.5, -0.25])
    return spec, params


def test_file_layout_seen_by_plain_h5py(tmp_path):
    spec, params = rich_params()
    path = tmp_path / "net.h5"
    save_network(path, spec, params, stdio=True, options={"conv1": {"eta": "0.00999999978"}})
    with h5py.File(path, "r") as handle:
        root = handle[NETWORK]
        assert sorted(root) == ["conv1", "conv2", "drop", "dropped", "hidden", "input", "output", "pool",
                                "pooled"]
        conv1 = root["conv1"]
        assert sorted(conv1) == ["eta", "filters", "group_type", "init", "input", "momentum_vol", "name",
                                 "output", "repeat", "size", "stride", "type"]
        for key in ("eta", "group_type", "init", "input", "name", "output", "repeat", "type"):
            dataset = conv1[key]
            assert dataset.shape == ()
            assert h5py.check_string_dtype(dataset.dtype).encoding == "ascii"
            assert dataset.id.get_type().is_variable_str()
        assert conv1["eta"][()] == b"0.00999999978"
        assert conv1["group_type"][()] == b"edge" and conv1["repeat"][()] == b"1,1,2"
        assert conv1["size"].dtype == np.int64 and conv1["size"][()].tolist() == [2, 3, 4]
        assert conv1["stride"].dtype == np.int64 and conv1["stride"][()].tolist() == [1, 1, 1]
        filters = conv1["filters"][()]
        assert filters.dtype == np.float64 and filters.shape == (2, 3, 2, 3, 4)
        kernels = params.kernels["conv1"]
        for i in range(2):
            for j in range(3):
                assert np.array_equal(filters[i, j].ravel(), kernels[i, j].ravel(order="F"))
                assert np.array_equal(conv1["momentum_vol"][i, j].ravel(),
                                      params.kernel_momentum["conv1"][i, j].ravel(order="F"))
        hidden = root["hidden"]
        assert hidden["size"].dtype == np.int64 and hidden["size"].shape == (1,) and hidden["size"][0] == 3
        assert hidden["group_type"][()] == b"node" and hidden["function_args"][()] == b"1.7159,0.6666"
        assert hidden["load"][()] == b"0" and hidden["eta"][()] == b"0.01"
        assert hidden["biases"].shape == (3,) and hidden["momentum_vol"].shape == (3,)
        assert "function_args" not in root["output"]  # only what the .znn said (§2.3)
        assert root["pool"]["stride"][()].tolist() == [1, 2, 2]
        assert root["drop"]["ratio"][()] == b"0.75" and "size" not in root["drop"]
        assert sorted(root["input"]) == ["group_type", "name", "size", "type"]
        assert root["conv2"]["fft"][()] == b"0"

        def no_attributes_or_filters(name, item):
            assert len(item.attrs) == 0, name
            if isinstance(item, h5py.Dataset):
                assert item.compression is None and item.chunks is None, name
        handle.visititems(no_attributes_or_filters)


def test_plain_layout_round_trip(tmp_path):
    spec, params = rich_params()
    path = tmp_path / "plain.h5"
    save_network(path, spec, params, stdio=False)
    with h5py.File(path, "r") as handle:
        assert "processing" not in handle and "conv1" in handle and "filters" in handle["conv1"]
    saved = load_network(path)
    assert not saved.stdio and saved.learning_curve is None
    assert saved.params.equal(params)
    assert saved.spec == spec  # every field, including extras such as 'load' and max_pool's stride


def test_stdio_round_trip_with_curve(tmp_path):
    spec, params = rich_params()
    curve = LearningCurve(train_it=[1, 2], train_err=[0.5, 0.4], train_cls=[0.2, 0.1], test_it=[2],
                          test_err=[0.45], test_cls=[0.15], elapsed=0.5)
    save_network(tmp_path / "n.h5", spec, params, stdio=True, learning_curve=curve)
    saved = load_network(tmp_path / "n.h5")
    assert saved.stdio and saved.spec == spec and saved.params.equal(params)
    assert saved.learning_curve.equal(curve)
    with pytest.raises(ValueError, match="statistics file"):
        save_network(tmp_path / "m.h5", spec, params, stdio=False, learning_curve=curve)


def test_adam_second_moments_round_trip_and_are_copied_by_name(tmp_path):
    spec, params = rich_params()
    rng = np.random.default_rng(4)
    params.ensure_second_moments()
    for second in (params.kernel_second, params.bias_second):
        for name in second:
            second[name] = rng.random(second[name].shape).astype(params.dtype)
    save_network(tmp_path / "adam.h5", spec, params, stdio=True)
    with h5py.File(tmp_path / "adam.h5", "r") as handle:  # kernels in ZNN's element order, as momentum_vol
        conv = handle[f"{NETWORK}/conv1"]
        assert conv["second_moment"].shape == conv["momentum_vol"].shape
    saved = load_network(tmp_path / "adam.h5")
    assert saved.params.equal(params)
    template = initial_parameters(spec, 0, params.dtype)
    apply_saved(spec, saved, template)
    assert template.equal(params)
    plain = initial_parameters(spec, 0, params.dtype)  # a file without them (ZNN's) leaves none
    save_network(tmp_path / "sgd.h5", spec, plain, stdio=True)
    assert not load_network(tmp_path / "sgd.h5").params.has_second_moments


def test_options_cannot_change_the_structure(tmp_path):
    spec, params = rich_params()
    with pytest.raises(ValueError, match="size"):
        save_network(tmp_path / "n.h5", spec, params, stdio=True, options={"conv1": {"size": "1,1,1"}})
    with pytest.raises(ValueError, match="ghost"):
        save_network(tmp_path / "n.h5", spec, params, stdio=True, options={"ghost": {"eta": "1"}})
    assert not (tmp_path / "n.h5").exists()


def test_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    spec, params = rich_params()
    path = tmp_path / "net.h5"
    save_network(path, spec, params, stdio=True)
    before = path.read_bytes()
    import znn.io.h5net as h5net

    calls = []

    def failing_write(group, key, value):
        calls.append(key)
        raise OSError("disk full")

    monkeypatch.setattr(h5net, "write_array", failing_write)
    changed = params.copy()
    changed.biases["output"][:] = 7.0
    with pytest.raises(OSError, match="disk full"):
        save_network(path, spec, changed, stdio=True)
    assert calls  # the failure happened in the middle of writing
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["net.h5"]  # no temporary file left


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(SavedNetworkError, match="not found") as caught:
        load_network(tmp_path / "nope.h5")
    assert caught.value.file.endswith("nope.h5")


def test_not_an_hdf5_file(tmp_path):
    path = tmp_path / "net.h5"
    path.write_text("nodes input\ntype input\nsize 1\n")
    with pytest.raises(SavedNetworkError, match="not an HDF5 file"):
        load_network(path)


def test_layer_without_type_is_named(tmp_path):
    spec, params = rich_params()
    path = tmp_path / "net.h5"
    save_network(path, spec, params, stdio=True)
    with h5py.File(path, "a") as handle:
        del handle[f"{NETWORK}/conv2/type"]
    with pytest.raises(SavedNetworkError) as caught:
        load_network(path)
    assert caught.value.group == f"{NETWORK}/conv2" and caught.value.key == "type"
    assert "conv2" in str(caught.value) and str(path) in str(caught.value)


def test_stored_kernel_shape_must_match_stored_sizes(tmp_path):
    spec, params = rich_params()
    path = tmp_path / "net.h5"
    save_network(path, spec, params, stdio=False)
    with h5py.File(path, "a") as handle:
        del handle["conv2/filters"], handle["conv2/momentum_vol"]
        handle["conv2/filters"] = np.zeros((3, 2, 1, 1, 2))
        handle["conv2/momentum_vol"] = np.zeros((3, 2, 1, 1, 2))
    with pytest.raises(SavedNetworkError) as caught:
        load_network(path)
    assert caught.value.group == "conv2" and caught.value.found == "(3, 2, 1, 1, 2)"


def test_params_that_do_not_fit_the_spec_are_not_saved(tmp_path):
    spec, params = rich_params()
    params.biases["hidden"] = np.zeros(4)
    with pytest.raises(SavedNetworkError, match="hidden"):
        save_network(tmp_path / "n.h5", spec, params, stdio=True)
    assert not (tmp_path / "n.h5").exists()


def test_params_container_from_file_is_consistent():
    saved = load_network(need_shared(BOUNDARY / "net_1_single.h5"))
    assert isinstance(saved.params, NetParams)
    saved.params.check_against(srini2d())
