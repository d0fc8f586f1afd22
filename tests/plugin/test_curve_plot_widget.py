"""The live learning-curve widget: points reach the lines, replacement, NaN, log scale, fast updates."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import QApplication

from napari_znn._curve_plot import LiveCurvePlot

pytestmark = pytest.mark.gui


def make_plot(qtbot, **kwargs) -> LiveCurvePlot:
    plot = LiveCurvePlot(**kwargs)
    qtbot.addWidget(plot)
    return plot


def line_data(plot: LiveCurvePlot, phase: str, panel: int) -> tuple[list, list]:
    """The data handed to that line (before any log mapping), as lists."""
    line = plot.lines[phase][panel]
    assert line in plot.plots[panel].listDataItems()
    xs, ys = line.getOriginalDataset()
    return ([] if xs is None else xs.tolist()), ([] if ys is None else ys.tolist())


def shown_data(plot: LiveCurvePlot, phase: str, panel: int) -> tuple[np.ndarray, np.ndarray]:
    """The data the line displays (log10-mapped on a log axis)."""
    xs, ys = plot.lines[phase][panel].getData()
    return (np.array([]) if xs is None else xs), (np.array([]) if ys is None else ys)


def cost_is_log(plot: LiveCurvePlot) -> bool:
    cost = plot.plots[0]
    log = cost.getAxis("left").logMode
    assert cost.ctrl.logYCheck.isChecked() == log  # the plot's own log-y switch agrees
    assert all(line.opts["logMode"] == [False, log] for line in cost.listDataItems())
    return log


def test_points_reach_points_and_lines(qtbot):
    plot = make_plot(qtbot)
    plot.add_train_point(10, 0.5, 0.30)
    plot.add_train_point(20, 0.4, 0.25)
    plot.add_validation_point(20, 0.45, 0.28)
    assert plot.points() == {"train": [(10, 0.5, 0.30), (20, 0.4, 0.25)],
                             "validation": [(20, 0.45, 0.28)]}
    assert line_data(plot, "train", 0) == ([10, 20], [0.5, 0.4])
    assert line_data(plot, "train", 1) == ([10, 20], [0.30, 0.25])
    assert line_data(plot, "validation", 0) == ([20], [0.45])
    assert line_data(plot, "validation", 1) == ([20], [0.28])
    assert plot.lines["validation"][0].opts["symbol"] == "o"
    assert plot.lines["train"][0].opts["symbol"] is None
    train_pen = plot.lines["train"][0].opts["pen"]
    validation_pen = plot.lines["validation"][0].opts["pen"]
    assert train_pen.color().name() != validation_pen.color().name()
    assert [p.titleLabel.text for p in plot.plots] == ["Cost", "Pixel error"]
    for plot_item in plot.plots:
        assert plot_item.getAxis("bottom").labelText == "iteration"
        assert plot_item.legend is None  # nothing drawn over the curves
    # one key, above both panels
    assert "train" in plot.legend.text() and "validation" in plot.legend.text()
    for phase in ("train", "validation"):
        assert plot.lines[phase][0].opts["pen"].color().name() in plot.legend.text()
    assert plot.minimumWidth() >= 300 and plot.minimumHeight() >= 220


def test_layout_side_by_side_or_stacked(qtbot):
    wide = make_plot(qtbot)
    assert wide.graphics.ci.getItem(0, 0) is wide.plots[0]
    assert wide.graphics.ci.getItem(0, 1) is wide.plots[1]
    tall = make_plot(qtbot, vertical=True)
    assert tall.graphics.ci.getItem(0, 0) is tall.plots[0]
    assert tall.graphics.ci.getItem(1, 0) is tall.plots[1]


def test_set_curve_replaces_and_clear_empties(qtbot):
    plot = make_plot(qtbot)
    plot.show()
    qtbot.waitExposed(plot)
    plot.add_train_point(1, 9.0, 0.9)
    plot.set_curve(np.array([100, 200]), np.array([0.3, 0.2]), np.array([0.1, 0.05]),
                   [200], [0.25], [0.07])
    assert plot.points() == {"train": [(100, 0.3, 0.1), (200, 0.2, 0.05)],
                             "validation": [(200, 0.25, 0.07)]}
    assert line_data(plot, "train", 0) == ([100, 200], [0.3, 0.2])

    def rescaled() -> None:  # auto-range follows the new data at the next paint
        for plot_item in plot.plots:
            (lo, hi), _ = plot_item.vb.viewRange()
            assert 50 < lo <= 100 and 200 <= hi < 250  # the old point at 1 is gone

    qtbot.waitUntil(rescaled, timeout=2000)
    plot.set_curve([], [], [], [], [], [])
    assert plot.points() == {"train": [], "validation": []}
    plot.add_validation_point(5, 1.0, 0.5)
    plot.clear()
    assert plot.points() == {"train": [], "validation": []}
    for phase in ("train", "validation"):
        for panel in (0, 1):
            assert line_data(plot, phase, panel) == ([], [])
            assert len(shown_data(plot, phase, panel)[0]) == 0


def test_nan_values_are_skipped(qtbot):
    plot = make_plot(qtbot)
    plot.add_train_point(1, math.nan, math.nan)  # nothing finite: dropped
    plot.add_train_point(2, math.nan, 0.4)  # cost missing: only the error line gets it
    plot.add_train_point(3, 0.2, 0.3)
    plot.set_curve([1, 2], [0.5, 0.4], [0.3, 0.2], [2, 4], [float("nan"), 0.3], [float("nan"), 0.1])
    assert plot.points()["validation"] == [(4, 0.3, 0.1)]
    assert line_data(plot, "validation", 0) == ([4], [0.3])
    plot.clear()
    plot.add_train_point(1, math.nan, math.nan)
    plot.add_train_point(2, math.nan, 0.4)
    plot.add_train_point(3, 0.2, 0.3)
    plot.add_validation_point(4, math.inf, "not a number")  # nothing usable: dropped
    plot.add_validation_point(5, 0.25, -math.inf)
    assert len(plot.points()["train"]) == 2
    assert plot.points()["validation"] == [(5, 0.25, -math.inf)]
    assert line_data(plot, "train", 0) == ([3], [0.2])
    assert line_data(plot, "train", 1) == ([2, 3], [0.4, 0.3])
    assert line_data(plot, "validation", 0) == ([5], [0.25])
    assert line_data(plot, "validation", 1) == ([], [])
    for phase in ("train", "validation"):
        for panel in (0, 1):
            xs, ys = shown_data(plot, phase, panel)
            assert np.isfinite(xs).all() and np.isfinite(ys).all()


def test_cost_axis_is_log_only_while_all_costs_are_positive(qtbot):
    plot = make_plot(qtbot)
    assert not cost_is_log(plot)  # nothing to show yet
    plot.add_train_point(1, 0.5, 0.3)
    plot.add_validation_point(1, 0.6, 0.3)
    assert cost_is_log(plot)
    assert not plot.plots[1].getAxis("left").logMode  # the pixel error stays linear
    assert not plot.plots[1].ctrl.logYCheck.isChecked()
    np.testing.assert_allclose(shown_data(plot, "train", 0)[1], [math.log10(0.5)])
    np.testing.assert_allclose(shown_data(plot, "train", 1)[1], [0.3])
    plot.add_validation_point(2, 0.0, 0.3)
    assert not cost_is_log(plot)
    np.testing.assert_allclose(shown_data(plot, "validation", 0)[1], [0.6, 0.0])
    plot.set_curve([1, 2], [0.5, 0.4], [0.3, 0.2], [], [], [])
    assert cost_is_log(plot)
    plot.add_train_point(3, -1.0, 0.2)
    assert not cost_is_log(plot)
    plot.clear()
    assert not cost_is_log(plot)


def cost_ticks(plot, qtbot) -> list[tuple[float, str]]:
    """The cost axis' ticks as drawn, every level (pyqtgraph labels each level apart): (value, label) pairs."""
    qtbot.waitUntil(lambda: plot.plots[0].getViewBox().viewRange()[1][0] != 0, timeout=5_000)  # auto-ranged
    axis = plot.plots[0].getAxis("left")
    low, high = plot.plots[0].getViewBox().viewRange()[1]
    pairs = []
    for spacing, logs in axis.tickValues(low, high, 300):
        pairs += zip((10 ** np.asarray(logs)).tolist(), axis.tickStrings(logs, 1.0, spacing))
    return pairs


@pytest.mark.parametrize(("costs", "within", "at_least"), [
    (np.linspace(0.40, 0.37, 30), (0.365, 0.405), 3),  # one decade or less: round linear values
    (np.linspace(0.37, 0.335, 30), (0.33, 0.375), 3),  # minor ticks such as 0.35 between 0.34 and 0.36
    (0.7 * np.exp(-np.linspace(0, 5, 30)), (0.004, 1.0), 2),  # several: the powers of ten
], ids=["within-a-decade", "minor-ticks", "decades"])
def test_the_log_cost_axis_labels_its_ticks_with_their_values(qtbot, costs, within, at_least):
    plot = make_plot(qtbot)
    plot.resize(440, 420)
    plot.show()
    for i, cost in enumerate(costs):
        plot.add_train_point(5 * (i + 1), float(cost), 0.3)
    assert cost_is_log(plot)
    ticks = cost_ticks(plot, qtbot)
    assert len(ticks) >= at_least, ticks
    for value, label in ticks:  # each label reads as the value it marks, inside the plotted range
        assert float(label) == pytest.approx(value, rel=1e-6) and within[0] <= value <= within[1]


class _PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def _longest_add_and_repaint(qtbot) -> tuple[float, float]:
    """Add 500 points one by one to a fresh, shown plot, running the event loop (so
    repainting) after each; return the longest and the median add + processEvents time."""
    plot = make_plot(qtbot)
    plot.resize(640, 320)
    plot.show()
    qtbot.waitExposed(plot)
    qtbot.wait(50)
    paints = _PaintCounter()
    plot.graphics.viewport().installEventFilter(paints)
    app = QApplication.instance()
    durations = []
    for i in range(500):
        start = time.perf_counter()
        if i % 25 == 24:
            plot.add_validation_point(i, 1.2 / (i + 1), 0.45)
        else:
            plot.add_train_point(i, 1.0 / (i + 1), 0.5 - i / 2000)
        app.processEvents()
        durations.append(time.perf_counter() - start)
    plot.graphics.viewport().removeEventFilter(paints)
    assert paints.count >= 100  # the loop really repainted, not just stored numbers
    assert len(line_data(plot, "train", 0)[0]) == 480
    assert len(line_data(plot, "validation", 0)[0]) == 20
    assert cost_is_log(plot)
    plot.close()
    return max(durations), float(np.median(durations))


def test_each_point_and_its_repaint_are_fast(qtbot):
    """No single add + processEvents may block the GUI for long: napari's budget is
    200 ms, the matplotlib version took 300-450 ms per redraw, this one must stay under
    50 ms. The test machine's cores are shared, so a run spoiled by a neighbour's burst
    is retried on a fresh plot (up to 3 runs); one clean run passes."""
    bound = 0.050
    runs = []
    for _attempt in range(3):
        runs.append(_longest_add_and_repaint(qtbot))
        if runs[-1][0] < bound:
            break
    print("\n" + "; ".join(f"longest add+processEvents {longest * 1000:.1f} ms "
                           f"(median {median * 1000:.1f} ms)" for longest, median in runs))
    assert min(longest for longest, _ in runs) < bound
