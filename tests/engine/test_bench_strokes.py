"""`znn bench strokes` end to end on small synthetic stacks laid out as the real ones (ISBI 2012 and
drosophila-vnc), and its random-forest peer: every method is scored on the unpainted sections and
the report's numbers are what scoring the same maps again gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

pytest.importorskip("sklearn", reason="the forest peer needs scikit-learn (the test and bench extras)")

from tests.helpers.paths import NETWORKS  # noqa: E402
from znn.bench.forest_peer import forest_on_strokes  # noqa: E402
from znn.bench.strokes import StrokesOptions, run_strokes_bench  # noqa: E402
from znn.bench.strokes_data import isbi_case, vnc_case  # noqa: E402
from znn.data.strokes import paint_strokes  # noqa: E402
from znn.evaluate.sweep import score_boundary_map  # noqa: E402
from znn.io.synthetic import make_em_volume  # noqa: E402


@pytest.fixture(scope="module")
def em_data(tmp_path_factory):
    """isbi2012/ (20 sections, 0 = membrane, 255 = cell) and drosophila-vnc/ (14 sections, membrane
    values 0-128 as in the real stack, cells 159-255), 64x64 pixels."""
    root = tmp_path_factory.mktemp("data")
    isbi = make_em_volume((20, 64, 64), seed=1, mean_cell_diameter=16)
    (root / "isbi2012").mkdir()
    tifffile.imwrite(root / "isbi2012" / "train-volume.tif", isbi.raw)
    tifffile.imwrite(root / "isbi2012" / "train-labels.tif", np.where(isbi.labels > 0, 255, 0).astype(np.uint8))
    vnc = make_em_volume((14, 64, 64), seed=2, mean_cell_diameter=16)
    (root / "drosophila-vnc").mkdir()
    tifffile.imwrite(root / "drosophila-vnc" / "stack1-raw.tif", vnc.raw)
    values = np.where(vnc.labels > 0, np.where(vnc.labels % 2, 255, 191), np.where(vnc.labels % 3, 64, 128))
    tifffile.imwrite(root / "drosophila-vnc" / "stack1-labels.tif", values.astype(np.uint8))
    return root


@pytest.fixture(scope="module")
def trained_start(tmp_path_factory):
    """tiny2d trained briefly on dense synthetic labels: the transfer case's start."""
    from znn.app.job_folder import write_job_folder
    from znn.jobs import read_cfg
    from znn.jobs.recipes import DENSE
    from znn.train.setup import prepare_training
    from znn.train.trainer import Trainer

    volume = make_em_volume((4, 64, 64), seed=3, mean_cell_diameter=16)
    job = DENSE.job((4, 64, 64))
    job.training.max_iter, job.training.num_iter_per_save, job.network.num_threads = 30, 29, 1
    folder = tmp_path_factory.mktemp("start")
    cfg = write_job_folder(folder, network_text=(NETWORKS / "tiny2d.znn").read_text(), image=volume.raw,
                           labels=volume.labels, job=job)
    setup = prepare_training(read_cfg(cfg).require_training())
    try:
        list(Trainer(setup, draw_curve=False).run())
    finally:
        setup.net.close()
    return folder / "net" / "net_current.h5"


def test_the_forest_learns_the_strokes_and_beats_calling_everything_cell():
    volume = make_em_volume((4, 64, 64), seed=5, mean_cell_diameter=16)
    strokes = paint_strokes(volume.labels, [0, 1], strokes_per_section=12, length=12, rng=0)
    forest = forest_on_strokes(volume.raw, strokes, threads=1)
    painted = strokes != 0
    assert np.mean((forest.membrane[painted] > 0.5) == (strokes[painted] == 1)) > 0.95
    truth = volume.labels[2:] == 0
    assert np.mean((forest.membrane[2:] > 0.5) != truth) < truth.mean()  # unpainted sections
    assert forest.painted == int(painted.sum()) and forest.train_s > 0


def test_the_bench_scores_every_method_on_the_unpainted_sections(em_data, trained_start, tmp_path):
    options = StrokesOptions(data=em_data, times=(2.0, 4.0), threads=1, start=str(trained_start),
                             dense_network="tiny2d", output=tmp_path / "results")
    md, js = run_strokes_bench(options, say=lambda _line: None)
    report = json.loads(js.read_text())
    assert [case["name"] for case in report["cases"]] == ["isbi", "vnc"] and md.read_text().startswith("# znn bench")
    isbi, vnc = report["cases"]
    methods = [row["method"] for row in isbi["rows"]]
    assert methods[0].startswith("random forest") and sum("tiny2d on strokes" in m for m in methods) == 3
    assert sum("on dense labels" in m for m in methods) == 2
    assert [row["method"].startswith("start:") for row in vnc["rows"][:2]] == [False, True]
    for case in (isbi, vnc):
        network_rows = [row for row in case["rows"] if row["updates"] is not None]
        assert all(row["iteration"] <= row["updates"] for row in network_rows)
        assert all(0 <= row["pixel_error"] <= 1 and 0 <= row["v_rand"] <= 1 for row in case["rows"])
    # the targets are at 1, 2 and 5 minutes: this short run measures only the transfer's floor
    assert [check["met"] for check in isbi["checks"]] == [None, None]
    assert vnc["checks"][0]["met"] is None and isinstance(vnc["checks"][1]["met"], bool)
    # the forest's row is what fitting the same forest on the same strokes and scoring it gives
    case = isbi_case(em_data, seed=0)
    again = forest_on_strokes(case.image, case.strokes, threads=1, seed=0)
    sections = case.scored_sections
    expected = score_boundary_map(again.membrane[sections], case.labels[sections])
    assert isbi["rows"][0]["v_rand"] == pytest.approx(expected.best.v_rand)
    assert isbi["rows"][0]["pixel_error"] == pytest.approx(expected.pixel_error)
    # the transfer case paints the labelled stack's own sections and scores the others
    transfer = vnc_case(em_data, trained_start, seed=0)
    assert vnc["painted_sections"] == [2, 7, 11] and len(transfer.scored_sections) == 11
    assert set(np.unique(transfer.labels)) == {0, 255}
