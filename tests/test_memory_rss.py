"""The memory estimate against the peak resident set size of real passes (within 25%)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.parametrize("name,outsz,mode,training", [
    ("3d_3", "9,9,9", "fft", "1"),      # FFT training: spectra dominate
    ("N4", "1,40,40", "fft", "0"),      # FFT forward only
    ("N4", "1,250,250", "direct", "1"),  # direct training: maps, gradients, arg-max indices
])
def test_estimate_is_within_25_percent_of_peak_rss(name, outsz, mode, training):
    script = REPO / "tests" / "scripts" / "peak_rss.py"
    done = subprocess.run([sys.executable, str(script), name, outsz, mode, training, "2"],
                          capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = result["grown"] / result["estimate"]
    assert 0.75 <= ratio <= 1.25, f"peak RSS grew {result['grown']} B, estimate {result['estimate']} B"
