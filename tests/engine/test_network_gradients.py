"""Analytic gradients of every edge, node and transfer function equal central differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.netcheck import build, check_parameter_gradients, probe_loss, probe_weights, random_inputs

HEAD = "nodes input\ntype input\nsize 2\n\n"


def conv(name, src, dst, size, extra=""):
    return f"edges {name}\ntype conv\ninit uniform\nsize {size}\ninput {src}\noutput {dst}\n{extra}\n"


def transfer(name, maps, function, args=None):
    text = f"nodes {name}\ntype transfer\nfunction {function}\nsize {maps}\n"
    return text + (f"function_args {args}\n" if args else "") + "\n"


def sum_node(name, maps):
    return f"nodes {name}\ntype sum\nsize {maps}\n\n"


# Anisotropic kernels and dilation: a max_filter with stride dilates the following conv.
DILATED = (HEAD + conv("c1", "input", "h1", "2,3,4") + transfer("h1", 3, "tanh", "1.7159,0.6666")
           + "edges mf\ntype max_filter\nsize 1,2,2\nstride 1,2,3\ninput h1\noutput p1\n\n" + sum_node("p1", 3)
           + conv("c2", "p1", "h2", "2,2,3") + transfer("h2", 2, "soft_sign")
           + conv("c3", "h2", "output", "1,1,1") + transfer("output", 2, "linear", "1.5,0.25"))

POOLED = (HEAD + conv("c1", "input", "h1", "2,3,3") + transfer("h1", 3, "logistics")
          + "edges mp\ntype max_pool\nsize 2,2,1\ninput h1\noutput p1\n\n" + sum_node("p1", 3)
          + "edges cr\ntype crop\noffset 1,0,2\ninput p1\noutput c\n\n" + sum_node("c", 3)
          + conv("c2", "c", "output", "1,3,2") + transfer("output", 1, "rectify_linear"))

BRANCHES = (HEAD + conv("a", "input", "left", "1,3,3") + transfer("left", 2, "tanh")
            + conv("b", "input", "right", "1,2,2") + transfer("right", 2, "soft_sign")
            + "edges bd\ntype dummy\ninput right\noutput right2\n\n" + sum_node("right2", 2)
            + conv("a2", "left", "join", "1,1,1") + conv("b2", "right2", "join", "1,2,2")
            + transfer("join", 2, "linear"))

MAXOUT = (HEAD + conv("a", "input", "left", "1,3,3") + transfer("left", 2, "linear")
          + conv("b", "input", "right", "1,3,3") + transfer("right", 2, "linear")
          + "edges ma\ntype maxout\ninput left\noutput mx\n\nedges mb\ntype maxout\ninput right\noutput mx\n\n"
          + "nodes mx\ntype maxout\nsize 2\n\n" + conv("c", "mx", "output", "1,2,2") + transfer("output", 1, "tanh"))

DROPOUT = (HEAD + conv("c1", "input", "h1", "1,3,3") + transfer("h1", 3, "rectify_linear")
           + "edges dr\ntype dropout\nratio 0.7\ninput h1\noutput d\n\n" + sum_node("d", 3)
           + conv("c2", "d", "output", "1,2,2") + transfer("output", 2, "linear"))


@pytest.mark.parametrize("mode", ["gemm", "loop", "fft"])
@pytest.mark.parametrize("name,text,outsz", [
    ("dilated", DILATED, (2, 3, 4)), ("pooled", POOLED, (1, 2, 3)), ("branches", BRANCHES, (1, 4, 3)),
    ("maxout", MAXOUT, (1, 3, 3)),
])
def test_parameter_gradients_match_finite_differences(name, text, outsz, mode):
    net = build(text, outsz, conv_mode=mode)
    assert check_parameter_gradients(net, random_inputs(net)) < 1e-6


@pytest.mark.parametrize("mode", ["gemm", "loop", "fft"])
def test_dropout_gradients_with_a_fixed_mask(mode):
    net = build(DROPOUT, (1, 3, 3), conv_mode=mode)
    assert check_parameter_gradients(net, random_inputs(net), rng_seed=7) < 1e-6


@pytest.mark.parametrize("function,args", [("linear", "0.7,0.2"), ("rectify_linear", None),
                                           ("tanh", "1.7159,0.6666"), ("soft_sign", None), ("logistics", None)])
def test_every_transfer_function(function, args):
    text = (HEAD + conv("c1", "input", "h", "1,2,2") + transfer("h", 2, function, args)
            + conv("c2", "h", "output", "1,2,2") + transfer("output", 1, function, args))
    net = build(text, (1, 3, 3))
    assert check_parameter_gradients(net, random_inputs(net)) < 1e-6


def test_forward_logistics_passes_the_gradient_through_unchanged():
    """Its gradient is taken w.r.t. the logit: backward must equal that of a linear output."""
    body = HEAD + conv("c1", "input", "h", "1,2,2") + transfer("h", 2, "tanh") + conv("c2", "h", "output", "1,2,2")
    fl = build(body + transfer("output", 1, "forward_logistics"), (1, 3, 3))
    lin = build(body + transfer("output", 1, "linear"), (1, 3, 3))
    inputs, weights = random_inputs(fl), probe_weights(fl)
    out_fl = fl.forward(inputs)["output"]
    out_lin = lin.forward(inputs)["output"]
    np.testing.assert_allclose(out_fl, 1 / (1 + np.exp(-out_lin)), rtol=1e-12)
    fl.backward(weights)
    lin.backward(weights)
    for name in fl.kernel_grads:
        np.testing.assert_allclose(fl.kernel_grads[name], lin.kernel_grads[name], rtol=1e-12)


def test_test_phase_dropout_is_identity_and_train_phase_scales():
    net = build(DROPOUT, (1, 3, 3))
    inputs = random_inputs(net)
    net.set_phase("test")
    net.forward(inputs)
    np.testing.assert_array_equal(net.maps["d"], net.maps["h1"])
    net.set_phase("train")
    net.forward(inputs)
    kept = net.maps["d"] != 0
    np.testing.assert_allclose(net.maps["d"][kept], net.maps["h1"][kept] / 0.7, rtol=1e-12)


def test_update_moves_against_the_gradient():
    net = build(DILATED, (2, 3, 4))
    inputs, weights = random_inputs(net), probe_weights(net)
    before = probe_loss(net, inputs, weights)
    net.backward(weights)
    net.update(eta=1e-3, momentum=0.0, weight_decay=0.0)
    assert probe_loss(net, inputs, weights) < before
