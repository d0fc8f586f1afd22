"""What a run reads from a job, resolved once: the home of the run-time defaults.

`JobConfig` keeps a `.cfg` as written (None for a key the file leaves out, conv modes and
cost functions in ZNN's substring spelling). A run needs the values those mean, so
`JobConfig.require_training()`, `require_forward()` and `forward_settings()` return the
frozen dataclasses below (built in `znn.jobs.job`): every key checked present, every default applied,
every substring rule applied (`values.effective_*`), num_threads <= 0 turned into the core
count, paths resolved against the `.cfg`, the schedule included, and where each value was
written (`Provenance`) for messages. Below the job layer (data loading, training, forward and
blockwise passes, checkpoints) only these travel, never the `JobConfig`; the commands, the demo
and the napari dock resolve a job once and hand these down, so that `znn forward` and the
dock's Predict run the same settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from znn.base.errors import ConfigError
from znn.base.modes import ConvMode, CostFn, Dtype, MalisNorm, Optimizer, OutputKind, RebalanceSetting
from znn.base.triples import Triple
from znn.io.writable import Origin
from znn.jobs.dataspec import DataSpec

# Defaults for keys a job may leave out (ZNN itself requires dtype; the loaders accept jobs
# without one, as the forward tools do without forward_ram_budget).
DEFAULT_DTYPE: Dtype = "float32"
DEFAULT_RAM_BUDGET = "50%"  # of the RAM, for forward_outsz = auto


@dataclass(frozen=True)
class Provenance:
    """Where a job's values were written: the `.cfg`, the line of each key and its text as written.
    Every refusal of a value below the job layer names these (file:line: group, key, value);
    settings built in code have none and say `<job>`."""

    file: Path | None = None
    lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # key, lower case
    written: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def line(self, key: str) -> int | None:
        return self.lines.get(key.lower())

    def origin(self, key: str) -> Origin:
        """The key as a place a path came from (for the folder and disk checks of `znn.io.writable`)."""
        return Origin(key, self.written.get(key.lower(), ""), str(self.file) if self.file else "<job>",
                      self.line(key))

    def error(self, key: str, message: str, *, expected: str | None = None, found: str | None = None) -> ConfigError:
        """The one-line refusal of `key`: the file, its line and key, `message`, what was expected
        and what was found (the value as written unless `found` says otherwise)."""
        return ConfigError(message, file=str(self.file) if self.file else None, line=self.line(key),
                           group="parameters", key=key, expected=expected,
                           found=found if found is not None else self.written.get(key.lower()))


NO_PROVENANCE = Provenance()


@dataclass(frozen=True)
class Schedule:
    """How a training run steps and keeps books: ZNN's schedule keys, with their defaults applied.
    A run's budget (`--max-iter`, the dock's update count) is a `dataclasses.replace` of this."""

    eta: float
    anneal_factor: float
    num_iter_per_annealing: int
    momentum: float
    weight_decay: float
    optimizer: Optimizer
    is_malis: bool
    malis_norm_type: MalisNorm
    is_constrained_malis: bool
    num_iter_per_show: int
    num_iter_per_test: int
    test_num: int
    num_iter_per_save: int
    max_iter: int
    seed: int | None  # None: draw one (unless a checkpoint holds one)


@dataclass(frozen=True)
class ForwardSettings:
    """How a forward pass runs, without the job's files: what the dock's Predict needs."""

    dtype: Dtype
    conv_mode: ConvMode  # the effective forward_conv_mode
    num_threads: int  # >= 1
    output_kind: OutputKind
    cost_fn: CostFn  # the effective cost function
    softmax: bool  # a channel softmax on the outputs (the cost is a softmax)
    mirror: bool  # is_bd_mirror
    outsz: Triple | Literal["auto"]  # forward_outsz
    ram_budget: str  # forward_ram_budget, for outsz "auto"
    tif: bool  # forward_tif
    provenance: Provenance = field(default=NO_PROVENANCE, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class ResolvedForward(ForwardSettings):
    """Everything `znn forward` reads from a job."""

    network_file: Path  # the .znn (fnet_spec, or a bundled network it names)
    forward_net: Path  # the trained network; its existence is checked when it is loaded
    forward_range: tuple[int, ...]
    output_prefix: Path
    data_spec: DataSpec


@dataclass(frozen=True)
class ResolvedTraining:
    """Everything `znn train` reads from a job; overrides (a dtype, a thread count, a budget of
    updates) are `dataclasses.replace` of this, never edits of the job."""

    network_file: Path
    data_spec: DataSpec
    train_net_prefix: Path
    train_range: tuple[int, ...]
    test_range: tuple[int, ...]
    train_outsz: Triple
    dtype: Dtype
    conv_mode: ConvMode  # the effective train_conv_mode
    num_threads: int  # >= 1
    output_kind: OutputKind
    cost_fn: CostFn
    rebalance: RebalanceSetting  # the effective rebalance_mode ("off" when the key is absent)
    augment: bool  # is_data_aug
    mirror: bool  # is_bd_mirror
    em_aug_missing_section: float  # 0.0 = off
    em_aug_misalignment: float
    em_aug_intensity: float
    schedule: Schedule
    provenance: Provenance = field(default=NO_PROVENANCE, compare=False, repr=False, kw_only=True)

    def with_max_iter(self, max_iter: int) -> ResolvedTraining:
        """These settings with another Max_iter (a run's own budget of updates)."""
        return replace(self, schedule=replace(self.schedule, max_iter=max_iter))
