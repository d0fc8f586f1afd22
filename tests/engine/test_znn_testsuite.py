"""ZNN's own boundary test suite: stored weights + input reproduce the stored training step."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.helpers.shared import FIXTURES, need_shared
from znn.io.trained_network import load_trained

PATCH = "processing/znn/train/patch"
STATS = "processing/znn/train/statistics/train"


@pytest.mark.parametrize("precision,dtype,tolerance", [("single", "float32", 1e-5), ("double", "float64", 1e-10)])
@pytest.mark.parametrize("mode", ["fft", "gemm", "loop"])
def test_stored_training_step_is_reproduced(precision, dtype, tolerance, mode):
    path = need_shared(FIXTURES / "testsuit" / "boundary" / f"net_1_{precision}.h5")
    spec = need_shared(FIXTURES / "networks" / "srini2d.znn")
    with h5py.File(path, "r") as f:
        patch = np.array(f[f"{PATCH}/inputs/input"])
        props = np.array(f[f"{PATCH}/props/output"]).astype(np.float64)
        labels = np.array(f[f"{PATCH}/lbls/output"]).astype(np.float64)
        grads = np.array(f[f"{PATCH}/grdts/output"]).astype(np.float64)
        err, cls = float(f[f"{STATS}/err"][0]), float(f[f"{STATS}/cls"][0])
    net = load_trained(path, (1, 5, 5), spec=spec, dtype=dtype, conv_mode=mode)
    assert net.dtype == np.dtype(dtype)
    out = net.forward({"input": patch})["output"].astype(np.float64)
    # The job uses softmax_loss: the stored props are the channel softmax of the linear outputs.
    shifted = np.exp(out - out.max(axis=0))
    softmax = shifted / shifted.sum(axis=0)
    assert np.abs(softmax - props).max() / np.abs(props).max() < tolerance
    # The gradient handed to backward was softmax - labels; cost and pixel error per voxel and channel.
    assert np.abs((softmax - labels) - grads).max() < tolerance * 10
    voxels = softmax.size
    assert abs(np.sum(-labels * np.log(softmax)) / voxels - err) < tolerance * 10
    assert np.sum((softmax > 0.5) != (labels > 0.5)) / voxels == pytest.approx(cls)
    # And that gradient goes back through the network without trouble.
    net.backward({"output": softmax - labels})
    assert set(net.kernel_grads) == {f"conv{i}" for i in range(1, 7)}
    assert all(np.isfinite(g).all() for g in net.kernel_grads.values())
