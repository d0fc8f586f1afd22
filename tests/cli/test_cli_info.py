"""`znn info` prints the network table; errors become messages, not tracebacks."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import NETWORKS
from znn.commands.cli import main


def test_info_prints_layers_sizes_fov_parameters_memory(capsys):
    assert main(["info", str(NETWORKS / "N4.znn"), "--outsz", "1,100,100"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("layer"))
    for column in ("kind", "maps", "kernel", "dilation", "size", "fov", "params"):
        assert column in header
    conv5 = next(line.split() for line in out.splitlines() if line.startswith("conv5 "))
    assert conv5[3:6] == ["48->200", "1x3x3", "1x16x16"]
    assert "field of view      1x95x95" in out
    assert "1 x 1x194x194" in out and "2 x 1x100x100" in out
    assert "219,290" in out
    memory = {line.split("  ")[0].strip(): line for line in out.splitlines() if line.startswith("memory ")}
    assert set(memory) == {"memory training, fft", "memory training, direct", "memory forward, fft"}
    # Cached kernel spectra of N4 at 1x100x100 run to gigabytes; direct mode needs no spectra.
    assert " GiB" in memory["memory training, fft"] and "spectra" in memory["memory training, fft"]
    assert "spectra" not in memory["memory training, direct"]


def test_info_reports_a_bad_file_without_traceback(tmp_path):
    bad = tmp_path / "bad.znn"
    bad.write_text("nodes input\ntype input\nsize 1\n\nedges c\ntype conv\nsize 1,3\n")
    result = subprocess.run([sys.executable, "-m", "znn", "info", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == (f"znn info: error: {bad}:5: group 'c', key 'input': missing required key for "
                        "type 'conv'; expected a 'input' line")
    assert lines[-1].startswith(f"znn info: error: {bad}:7: group 'c', key 'size': bad triple")
    assert len(lines) == 4  # missing input, output, init; bad size


def test_info_rejects_bad_outsz(capsys):
    try:
        main(["info", str(NETWORKS / "N4.znn"), "--outsz", "1,0,5"])
    except SystemExit as stop:
        assert stop.code == 2
    assert "three positive integers" in capsys.readouterr().err
