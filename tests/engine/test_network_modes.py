"""FFT and direct convolution give the same network, values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.netcheck import build, probe_weights, random_inputs

# max_filter dilation, max_pool, dropout (test phase), crop, two branches converging on one node.
NET = """\
nodes input
type input
size 1

edges c1
type conv
init uniform
size 1,3,3
input input
output h1

nodes h1
type transfer
function rectify_linear
size 3

edges mf
type max_filter
size 1,2,2
stride 1,2,2
input h1
output p1

nodes p1
type sum
size 3

edges c2
type conv
init uniform
size 2,3,3
input p1
output h2

nodes h2
type transfer
function tanh
size 4

edges mp
type max_pool
size 1,2,2
input h2
output p2

nodes p2
type sum
size 4

edges dr
type dropout
ratio 0.5
input p2
output d

nodes d
type sum
size 4

edges cr
type crop
offset 0,2,2
input d
output cropped

nodes cropped
type sum
size 4

edges left
type conv
init uniform
size 1,2,2
input cropped
output output

edges right
type conv
init uniform
size 1,2,2
input d
output r1

nodes r1
type transfer
function soft_sign
size 2

edges right2
type conv
init uniform
size 1,3,3
input r1
output output

nodes output
type transfer
function linear
size 2
"""


@pytest.mark.parametrize("dtype,tolerance", [("float32", 1e-5), ("float64", 1e-12)])
def test_fft_and_direct_agree_on_a_whole_network(dtype, tolerance):
    direct = build(NET, (2, 4, 4), dtype=dtype, conv_mode="direct", phase="test")
    fft = build(NET, (2, 4, 4), dtype=dtype, conv_mode="fft", phase="test")
    inputs, weights = random_inputs(direct), probe_weights(direct)
    a, b = direct.forward(inputs)["output"], fft.forward(inputs)["output"]
    scale = np.abs(a).max()
    assert np.abs(a - b).max() / scale < tolerance
    direct.backward(weights)
    fft.backward(weights)
    for name, grad in direct.kernel_grads.items():
        assert np.abs(grad - fft.kernel_grads[name]).max() / np.abs(grad).max() < tolerance * 10, name
    for name, grad in direct.bias_grads.items():
        assert np.abs(grad - fft.bias_grads[name]).max() / np.abs(grad).max() < tolerance * 10, name


def test_spectrum_caching_off_gives_the_same_result():
    on = build(NET, (2, 4, 4), conv_mode="fft", phase="test")
    off = build(NET, (2, 4, 4), conv_mode="fft", phase="test", cache_spectra=False)
    inputs, weights = random_inputs(on), probe_weights(on)
    for net in (on, off):
        net.forward(inputs)
        net.backward(weights)
    for name in on.kernel_grads:
        np.testing.assert_allclose(on.kernel_grads[name], off.kernel_grads[name], rtol=1e-12)
    assert all(e.spectra is not None for e in on.engine.fft_edges.values())
    assert all(e.spectra is None for e in off.engine.fft_edges.values())


def test_input_shape_errors_name_the_input_and_expected_shape():
    from znn.base.errors import ZnnError

    net = build(NET, (2, 4, 4))
    with pytest.raises(ZnnError, match=r"input 'input' has shape .* expected \(1, "):
        net.forward({"input": np.zeros((1, 2, 3, 4))})
