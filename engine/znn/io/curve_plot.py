"""A learning curve as a PNG: cost and pixel error against iteration.

Drawn with matplotlib's object API (a `Figure` on its own Agg canvas), never pyplot and
never `matplotlib.use`: the engine runs inside napari, whose Qt backend and global pyplot
state must stay untouched. matplotlib is imported on first use so that importing the
engine stays cheap. The file is written under a temporary name beside the target and
renamed over it, so a viewer polling the PNG never reads a half-written image.

Drawing takes about 0.3 s of pure Python. A GUI process would lose its event loop to the
drawing thread for a good part of that (the GIL), so `python -m znn.io.curve_plot CHECKPOINT
PNG` draws a saved network's curve in a process of its own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from znn.base.atomic import atomic_path
from znn.io.curve import LearningCurve

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FIGSIZE = (10.0, 4.0)  # inches; at DPI this is a 1000 x 400 pixel image
DPI = 100
# (series suffix, panel title, y label) for the two panels; err is ZNN's cost, cls its
# classification (pixel) error.
PANELS = (("err", "Cost", "cost"), ("cls", "Pixel error", "pixel error"))
PHASES = (("train", "train", "tab:blue"), ("test", "validation", "tab:orange"))


def plot_learning_curve(curve: LearningCurve, path: str | Path, *, title: str = "") -> Path:
    """Write `curve` as a two-panel PNG at `path` (replaced atomically); returns the path.

    Each panel shows the training and validation series; the cost axis is logarithmic
    when every plotted cost is positive. A curve without points gives the same layout
    with "no data yet" in each panel, so a viewer can show the file from the start.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # attaches itself to the figure; savefig renders through it
    axes = figure.subplots(1, 2)
    for ax, (series, panel_title, ylabel) in zip(axes, PANELS):
        _draw_panel(ax, curve, series, panel_title, ylabel)
    if title:
        figure.suptitle(title)

    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=DPI)
    return path


def _draw_panel(ax: Axes, curve: LearningCurve, series: str, panel_title: str, ylabel: str) -> None:
    """One panel: a line per phase that has points, or a "no data yet" note."""
    ax.set_title(panel_title)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    plotted: list[np.ndarray] = []
    for phase, label, color in PHASES:
        iterations = np.asarray(getattr(curve, f"{phase}_it"))
        values = np.asarray(getattr(curve, f"{phase}_{series}"), dtype=np.float64)
        count = min(len(iterations), len(values))  # tolerate a series cut short mid-write
        if count == 0:
            continue
        # Markers keep a single point visible; NaN points simply leave a gap.
        ax.plot(iterations[:count], values[:count], label=label, color=color,
                marker="o" if count < 50 else None, markersize=3, linewidth=1.2)
        plotted.append(values[:count])
    if not plotted:
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center",
                fontsize=14, color="0.4")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    finite = np.concatenate(plotted)
    finite = finite[np.isfinite(finite)]
    if series == "err" and finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right")


def main(argv: list[str] | None = None) -> int:
    """Draw the learning curve stored in a checkpoint (`python -m znn.io.curve_plot CHECKPOINT PNG`)."""
    import argparse

    from znn.base.errors import ZnnError
    from znn.io.curve import read_learning_curve

    parser = argparse.ArgumentParser(prog="python -m znn.io.curve_plot",
                                     description="draw the learning curve stored in a saved network")
    parser.add_argument("checkpoint", help="a network .h5 saved by znn train")
    parser.add_argument("png", help="the picture to write (replaced atomically)")
    parser.add_argument("--title", default="", help="the title above both panels")
    args = parser.parse_args(argv)
    try:
        curve = read_learning_curve(args.checkpoint) or LearningCurve()
        plot_learning_curve(curve, args.png, title=args.title)
    except (ZnnError, OSError) as error:
        print(f"znn: could not draw the learning curve {args.png}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
