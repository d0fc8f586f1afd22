"""The task engine against the single-threaded reference engine on whole networks."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from tests.helpers.netcheck import probe_weights, random_inputs
from znn.io.trained_network import save_trained
from znn.netspec.library import network_path
from znn.netspec.znnfile import parse_znn, read_znn
from znn.network import Network

# Two branches into one node (FFT and direct edges converging), a max_filter with stride
# (dilating the next kernels), max_pool, crop, dropout, a sum node and maxout.
BRANCHED = """
nodes input
type input
size 2

edges c1
type conv
init uniform
input input
output h1
size 2,3,3

nodes h1
type transfer
function tanh
size 5

edges c1b
type conv
init uniform
input input
output h1b
size 2,3,3

nodes h1b
type transfer
function rectify_linear
size 5

edges mf
type max_filter
input h1
output p1
size 1,2,2
stride 1,2,2

edges mfb
type max_filter
input h1b
output p1
size 1,2,2
stride 1,2,2

nodes p1
type sum
size 5

edges c2
type conv
init uniform
input p1
output h2
size 2,2,2

edges c2b
type conv
init uniform
input p1
output h2
size 2,2,2
fft 0

nodes h2
type transfer
function logistics
size 4

edges drop
type dropout
input h2
output d
ratio 0.7

nodes d
type sum
size 4

edges c3
type conv
init uniform
input d
output output
size 1,1,1

nodes output
type transfer
function linear
size 3
"""


def _pass(net, inputs, weights, seed):
    net.rng = np.random.default_rng(seed)
    out = net.forward(inputs)
    net.backward(weights)
    return out, {k: v.copy() for k, v in net.kernel_grads.items()}, {k: v.copy() for k, v in net.bias_grads.items()}


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("conv_mode", ["fft", "gemm", "loop"])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-4)])
def test_task_engine_matches_the_sequential_engine(threads, conv_mode, dtype, tol):
    spec = parse_znn(BRANCHED)
    kw = dict(dtype=dtype, seed=3, conv_mode={"c1": conv_mode, "c1b": "fft", "c2": conv_mode, "c2b": "gemm"})
    ref = Network(spec, (2, 5, 6), executor="sequential", **kw)
    par = Network(spec, (2, 5, 6), num_threads=threads, **kw)
    inputs, weights = random_inputs(ref), probe_weights(ref)
    for step in range(3):  # outputs, gradients and two updates must agree
        out_r, kg_r, bg_r = _pass(ref, inputs, weights, seed=step)
        out_p, kg_p, bg_p = _pass(par, inputs, weights, seed=step)
        for name in out_r:
            np.testing.assert_allclose(out_p[name], out_r[name], rtol=tol, atol=tol)
        for name in kg_r:
            scale = max(1e-3, np.abs(kg_r[name]).max())
            assert np.abs(kg_p[name] - kg_r[name]).max() / scale < tol, name
        for name in bg_r:
            scale = max(1e-3, np.abs(bg_r[name]).max())
            assert np.abs(bg_p[name] - bg_r[name]).max() / scale < tol, name
        ref.update(eta=0.05, momentum=0.9)
        par.update(eta=0.05, momentum=0.9)
    for name, k in ref.params.kernels.items():
        np.testing.assert_allclose(par.params.kernels[name], k, rtol=tol, atol=tol)
    par.close()


@pytest.mark.parametrize("threads", [1, 3])
def test_adam_updates_of_the_task_engine_match_the_sequential_engine(threads):
    """Adam's update runs per kernel chunk in the task engine: the chunks must add up to one update."""
    spec = parse_znn(BRANCHED)
    kw = dict(dtype="float64", seed=3, conv_mode={"c1": "fft", "c1b": "fft", "c2": "gemm", "c2b": "gemm"})
    ref = Network(spec, (2, 5, 6), executor="sequential", **kw)
    par = Network(spec, (2, 5, 6), num_threads=threads, **kw)
    inputs, weights = random_inputs(ref), probe_weights(ref)
    for step in range(4):
        for net in (ref, par):
            _pass(net, inputs, weights, seed=step)
            net.update(eta=0.01, momentum=0.9, weight_decay=0.001, optimizer="adam")
    assert ref.adam_steps == par.adam_steps == 4
    assert ref.params.has_second_moments and set(ref.params.kernel_second) == set(ref.params.kernels)
    for (name, a), (_, b) in zip(ref.params.arrays(), par.params.arrays(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12, err_msg=name)
    start = Network(spec, (2, 5, 6), executor="sequential", **kw).params
    assert not np.allclose(start.kernels["c1"], ref.params.kernels["c1"])  # the updates did something
    par.close()


_REFERENCE: dict = {}


def _reference(name, outsz):
    """Outputs and kernel gradients of the sequential engine (computed once per network)."""
    if name not in _REFERENCE:
        ref = Network(read_znn(network_path(name)), outsz, dtype="float64", seed=1, executor="sequential",
                      phase="test")
        inputs, weights = random_inputs(ref), probe_weights(ref)
        out, kg, _ = _pass(ref, inputs, weights, 0)
        _REFERENCE[name] = (inputs, weights, out, kg)
        del ref
        gc.collect()
    return _REFERENCE[name]


@pytest.mark.parametrize("name,outsz,threads", [
    ("3d_3", (2, 2, 2), 1), ("3d_3", (2, 2, 2), 2), ("3d_3", (2, 2, 2), 4),
    ("N4", (1, 6, 6), 1), ("N4", (1, 6, 6), 2), ("N4", (1, 6, 6), 4),
    ("VD2D3D", (1, 2, 2), 2)])
def test_library_networks_agree_across_thread_counts(name, outsz, threads):
    inputs, weights, out_r, kg_r = _reference(name, outsz)
    with Network(read_znn(network_path(name)), outsz, dtype="float64", seed=1, num_threads=threads,
                 phase="test") as par:
        out_p, kg_p, _ = _pass(par, inputs, weights, 0)
    for k in out_r:
        np.testing.assert_allclose(out_p[k], out_r[k], rtol=1e-9, atol=1e-12)
    for k in kg_r:
        assert np.abs(kg_p[k] - kg_r[k]).max() <= 1e-9 * max(1.0, np.abs(kg_r[k]).max()), k


def test_spectrum_caching_off_matches_on():
    spec = parse_znn(BRANCHED)
    nets = [Network(spec, (2, 5, 6), dtype="float64", seed=3, num_threads=2, cache_spectra=c, phase="test")
            for c in (True, False)]
    inputs, weights = random_inputs(nets[0]), probe_weights(nets[0])
    results = [_pass(n, inputs, weights, 0) for n in nets]
    for k in results[0][0]:
        np.testing.assert_allclose(results[1][0][k], results[0][0][k], rtol=1e-11)
    for k in results[0][1]:
        np.testing.assert_allclose(results[1][1][k], results[0][1][k], rtol=1e-10, atol=1e-14)


def test_optimize_picks_a_mode_per_conv_group_and_reports_timings():
    net = Network(read_znn(network_path("tiny2d")), (1, 8, 8), conv_mode="optimize", num_threads=1)
    assert set(net.conv_modes.values()) <= {"fft", "gemm", "loop"}
    for name, row in net.conv_mode_report.items():
        times = {mode: row[f"{mode}_s"] for mode in ("fft", "gemm", "loop") if f"{mode}_s" in row}
        assert set(times) >= {"gemm", "loop"} and all(t > 0 for t in times.values())
        assert net.conv_modes[name] == min(times, key=times.__getitem__) and row["threads"] == 1


def test_a_candidate_slower_than_the_best_so_far_is_stopped_part_way():
    import time as clock

    from znn.parallel.optimize import _timed

    ran = []

    def task() -> None:
        clock.sleep(0.01)
        ran.append(1)

    phases = [[task] * 100]
    assert _timed(phases, 1, beat=0.001) is None  # the untimed run passed 4 x 1 ms + 50 ms
    assert len(ran) < 100  # stopped within the phase, after a batch
    ran.clear()
    assert _timed([[task] * 5], 1) is not None and len(ran) == 10  # nothing to beat: both runs whole


def test_predicting_an_image_reports_each_conv_groups_choice_before_the_first_tile(tmp_path):
    from znn.forward.image import iter_predict_image
    from znn.forward.predict import TileDone
    from znn.parallel.choice import ConvModeChosen

    spec = read_znn(network_path("tiny2d"))
    weights = tmp_path / "net.h5"
    with Network(spec, (1, 4, 4), seed=3) as net:
        save_trained(net, weights)
    image = np.random.default_rng(0).random((2, 40, 40)).astype(np.float32)
    run = iter_predict_image(image, spec, weights, conv_mode="optimize", outsz=(1, 20, 20), num_threads=1)
    events = []
    while True:
        try:
            events.append(next(run))
        except StopIteration as finished:
            optimized = finished.value
            break
    kinds = [type(e) for e in events]
    chosen = [e for e in events if isinstance(e, ConvModeChosen)]
    from znn.netspec.graph import NetworkGraph

    graph = NetworkGraph(spec, (1, 20, 20))  # a 1x1x1 kernel is never transformed, so never timed
    conv_groups = [n for n, e in spec.edges.items() if e.is_trainable and graph.edges[n].kernel != (1, 1, 1)]
    assert [e.edge for e in chosen] == conv_groups and chosen[-1].done == chosen[-1].total == len(conv_groups)
    assert kinds.index(TileDone) == len(conv_groups)  # every choice before the first tile
    direct = iter_predict_image(image, spec, weights, conv_mode="gemm", outsz=(1, 20, 20), num_threads=1)
    while True:
        try:
            next(direct)
        except StopIteration as finished:
            for name, maps in finished.value.items():
                np.testing.assert_allclose(optimized[name], maps, atol=1e-5)
            break
