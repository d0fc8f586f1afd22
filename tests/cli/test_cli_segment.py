"""`znn segment` and `znn evaluate` on volumes written by the engine's own writers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from znn.commands.cli import main
from znn.io.volumes import read_volume, write_volume


@pytest.fixture(scope="module")
def synthetic():
    from znn.io.synthetic import make_em_volume

    return make_em_volume((4, 80, 80), seed=5)


def test_segment_boundary_maps_then_evaluate(synthetic, tmp_path, capsys):
    labels = synthetic.labels
    boundary = (labels == 0).astype(np.float32)
    maps = np.stack([1 - boundary, boundary])  # (object, boundary) as znn forward writes them
    write_volume(tmp_path / "maps.h5", maps, dataset="main")
    write_volume(tmp_path / "truth.h5", labels.astype(np.uint32), dataset="labels")
    assert main(["segment", str(tmp_path / "maps.h5"), "-o", str(tmp_path / "seg.h5"), "-t", "0.3", "0.6",
                 "--gt", str(tmp_path / "truth.h5")]) == 0
    printed = capsys.readouterr().out
    assert "boundary threshold 0.3" in printed and "boundary threshold 0.6" in printed
    for name in ("seg_t0.3.h5", "seg_t0.6.h5"):
        seg = read_volume(tmp_path / name)
        assert seg.shape == labels.shape and seg.dtype.kind == "u"
    assert main(["evaluate", str(tmp_path / "seg_t0.6.h5"), str(tmp_path / "truth.h5"), "--per-section",
                 "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["adapted_rand_error"] < 0.01 and scores["v_rand"] > 0.99 and scores["sections"] == 4


def test_segment_affinities_from_a_zarr_store(synthetic, tmp_path, capsys):
    from znn.data.targets import affinity_from_labels

    labels = synthetic.labels
    write_volume(tmp_path / "affs.zarr", affinity_from_labels(labels).astype(np.float32), dataset="output")
    write_volume(tmp_path / "truth.tif", labels.astype(np.uint16))
    assert main(["segment", str(tmp_path / "affs.zarr"), "-o", str(tmp_path / "seg.tif")]) == 0
    assert "affinity threshold 0.5" in capsys.readouterr().out
    assert main(["evaluate", str(tmp_path / "seg.tif"), str(tmp_path / "truth.tif")]) == 0
    printed = capsys.readouterr().out
    are = float(printed.split("adapted Rand error ")[1].split()[0])
    assert are < 0.01 and "V_rand" in printed and "whole volume" in printed


def test_a_membrane_image_is_turned_into_regions(tmp_path, capsys):
    membrane = np.full((2, 20, 20), 255, np.uint8)
    membrane[:, 10, :] = 0  # one membrane line: two cells per section
    seg = np.where(np.arange(20)[None, :, None] < 10, 1, 2) * np.ones((2, 20, 20), np.uint32)
    write_volume(tmp_path / "gt.tif", membrane)
    write_volume(tmp_path / "seg.tif", seg.astype(np.uint32))
    assert main(["evaluate", str(tmp_path / "seg.tif"), str(tmp_path / "gt.tif"), "--per-section"]) == 0
    printed = capsys.readouterr().out
    assert "membrane image" in printed and "adapted Rand error 0.0000" in printed


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    write_volume(tmp_path / "maps.tif", np.random.default_rng(0).uniform(size=(2, 8, 8)).astype(np.float32))
    write_volume(tmp_path / "gt.tif", np.ones((2, 8, 9), np.uint8))
    assert main(["evaluate", str(tmp_path / "maps.tif"), str(tmp_path / "gt.tif")]) == 2
    assert "differ in shape" in capsys.readouterr().err
    write_volume(tmp_path / "gt2.tif", np.ones((2, 8, 8), np.uint8) * 3)
    assert main(["evaluate", str(tmp_path / "maps.tif"), str(tmp_path / "gt2.tif")]) == 2
    assert "segment the maps first" in capsys.readouterr().err
    nan_maps = np.full((2, 2, 8, 8), np.nan, np.float32)
    write_volume(tmp_path / "nan.h5", nan_maps, dataset="main")
    assert main(["segment", str(tmp_path / "nan.h5"), "-o", str(tmp_path / "s.h5")]) == 2
    assert "NaN" in capsys.readouterr().err
