"""Job files and networks are replaced whole or not at all: a write that fails in the middle
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
