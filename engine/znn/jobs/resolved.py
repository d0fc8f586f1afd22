"""What a run reads from a job, resolved once: the home of the run-time defaults.

`JobConfig` keeps a `.cfg` as written (None for a key the file leaves out, conv modes and
cost functions in ZNN's substring spelling). A run needs the values those mean, so
`JobConfig.require_training()`, `require_forward()` and `forward_settings()` return the
frozen dataclasses below, built here: every key checked present, every default applied,
every substring rule applied (`values.effective_*`), num_threads <= 0 turned into the core
count, paths resolved against the `.cfg`. No field is Optional; the commands, the data
loaders and the napari dock read these instead of re-deriving values, so that `znn forward`
and the dock's Predict run the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from znn.errors import ConfigError
from znn.jobs import values as v
from znn.jobs.dataspec import DataSpec
from znn.modes import ConvMode, CostFn, Dtype, OutputKind, RebalanceSetting

if TYPE_CHECKING:
    from znn.jobs.job import JobConfig

Triple = tuple[int, int, int]
T = TypeVar("T")

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


def job_dtype(job: JobConfig) -> Dtype:
    """The job's dtype, or the default for a job that names none (data loaders)."""
    return job.network.dtype or DEFAULT_DTYPE


def _present(value: T | None) -> T:
    assert value is not None, "JobConfig.check_training/check_forward ran first"
    return value


def _kind_and_cost(job: JobConfig) -> tuple[OutputKind, CostFn]:
    kind, cost_fn = job.network.output_kind, job.effective_cost_fn
    if kind is None or cost_fn is None:
        raise ConfigError("cannot tell the output type", file=str(job.source), key="out_type",
                          expected="a value containing 'boundary' or 'affin'", found=job.network.out_type)
    return kind, cost_fn


def forward_settings(job: JobConfig) -> ForwardSettings:
    """The forward settings of a job whose forward keys were checked present."""
    net, fwd = job.network, job.forward
    kind, cost_fn = _kind_and_cost(job)
    return ForwardSettings(
        dtype=_present(net.dtype), conv_mode=_present(net.effective_forward_conv_mode),
        num_threads=v.effective_num_threads(_present(net.num_threads)), output_kind=kind, cost_fn=cost_fn,
        softmax="softmax" in cost_fn, mirror=job.data.is_bd_mirror, outsz=_present(fwd.forward_outsz),
        ram_budget=fwd.forward_ram_budget or DEFAULT_RAM_BUDGET, tif=bool(fwd.forward_tif))


def resolve_forward(job: JobConfig, network_file: Path | None = None) -> ResolvedForward:
    """`ResolvedForward` of a checked job; `network_file` replaces fnet_spec's (blockwise --network)."""
    settings = forward_settings(job)
    fwd = job.forward
    return ResolvedForward(
        **{f.name: getattr(settings, f.name) for f in fields(ForwardSettings)},
        network_file=network_file if network_file is not None else job.network_file(),
        forward_net=job.resolve(_present(fwd.forward_net)), forward_range=tuple(_present(fwd.forward_range)),
        output_prefix=job.resolve(_present(fwd.output_prefix)), data_spec=job.loaded_data_spec())


def resolve_training(job: JobConfig) -> ResolvedTraining:
    """`ResolvedTraining` of a checked job."""
    net, data, train = job.network, job.data, job.training
    kind, cost_fn = _kind_and_cost(job)
    return ResolvedTraining(
        network_file=job.network_file(), data_spec=job.loaded_data_spec(),
        train_net_prefix=job.resolve(_present(train.train_net_prefix)),
        train_range=tuple(_present(train.train_range)), test_range=tuple(_present(train.test_range)),
        train_outsz=train.train_outsz, dtype=_present(net.dtype),
        conv_mode=_present(net.effective_train_conv_mode),
        num_threads=v.effective_num_threads(_present(net.num_threads)), output_kind=kind, cost_fn=cost_fn,
        rebalance=data.effective_rebalance_mode or "off", augment=data.is_data_aug, mirror=data.is_bd_mirror,
        em_aug_missing_section=data.em_aug_missing_section or 0.0,
        em_aug_misalignment=data.em_aug_misalignment or 0.0, em_aug_intensity=data.em_aug_intensity or 0.0)
