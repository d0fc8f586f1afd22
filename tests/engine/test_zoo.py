"""Running bioimage.io packages with ONNX weights on a stack, tile by tile. Truths: the engine's own
prediction of the network a package was exported from, and a hand-made 2-D package (a 3x3 mean
filter with a halo) against scipy's filter of the same mirrored image."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS

onnx = pytest.importorskip("onnx", reason="the 'export' extra (onnx, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the 'export' extra (onnx, onnxruntime) is not installed")
yaml = pytest.importorskip("yaml", reason="the 'export' extra (pyyaml) is not installed")

from znn.base.errors import ZnnError  # noqa: E402
from znn.export.zoo import iter_predict_zoo, open_zoo_model  # noqa: E402
from znn.io.trained_network import save_trained  # noqa: E402


def _run(generator):
    steps = []
    try:
        while True:
            steps.append(next(generator))
    except StopIteration as stop:
        return stop.value, steps


def test_an_exported_package_predicts_what_the_engine_predicts(tmp_path):
    from znn.export.package import ExportSource, write_package
    from znn.export.sources import from_files
    from znn.forward.image import iter_predict_image

    base = from_files(NETWORKS / "tiny2d.znn", None)
    source = ExportSource(base.spec, base.kernels, base.biases, "boundary", True, "standard2D")
    model = open_zoo_model(write_package(source, tmp_path / "tiny.zip"))
    assert model.axes == "zyx" and model.context == (0, 17, 17) and model.kind == "boundary"
    volume = np.random.default_rng(3).normal(120, 30, (2, 70, 90)).astype(np.float32)
    zoo, steps = _run(iter_predict_zoo(model, volume, tile=32))
    assert steps[-1] == (len(steps), len(steps)) and len(steps) == 3 * 3  # 70 and 90 in tiles of 32
    weights = tmp_path / "w.h5"
    from znn.network.net import Network

    with Network(base.spec, (1, 1, 1), num_threads=1) as net:
        for name, values in base.kernels.items():
            net.params.kernels[name][...] = values
        for name, values in base.biases.items():
            net.params.biases[name][...] = values
        save_trained(net, weights)
    engine, _ = _run(iter_predict_image(volume, base.spec, weights, pp_type="standard2D", mirror=True,
                                        softmax=True, num_threads=1))
    assert np.abs(zoo["output"] - next(iter(engine.values()))).max() < 1e-4


def _mean_filter_package(path, *, channels=1, weights="onnx"):
    """A 2-D package (b, c, y, x): a 3x3 mean with zero padding, so its outer voxel is the halo."""
    from onnx import TensorProto, helper, numpy_helper

    kernel = np.full((1, 1, 3, 3), 1 / 9, dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["raw", "k"], ["mean"], pads=[1, 1, 1, 1])], "mean",
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, ["b", channels, "y", "x"])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["b", 1, "y", "x"])],
        [numpy_helper.from_array(kernel[:, :1].repeat(channels, axis=1), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    rdf = {"type": "model", "format_version": "0.5.4", "name": "mean filter",
           "inputs": [{"id": "raw", "axes": [{"type": "batch"},
                                             {"type": "channel", "channel_names": [f"c{i}" for i in range(channels)]},
                                             {"type": "space", "id": "y", "size": {"min": 16, "step": 8}},
                                             {"type": "space", "id": "x", "size": {"min": 16, "step": 8}}],
                       "preprocessing": [{"id": "scale_linear", "kwargs": {"gain": 0.5, "offset": 1.0}}]}],
           "outputs": [{"id": "mean", "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["boundary"]},
                                               {"type": "space", "id": "y", "halo": 1,
                                                "size": {"tensor_id": "raw", "axis_id": "y"}},
                                               {"type": "space", "id": "x", "halo": 1,
                                                "size": {"tensor_id": "raw", "axis_id": "x"}}]}],
           "weights": {weights: {"source": "weights.onnx"}}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rdf.yaml", yaml.safe_dump(rdf))
        archive.writestr("weights.onnx", model.SerializeToString())
    return path


def test_a_2d_package_with_a_halo_runs_section_by_section(tmp_path):
    from scipy.ndimage import uniform_filter

    model = open_zoo_model(_mean_filter_package(tmp_path / "mean.zip"))
    assert model.axes == "yx" and model.halo == (1, 1) and model.context == (0, 0)
    volume = np.random.default_rng(0).uniform(0, 255, (3, 50, 37)).astype(np.float32)
    maps, steps = _run(iter_predict_zoo(model, volume, tile=20))
    expected = np.stack([uniform_filter(v * 0.5 + 1.0, 3, mode="reflect") for v in volume])
    assert maps["mean"].shape == (1, 3, 50, 37) and len(steps) == 3 * 3 * 2
    assert np.abs(maps["mean"][0] - expected).max() < 1e-3  # the halo hides the zero padding, tiles agree


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: _mean_filter_package(p, weights="torchscript"), "no ONNX weights"),
    (lambda p: _mean_filter_package(p, channels=2), r"one input channel is needed \(found 2\)"),
    (lambda p: p.write_text("not a package"), "not a bioimage.io package"),
])
def test_packages_that_cannot_run_here_are_refused_in_one_line(tmp_path, make, message):
    path = tmp_path / "model.zip"
    make(path)
    with pytest.raises(ZnnError, match=message) as caught:
        open_zoo_model(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
