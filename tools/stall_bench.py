"""Benchmark: the longest event-loop gap of the dock while N4 trains and predicts, with one other
busy process on the machine (as on a user's desktop). A gap is the time between ticks of a 10 ms Qt
timer: how long napari could not repaint or answer a click.

    .venv/bin/python tools/stall_bench.py [--runs 3] [--updates 40]

Each run is a fresh process (under Xvfb when there is no display, via tools/setup-system's test
runner or xvfb-run): the synthetic sample, N4 with the dock's small test settings, a live preview
every 5 updates, then Predict twice (the second fills the first one's layer). The busy process is a
Python loop pinned to nothing, started before and killed after each run. Prints each run's longest
gaps and their medians, and writes them to bench-results/stalls-<time>.md. The dock's test keeps
only a generous bound (tests/plugin/test_dock_habits.py); this is the measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUSY = "while True: pass"


def one_run(updates: int) -> dict[str, float]:
    """In this process: train and predict in the dock, return the longest gaps (ms)."""
    import tempfile

    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_znn._train_widget import TrainingDock
    from znn.jobs import JobConfig

    gaps: list[float] = []
    last: list[float | None] = [None]

    def tick() -> None:
        now = time.perf_counter()
        if last[0] is not None:
            gaps.append(now - last[0])
        last[0] = now

    app = QApplication.instance() or QApplication([])

    def until(done, timeout: float = 600.0) -> None:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                raise TimeoutError("the dock did not finish in time")
            app.processEvents()
            time.sleep(0.002)

    def measured(start, done) -> float:
        gaps.clear()
        last[0] = None
        timer.start()
        start()
        until(done)
        timer.stop()
        return max(gaps, default=0.0) * 1000

    viewer = napari.Viewer(show=True)
    viewer.open_sample("napari-znn", "synthetic_em")
    dock = TrainingDock(viewer)
    viewer.window.add_dock_widget(dock, name="ZNN training")
    dock.data.runs_root.setText(tempfile.mkdtemp(prefix="stalls-"))
    job = dock.form.values_into(JobConfig())
    job.training.train_outsz, job.forward.forward_outsz = (1, 32, 32), (1, 64, 64)
    job.training.num_iter_per_show, job.training.num_iter_per_test, job.training.num_iter_per_save = 5, 10, 10
    dock.form.load_from(job)
    dock.image.setCurrentText("synthetic EM")
    dock.labels.setCurrentText("synthetic labels")
    dock.editor.load_file("N4")
    dock.preview_every.setValue(5)
    dock.data.budget.setCurrentText("updates")
    dock.data.budget_updates.setValue(updates)
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    dock.train()
    until(lambda: dock.state.iteration >= 3)  # past loading and the first update (the live layer exists)
    training = measured(lambda: None, lambda: dock.worker is None)
    dock.predict_on.setCurrentText("synthetic EM")
    dock.predict()  # the first prediction adds its layer (napari's own cost, not measured)
    until(lambda: dock.predictor is None)
    predicting = measured(dock.predict, lambda: dock.predictor is None)
    dock.shutdown()
    viewer.close()
    return {"training_ms": training, "predicting_ms": predicting}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a single run, as JSON
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(one_run(args.updates)), flush=True)
        return
    results = []
    for run in range(args.runs):
        busy = subprocess.Popen([sys.executable, "-c", BUSY])
        try:
            done = subprocess.run([sys.executable, __file__, "--one", "--updates", str(args.updates)],
                                  capture_output=True, text=True, cwd=REPO, check=False)
        finally:
            busy.kill()
        line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"run {run + 1} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        results.append(json.loads(line[7:]))
        print(f"run {run + 1}: longest gap training N4 {results[-1]['training_ms']:.0f} ms, "
              f"predicting {results[-1]['predicting_ms']:.0f} ms (one busy process beside)", flush=True)
    medians = {key: statistics.median(r[key] for r in results) for key in results[0]}
    summary = (f"median of {len(results)} runs, one busy process beside, {os.cpu_count()} CPUs: longest "
               f"event-loop gap training N4 {medians['training_ms']:.0f} ms, "
               f"predicting {medians['predicting_ms']:.0f} ms")
    print(summary)
    out = REPO / "bench-results" / f"stalls-{datetime.now():%Y%m%d-%H%M%S}.md"
    out.parent.mkdir(exist_ok=True)
    rows = "\n".join(f"| {k + 1} | {r['training_ms']:.0f} | {r['predicting_ms']:.0f} |" for k, r in enumerate(results))
    out.write_text(f"# Event-loop gaps of the dock (tools/stall_bench.py)\n\n{summary}\n\n"
                   f"| run | training N4 (ms) | predicting N4 (ms) |\n|---|---|---|\n{rows}\n", encoding="utf-8")
    print(f"written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
