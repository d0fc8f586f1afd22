"""Export to ONNX / bioimage.io and back. Truths: the engine's own forward pass (onnxruntime on the
exported graph must give the same maps on input sizes other than the package's test tensor),
the weights and `.znn` text that went in (an import gives them back exactly), and bioimageio.core's
own package test."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from tests.helpers.shared import FIXTURES, need_shared

onnx = pytest.importorskip("onnx", reason="the 'export' extra (onnx, onnxruntime) is not installed")
ort = pytest.importorskip("onnxruntime", reason="the 'export' extra (onnx, onnxruntime) is not installed")

from znn.base.errors import SavedNetworkError, ZnnError  # noqa: E402
from znn.export.onnx_graph import EDGES, ExportError, build_onnx  # noqa: E402
from znn.export.package import ExportSource, PackageInfo, write_package  # noqa: E402
from znn.export.sources import from_files, read_package  # noqa: E402
from znn.io.trained_network import load_trained  # noqa: E402
from znn.netspec.znnfile import parse_znn, read_znn  # noqa: E402
from znn.network.net import Network  # noqa: E402

LIBRARY_NETS = sorted(NETWORKS.glob("*.znn"))
FIXTURE_NETS = sorted((FIXTURES / "networks").glob("*.znn")) or [FIXTURES / "networks"]
TOLERANCE = 1e-4


def _no_arena():
    """onnxruntime keeps its memory arena for the life of the process; tests later in the same process
    (forward's RAM budget) count what this one holds."""
    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = False
    return options


def _engine_and_onnx(spec, outsz, seed=0):
    """Maps of the engine (test phase) and of onnxruntime on the exported graph, same random input."""
    with Network(spec, outsz, phase="test", seed=seed, num_threads=2, conv_mode="fft") as net:
        rng = np.random.default_rng(seed)
        for bias in net.params.biases.values():
            bias[...] = rng.normal(0, 0.1, bias.shape)
        net.invalidate_kernel_spectra()
        inputs = {n: rng.uniform(-1, 1, s).astype("float32") for n, s in net.graph.input_sizes.items()}
        expected = net.forward(inputs)
        model = build_onnx(spec, net.params.kernels, net.params.biases)
    session = ort.InferenceSession(model.SerializeToString(), _no_arena(), providers=["CPUExecutionProvider"])
    got = session.run(list(spec.output_names), {n: x[None] for n, x in inputs.items()})
    return expected, dict(zip(spec.output_names, (g[0] for g in got)))


def _assert_same(spec, outsz):
    expected, got = _engine_and_onnx(spec, outsz)
    for name, maps in expected.items():
        assert got[name].shape == maps.shape
        scale = max(1.0, float(np.abs(maps).max()))  # untrained 3-D nets reach large values
        assert float(np.abs(got[name] - maps).max()) <= TOLERANCE * scale, name


def _sizes(spec):
    """Two output sizes, neither the package's test size; one for nets that subsample (their inputs
    are already hundreds of voxels wide for one output voxel)."""
    from znn.netspec.graph import NetworkGraph

    if not NetworkGraph(spec, (1, 1, 1)).is_dense:
        return [(1, 1, 2)]
    deep = any(e.size is not None and e.size[0] > 1 for e in spec.edges.values())
    return [(2, 3, 4), (1, 5, 2)] if deep else [(1, 3, 4), (1, 6, 5)]


@pytest.mark.parametrize("path", LIBRARY_NETS, ids=lambda p: p.name)
def test_onnxruntime_equals_the_engine_on_every_bundled_network(path):
    spec = read_znn(path)
    for outsz in _sizes(spec):
        _assert_same(spec, outsz)


@pytest.mark.parametrize("path", FIXTURE_NETS, ids=lambda p: p.name)
def test_onnxruntime_equals_the_engine_on_original_znn_networks(path):
    spec = read_znn(need_shared(path))
    _assert_same(spec, _sizes(spec)[0])


def test_a_saved_network_exports_with_its_weights():
    saved = NETWORKS / "trained" / "N4-isbi2012.h5"
    source = from_files(None, saved)
    with load_trained(saved, (1, 4, 4), phase="test", num_threads=1) as net:
        rng = np.random.default_rng(1)
        inputs = {n: rng.normal(0, 1, s).astype("float32") for n, s in net.graph.input_sizes.items()}
        expected = net.forward(inputs)
    model = build_onnx(source.spec, source.kernels, source.biases)
    got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {n: x[None] for n, x in inputs.items()})
    name = source.spec.output_names[0]
    assert float(np.abs(got[0][0] - expected[name]).max()) <= TOLERANCE * max(1.0, float(np.abs(expected[name]).max()))


def test_a_saved_original_znn_network_with_nan_weights_is_refused():
    saved = need_shared(FIXTURES / "srini2d-net_current.h5")  # ZNN's own file, from a diverged run
    with pytest.raises(SavedNetworkError, match=r"srini2d-net_current.h5: .*NaN.*conv1"):
        from_files(None, saved)


@pytest.mark.parametrize("net", ["N4", "VD2D3D"])
def test_import_gives_back_the_network_and_weights_exactly(tmp_path, net):
    path = NETWORKS / f"{net}.znn"
    source = from_files(path, None)
    model = build_onnx(source.spec, source.kernels, source.biases, network_text=path.read_text())
    onnx_file = tmp_path / "net.onnx"
    onnx_file.write_bytes(model.SerializeToString())
    text, kernels, biases = read_package(onnx_file)
    assert text == path.read_text()  # comments and layout too
    assert kernels.keys() == source.kernels.keys() and biases.keys() == source.biases.keys()
    for name, values in kernels.items():
        assert np.array_equal(values, source.kernels[name])
    for name, values in biases.items():
        assert np.array_equal(values, source.biases[name])


def test_a_group_without_an_onnx_equivalent_is_refused_by_name(monkeypatch):
    text = """nodes input\ntype input\nsize 1\n\nedges conv1\ntype conv\ninput input\noutput hidden
size 1,3,3\ninit xavier\n\nnodes hidden\ntype transfer\nsize 2\nfunction linear\n\nedges trim
type crop\ninput hidden\noutput output\noffset 0,1,1\n\nnodes output\ntype sum\nsize 2\n"""
    spec = parse_znn(text)
    with Network(spec, (1, 2, 2), phase="test", num_threads=1) as net:
        kernels, biases = dict(net.params.kernels), dict(net.params.biases)
    build_onnx(spec, kernels, biases)  # a crop has one: Slice
    monkeypatch.delitem(EDGES, "crop")
    with pytest.raises(ExportError, match="group 'trim': edge type 'crop' has no ONNX equivalent"):
        build_onnx(spec, kernels, biases)


def test_a_package_needs_one_image_input_and_says_so(tmp_path):
    source = from_files(NETWORKS / "VD2D3D.znn", None)
    with pytest.raises(ExportError, match=r"2 \(input, input-r\): export it with --onnx"):
        write_package(source, tmp_path / "m.zip")
    assert not (tmp_path / "m.zip").exists()


def test_missing_weights_in_a_foreign_onnx_file_are_refused(tmp_path):
    path = tmp_path / "foreign.onnx"
    source = from_files(NETWORKS / "tiny2d.znn", None)
    model = build_onnx(source.spec, source.kernels, source.biases)  # no network description kept
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ZnnError, match="only files znn exported can be read back"):
        read_package(path)


@pytest.mark.parametrize(("net", "pp_type"), [("tiny2d", "standard2D"), ("N4_affinity", None)])
def test_the_package_passes_bioimageio_cores_own_test(tmp_path, net, pp_type):
    core = pytest.importorskip("bioimageio.core", reason="bioimageio.core (test extra) is not installed")
    base = from_files(NETWORKS / f"{net}.znn", None)
    source = ExportSource(base.spec, base.kernels, base.biases, base.output_kind, base.softmax, pp_type)
    path = write_package(source, tmp_path / f"{net}.zip", PackageInfo(name=f"{net} test", authors=("A. Tester",)))
    summary = core.test_model(str(path))
    assert summary.status == "passed", summary.format()
    text, kernels, _biases = read_package(path)
    assert parse_znn(text) == base.spec
    assert all(np.array_equal(kernels[k], base.kernels[k]) for k in kernels)
    import zipfile

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        rdf = archive.read("rdf.yaml").decode()
    assert {"rdf.yaml", "weights.onnx", "README.md", "cover.png", "network.znn"} <= names
    assert ("zero_mean_unit_variance" in rdf) == (pp_type == "standard2D")
    assert ("affinity_z" in rdf) == (net == "N4_affinity")


def test_a_failed_export_leaves_no_file(tmp_path, monkeypatch):
    import znn.export.package as package

    def broken(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(package, "_cover", broken)
    with pytest.raises(OSError):
        write_package(from_files(NETWORKS / "tiny2d.znn", None), tmp_path / "m.zip")
    assert list(tmp_path.iterdir()) == []


def test_export_needs_its_extra_in_one_line(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    source = from_files(NETWORKS / "tiny2d.znn", None)
    with pytest.raises(ExportError, match=r"pip install 'napari-znn\[export\]'"):
        build_onnx(source.spec, source.kernels, source.biases)
