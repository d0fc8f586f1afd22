"""The PyTorch peer computes what our engine computes: an independent check of both.

PyTorch's Conv3d/MaxPool3d share no code with the engine's numba kernels, so equal
outputs for the same weights confirm the peer (kernel flip, dilation from strides,
pooling, bias and transfer functions) and our direct-mode forward pass at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.paths import NETWORKS
from znn.netspec.znnfile import read_znn

torch = pytest.importorskip("torch", reason="torch not installed (bench extra)")

from znn.bench.torch_peer import TorchPeer, kernels_to_torch, peer_outputs_numpy  # noqa: E402
from znn.network.net import Network  # noqa: E402

# conv 2x2x2 -> max_pool 2 (real subsampling) -> conv, ReLU.
SMALL_3D = """\
nodes input
type input
size 1

edges conv1
type conv
init xavier
size 2,2,2
input input
output nconv1

nodes nconv1
type transfer
function rectify_linear
size 3

edges pool1
type max_pool
size 2,2,2
input nconv1
output npool1

nodes npool1
type sum
size 3

edges conv2
type conv
init xavier
size 2,3,2
input npool1
output output

nodes output
type transfer
function rectify_linear
size 2
"""

# N4 in miniature: max_filter with stride 1,2,2 dilates the kernels after it.
SMALL_N4 = """\
nodes input
type input
size 1

edges conv1
type conv
init xavier
size 1,3,3
input input
output nconv1

nodes nconv1
type transfer
function rectify_linear
size 4

edges pool1
type max_filter
size 1,2,2
stride 1,2,2
input nconv1
output npool1

nodes npool1
type sum
size 4

edges conv2
type conv
init xavier
size 1,3,3
input npool1
output nconv2

nodes nconv2
type transfer
function tanh
function_args 1.5,0.7
size 5

edges pool2
type max_filter
size 1,2,2
stride 1,2,2
input nconv2
output npool2

nodes npool2
type sum
size 5

edges conv3
type conv
init xavier
size 1,2,2
input npool2
output output

nodes output
type transfer
function linear
function_args 2,0.5
size 2
"""

# Two inputs summed into one transfer node (bias not fused into a conv), crop, dummy,
# maxout, dropout (identity in the TEST phase) and the remaining transfer functions.
BRANCHES = """\
nodes a
type input
size 1

nodes b
type input
size 2

edges ca
type conv
init xavier
size 1,3,3
input a
output sum1

edges cb
type conv
init xavier
size 1,3,3
input b
output sum1

nodes sum1
type transfer
function soft_sign
size 3

edges left
type conv
init xavier
size 1,1,1
input sum1
output nleft

nodes nleft
type transfer
function logistics
size 3

edges right
type crop
offset 0,1,1
input sum1
output nright

nodes nright
type sum
size 3

edges crop_left
type crop
offset 0,1,1
input nleft
output nleftc

nodes nleftc
type sum
size 3

edges mx1
type maxout
input nleftc
output nmax

edges mx2
type maxout
input nright
output nmax

nodes nmax
type maxout
size 3

edges drop
type dropout
ratio 0.5
input nmax
output ndrop

nodes ndrop
type sum
size 3

edges pass
type dummy
input ndrop
output ndummy

nodes ndummy
type sum
size 3

edges last
type conv
init xavier
size 1,2,2
input ndummy
output output

nodes output
type transfer
function forward_logistics
size 2
"""


def _spec(text: str, tmp_path, name: str):
    path = tmp_path / f"{name}.znn"
    path.write_text(text)
    return read_znn(path)


def _compare(spec, outsz, dtype: str) -> None:
    net = Network(spec, outsz, dtype=dtype, conv_mode="direct", seed=7, phase="test")
    try:
        rng = np.random.default_rng(11)
        params = net.params
        for bias in params.biases.values():
            bias[:] = rng.uniform(-0.5, 0.5, bias.shape)  # initial biases are zero: make them count
        net.invalidate_kernel_spectra()
        inputs = {name: rng.uniform(-1, 1, shape).astype(dtype) for name, shape in net.graph.input_sizes.items()}
        ours = net.forward(inputs)
        peer = TorchPeer(spec, outsz, dtype=dtype, train=False)
        peer.load_params(params)
        with torch.no_grad():
            theirs = peer_outputs_numpy(peer.forward(inputs))
    finally:
        close = getattr(net, "close", None)
        if callable(close):
            close()
    assert set(ours) == set(theirs)
    for name in ours:
        assert theirs[name].shape == ours[name].shape == net.graph.output_sizes[name]
        assert theirs[name].dtype == np.dtype(dtype)
        scale = float(np.abs(ours[name]).max())
        assert scale > 0
        np.testing.assert_allclose(theirs[name], ours[name], rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_peer_matches_engine_on_tiny2d(dtype):
    _compare(read_znn(NETWORKS / "tiny2d.znn"), (1, 6, 6), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_peer_matches_engine_on_3d_net_with_max_pool(dtype, tmp_path):
    _compare(_spec(SMALL_3D, tmp_path, "small3d"), (2, 3, 2), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_peer_matches_engine_with_strided_max_filter(dtype, tmp_path):
    spec = _spec(SMALL_N4, tmp_path, "smalln4")
    # Dilation 2 then 4 after the two strided max-filters: the flip must hold for dilated kernels.
    peer = TorchPeer(spec, (1, 6, 6))
    assert peer.convs["conv2"].dilation == (1, 2, 2)
    assert peer.convs["conv3"].dilation == (1, 4, 4)
    _compare(spec, (1, 6, 6), dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_peer_matches_engine_on_branches_crop_maxout(dtype, tmp_path):
    _compare(_spec(BRANCHES, tmp_path, "branches"), (1, 4, 5), dtype)


def test_kernel_conversion_flips_all_spatial_axes_and_swaps_maps():
    kernels = np.arange(2 * 3 * 2 * 3 * 4, dtype=np.float32).reshape(2, 3, 2, 3, 4)
    weight = kernels_to_torch(kernels)
    assert weight.shape == (3, 2, 2, 3, 4)
    assert weight.flags.c_contiguous
    assert weight[2, 1, 0, 0, 0] == kernels[1, 2, 1, 2, 3]
    assert weight[0, 1, 1, 2, 3] == kernels[1, 0, 0, 0, 0]
