"""The paint, train, correct loop in the dock: train from a few strokes, stop, paint more,
continue from the same weights with the new strokes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.dock import sample_dock

pytestmark = pytest.mark.gui


@pytest.fixture
def received_masks(monkeypatch):
    """The label masks of every training setup the worker's session prepared (what training really used)."""
    import znn.app.session as setup_module

    prepared = setup_module.prepare_training
    seen: list[np.ndarray] = []

    def recording(*args, **kwargs):
        setup = prepared(*args, **kwargs)
        used = None
        for sample in [*setup.train_set, *setup.test_set]:
            for mask in sample.masks.values():
                on = np.asarray(mask) > 0
                used = on if used is None else used | on
        seen.append(used)
        return setup

    monkeypatch.setattr(setup_module, "prepare_training", recording)
    return seen


def _only_and_most_of(used: np.ndarray, painted: np.ndarray) -> bool:
    """Training used painted voxels only, and nearly all of them (a stroke too close to the
    border for any patch to hold it is left out)."""
    return not (used & ~painted).any() and used.sum() >= 0.9 * painted.sum()


def test_strokes_train_stop_paint_more_and_continue(make_napari_viewer, new_dock, qtbot, tmp_path, received_masks):
    from znn.data.strokes import paint_strokes

    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path, labels="synthetic strokes")
    mode = dock.data.label_mode
    assert mode.current() == "sparse_strokes" and "sparse strokes" in mode.reason.text(), mode.reason.text()
    strokes = viewer.layers["synthetic strokes"]
    painted = int(np.count_nonzero(strokes.data))
    assert 0 < painted < 0.01 * strokes.data.size  # a few strokes

    # Train until stopped, with the live layer on the section in view (a painted one).
    section = int(np.argmax((strokes.data != 0).sum(axis=(1, 2))))
    viewer.dims.set_current_step(0, section)
    dock.preview_every.setValue(2)
    dock.train()
    # (until the curve has a point: the strokes recipe plots one every Num_iter_per_show updates)
    qtbot.waitUntil(lambda: dock.live_layer() is not None and bool(dock.plot.points()["train"]), timeout=180_000)
    live = dock.live_layer()
    qtbot.waitUntil(lambda: np.any(live.data[section] != 0), timeout=60_000)  # the preview arrived
    dock.stop()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    stopped, run = dock.state.iteration, dock.run.folder
    assert received_masks and _only_and_most_of(received_masks[-1], strokes.data != 0)

    # Paint more strokes on a section that had none, then continue with them.
    fresh = int(np.argmin((strokes.data != 0).sum(axis=(1, 2))))
    more = paint_strokes(viewer.layers["synthetic labels"].data, [fresh], strokes_per_section=6, rng=7)
    strokes.data[more != 0] = more[more != 0]
    strokes.refresh()
    assert dock.continue_button.isEnabled(), dock.continue_button.toolTip()
    before = len(received_masks)
    dock.continue_with_new_labels()
    qtbot.waitUntil(lambda: dock.state.iteration >= stopped + 3, timeout=180_000)
    dock.stop()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)
    assert dock.run.folder == run  # the same run goes on
    assert dock.state.first_iteration == stopped + 1  # from the saved weights
    assert min(p[0] for p in dock.plot.points()["train"]) <= stopped  # the curve goes on
    used = received_masks[before]
    assert _only_and_most_of(used, strokes.data != 0) and used[fresh].any()  # the new strokes trained

    # Painting more while training runs: Continue stops, saves, and goes on with them.
    previous = dock.state.first_iteration
    dock.continue_with_new_labels()
    assert dock.worker is not None  # from idle it starts at once
    qtbot.waitUntil(lambda: dock.state.first_iteration > previous and dock.state.iteration > dock.state.first_iteration,
                    timeout=180_000)
    again = paint_strokes(viewer.layers["synthetic labels"].data, [fresh], strokes_per_section=4, rng=11)
    strokes.data[again != 0] = again[again != 0]
    running_from, prepared = dock.state.first_iteration, len(received_masks)
    dock.continue_with_new_labels()
    qtbot.waitUntil(lambda: dock.state.first_iteration > running_from and dock.worker is not None, timeout=180_000)
    assert len(received_masks) == prepared + 1
    assert _only_and_most_of(received_masks[-1], strokes.data != 0)
    assert (received_masks[-1] & (again != 0)).any()
    dock.stop()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)

    # With "after painting" ticked, a pause after a paint stroke continues on its own.
    dock.auto_continue.setChecked(True)
    dock.auto_continue.timer.setInterval(300)
    last = dock.state.iteration
    inside = np.argwhere(viewer.layers["synthetic labels"].data[fresh] > 0)[0]
    strokes.paint((fresh, int(inside[0]), int(inside[1])), 2)  # what the brush does
    qtbot.waitUntil(lambda: dock.worker is not None, timeout=10_000)
    qtbot.waitUntil(lambda: dock.state.iteration > last, timeout=180_000)
    assert dock.state.first_iteration == last + 1
    dock.stop()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)


def _set_patch(dock, outsz):
    from znn.jobs import JobConfig

    job = dock.form.values_into(JobConfig())
    job.training.train_outsz = outsz
    dock.form.load_from(job)


def test_a_patch_that_rarely_holds_both_stroke_kinds_is_refused_with_one_that_works(
        make_napari_viewer, new_dock, qtbot, tmp_path):
    import re

    from znn.data.stroke_coverage import stroke_coverage

    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path, labels="synthetic strokes")
    strokes = viewer.layers["synthetic strokes"].data
    mode = dock.data.label_mode
    membrane, cell = mode.membrane.value(), mode.cell.value()
    _set_patch(dock, (1, 16, 16))
    assert stroke_coverage(strokes, membrane, cell, (1, 16, 16)).both < 0.25  # the premise
    dock.train()
    assert dock.worker is None, "training started with patches that mostly hold one stroke kind"
    text = dock.status.text()
    suggested = re.search(r"Training patch to (\d+)x(\d+)x(\d+)", text)
    assert suggested and "1x16x16" in text, text
    outsz = tuple(int(n) for n in suggested.groups())
    # the patch named is one that works, and the smallest of the sizes tried
    assert stroke_coverage(strokes, membrane, cell, outsz).enough
    _set_patch(dock, outsz)
    dock.train()
    assert dock.worker is not None, dock.status.text()
    dock.stop()
    qtbot.waitUntil(lambda: dock.worker is None, timeout=60_000)


def test_strokes_of_one_kind_are_refused_for_a_new_network(make_napari_viewer, new_dock, tmp_path):
    viewer, dock = sample_dock(make_napari_viewer(), new_dock, tmp_path, labels="synthetic strokes")
    layer = viewer.layers["synthetic strokes"]
    mode = dock.data.label_mode
    layer.data[layer.data == mode.cell.value()] = mode.membrane.value()
    layer.refresh()
    dock.train()
    assert dock.worker is None
    assert "membrane strokes only" in dock.status.text() and f"value {mode.cell.value()}" in dock.status.text()
