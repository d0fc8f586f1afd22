"""`znn export` and `znn import` from the command line: a trained job's latest checkpoint as a
package and back (the weights the job saved, exactly), and one line for each mistake."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.jobkit import trained_job, write_job
from tests.helpers.paths import NETWORKS
from znn.commands.cli import main

pytest.importorskip("onnx", reason="the 'export' extra (onnx, onnxruntime) is not installed")
pytest.importorskip("bioimageio.spec", reason="the 'export' extra (bioimageio.spec) is not installed")


def test_a_trained_job_exports_and_imports_back(tmp_path, capsys):
    from znn.io.h5net import load_network

    cfg = trained_job(tmp_path / "job")
    package = tmp_path / "model.zip"
    assert main(["export", "-c", str(cfg), "-o", str(package), "--name", "tiny test", "--author", "A. Tester",
                 "--training-data", "generated volumes"]) == 0
    assert f"written {package}" in capsys.readouterr().out
    assert main(["import", str(package), "-o", str(tmp_path / "back")]) == 0
    saved = load_network(cfg.parent / "run" / "net_current.h5")
    back = load_network(tmp_path / "back" / "net.h5")
    assert back.spec == saved.spec
    for name, kernels in saved.params.kernels.items():
        assert np.array_equal(back.params.kernels[name], kernels)
    for name, biases in saved.params.biases.items():
        assert np.array_equal(back.params.biases[name], biases)
    import zipfile

    with zipfile.ZipFile(package) as archive:
        readme = archive.read("README.md").decode()
        rdf = archive.read("rdf.yaml").decode()
        curve = archive.read("curve.png")
    assert "generated volumes" in readme and "A. Tester" in rdf and "Zlateski" in rdf
    assert "![cost and pixel error during training](curve.png)" in readme
    assert curve == (cfg.parent / "run" / "net_curve.png").read_bytes()  # the job's own learning curve
    assert "zero_mean_unit_variance" in rdf  # the job normalises with standard2D


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "model.txt", "--net", str(NETWORKS / "tiny2d.znn")], "write a package (.zip) or an ONNX file (.onnx)"),
    (["-o", "model.zip"], "name a job (-c job.cfg), a checkpoint"),
])
def test_export_mistakes_are_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "model.zip").exists()


def test_a_job_without_checkpoint_says_so(tmp_path, capsys):
    cfg = write_job(tmp_path / "job")
    assert main(["export", "-c", str(cfg), "-o", str(tmp_path / "m.zip")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no checkpoint yet" in err and "net_current.h5" in err and len(err.splitlines()) == 1


def test_import_of_something_else_is_one_line(tmp_path, capsys):
    other = tmp_path / "notes.onnx"
    other.write_text("not a model")
    assert main(["import", str(other), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an ONNX file" in err[0]
    assert not (tmp_path / "out").exists()
