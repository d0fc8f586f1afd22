"""Forward-pass patch planner: candidates, cost model, budget fit, measurement, budget strings."""

from __future__ import annotations

import math
import os
from math import prod

import pytest

import znn.planning.planner as planner
from znn.base.errors import NetworkSpecError, ZnnError
from znn.netspec.graph import NetworkGraph
from znn.netspec.library import network_path
from znn.netspec.memory import estimate_memory
from znn.netspec.znnfile import parse_znn, read_znn
from znn.planning.planner import (
    CostRates,
    PlanError,
    budget_from_string,
    calibrate_rates,
    candidate_outputs,
    estimated_seconds,
    estimated_work,
    plan_forward_patch,
    thread_scratch_bytes,
    total_ram_bytes,
)

# Fields of view from the comments of the bundled files (and the table of reference §1.9).
FOV = {"N4": (1, 95, 95), "tiny2d": (1, 18, 18), "3d_3": (42, 42, 42), "VD2D3D": (5, 85, 85)}

# One FFT-able edge: 2 input maps -> 3 maps through a 1x3x3 kernel.
SINGLE_EDGE = """
nodes input
type input
size 2

edges conv1
type conv
input input
output out
size 1,3,3
init xavier

nodes out
type transfer
size 3
function linear
"""

# Rates that make seconds a plain sum of work / 1e9 (no overhead, perfect scaling).
UNIT_RATES = CostRates(fft_flops_per_s=1e9, direct_flops_per_s=1e9, elementwise_per_s=1e9,
                       thread_bandwidth=1e9, total_bandwidth=1e9, call_overhead_s=0.0,
                       parallel_efficiency=1.0)
GiB = 2**30


def spec_of(name: str):
    return read_znn(network_path(name))


def single_edge():
    return parse_znn(SINGLE_EDGE, "single.znn")


# ------------------------------------------------------------------------- candidates

@pytest.mark.parametrize("name", sorted(FOV))
def test_every_candidate_builds_a_graph_with_the_expected_input(name):
    spec = spec_of(name)
    outs = candidate_outputs(spec, max_side=40)
    assert outs and len(outs) == len(set(outs))
    volumes = [prod(o) for o in outs]
    assert volumes == sorted(volumes)
    fov = FOV[name]
    for outsz in outs:
        graph = NetworkGraph(spec, outsz)
        assert graph.outsz == outsz
        if name in ("N4", "tiny2d", "VD2D3D"):  # dense: input = output + FOV - 1 on every axis
            assert graph.input_size == tuple(o + f - 1 for o, f in zip(outsz, fov))
        else:  # 3d_3: two 2x2x2 max_pools; ZNN documents input 4o+38
            assert graph.input_size == tuple(4 * o + 38 for o in outsz)


def test_2d_nets_get_squares_with_a_few_sections_and_3d_nets_get_cubes():
    flat = candidate_outputs(spec_of("N4"), max_side=20)
    assert {o[0] for o in flat} == {1, 2, 4, 8}
    assert all(o[1] == o[2] for o in flat)
    assert (1, 20, 20) in flat and (8, 1, 1) in flat
    cubes = candidate_outputs(spec_of("3d_3"), max_side=20)
    assert (20, 20, 20) in cubes and (5, 5, 6) in cubes and (5, 6, 6) in cubes
    assert all(max(o) - min(o) <= 1 for o in cubes)  # 3d_3 is isotropic: no slabs
    slabs = candidate_outputs(spec_of("VD2D3D"), max_side=20)
    assert (2, 20, 20) in slabs and (20, 20, 20) in slabs  # thin along z: slabs too


def test_sizes_the_graph_rejects_are_skipped(monkeypatch):
    real = planner.NetworkGraph

    def odd_only(spec, outsz):
        if outsz[1] % 2 == 0:
            raise NetworkSpecError("even sizes rejected for this test", found=str(outsz))
        return real(spec, outsz)

    monkeypatch.setattr(planner, "NetworkGraph", odd_only)
    outs = candidate_outputs(spec_of("tiny2d"), sides=range(1, 11))
    assert outs and all(o[1] % 2 == 1 for o in outs)
    assert {o[1] for o in outs} == {1, 3, 5, 7, 9}


# ------------------------------------------------------------------------- cost model

def test_fft_work_of_one_edge_matches_a_hand_count():
    graph = NetworkGraph(single_edge(), (1, 6, 6))  # input 1x8x8, already FFTW-friendly
    transform = 2.5 * 64 * 6  # N = 64 voxels, log2 N = 6
    work = estimated_work(graph, "fft")
    assert work.fft_flops == pytest.approx((2 + 3) * transform)  # 2 input transforms, 3 inverses
    assert work.products == 2 * 3 * (8 * 5)  # half spectrum of 8x8 holds 8x5 elements
    assert work.product_flops == 8 * 240
    assert work.direct_flops == 0
    assert work.elementwise_ops == 3 * 36 + 3 * 36  # crop into 3 targets, then bias+function
    assert work.calls == 2 + 3 + 6 + 1
    uncached = estimated_work(graph, "fft", cache_spectra=False)
    assert uncached.fft_flops == pytest.approx((2 + 3 + 6) * transform)  # plus 6 kernel spectra


def test_fft_work_uses_padded_transform_sizes():
    graph = NetworkGraph(single_edge(), (1, 9, 9))  # input 11x11 pads to 12x12 (11 is prime)
    work = estimated_work(graph, "fft")
    assert work.fft_flops == pytest.approx(5 * 2.5 * 144 * math.log2(144))
    assert work.products == 6 * (12 * 7)


def test_direct_work_and_seconds_match_a_hand_count():
    graph = NetworkGraph(single_edge(), (1, 6, 6))
    work = estimated_work(graph, "direct")
    assert work.direct_flops == 2 * 36 * 9 * 2 * 3
    assert work.fft_flops == 0 and work.products == 0
    assert estimated_seconds(graph, conv_mode="direct", rates=UNIT_RATES) == pytest.approx(
        (3888 + 108) / 1e9)


@pytest.mark.parametrize("edge_type, extra, insz", [("max_filter", "stride 1,1,1", (1, 5, 7)),
                                                    ("max_pool", "", (1, 8, 15))])
def test_pooling_work_is_one_comparison_per_tap(edge_type, extra, insz):
    text = (f"nodes input\ntype input\nsize 2\n\nedges pool\ntype {edge_type}\ninput input\n"
            f"output out\nsize 1,2,3\n{extra}\n\nnodes out\ntype sum\nsize 2\n")
    graph = NetworkGraph(parse_znn(text, "pool.znn"), (1, 4, 5))
    assert graph.input_size == insz
    work = estimated_work(graph)
    assert work.elementwise_ops == 2 * (4 * 5) * (2 * 3)  # maps x output voxels x window taps
    assert work.fft_flops == work.products == work.direct_flops == 0


def test_seconds_weight_products_by_memory_traffic():
    graph = NetworkGraph(single_edge(), (1, 6, 6))
    compute = 5 * 2.5 * 64 * 6 + 216
    f32 = estimated_seconds(graph, rates=UNIT_RATES)
    assert f32 == pytest.approx(compute / 1e9 + 240 * 4 * 8 / 1e9)  # 4 complex64 accesses each
    f64 = estimated_seconds(graph, dtype="float64", rates=UNIT_RATES)
    assert f64 == pytest.approx(2 * compute / 1e9 + 240 * 4 * 16 / 1e9)
    # Two threads halve compute but not traffic: total bandwidth is already used up.
    two = estimated_seconds(graph, num_threads=2, rates=UNIT_RATES)
    assert two == pytest.approx(compute / 2e9 + 240 * 4 * 8 / 1e9)


def test_calibration_reproduces_measured_seconds():
    graphs = [NetworkGraph(single_edge(), (1, s, s)) for s in (6, 20)]
    works = [estimated_work(g) for g in graphs]
    measured = [3 * planner.DEFAULT_RATES.seconds(w) for w in works]  # machine 3x slower
    rates = calibrate_rates(zip(works, measured))
    for w, s in zip(works, measured):
        assert rates.seconds(w) == pytest.approx(s)


def test_thread_scratch_is_one_plan_pair_per_transform_shape():
    graph = NetworkGraph(single_edge(), (1, 6, 6))
    real, spectrum = 64 * 4, 40 * 8  # 8x8 float32 buffer, 8x5 complex64 buffer
    assert thread_scratch_bytes(graph) == 2 * (real + spectrum)
    assert thread_scratch_bytes(graph, conv_mode="direct") == 0


def _border_gain(a: int, b: int, fov: int) -> float:
    """How much the output/input voxel ratio of a 2-D patch improves from side a to side b."""
    return (b * b / (b + fov - 1) ** 2) / (a * a / (a + fov - 1) ** 2)


def test_throughput_grows_with_patch_size_no_faster_than_border_waste_shrinks():
    # Direct mode without dispatch overhead: every layer's work is c * (o + r)^2 with
    # 0 <= r <= FOV-1, so the modelled gain from side a to b must lie in (1, border gain].
    spec = spec_of("tiny2d")
    fov = FOV["tiny2d"][1]
    sides = [4, 8, 16, 32, 64, 128]

    def vps(outsz):
        return prod(outsz) / estimated_seconds(NetworkGraph(spec, outsz), conv_mode="direct",
                                               rates=UNIT_RATES)

    for a, b in zip(sides, sides[1:]):
        gain = vps((1, b, b)) / vps((1, a, a))
        assert 1 < gain <= _border_gain(a, b, fov) * (1 + 1e-12), (a, b)
    # z carries no border for a 2-D net: more sections at once do not change throughput.
    assert vps((4, 32, 32)) == pytest.approx(vps((1, 32, 32)))


def test_fft_model_also_favours_large_patches_for_a_dense_net():
    spec = spec_of("N4")
    vps = {s: prod((1, s, s)) / estimated_seconds(NetworkGraph(spec, (1, s, s))) for s in (8, 32, 256)}
    assert vps[8] < vps[32] < vps[256]
    plan = plan_forward_patch(spec, ram_budget_bytes=64 * GiB, sides=[8, 32, 256])
    assert plan.outsz == (1, 256, 256)


# ------------------------------------------------------------------------- planning

def test_plan_fits_the_budget_and_excludes_larger_candidates():
    spec = spec_of("N4")
    budget = estimate_memory(NetworkGraph(spec, (1, 64, 64)), training=False).total
    plan = plan_forward_patch(spec, ram_budget_bytes=budget, thread_scratch=0, max_side=100)
    truth = estimate_memory(NetworkGraph(spec, plan.outsz), training=False).total
    assert plan.memory_bytes == truth <= budget
    rows = {c.outsz: c for c in plan.candidates}
    bigger = estimate_memory(NetworkGraph(spec, (1, 66, 66)), training=False).total
    assert bigger > budget and rows[(1, 66, 66)].memory_bytes == bigger
    assert not rows[(1, 66, 66)].fits and plan.outsz != (1, 66, 66)
    assert all((c.memory_bytes <= budget) == c.fits for c in plan.candidates)
    best = max((c for c in plan.candidates if c.fits), key=lambda c: c.modelled_voxels_per_s)
    assert plan.outsz == best.outsz and plan.measured_voxels_per_s is None
    assert plan.input_sizes == {"input": (1, 1, plan.outsz[1] + 94, plan.outsz[2] + 94)}


def test_plan_memory_includes_every_threads_scratch():
    spec = spec_of("3d_3")
    plan = plan_forward_patch(spec, ram_budget_bytes=4 * GiB, num_threads=4, max_side=24)
    graph = NetworkGraph(spec, plan.outsz)
    need = estimate_memory(graph, training=False).total + 4 * thread_scratch_bytes(graph)
    assert plan.memory_bytes == need <= 4 * GiB


def test_too_small_budget_names_the_budget_and_the_smallest_need():
    spec = spec_of("3d_3")
    smallest = min(estimate_memory(NetworkGraph(spec, o), training=False).total
                   for o in candidate_outputs(spec, max_side=4))
    with pytest.raises(ZnnError) as err:
        plan_forward_patch(spec, ram_budget_bytes=1000, thread_scratch=0, max_side=4)
    text = str(err.value)
    assert "1000 bytes" in text and f"{smallest} bytes" in text and "3d_3" in text


def test_measured_best_wins_over_modelled_best():
    spec = spec_of("N4")
    kwargs = dict(ram_budget_bytes=2 * GiB, sides=range(40, 120, 8))
    modelled = plan_forward_patch(spec, **kwargs)
    ranked = [c.outsz for c in modelled.candidates if c.fits][:3]
    calls = []

    def measure(outsz):  # the third-ranked size turns out ten times faster than the others
        calls.append(outsz)
        return prod(outsz) / (1e6 if outsz == ranked[2] else 1e5)

    plan = plan_forward_patch(spec, measure=measure, top_k=3, **kwargs)
    assert calls == ranked
    assert plan.outsz == ranked[2] != modelled.outsz
    assert plan.measured_voxels_per_s == pytest.approx(1e6)
    measured = {c.outsz: c.measured_voxels_per_s for c in plan.candidates if c.measured_seconds}
    assert measured == pytest.approx({ranked[0]: 1e5, ranked[1]: 1e5, ranked[2]: 1e6})
    assert "1 Mvox/s" in plan.summary()


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_unusable_measurements_are_rejected(bad):
    with pytest.raises(PlanError, match="positive seconds"):
        plan_forward_patch(spec_of("tiny2d"), ram_budget_bytes=GiB, sides=[8, 16],
                           measure=lambda outsz: bad)


def test_summary_names_network_budget_and_choice():
    plan = plan_forward_patch(spec_of("3d_3"), ram_budget_bytes=16 * GiB, max_side=48)
    text = plan.summary()
    assert text.startswith("patch plan for 3d_3")
    assert "16.0 GiB" in text and "x".join(map(str, plan.outsz)) in text


# ------------------------------------------------------------------------- budget strings

@pytest.mark.parametrize("text, expected", [
    ("16GiB", 16 * 2**30), ("500MB", 500 * 10**6), ("2G", 2 * 2**30), ("1.5 KiB", 1536),
    ("3tb", 3 * 10**12), ("1e3B", 1000), (" 0.5 ", 500), ("50%", 500), ("1", 1000),
])
def test_budget_strings(text, expected):
    assert budget_from_string(text, total_ram=1000) == expected


def test_fraction_defaults_to_detected_ram():
    total = total_ram_bytes()
    assert 0 < total <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert budget_from_string("0.25") == int(0.25 * total)


@pytest.mark.parametrize("text", ["lots", "16 GBs", "", "-1GiB", "2", "0", "150%", "0GiB", "1,5GiB"])
def test_budget_garbage_is_rejected_with_examples(text):
    with pytest.raises(ZnnError) as err:
        budget_from_string(text, total_ram=1000)
    assert repr(text) in str(err.value) and "16GiB" in str(err.value)


def test_engine_timer_measures_real_forward_passes():
    from znn.planning.planner import forward_timer

    spec = read_znn(network_path("tiny2d"))
    plan = plan_forward_patch(spec, ram_budget_bytes=2**30, measure=forward_timer(spec), top_k=2,
                              sides=[4, 8, 16])
    measured = [r for r in plan.candidates if r.measured_seconds is not None]
    assert len(measured) == 2 and all(r.measured_seconds > 0 for r in measured)
    assert plan.measured_voxels_per_s == max(r.measured_voxels_per_s for r in measured)
