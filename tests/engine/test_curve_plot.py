"""Learning-curve PNGs: content, atomic replacement, and no global matplotlib state."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from znn.io.curve import LearningCurve
from znn.io.curve_plot import plot_learning_curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def curve() -> LearningCurve:
    return LearningCurve(
        train_it=[10, 20, 30, 40], train_err=[0.5, 0.4, np.nan, 0.2], train_cls=[0.3, 0.2, 0.2, 0.1],
        test_it=[20, 40], test_err=[0.45, 0.25], test_cls=[0.25, 0.15])


def image_size(path) -> tuple[int, int]:
    """(width, height) in pixels."""
    try:
        from PIL import Image
    except ImportError:
        import matplotlib.image
        height, width = matplotlib.image.imread(path).shape[:2]
        return width, height
    with Image.open(path) as image:
        return image.size


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert image_size(path) == (1000, 400)


def leftovers(directory) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir() if entry.name.endswith(".tmp"))


@pytest.mark.parametrize("make", [curve, LearningCurve], ids=["data", "empty"])
def test_writes_png(tmp_path, make):
    target = tmp_path / "curve.png"
    assert plot_learning_curve(make(), target, title="net") == target
    assert_png(target)
    assert leftovers(tmp_path) == []


def test_replaces_an_existing_file(tmp_path):
    target = tmp_path / "curve.png"
    target.write_bytes(b"old")
    plot_learning_curve(curve(), str(target))
    assert_png(target)


def test_missing_directory_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        plot_learning_curve(curve(), tmp_path / "missing" / "curve.png")
    assert list(tmp_path.iterdir()) == []


def test_failed_rename_removes_the_temporary_file(tmp_path):
    target = tmp_path / "curve.png"
    target.mkdir()
    (target / "keep").write_text("x")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OSError):
        plot_learning_curve(curve(), target)
    assert leftovers(tmp_path) == [] and target.is_dir()


def test_failed_render_removes_the_temporary_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def broken(*args, **kwargs):
        raise RuntimeError("render failed")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError, match="render failed"):
        plot_learning_curve(curve(), tmp_path / "curve.png")
    assert list(tmp_path.iterdir()) == []


def test_cost_axis_is_log_only_when_positive():
    from matplotlib.figure import Figure

    from znn.io.curve_plot import _draw_panel

    positive, with_zero = curve(), curve()
    with_zero.test_err[0] = 0.0
    for value, scale in ((positive, "log"), (with_zero, "linear")):
        ax = Figure().subplots()
        _draw_panel(ax, value, "err", "Cost", "cost")
        assert ax.get_yscale() == scale
    ax = Figure().subplots()
    _draw_panel(ax, positive, "cls", "Pixel error", "pixel error")
    assert ax.get_yscale() == "linear"


def test_does_not_import_pyplot(tmp_path):
    # A fresh interpreter: pyplot (which picks and installs a global backend) must stay out.
    target = str(tmp_path / "c.png")
    script = (
        "import sys\n"
        "from znn.io.curve import LearningCurve\n"
        "from znn.io.curve_plot import plot_learning_curve\n"
        "curve = LearningCurve(train_it=[1], train_err=[1.0], train_cls=[0.5])\n"
        f"plot_learning_curve(curve, {target!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
