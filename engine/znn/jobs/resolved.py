"""What a run reads from a job, resolved once: the home of the run-time defaults.

`JobConfig` keeps a `.cfg` as written (None for a key the file leaves out, conv modes and
cost functions in ZNN's substring spelling). A run needs the values those mean, so
`JobConfig.require_training()`, `require_forward()` and `forward_settings()` return the
frozen dataclasses below (built in `znn.jobs.job`): every key checked present, every default applied,
every substring rule applied (`values.effective_*`), num_threads <= 0 turned into the core
count, paths resolved against the `.cfg`. No field is Optional; the commands, the data
loaders and the napari dock read these instead of re-deriving values, so that `znn forward`
and the dock's Predict run the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from znn.base.modes import ConvMode, CostFn, Dtype, OutputKind, RebalanceSetting
from znn.base.triples import Triple
from znn.jobs.dataspec import DataSpec

# Defaults for keys a job may leave out (ZNN itself requires dtype; the loaders accept jobs
# without one, as the forward tools do without forward_ram_budget).
DEFAULT_DTYPE: Dtype = "float32"
DEFAULT_RAM_BUDGET = "50%"  # of the RAM, for forward_outsz = auto


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
    """Everything `znn train` reads from a job besides the schedule (`TrainingConfig`'s eta,
    intervals and Max_iter, which have no None and may be overridden after this is built)
    and the seed (None there means "draw one", unless a checkpoint holds one)."""

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
