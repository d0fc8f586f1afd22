"""A live learning-curve plot for a napari dock: cost and pixel error against iteration.

Built on pyqtgraph: each panel is a `PlotItem` in one `GraphicsLayoutWidget`, and each
line is a `PlotDataItem`. A new point only hands its phase's lines their (slightly
longer) arrays with `setData`, which paints nothing; the view repaints on the next turn of
the Qt event loop, and Qt merges repeated update requests, so points arriving faster than
the loop turns cost one repaint per turn (10-25 ms for a 640x320 plot under Xvfb, where
the matplotlib canvas this replaces took 300-450 ms).

This is the only module of the plugin that imports pyqtgraph. Its look (white background,
dark axes) is set on these items only; pyqtgraph's global configuration is left alone.

All methods must be called on the GUI thread (a worker thread should emit a signal).
The widget only arranges numbers for display; it computes nothing about the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

# qtpy first, so that pyqtgraph binds to the Qt that qtpy (and napari) already loaded.
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

# isort: split
import pyqtgraph as pg  # must come after qtpy

Point = tuple[int, float, float]

PHASES = ("train", "validation")
# (title, y label) of the two panels; index 0 holds the cost, index 1 the pixel error.
PANELS = (("Cost", "cost"), ("Pixel error", "pixel error"))
BACKGROUND = "w"
FOREGROUND = "#202020"
COLORS = {"train": "#1f77b4", "validation": "#ff7f0e"}  # matplotlib's tab:blue / tab:orange
VALIDATION_SYMBOL = "o"
MINIMUM_SIZE = (300, 220)


def _line_style(phase: str) -> dict:
    color = COLORS[phase]
    style = {"pen": pg.mkPen(color=color, width=1.5), "antialias": True, "name": phase}
    if phase == "validation":
        style.update(symbol=VALIDATION_SYMBOL, symbolSize=5,
                     symbolPen=pg.mkPen(color=color), symbolBrush=pg.mkBrush(color))
    return style


def legend_html() -> str:
    """The key of both panels: each phase's colour and mark."""
    marks = {"train": "━━", "validation": "━●━"}
    return "&nbsp;&nbsp;".join(f'<span style="color:{COLORS[phase]}">{marks[phase]}</span> {phase}'
                               for phase in PHASES)


class CostAxis(pg.AxisItem):
    """The cost panel's y axis. On a log scale pyqtgraph ticks only 1-9 x 10^k, labelled with one
    digit, so costs within a decade (0.37-0.40, most of a run) showed one label or none; such
    a range gets the linear axis' round values instead, labelled with the digits they need."""

    def logTickValues(self, minVal: float, maxVal: float, size: float, stdTicks: list) -> list:  # noqa: N803
        ticks = super().logTickValues(minVal, maxVal, size, stdTicks)
        if sum(len(values) for _, values in ticks) >= 2:
            return ticks
        low, high = 10.0 ** minVal, 10.0 ** maxVal
        seen: list[float] = []
        levels = []
        for spacing, offset in self.tickSpacing(low, high, size):
            first = math.ceil((low - offset) / spacing) * spacing + offset
            values = [v for v in first + spacing * np.arange(int((high - first) / spacing) + 1)
                      if v > 0 and not any(math.isclose(v, s, abs_tol=spacing / 100) for s in seen)]
            seen += values
            levels.append((None, np.log10(values).tolist()))
        return levels

    def logTickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        numbers = 10.0 ** np.asarray(values, dtype=float) * scale
        strings: list[str] = []
        # the fewest digits that say each value (pyqtgraph labels each tick level on its own, so a lone
        # minor tick at 0.35 must not read "0.4") and tell neighbouring ticks apart
        for digits in range(1, 7):
            strings = [f"{number:.{digits}g}" for number in numbers]
            exact = all(math.isclose(float(text), number, rel_tol=1e-6) for text, number in zip(strings, numbers))
            if exact and len(set(strings)) == len(strings):
                break
        return strings


class LiveCurvePlot(QWidget):
    """Two panels (cost; pixel error), each with a train line and a validation line.

    The cost panel uses a logarithmic y axis while every plotted cost is positive and
    switches to linear as soon as one is not. Non-finite values are left out of the
    lines; a point with no finite value at all is dropped entirely.

    `plots` holds the two `pg.PlotItem`s (cost, pixel error) and `lines[phase]` the
    `pg.PlotDataItem` of that phase in each panel, in the same order.
    """

    def __init__(self, parent: QWidget | None = None, *, vertical: bool = False) -> None:
        """`vertical=True` stacks the panels, for a tall narrow dock."""
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground(BACKGROUND)
        self.graphics.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self._points: dict[str, list[Point]] = {phase: [] for phase in PHASES}
        self._nonpositive_costs = 0  # among the costs drawn: the cost axis is log while 0
        # _xy[phase][panel] = (iterations, values) currently drawn by that line
        self._xy: dict[str, list[tuple[list[int], list[float]]]] = {
            phase: [([], []) for _ in PANELS] for phase in PHASES}
        self.plots: list[pg.PlotItem] = []
        self.lines: dict[str, list[pg.PlotDataItem]] = {phase: [] for phase in PHASES}
        for index, (title, ylabel) in enumerate(PANELS):
            row, col = (index, 0) if vertical else (0, index)
            plot = self.graphics.addPlot(row=row, col=col, axisItems={"left": CostAxis("left")} if index == 0 else None)
            plot.setTitle(title, color=FOREGROUND, size="9pt")
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(pg.mkPen(FOREGROUND))
                axis.setTextPen(pg.mkPen(FOREGROUND))
                axis.enableAutoSIPrefix(False)  # plain numbers, no "(x0.001)" in the label
            plot.setLabel("bottom", "iteration", color=FOREGROUND)
            plot.setLabel("left", ylabel, color=FOREGROUND)
            for phase in PHASES:
                self.lines[phase].append(plot.plot([], [], **_line_style(phase)))
            self.plots.append(plot)
        # one key above the panels: a legend inside a panel covered its curves (e.g. the pixel error's)
        self.legend = QLabel(legend_html())
        self.legend.setStyleSheet(f"background: white; color: {FOREGROUND}; padding: 1px 4px;")
        self.legend.setAlignment(Qt.AlignmentFlag.AlignRight)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.legend)
        layout.addWidget(self.graphics)
        self.setMinimumSize(*MINIMUM_SIZE)
        self._refresh()

    # ------------------------------------------------------------------ public API

    def add_train_point(self, iteration: int, cost: float, pixel_error: float) -> None:
        """Append one training measurement; the lines repaint on the next event-loop turn."""
        self._append("train", iteration, cost, pixel_error)
        self._refresh(("train",))

    def add_validation_point(self, iteration: int, cost: float, pixel_error: float) -> None:
        """Append one validation measurement; the lines repaint on the next event-loop turn."""
        self._append("validation", iteration, cost, pixel_error)
        self._refresh(("validation",))

    def set_curve(self, train_it: Iterable[int], train_cost: Iterable[float],
                  train_err: Iterable[float], test_it: Iterable[int],
                  test_cost: Iterable[float], test_err: Iterable[float]) -> None:
        """Replace everything, e.g. with the curve stored in a checkpoint being resumed.

        `*_err` is the pixel error here. (ZNN's `LearningCurve` names the cost `*_err`
        and the pixel error `*_cls`: pass `train_err` as cost and `train_cls` as error.)
        Series of unequal length are cut to the shortest of their phase.
        """
        self._reset()
        for iteration, cost, error in zip(train_it, train_cost, train_err):
            self._append("train", iteration, cost, error)
        for iteration, cost, error in zip(test_it, test_cost, test_err):
            self._append("validation", iteration, cost, error)
        self._refresh(autorange=True)

    def clear(self) -> None:
        """Remove every point (a new run starts)."""
        self._reset()
        self._refresh(autorange=True)

    def points(self) -> dict[str, list[Point]]:
        """The points shown, per phase ("train", "validation"), as (iteration, cost, error)."""
        return {phase: list(points) for phase, points in self._points.items()}

    # ------------------------------------------------------------------ internals

    def _reset(self) -> None:
        self._nonpositive_costs = 0
        for phase in PHASES:
            self._points[phase].clear()
            for xs, ys in self._xy[phase]:
                xs.clear()
                ys.clear()

    def _append(self, phase: str, iteration: int, cost: float, pixel_error: float) -> None:
        values = (_as_float(cost), _as_float(pixel_error))
        finite = [math.isfinite(v) for v in values]
        if not any(finite):
            return
        self._points[phase].append((int(iteration), values[0], values[1]))
        for panel, (value, ok) in enumerate(zip(values, finite)):
            if ok:
                xs, ys = self._xy[phase][panel]
                xs.append(int(iteration))
                ys.append(value)
                if panel == 0 and value <= 0:
                    self._nonpositive_costs += 1

    def _refresh(self, phases: Sequence[str] = PHASES, autorange: bool = False) -> None:
        """Push the stored data of `phases` into their lines and pick the cost axis scale.

        Nothing is painted here: pyqtgraph schedules the repaint (and the auto-range of
        panels the user has not zoomed) for the event loop. `autorange=True` also undoes
        a user's zoom, for when the whole curve is replaced.
        """
        any_cost = any(self._xy[phase][0][1] for phase in PHASES)
        log_y = any_cost and self._nonpositive_costs == 0
        cost_plot = self.plots[0]
        switch = cost_plot.getAxis("left").logMode != log_y
        # Leave log mode before, and enter it after, handing over the data, so that a
        # non-positive cost is never log-mapped.
        if switch and not log_y:
            cost_plot.setLogMode(x=False, y=False)
        for phase in phases:
            for line, (xs, ys) in zip(self.lines[phase], self._xy[phase]):
                line.setData(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))
        if switch and log_y:
            cost_plot.setLogMode(x=False, y=True)
        if autorange:
            for plot in self.plots:
                plot.enableAutoRange()


def _as_float(value: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
