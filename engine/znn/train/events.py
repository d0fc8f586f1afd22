"""What the training loop reports, and what can be sent into it.

The loop (`znn.train.trainer.Trainer.run`) is a generator of these small, immutable events.
The command line prints them; the napari widget turns them into plots and layers on its
main thread. Commands go back in through the generator's `send` (or `Trainer.send`, which
is safe from any thread) and take effect between two updates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from znn.base.modes import FinishReason

# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Started:
    """Training is about to run its first update."""

    first_iteration: int
    max_iter: int
    network: str  # the .znn file
    outsz: tuple[int, int, int]
    fov: tuple[int, int, int]
    seed: int
    num_threads: int
    conv_modes: dict[str, str]
    resumed_from: str | None = None  # the run's own checkpoint it goes on from
    conv_mode_report: tuple[str, ...] = ()  # optimize's timings and choice, one line per conv group
    loaded_layers: tuple[str, ...] = ()  # layers copied from resumed_from or seeded_from
    new_layers: tuple[str, ...] = ()  # trainable layers that file lacks (freshly initialised)
    not_copied: tuple[str, ...] = ()  # layers of that file the network does not have
    notes: tuple[str, ...] = ()  # settings worth a line on the console
    seeded_from: str | None = None  # the trained network a new run starts from (znn train -s)

    @property
    def loaded_from(self) -> str | None:
        """The file the weights came from, if any."""
        return self.resumed_from or self.seeded_from


@dataclass(frozen=True)
class Step:
    """One update done (one patch, one SGD step)."""

    iteration: int
    cost: float  # per (voxel, channel) of this patch, as in the show line
    pixel_error: float
    eta: float
    seconds: float  # wall time of this update, data wait included


@dataclass(frozen=True)
class Show:
    """ZNN's show line: averages over the last `Num_iter_per_show` updates."""

    iteration: int
    cost: float
    pixel_error: float
    eta: float
    seconds_per_update: float
    rand_error: float | None = None  # affinity outputs only (meaningless for boundary maps)
    malis_cost: float | None = None
    malis_pixel_error: float | None = None


@dataclass(frozen=True)
class Validation:
    """Cost and pixel error on the validation patches (test_range), dropout off."""

    iteration: int
    cost: float
    pixel_error: float
    patches: int
    seconds: float
    rand_error: float | None = None
    best_iteration: int | None = None  # after this validation, the iteration of <prefix>_best.h5
    best_cost: float | None = None  # and its validation cost


@dataclass(frozen=True)
class Checkpoint:
    """The network, its momentum, the learning curve and the resume state were saved."""

    iteration: int
    path: str  # <prefix>_<iteration>.h5
    current: str | None  # <prefix>_current.h5 (None for the initial network)
    curve_png: str | None = None


@dataclass(frozen=True)
class Preview:
    """Outputs of the current network on an image sent with `PredictNow`."""

    iteration: int
    outputs: dict[str, np.ndarray] = field(repr=False)  # output node -> (maps, z, y, x); empty on error
    tag: str = ""
    error: str | None = None  # why no preview could be made (training goes on)


@dataclass(frozen=True)
class Finished:
    """The loop ended normally: Max_iter reached, a stop request, or the time limit."""

    iteration: int  # the last update done
    reason: FinishReason
    checkpoint: str | None  # the last checkpoint written
    best: str | None = None  # <prefix>_best.h5: the weights with the lowest validation cost
    best_iteration: int | None = None

    @property
    def best_is_earlier(self) -> bool:
        """Whether the last update is worse on the held-back data than an earlier one."""
        return self.best_iteration is not None and self.best_iteration < self.iteration


@dataclass(frozen=True)
class Failed:
    """Training cannot go on (a NaN or infinite cost); nothing was saved after the problem."""

    iteration: int
    message: str
    suggestion: str
    checkpoint: str | None  # the last good checkpoint


TrainingEvent = Started | Step | Show | Validation | Checkpoint | Preview | Finished | Failed

# ----------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class Stop:
    """Finish the current update, save a checkpoint and end with `Finished('stopped')`."""


@dataclass(frozen=True)
class PredictNow:
    """Run the current network over `image` (z, y, x, raw intensities) and yield a Preview.

    The image is preprocessed with `pp_type` and mirrored like the training data.
    """

    image: np.ndarray = field(repr=False)
    pp_type: str = "standard2D"
    tag: str = ""


@dataclass(frozen=True)
class SaveNow:
    """Write a checkpoint now, without stopping."""


TrainingCommand = Stop | PredictNow | SaveNow
