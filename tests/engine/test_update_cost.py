"""The seconds-per-update model and its calibration. Truths: a synthetic machine whose speeds are
known (its updates computed from the model at those speeds, so calibration must find them), the
model's own parts (optimize is the faster implementation of each group), and the cache file.
How close the estimate comes to real updates is a benchmark (`znn bench estimate`), not a test."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.helpers.paths import NETWORKS
from znn.netspec.graph import NetworkGraph
from znn.netspec.znnfile import parse_znn, read_znn
from znn.planning import update_cost as uc

BASE = uc.DEFAULT_UPDATE_RATES


def _machine(gemm: float, fft: float, rest: float) -> uc.UpdateRates:
    return replace(BASE, gemm_flops_per_s=BASE.gemm_flops_per_s * gemm, transform_s=BASE.transform_s / fft,
                   product_s=BASE.product_s / fft, kernel_fft_s=BASE.kernel_fft_s / fft, pair_s=BASE.pair_s / fft,
                   elementwise_s=BASE.elementwise_s / rest, group_s=BASE.group_s / rest)


def test_calibration_finds_the_speeds_of_a_known_machine():
    machine = _machine(gemm=2.5, fft=0.6, rest=3.0)
    calls = []

    def measure(text, outsz, mode, threads):
        calls.append((mode, threads))
        return uc.update_seconds(NetworkGraph(parse_znn(text), outsz), conv_mode=mode, rates=machine)

    found = uc.calibrate(4, measure)
    assert (found.gemm_scale, found.fft_scale, found.other_scale) == pytest.approx((2.5, 0.6, 3.0), rel=1e-6)
    assert found.num_threads == 4 and all(t == 4 for _m, t in calls)
    assert {m for m, _t in calls} == {"direct", "fft"}
    graph = NetworkGraph(read_znn(NETWORKS / "VD2D3D.znn"), (1, 32, 32))
    assert uc.update_seconds(graph, rates=found.rates) == pytest.approx(uc.update_seconds(graph, rates=machine))


def test_a_nonsense_measurement_cannot_make_nonsense_speeds():
    found = uc.calibrate(1, lambda *a: 1e-9)  # every update "took" a nanosecond
    assert max(found.gemm_scale, found.fft_scale, found.other_scale) <= 20.0


def test_optimize_counts_each_group_in_its_faster_implementation():
    graph = NetworkGraph(read_znn(NETWORKS / "3d_5.znn"), (5, 5, 5))
    convs = [n for n, e in graph.edges.items() if e.type == "conv"]
    for name in convs:
        fastest = min(uc.gemm_seconds(graph, name), uc.fft_seconds(graph, name))
        assert uc.conv_seconds(graph, name, "optimize") == pytest.approx(fastest)
    n4 = NetworkGraph(read_znn(NETWORKS / "N4.znn"), (1, 8, 8))
    assert n4.edges["conv6"].kernel == (1, 1, 1)  # never transformed, whatever the mode
    assert uc.conv_seconds(n4, "conv6", "fft") == uc.gemm_seconds(n4, "conv6")
    optimize = uc.update_seconds(graph)
    assert optimize <= min(uc.update_seconds(graph, conv_mode="fft"), uc.update_seconds(graph, conv_mode="direct"))


def test_a_larger_patch_takes_longer():
    spec = read_znn(NETWORKS / "N4.znn")
    times = [uc.update_seconds(NetworkGraph(spec, (1, side, side))) for side in (16, 64, 256)]
    assert times == sorted(times) and times[-1] > 4 * times[0]


def test_calibrations_are_kept_per_machine_and_threads(tmp_path, monkeypatch):
    path = tmp_path / "rates.json"
    found = uc.Calibration(uc.machine_key(), 2, _machine(2, 1, 1), 2.0, 1.0, 1.0)
    uc.save_calibration(found, path)
    uc.save_calibration(replace(found, num_threads=8), path)
    assert uc.load_calibration(2, path) == found
    assert uc.load_calibration(8, path).num_threads == 8
    assert uc.load_calibration(4, path) is None
    monkeypatch.setattr(uc, "machine_key", lambda: "another machine")
    assert uc.load_calibration(2, path) is None  # another processor: measure again


def test_an_old_or_damaged_cache_is_measured_again(tmp_path):
    path = tmp_path / "rates.json"
    found = uc.Calibration(uc.machine_key(), 2, BASE, 1.0, 1.0, 1.0)
    uc.save_calibration(found, path)
    entries = json.loads(path.read_text())
    for entry in entries.values():
        entry["version"] = uc.CALIBRATION_VERSION - 1
    path.write_text(json.dumps(entries))
    assert uc.load_calibration(2, path) is None
    path.write_text("{not json")
    assert uc.load_calibration(2, path) is None
    uc.save_calibration(found, path)  # a damaged file is replaced, not a reason to fail
    assert uc.load_calibration(2, path) == found
