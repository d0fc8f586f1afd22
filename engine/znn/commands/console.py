"""How the command line shows training and forward events: a progress bar plus log lines."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from znn.base.stop_signals import STOP_SIGNALS
from znn.forward.job import ForwardFinished, SampleStarted, SampleWritten, TileProgress
from znn.train.events import Checkpoint, Failed, Finished, Show, Started, Step, Validation


def _fmt(value: float | None, digits: int = 5) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


@contextmanager
def stop_on_signals(request_stop: Callable[[], object], console: Console, doing: str) -> Iterator[None]:
    """The first SIGINT, SIGTERM or SIGHUP (`STOP_SIGNALS`) calls `request_stop` (the work ends at
    its next safe point, `doing` says which) and prints one line; a second Ctrl-C raises
    KeyboardInterrupt, which `znn.commands.cli.main` turns into one line and status 130. Further SIGTERMs
    and SIGHUPs change nothing."""
    asked = {"count": 0}

    def handler(signum: int, frame: Any) -> None:
        asked["count"] += 1
        if asked["count"] == 1:
            console.note(f"{signal.Signals(signum).name}: stopping {doing} (Ctrl-C again aborts)")
            request_stop()
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def thread_note(console: Console, flag: int | None, key: int | None) -> None:
    """One note when --threads (or else the job's num_threads) asks for more threads than cores."""
    from znn.base.cores import cap_note

    note = cap_note("--threads", flag) if flag is not None else cap_note("num_threads", key)
    if note:
        console.note(f"note: {note}")


class Console:
    """Prints events; keeps one tqdm bar (on stderr, only on a terminal unless `bars=True`)."""

    def __init__(self, *, quiet: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.bar: Any = None
        self.gone = False  # the terminal went away: nothing more is printed

    # ------------------------------------------------------------------ output

    def line(self, text: str) -> None:
        self._write(text, self.out)

    def note(self, text: str) -> None:
        self._write(text, self.err)

    def _write(self, text: str, stream: TextIO) -> None:
        """One line; a terminal that went away (SIGHUP, a closed ssh session) silences the console
        instead of ending the run in the middle of its last save."""
        if self.gone:
            return
        try:
            if self.bar is not None:
                self.bar.write(text, file=stream)
            else:
                print(text, file=stream, flush=True)
        except OSError:
            self.gone = True
            self.bar = None

    def _open_bar(self, total: int, initial: int, unit: str, desc: str) -> None:
        self._close_bar()
        if self.quiet:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, file=self.err,
                        dynamic_ncols=True, disable=None)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # ------------------------------------------------------------------ training

    def training_event(self, event: object) -> str | None:
        """Show one event; returns 'failed' for a Failed event."""
        if isinstance(event, Started):
            self._started(event)
        elif isinstance(event, Step):
            if self.bar is not None:
                self.bar.update(1)
                self.bar.set_postfix(cost=f"{event.cost:.4g}", err=f"{event.pixel_error:.3f}",
                                     s_per_update=f"{event.seconds:.2f}", refresh=False)
        elif isinstance(event, Show):
            extra = "" if event.rand_error is None else f", rand error {_fmt(event.rand_error)}"
            if event.malis_cost is not None:
                extra += f", malis cost {_fmt(event.malis_cost)}, malis error {_fmt(event.malis_pixel_error)}"
            self.line(f"iteration {event.iteration}: cost {_fmt(event.cost)}, pixel error "
                      f"{_fmt(event.pixel_error)}{extra}, eta {event.eta:.3g}, "
                      f"{event.seconds_per_update:.3f} s/update")
        elif isinstance(event, Validation):
            extra = "" if event.rand_error is None else f", rand error {_fmt(event.rand_error)}"
            best = ", the best so far" if event.best_iteration == event.iteration else ""
            self.line(f"validation at {event.iteration}: cost {_fmt(event.cost)}, pixel error "
                      f"{_fmt(event.pixel_error)}{extra} ({event.patches} patches, {event.seconds:.1f} s){best}")
        elif isinstance(event, Checkpoint):
            self.line(f"saved {event.path}" + (f" and {event.current}" if event.current else ""))
        elif isinstance(event, Finished):
            self._close_bar()
            why = {"max_iter": "reached Max_iter", "stopped": "stopped on request",
                   "time_limit": "time limit reached"}.get(event.reason, event.reason)
            self.line(f"training ended at iteration {event.iteration} ({why}); "
                      f"resume from {event.checkpoint}" if event.checkpoint else
                      f"training ended at iteration {event.iteration} ({why})")
            if event.best_is_earlier:
                self.line(f"the lowest validation cost was at iteration {event.best_iteration}, kept in {event.best} "
                          "(later updates scored worse on the held-back data); predict with it "
                          "(znn forward -n) unless you prefer the last")
        elif isinstance(event, Failed):
            self._close_bar()
            self.note(f"znn train: error: {event.message}")
            self.note(f"  what to do: {event.suggestion}")
            if event.checkpoint:
                self.note(f"  last good checkpoint: {event.checkpoint}")
            return "failed"
        return None

    def _started(self, event: Started) -> None:
        modes = sorted(set(event.conv_modes.values()))
        self.line(f"network {event.network}: output patch {'x'.join(map(str, event.outsz))}, field of view "
                  f"{'x'.join(map(str, event.fov))}, {event.num_threads} threads, conv {'/'.join(modes) or '-'}, "
                  f"seed {event.seed}")
        if event.conv_mode_report:
            self.line("conv modes chosen by optimize (one update's work per group):")
            for line in event.conv_mode_report:
                self.line(f"  {line}")
        if event.resumed_from:
            self.line(f"resuming {event.resumed_from} at iteration {event.first_iteration}: "
                      f"loaded {len(event.loaded_layers)} layer(s)")
        elif event.seeded_from:
            self.line(f"starting a new run from the weights of {event.seeded_from}: "
                      f"loaded {len(event.loaded_layers)} layer(s)")
        if event.loaded_from:
            if event.new_layers:
                self.line(f"  new (freshly initialised) layers: {', '.join(event.new_layers)}")
            if event.not_copied:
                self.line(f"  layers of the file not in this network: {', '.join(event.not_copied)}")
        for note in event.notes:
            self.note(f"note: {note}")
        self._open_bar(event.max_iter, event.first_iteration - 1, "update", "training")

    # ------------------------------------------------------------------ forward

    def forward_event(self, event: object) -> None:
        if isinstance(event, SampleStarted):
            if event.plan:
                self.line(event.plan)
            self.line(f"sample {event.sample_id}: input {'x'.join(map(str, event.volume))}, tile "
                      f"{'x'.join(map(str, event.outsz))}, {event.tiles} tiles")
            self._open_bar(event.tiles, 0, "tile", f"sample {event.sample_id}")
        elif isinstance(event, TileProgress):
            if self.bar is not None and event.done > self.bar.n:
                self.bar.update(event.done - self.bar.n)
        elif isinstance(event, SampleWritten):
            self._close_bar()
            self.line(f"sample {event.sample_id}: wrote {', '.join(event.paths)} "
                      f"(shape {'x'.join(map(str, event.shape))})")
        elif isinstance(event, ForwardFinished):
            self._close_bar()
            if event.stopped:
                self.line("forward pass stopped on request; the sample in progress was not written")

    # ------------------------------------------------------------------ blockwise forward

    def blockwise_event(self, event: object) -> None:
        from znn.blockwise.run import BlockDone, BlockwiseFinished, BlockwiseStarted

        if isinstance(event, BlockwiseStarted):
            shape = "x".join(map(str, event.output_shape))
            self.line(f"{event.output}: output {shape} in {event.blocks} blocks of "
                      f"{'x'.join(map(str, event.block_shape))} ({event.plan}); {event.blocks - event.todo} "
                      f"already done, {event.todo} to compute on {event.workers} worker(s)")
            if event.note:
                self.note(f"note: {event.note}")
            self._open_bar(event.todo, 0, "block", "blocks")
        elif isinstance(event, BlockDone):
            if self.bar is not None:
                self.bar.update(1)
        elif isinstance(event, BlockwiseFinished):
            self._close_bar()
            self.line(f"computed {event.computed} block(s), {event.skipped} already done, in {event.seconds:.1f} s: "
                      f"{event.voxels_per_s:,.0f} voxels/s")
            if event.stopped:
                self.line("stopped on request; run the same command again to compute the remaining blocks")
