"""The Network object as a user drives it: build from a file, train a step, save and load."""

from __future__ import annotations

import numpy as np
import pytest

import znn
from tests.helpers.paths import NETWORKS
from znn.base.errors import ZnnError
from znn.io.trained_network import load_trained, save_trained


def test_issue_example_round_trip(tmp_path):
    net = znn.Network.from_file(NETWORKS / "tiny2d.znn", outsz=(1, 16, 16), dtype="float32",
                                conv_mode="fft", seed=5)
    rng = np.random.default_rng(0)
    patch = rng.uniform(size=net.graph.input_sizes["input"]).astype(np.float32)
    out = net.forward({"input": patch})
    assert out["output"].shape == (2, 1, 16, 16)
    net.backward({"output": np.ones_like(out["output"])})
    net.update(eta=0.01, momentum=0.9, weight_decay=0.0)
    save_trained(net, tmp_path / "net.h5")
    again = load_trained(tmp_path / "net.h5", outsz=(1, 16, 16))
    assert again.params.equal(net.params)
    np.testing.assert_array_equal(again.forward({"input": patch})["output"], net.forward({"input": patch})["output"])
    # The same weights at another output size give the matching part of a bigger output.
    big = load_trained(tmp_path / "net.h5", outsz=(1, 20, 20), spec=NETWORKS / "tiny2d.znn")
    big_patch = rng.uniform(size=big.graph.input_sizes["input"]).astype(np.float32)
    big_patch[:, :, :33, :33] = patch
    np.testing.assert_allclose(big.forward({"input": big_patch})["output"][:, :, :16, :16],
                               net.forward({"input": patch})["output"], atol=1e-5)


def test_group_overrides_are_honoured(tmp_path):
    text = (NETWORKS / "tiny2d.znn").read_text().replace("init xavier\n", "init xavier\neta 0\n", 1)
    path = tmp_path / "frozen.znn"
    path.write_text(text)
    net = znn.Network.from_file(path, outsz=(1, 4, 4), dtype="float64", conv_mode="direct", seed=1)
    before = {n: k.copy() for n, k in net.params.kernels.items()}
    out = net.forward({"input": np.ones(net.graph.input_sizes["input"])})
    net.backward({"output": np.ones_like(out["output"])})
    net.update(eta=0.1, momentum=0.0, weight_decay=0.0)
    np.testing.assert_array_equal(net.params.kernels["conv1"], before["conv1"])  # its own eta 0 wins
    assert not np.array_equal(net.params.kernels["conv2"], before["conv2"])


def test_bad_calls_give_clear_errors():
    net = znn.Network.from_file(NETWORKS / "tiny2d.znn", outsz=(1, 4, 4), conv_mode="direct")
    with pytest.raises(ZnnError, match="needs a forward"):
        net.backward({"output": np.zeros((2, 1, 4, 4))})
    with pytest.raises(ZnnError, match="missing input 'input'"):
        net.forward({})
    with pytest.raises(ZnnError, match="conv mode"):
        znn.Network.from_file(NETWORKS / "tiny2d.znn", outsz=(1, 4, 4), conv_mode="fast")
