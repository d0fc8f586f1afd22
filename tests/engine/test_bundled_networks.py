"""The trained networks shipped in networks/trained/: each has a model card, loads whole into its own
layout, and predicts with the task engine what the sequential reference engine predicts; on the EM
stack it was trained on (when the shared data is here) its map finds the membranes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.shared import SHARED, need_shared
from znn.base.geometry import mirror_pad
from znn.data.preprocess import preprocess
from znn.forward.image import iter_predict_image
from znn.forward.predict import predict_volume
from znn.io.h5net import apply_saved, load_network
from znn.netspec.library import list_trained, model_card
from znn.network.net import Network
from znn.params.init import initial_parameters

TRAINED = list_trained()


def _predict(image: np.ndarray, spec, path) -> np.ndarray:
    run = iter_predict_image(image, spec, path, conv_mode="gemm", num_threads=1, outsz=(1, *image.shape[1:]))
    while True:
        try:
            next(run)
        except StopIteration as done:
            return next(iter(done.value.values()))


def test_the_package_ships_a_trained_boundary_network():
    assert "N4-isbi2012" in TRAINED


@pytest.mark.parametrize("name", sorted(TRAINED))
def test_a_bundled_network_loads_whole_and_has_a_model_card(name):
    path = TRAINED[name]
    card = model_card(path)
    assert card is not None and card.is_file()
    text = card.read_text()
    assert "## Data" in text and "## Recipe" in text and "V_rand" in text
    saved = load_network(path)
    report = apply_saved(saved.spec, saved, initial_parameters(saved.spec, 0, "float32"))
    assert report.loaded and not report.new and not report.not_copied
    assert all(kernel.dtype == np.float32 for kernel in saved.params.kernels.values())


@pytest.mark.parametrize("name", sorted(TRAINED))
def test_a_bundled_network_predicts_as_the_sequential_engine_does(name):
    path = TRAINED[name]
    saved = load_network(path)
    image = np.random.default_rng(3).integers(0, 256, size=(1, 40, 48)).astype(np.uint8)
    maps = _predict(image, saved.spec, path)
    reference = Network(saved.spec, (1, 40, 48), dtype="float32", params=saved.params.copy(), executor="sequential",
                        phase="test")
    volume = mirror_pad(preprocess(image, "standard2D", "float32"), reference.graph.fov)
    expected = predict_volume(reference, {"input": volume}, softmax=True)["output"]
    np.testing.assert_allclose(maps, expected, atol=2e-5)


def test_n4_isbi2012_finds_the_membranes_of_isbi():
    import tifffile

    images, labels = (need_shared(SHARED / "data" / "isbi2012" / name) for name in ("train-volume.tif",
                                                                                  "train-labels.tif"))

    image, truth = tifffile.imread(images)[:1, :256, :256], tifffile.imread(labels)[:1, :256, :256]
    path = TRAINED["N4-isbi2012"]
    boundary = _predict(image, load_network(path).spec, path)[1]
    assert np.mean((boundary > 0.5) != (truth == 0)) < 0.2  # its model card: 0.12 over the 20 sections
