"""`znn forward --blockwise` from the command line: a job's samples into zarr stores that match
`znn forward`'s h5 outputs, resuming, and the volume + net form."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import jobkit
from znn.commands.cli import main
from znn.io.volumes import read_volume


@pytest.fixture(scope="module")
def trained_job(tmp_path_factory):
    return jobkit.trained_job(tmp_path_factory.mktemp("blockwise-job"))


def test_blockwise_job_output_equals_the_whole_volume_forward(trained_job, capsys):
    import zarr

    assert main(["forward", "-c", str(trained_job), "--quiet"]) == 0
    whole = read_volume(trained_job.parent / "out" / "pred_sample2_output.h5", ndim=4)
    args = ["forward", "--blockwise", "-c", str(trained_job), "--workers", "2", "--block", "1,24,40",
            "--memory-per-worker", "1GiB", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "0 already done" in printed and "voxels/s" in printed
    store = trained_job.parent / "out" / "pred_sample2.zarr"
    blockwise = np.asarray(zarr.open_group(str(store), mode="r")["output"][:])
    assert blockwise.shape == whole.shape
    assert np.abs(blockwise - whole).max() <= 1e-5  # softmax from the job's cost function too

    assert main(args) == 0  # everything is flagged done: nothing is computed again
    assert "computed 0 block(s)" in capsys.readouterr().out


def test_blockwise_volume_and_net_form_and_its_errors(trained_job, tmp_path, capsys):
    from znn.io.volumes import write_volume

    image = np.random.default_rng(0).integers(0, 255, (3, 50, 40)).astype(np.uint8)
    write_volume(tmp_path / "em.h5", image, dataset="raw")
    net = trained_job.parent / "run" / "net_current.h5"
    out = tmp_path / "maps.zarr"
    assert main(["forward", "--blockwise", "--input", f"{tmp_path / 'em.h5'}:raw", "--net", str(net),
                 "--output", str(out), "--workers", "1", "--memory-per-worker", "1GiB", "--quiet"]) == 0
    import zarr

    maps = np.asarray(zarr.open_group(str(out), mode="r")["output"][:])
    assert maps.shape == (2, 3, 50, 40) and not np.isnan(maps).any()
    np.testing.assert_allclose(maps.sum(axis=0), 1.0, rtol=1e-5)  # the checkpoint's cost is softmax
    capsys.readouterr()
    assert main(["forward", "--blockwise", "--input", str(tmp_path / "em.h5"), "--output", str(out)]) != 0
    assert "--input needs --net NET.h5 and --output OUT.zarr" in capsys.readouterr().err
    assert main(["forward", "--blockwise", "-c", str(trained_job), "--block", "1,x,2"]) != 0
    assert "--block" in capsys.readouterr().err
    base = ["forward", "--blockwise", "--input", str(tmp_path / "em.h5"), "--net", str(net), "--output", str(out)]
    for extra, expected in ((["--workers", "0"], "--workers must be at least 1"),
                            (["--pp-type", "sharpen"], "unknown image preprocessing type 'sharpen'"),
                            (["--network", str(tmp_path / "missing.znn")], "missing.znn: network file not found")):
        assert main(base + extra) != 0
        assert expected in capsys.readouterr().err
    assert main(["forward"]) != 0  # neither a job nor --blockwise --input
    assert "needs -c JOB.cfg" in capsys.readouterr().err


def test_blockwise_runs_on_an_existing_scheduler(trained_job, tmp_path, capsys):
    import zarr
    from distributed import LocalCluster

    from znn.io.volumes import write_volume

    image = np.random.default_rng(1).integers(0, 255, (2, 40, 40)).astype(np.uint8)
    write_volume(tmp_path / "em.tif", image)
    net = trained_job.parent / "run" / "net_current.h5"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert main(["forward", "--blockwise", "--input", str(tmp_path / "em.tif"), "--net", str(net),
                     "--output", str(tmp_path / "maps.zarr"), "--scheduler", cluster.scheduler_address,
                     "--block", "1,20,40", "--quiet"]) == 0
    assert "on 1 worker(s)" in capsys.readouterr().out
    maps = np.asarray(zarr.open_group(str(tmp_path / "maps.zarr"), mode="r")["output"][:])
    assert maps.shape == (2, 2, 40, 40) and not np.isnan(maps).any()
