"""Job files, networks and volumes are replaced whole or not at all: a write that fails midway
(the file-size limit, as a full disk would) keeps the file as it was and leaves no temporary."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from tests.helpers.filesize import writes_fail_past
from tests.helpers.paths import REPO
from znn.jobs import read_cfg, read_spec, write_cfg, write_spec
from znn.netspec.library import network_path
from znn.netspec.znnfile import parse_znn, write_znn

EXAMPLE = REPO / "examples" / "synthetic"


def _write_cfg(path: Path) -> None:
    write_cfg(read_cfg(EXAMPLE / "job.cfg"), path)


def _write_spec(path: Path) -> None:
    write_spec(read_spec(EXAMPLE / "data.spec"), path)


def _write_znn(path: Path) -> None:
    write_znn(parse_znn(network_path("N4").read_text()), path)


@pytest.mark.parametrize("write,name", [(_write_cfg, "job.cfg"), (_write_spec, "data.spec"),
                                        (_write_znn, "network.znn")])
def test_a_write_that_fails_midway_keeps_the_old_file(tmp_path, write, name):
    path = tmp_path / name
    path.write_text("# the user's own file\n" * 20, encoding="utf-8")
    before = path.read_bytes()
    with writes_fail_past(64), pytest.raises(OSError) as failed:
        write(path)
    assert path.read_bytes() == before
    assert failed.value.errno == errno.EFBIG
    assert failed.value.filename == str(path)  # named as the file the user knows, not the temporary
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    write(path)  # and without the limit the same call replaces it
    assert path.read_bytes() != before and len(path.read_bytes()) > 64


def _h5_with_other_contents(path: Path) -> None:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as handle:
        handle.attrs["made by"] = "another program"
        raw = handle.create_dataset("raw", data=np.arange(4096, dtype=np.uint16).reshape(4, 32, 32),
                                    compression="lzf")
        raw.attrs["resolution"] = [40, 4, 4]
        handle.create_dataset("pred/other", data=np.ones((2, 3, 3), np.float32))
        handle["pred"].attrs["note"] = "kept"
        handle.create_dataset("pred/boundary", data=np.zeros((1, 2, 2), np.float32))
        handle["alias"] = h5py.SoftLink("/raw")


def test_an_h5_write_replaces_its_dataset_and_keeps_the_rest_of_the_file(tmp_path):
    import h5py
    import numpy as np

    from znn.io.volumes import write_volume

    path = tmp_path / "data.h5"
    _h5_with_other_contents(path)
    maps = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    write_volume(path, maps, dataset="pred/boundary")
    write_volume(path, maps * 2, dataset="pred/boundary")  # again: replaced, not added
    with h5py.File(path, "r") as handle:
        np.testing.assert_array_equal(handle["pred/boundary"][:], maps * 2)
        np.testing.assert_array_equal(handle["raw"][:], np.arange(4096, dtype=np.uint16).reshape(4, 32, 32))
        assert handle["raw"].compression == "lzf" and list(handle["raw"].attrs["resolution"]) == [40, 4, 4]
        np.testing.assert_array_equal(handle["pred/other"][:], np.ones((2, 3, 3), np.float32))
        assert handle["pred"].attrs["note"] == "kept" and handle.attrs["made by"] == "another program"
        assert handle.get("alias", getlink=True).path == "/raw"
        assert sorted(handle) == ["alias", "pred", "raw"] and sorted(handle["pred"]) == ["boundary", "other"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]


def test_an_h5_write_that_fails_midway_keeps_the_old_file(tmp_path):
    import numpy as np

    from znn.io.volumes import write_volume

    path = tmp_path / "data.h5"
    _h5_with_other_contents(path)
    before = path.read_bytes()
    noise = np.random.default_rng(1).random((4, 64, 64)).astype(np.float32)  # 64 KiB, does not compress
    with writes_fail_past(len(before) + 4096), pytest.raises(OSError) as failed:
        write_volume(path, noise, dataset="pred/boundary")
    assert path.read_bytes() == before
    assert failed.value.errno == errno.EFBIG and failed.value.filename == str(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.h5"]
