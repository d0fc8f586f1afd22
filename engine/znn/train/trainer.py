"""The training loop, written once as a generator of events (reference §3.1).

    trainer = Trainer(prepare_training(job.require_training()))
    for event in trainer.run():
        ...                       # print it, plot it, show it
    trainer.send(Stop())          # from any thread: takes effect after the current update

One iteration draws a patch (made ahead of time by a background thread), runs forward,
the cost, backward and the weight update, then reports. Every `Num_iter_per_show`
updates it yields a `Show`, every `Num_iter_per_test` a `Validation`, every
`Num_iter_per_save` a `Checkpoint`. Stopping saves first. A NaN or infinite cost ends
the run with `Failed` and saves nothing, so the last checkpoint stays the last good one.
Front ends (CLI, demo, dock) run it inside `znn.app.session.TrainingSession`, which also takes
the run's lock and closes the network.
"""

from __future__ import annotations

import math
import queue
import time
from collections.abc import Generator
from dataclasses import replace

import numpy as np

from znn.base.errors import ZnnError
from znn.base.modes import FinishReason
from znn.data.prefetch import PatchPrefetcher
from znn.data.sampling import Patch
from znn.io.h5net import apply_saved, load_network
from znn.parallel.optimize import format_report
from znn.train.best import BEST, BestSoFar, best_path, improves
from znn.train.checkpoint import CheckpointWriteFailed, save_checkpoint
from znn.train.costs import compute_cost, malis_bce_metrics
from znn.train.events import (
    Checkpoint,
    Failed,
    Finished,
    PredictNow,
    SaveNow,
    Show,
    Started,
    Step,
    Stop,
    TrainingCommand,
    TrainingEvent,
    Validation,
)
from znn.train.malis import malis_weights, rand_error
from znn.train.preview import Previewer
from znn.train.setup import TrainingSetup
from znn.train.statistics import IntervalAverages, append_point, eta_at
from znn.train.validation import Validator, pixel_errors


class _NonFiniteCost(Exception):
    """Raised inside an update whose cost is NaN or infinite, before any weight changed."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def stroke_gradient_scales(patch: Patch) -> dict[str, float]:
    """Per output trained from strokes: patch voxels / painted voxels of this patch.

    An update divides the summed gradient by the output patch's voxels (ZNN's step, eta per
    voxel). A patch of painted strokes knows only a few dozen of its ten thousand voxels, so
    that step would be a hundred times smaller than a dense patch's and training would barely
    move; scaled, the step is eta times the mean over the painted voxels, as for dense labels.
    """
    scales = {}
    for name in patch.sparse:
        painted = float(np.sum(patch.masks[name]))
        if painted > 0:
            scales[name] = patch.targets[name].size / painted
    return scales


class Trainer:
    """Runs one training job; `run()` is the event generator."""

    def __init__(self, setup: TrainingSetup, *, time_limit_s: float | None = None,
                 prefetch_depth: int = 4, commands: queue.SimpleQueue | None = None,
                 draw_curve: bool = True) -> None:
        self.setup = setup
        self.schedule = setup.settings.schedule
        self.net = setup.net
        self.curve = setup.curve
        self.time_limit_s = time_limit_s
        self.prefetch_depth = prefetch_depth
        # <prefix>_curve.png is redrawn at every save. Drawing it holds the GIL for about 0.3 s, so
        # an interactive caller passes False and draws it in a child process (znn.io.curve_plot).
        self.draw_curve = draw_curve
        self.iteration = setup.first_iteration - 1  # the last update done
        self.last_checkpoint: str | None = str(setup.resumed_from) if setup.resumed_from else None
        self._last_saved = self.iteration  # the iteration of last_checkpoint
        # Commands may also come from a queue the caller owns (a GUI thread puts into it).
        self._commands: queue.SimpleQueue[TrainingCommand] = commands if commands is not None else queue.SimpleQueue()
        self.validator = Validator(setup)
        self.previewer = Previewer(setup)
        self.best: BestSoFar | None = None  # the weights in <prefix>_best.h5

    # ------------------------------------------------------------------ commands

    def send(self, command: TrainingCommand) -> None:
        """Queue a command (thread-safe; signal handlers may call it too)."""
        self._commands.put(command)

    def request_stop(self) -> None:
        self.send(Stop())

    # ------------------------------------------------------------------ helpers

    @property
    def _multi_channel_affinity(self) -> bool:
        return self.setup.kind == "affinity"

    def _eta(self, iteration: int) -> float:
        t = self.schedule
        return eta_at(iteration, t.eta, t.anneal_factor, t.num_iter_per_annealing)

    def _state(self) -> dict[str, int | float | str]:
        t = self.schedule
        return {"iteration": self.iteration, "seed": self.setup.seed, "eta": self._eta(max(self.iteration, 1)),
                "cost_fn": self.setup.cost_fn, "train_outsz": ",".join(map(str, self.setup.settings.train_outsz)),
                "optimizer": t.optimizer, "adam_steps": self.net.adam_steps}

    def _save(self, label: int | str, *, current: bool = True) -> Checkpoint:
        try:
            saved = save_checkpoint(self.setup.prefix, label, self.setup.spec, self.net.params, self.curve,
                                    self._state(), update_current=current, plot=self.draw_curve)
        except CheckpointWriteFailed as failed:
            raise self._save_failed(failed) from failed
        self.last_checkpoint = str(saved.current or saved.path)
        self._last_saved = self.iteration
        return Checkpoint(self.iteration, str(saved.path), str(saved.current) if saved.current else None,
                          str(saved.curve_png) if saved.curve_png else None)

    def _save_failed(self, failed: CheckpointWriteFailed) -> CheckpointWriteFailed:
        """The failure of a save, told with where the run stands (one line): training ends."""
        if failed.saved is not None:  # only the curve PNG failed
            self.last_checkpoint = str(failed.saved.current or failed.saved.path)
            self._last_saved = self.iteration
            kept = f"{self.last_checkpoint} (iteration {self.iteration}) was saved"
        elif self.last_checkpoint is not None:
            kept = f"{self.last_checkpoint} (iteration {self._last_saved}) is unchanged"
        else:
            kept = "nothing was saved"
        if failed.reason.startswith(("no space", "disk quota")):
            advice = "make room on the disk"
        elif failed.reason.startswith(("read-only", "permission", "operation not permitted")):
            advice = "make the folder writable"
        else:
            advice = "fix that"
        context = (f"training stopped at iteration {self.iteration}; {kept}; {advice} and run the same command "
                   "to resume" if self.last_checkpoint else
                   f"training stopped at iteration {self.iteration}; {kept}; {advice} and start again")
        again = CheckpointWriteFailed(failed.file, failed.reason, context=context)
        again.saved = failed.saved
        return again

    def _started(self) -> Started:
        s, report = self.setup, self.setup.load_report
        return Started(
            first_iteration=s.first_iteration, max_iter=self.schedule.max_iter,
            network=str(s.spec.source or ""), outsz=self.net.outsz, fov=s.fov, seed=s.seed,
            num_threads=self.net.num_threads, conv_modes=dict(self.net.conv_modes),
            conv_mode_report=tuple(format_report(self.net.conv_mode_report).splitlines()),
            resumed_from=str(s.resumed_from) if s.resumed_from else None,
            seeded_from=str(s.seeded_from) if s.seeded_from else None,
            loaded_layers=tuple(report.loaded) if report else (),
            new_layers=tuple(report.new) if report else (),
            not_copied=tuple(report.not_copied) if report else (), notes=tuple(s.notes))

    def _failed(self, iteration: int, what: str) -> Failed:
        eta = self._eta(iteration)
        return Failed(
            iteration=iteration,
            message=f"the cost became {what} at iteration {iteration}; training stopped and nothing was "
                    "saved after the last checkpoint",
            suggestion=f"lower the learning rate (eta is {eta:g}; try {eta / 10:g}), check the images for NaN "
                       "or extreme values (a pp_types such as standard2D normalises them), and resume from "
                       "the last checkpoint",
            checkpoint=self.last_checkpoint)

    # ------------------------------------------------------------------ one update

    def _update(self, iteration: int, patch: Patch, averages: IntervalAverages) -> Step:
        """One SGD step; raises _NonFiniteCost (before changing anything) for a NaN/inf cost."""
        started = time.perf_counter()
        t = self.schedule
        self.net.rng = np.random.default_rng([self.setup.seed, iteration, 7])  # dropout masks
        outputs = self.net.forward(patch.inputs)
        result = compute_cost(self.setup.cost_fn, outputs, patch.targets, patch.masks or None)
        if not math.isfinite(result.cost):
            raise _NonFiniteCost("NaN" if math.isnan(result.cost) else "infinite")
        grads = result.grads
        for name, weights in patch.weights.items():
            grads[name] = grads[name] * weights
        for name, scale in stroke_gradient_scales(patch).items():
            grads[name] = grads[name] * scale
        malis = None
        if t.is_malis:
            name = self.setup.spec.output_names[0]
            found = malis_weights(result.props[name], patch.targets[name], norm_type=t.malis_norm_type,
                                  constrained=t.is_constrained_malis)
            if found.n_voxels <= 1:
                return Step(iteration, math.nan, math.nan, self._eta(iteration), time.perf_counter() - started)
            grads[name] = grads[name] * found.weights
            malis = malis_bce_metrics(found.weights, result.props[name], patch.targets[name])
        self.net.backward(grads)
        self.net.update(self._eta(iteration), t.momentum, t.weight_decay, per_layer=False,
                        optimizer=t.optimizer)
        wrong, voxels = pixel_errors(result.props, patch)
        pairs = sum(float(patch.masks[n].sum()) if n in patch.masks else patch.targets[n].size
                    for n in patch.targets)
        re = None
        name = self.setup.spec.output_names[0]
        if self._multi_channel_affinity and name not in patch.sparse:  # strokes leave most of the graph unknown
            re = rand_error(result.props[name], patch.targets[name])
        seconds = time.perf_counter() - started
        averages.add(cost=result.cost, wrong=wrong, pairs=pairs, pixel_pairs=voxels, seconds=seconds,
                     rand_error=re, malis=malis)
        return Step(iteration, result.cost / pairs if pairs else math.nan, wrong / voxels,
                    self._eta(iteration), seconds)

    # ------------------------------------------------------------------ validation and the best weights

    def validate(self, iteration: int) -> Validation:
        """Cost and pixel error of the current network on the validation patches."""
        return self.validator.score(iteration)

    def _keep_if_best(self, validation: Validation) -> Validation:
        """Write the current weights as <prefix>_best.h5 when they score best so far."""
        if improves(validation.cost, self.best):
            state = self._state() | {"iteration": validation.iteration, "validation_cost": validation.cost}
            try:
                save_checkpoint(self.setup.prefix, BEST, self.setup.spec, self.net.params, self.curve, state,
                                update_current=False, plot=False)
            except CheckpointWriteFailed as failed:
                raise self._save_failed(failed) from failed
            self.best = BestSoFar(validation.iteration, validation.cost, validation.pixel_error)
        if self.best is None:
            return validation
        return replace(validation, best_iteration=self.best.iteration, best_cost=self.best.cost)

    def _score_start(self) -> Validation:
        """Score the trained weights the run starts from (and the run's earlier best, on today's
        validation data): the best so far starts as the better of the two."""
        validation = self.validate(self.iteration)
        earlier = self._earlier_best() if self.setup.resumed_from else None
        if earlier is not None and not improves(validation.cost, earlier):
            self.best = earlier
        if self.setup.seeded_from:  # iteration 0 of a new run: the start on the curve
            self.curve = append_point(self.curve, "test", self.iteration, validation.cost, validation.pixel_error,
                                      validation.rand_error, (None, None) if self.schedule.is_malis else None)
        return self._keep_if_best(validation)

    def _earlier_best(self) -> BestSoFar | None:
        path = best_path(self.setup.prefix)
        if not path.is_file():
            return None
        try:
            saved = load_network(path)
            params = self.net.params.copy()
            apply_saved(self.setup.spec, saved, params)
        except ZnnError:  # damaged or of another network: the current weights start the best
            return None
        iteration = int((saved.state or {}).get("iteration", 0))
        scored = self.validator.score_weights(params, iteration)
        return BestSoFar(iteration, scored.cost, scored.pixel_error)

    # ------------------------------------------------------------------ the loop

    def run(self) -> Generator[TrainingEvent, TrainingCommand | None, None]:
        """Train until Max_iter, a Stop command or the time limit; yields events."""
        t = self.schedule
        started_at = time.monotonic()
        yield self._started()
        if self.iteration == 0:
            yield self._save("init", current=False)
        if self.setup.resumed_from or self.setup.seeded_from:
            yield self._score_start()
        averages = IntervalAverages()
        prefetcher = PatchPrefetcher(self.setup.train_set, seed=self.setup.seed,
                                     first_iteration=self.iteration + 1, depth=self.prefetch_depth,
                                     niceness=self.setup.niceness)
        reason: FinishReason = "max_iter"
        try:
            while self.iteration < t.max_iter:
                command_events, stop = self._handle_commands()
                for event in command_events:
                    self._queue_sent((yield event))
                if stop:
                    reason = "stopped"
                    break
                if self.time_limit_s is not None and time.monotonic() - started_at >= self.time_limit_s:
                    reason = "time_limit"
                    break
                i = self.iteration + 1
                try:
                    step = self._update(i, prefetcher.get(i), averages)
                except _NonFiniteCost as bad:
                    yield self._failed(i, bad.what)
                    return
                self.iteration = i
                self._queue_sent((yield step))
                for event in self._bookkeeping(i, averages):
                    self._queue_sent((yield event))
                if i % t.num_iter_per_show == 0:
                    averages = IntervalAverages()
        finally:
            prefetcher.close()
            self.previewer.close()
        if reason != "max_iter" or self.iteration % t.num_iter_per_save != 0:
            if self.iteration >= self.setup.first_iteration:  # something new to keep
                yield self._save(self.iteration)
        best = self.best
        yield Finished(self.iteration, reason, self.last_checkpoint,
                       best=str(best_path(self.setup.prefix)) if best else None,
                       best_iteration=best.iteration if best else None)

    def _queue_sent(self, sent: TrainingCommand | None) -> None:
        if sent is not None:
            self.send(sent)

    def _handle_commands(self) -> tuple[list[TrainingEvent], bool]:
        events: list[TrainingEvent] = []
        stop = False
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return events, stop
            if isinstance(command, Stop):
                stop = True
            elif isinstance(command, PredictNow):
                events.append(self.previewer.preview(command, self.iteration))
            elif isinstance(command, SaveNow):
                if self.iteration >= 1:
                    events.append(self._save(self.iteration))
            else:
                raise TypeError(f"unknown training command {command!r}")

    def _bookkeeping(self, i: int, averages: IntervalAverages) -> list[TrainingEvent]:
        t = self.schedule
        events: list[TrainingEvent] = []
        if i % t.num_iter_per_show == 0:
            malis_error, malis_cost = averages.mean_malis
            show = Show(i, averages.mean_cost, averages.mean_pixel_error, self._eta(i),
                        averages.seconds_per_update, averages.mean_rand_error, malis_cost, malis_error)
            self.curve = append_point(self.curve, "train", i, show.cost, show.pixel_error, show.rand_error,
                                      (malis_error, malis_cost) if t.is_malis else None)
            self.curve.elapsed = show.seconds_per_update
            events.append(show)
        if i % t.num_iter_per_test == 0:
            validation = self.validate(i)
            self.curve = append_point(self.curve, "test", i, validation.cost, validation.pixel_error,
                                      validation.rand_error, (None, None) if t.is_malis else None)
            events.append(self._keep_if_best(validation))
        if i % t.num_iter_per_save == 0:
            events.append(self._save(i))
        return events
