"""The typed settings of a ZNN job (what a `.cfg` file holds), independent of the file format.

`JobConfig` groups the settings by concern: `NetworkConfig` (architecture, precision,
convolution modes), `DataConfig` (data binding and sample preparation), `TrainingConfig`
(`train.py`) and `ForwardConfig` (`forward.py`). Every field carries the original ZNN's
default (reference §6.2); keys the original requires are None until set.
`JobConfig.check_training()` / `check_forward()` check that what each command needs is
present; `require_training()` / `require_forward()` also resolve it into the frozen
settings a run reads (`znn.jobs.resolved`, the one home of the run-time defaults).

Text vocabularies that ZNN matches by substring (out_type, cost_fn, conv modes,
rebalance_mode) are kept as written; the `effective_*` properties say what ZNN does.

Relative paths are resolved against the directory of the `.cfg` file (`JobConfig.resolve`),
a deliberate change: the original resolved them against its working directory (`python/`),
which only coincides for configs kept in `python/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from znn.base.errors import ConfigError
from znn.base.modes import ConvMode, CostFn, Dtype, MalisNorm, Optimizer, OutputKind, Rebalance
from znn.jobs import values as v
from znn.jobs.dataspec import DataSpec
from znn.jobs.resolved import (
    DEFAULT_DTYPE,
    DEFAULT_RAM_BUDGET,
    ForwardSettings,
    Provenance,
    ResolvedForward,
    ResolvedTraining,
    Schedule,
)


@dataclass
class NetworkConfig:
    """How the network is built and run: architecture file, precision, convolution modes."""

    fnet_spec: str | None = None
    num_threads: int | None = None
    dtype: Dtype | None = None  # canonical
    out_type: str | None = None  # as written; see output_kind
    train_conv_mode: str | None = None  # as written, legacy keys already applied
    forward_conv_mode: str | None = None
    # Legacy keys, recorded; their effect is already folded into the conv modes.
    is_train_optimize: bool | None = None
    is_forward_optimize: bool | None = None
    force_fft: bool | None = None
    logging: bool = False  # `yes` crashed the original; we write no logs either way

    @property
    def output_kind(self) -> OutputKind | None:
        """'boundary' or 'affinity' (None while out_type is unset)."""
        return v.effective_output_kind(self.out_type) if self.out_type else None

    @property
    def effective_num_threads(self) -> int | None:
        """num_threads, with values <= 0 meaning every CPU, as in ZNN."""
        return None if self.num_threads is None else v.effective_num_threads(self.num_threads)

    @property
    def effective_train_conv_mode(self) -> ConvMode | None:
        """'fft', 'optimize' or 'direct' by ZNN's substring rule."""
        return v.effective_conv_mode(self.train_conv_mode) if self.train_conv_mode else None

    @property
    def effective_forward_conv_mode(self) -> ConvMode | None:
        return v.effective_conv_mode(self.forward_conv_mode) if self.forward_conv_mode else None


@dataclass
class DataConfig:
    """Where the data binding lives and how samples are prepared."""

    fdata_spec: str | None = None
    is_data_aug: bool = False
    is_bd_mirror: bool = False
    rebalance_mode: str | None = None  # recorded exactly; see effective_rebalance_mode
    # Legacy keys: ZNN reads them but always overwrites their effect (§4.3 quirk a).
    is_rebalance: bool | None = None
    is_patch_rebalance: bool | None = None
    # napari-znn extensions (None = off): EM defect augmentation of the input patches.
    em_aug_missing_section: float | None = None  # probability per section of a blank section
    em_aug_misalignment: float | None = None  # probability per patch of a section slip
    em_aug_intensity: float | None = None  # per-section contrast/brightness jitter amplitude

    @property
    def effective_rebalance_mode(self) -> Rebalance | None:
        """None (off), 'global' or 'patch' — `none` and other words mean 'global' in ZNN."""
        return v.effective_rebalance_mode(self.rebalance_mode)


@dataclass
class TrainingConfig:
    """Everything `train.py` reads: schedule, cost, bookkeeping intervals."""

    train_net_prefix: str | None = None
    train_range: tuple[int, ...] | None = None
    test_range: tuple[int, ...] | None = None
    train_outsz: tuple[int, int, int] = (1, 100, 100)
    cost_fn: str = "auto"  # as written; see JobConfig.effective_cost_fn
    eta: float = 0.01
    anneal_factor: float = 1.0
    num_iter_per_annealing: int = 100
    momentum: float = 0.0
    weight_decay: float = 0.0
    # napari-znn extension: ZNN's SGD (None, the key left out), or Adam (eta is then its step
    # size, momentum its beta1).
    optimizer: Optimizer | None = None
    is_malis: bool = False
    malis_norm_type: MalisNorm = "none"
    is_constrained_malis: bool = False
    is_visual: bool = False  # unused by ZNN
    is_stdio: bool = False
    is_debug: bool = False
    is_check: bool = False
    num_iter_per_show: int = 100
    num_iter_per_test: int = 500
    test_num: int = 10
    num_iter_per_save: int = 1000
    max_iter: int = 400000
    # napari-znn extension: seeds initialisation, patch sampling and dropout (None = random,
    # drawn once and stored in the checkpoint so that a resumed run continues the same streams).
    seed: int | None = None

    @property
    def effective_optimizer(self) -> Optimizer:
        return self.optimizer or "sgd"


@dataclass
class ForwardConfig:
    """Everything `forward.py` reads (its conv mode is NetworkConfig.forward_conv_mode)."""

    forward_range: tuple[int, ...] | None = None
    forward_net: str | None = None
    forward_outsz: tuple[int, int, int] | Literal["auto"] | None = None  # auto: the planner's patch
    output_prefix: str | None = None
    # napari-znn extensions: the RAM budget of `forward_outsz = auto` (default 50% of RAM)
    # and whether to write one TIFF per output map beside the .h5 (ZNN always did).
    forward_ram_budget: str | None = None
    forward_tif: bool | None = None


@dataclass
class JobConfig:
    """A whole `.cfg` job. Equality compares the settings only (not source or warnings)."""

    network: NetworkConfig = field(default_factory=NetworkConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    forward: ForwardConfig = field(default_factory=ForwardConfig)
    data_spec: DataSpec | None = None
    source: Path | None = field(default=None, compare=False)
    key_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)

    def resolve(self, path: str) -> Path:
        """A path written in the cfg; relative ones are taken from the cfg's directory
        (or the working directory for a JobConfig not read from a file)."""
        candidate = Path(path).expanduser()
        if candidate.is_absolute() or self.source is None:
            return candidate
        return self.source.parent / candidate

    def network_file(self) -> Path:
        """The `.znn` file `fnet_spec` names: a path (relative to the cfg) or, when no such
        file exists, a bundled network by name (`N4`, `tiny2d.znn`), so a job folder copied
        anywhere still finds its network."""
        from znn.netspec.library import bundled_network

        written = self.network.fnet_spec
        if written is None:
            self.require_network()
        assert written is not None
        path = self.resolve(written)
        if path.is_file():
            return path
        bundled = bundled_network(written)
        if bundled is not None:
            return bundled
        if path.is_dir():
            problem = f"{path} is a directory, not a network file"
        else:
            problem = "network file not found" + ("" if path.exists() else f" ({path})")
        raise ConfigError(
            problem,
            file=str(self.source) if self.source else None, line=self.key_line("fnet_spec"),
            group="parameters", key="fnet_spec",
            expected="a .znn path (relative to the .cfg) or a bundled network name such as N4",
            found=written)

    def require_network(self) -> None:
        """Raise ConfigError unless fnet_spec is set."""
        self._require("the network", {"fnet_spec": self.network.fnet_spec})

    def provenance(self) -> Provenance:
        """Where this job's values were written (for messages below the job layer)."""
        written: dict[str, str] = {}
        for section in (self.network, self.data, self.training, self.forward):
            for f in fields(section):
                value = getattr(section, f.name)
                if value is not None:
                    written[f.name.lower()] = _as_written(value)
        return Provenance(self.source, MappingProxyType({k.lower(): n for k, n in self.key_lines.items()}),
                          MappingProxyType(written))

    def key_line(self, znn_name: str) -> int | None:
        """The line a key was read from, by its ZNN spelling (any case)."""
        lowered = znn_name.lower()
        for name, line in self.key_lines.items():
            if name.lower() == lowered:
                return line
        return None

    @property
    def effective_cost_fn(self) -> CostFn | None:
        """square_loss, square_square_loss, binomial_cross_entropy or softmax_loss."""
        return v.effective_cost_fn(self.training.cost_fn, self.network.out_type)

    def loaded_data_spec(self) -> DataSpec:
        """The `.spec` read with this job; ConfigError when none was (`read_cfg(load_spec=False)`,
        or a JobConfig built in code)."""
        if self.data_spec is None:
            raise ConfigError("no data spec loaded for this job",
                              file=str(self.source) if self.source else None,
                              line=self.key_line("fdata_spec"), group="parameters",
                              key="fdata_spec", expected="a .spec file read with the .cfg",
                              found=self.data.fdata_spec or "nothing")
        return self.data_spec

    def check_training(self) -> None:
        """Raise ConfigError unless every key `train.py` needs is present and the sample
        ids of train_range/test_range exist in the loaded data spec (no file is opened)."""
        net, data, train = self.network, self.data, self.training
        self._require("training", {
            "fnet_spec": net.fnet_spec, "num_threads": net.num_threads, "dtype": net.dtype,
            "out_type": net.out_type, "fdata_spec": data.fdata_spec,
            "train_conv_mode": net.train_conv_mode, "train_net_prefix": train.train_net_prefix,
            "train_range": train.train_range, "test_range": train.test_range})
        self._check_sample_ids("train_range", train.train_range)
        self._check_sample_ids("test_range", train.test_range)

    def require_training(self) -> ResolvedTraining:
        """`check_training()`, then the training settings resolved; also a ConfigError when the
        network file is not found or no data spec was loaded."""
        self.check_training()
        return resolve_training(self)

    def check_forward(self) -> None:
        """Raise ConfigError unless every key `forward.py` needs is present and the sample
        ids of forward_range exist in the loaded data spec (no file is opened)."""
        net, fwd = self.network, self.forward
        self._require("the forward pass", {
            "fnet_spec": net.fnet_spec, "num_threads": net.num_threads, "dtype": net.dtype,
            "out_type": net.out_type, "fdata_spec": self.data.fdata_spec,
            "forward_conv_mode": net.forward_conv_mode, "forward_range": fwd.forward_range,
            "forward_net": fwd.forward_net, "forward_outsz": fwd.forward_outsz,
            "output_prefix": fwd.output_prefix})
        self._check_sample_ids("forward_range", fwd.forward_range)

    def require_forward(self, *, network_file: Path | None = None) -> ResolvedForward:
        """`check_forward()`, then the forward settings and files resolved; `network_file`
        replaces the one fnet_spec names (blockwise `--network`)."""
        self.check_forward()
        return resolve_forward(self, network_file)

    def forward_settings(self) -> ForwardSettings:
        """How a forward pass of this job runs, for a job without files or ranges (the
        dock's Predict): only the network and forward settings need to be present."""
        net = self.network
        self._require("the forward pass", {
            "num_threads": net.num_threads, "dtype": net.dtype, "out_type": net.out_type,
            "forward_conv_mode": net.forward_conv_mode, "forward_outsz": self.forward.forward_outsz})
        return forward_settings(self)

    def _require(self, purpose: str, needed: dict[str, Any]) -> None:
        missing = [name for name, value in needed.items() if value is None]
        if not missing:
            return
        noun = "key" if len(missing) == 1 else "keys"
        raise ConfigError(
            f"missing {noun} needed for {purpose}: {', '.join(missing)}",
            file=str(self.source) if self.source else None, group="parameters",
            key=missing[0] if len(missing) == 1 else None,
            expected="a line 'key = value' in [parameters] for each", found="nothing")

    def _check_sample_ids(self, znn_name: str, ids: tuple[int, ...] | None) -> None:
        if self.data_spec is None or ids is None:
            return
        absent = [i for i in ids if i not in self.data_spec.samples]
        if absent:
            raise ConfigError(
                f"sample id(s) {absent} have no [sampleN] section in {self.data_spec.source}",
                file=str(self.source) if self.source else None, line=self.key_line(znn_name),
                group="parameters", key=znn_name,
                expected=f"ids among {sorted(self.data_spec.samples)}", found=v.format_range(ids))


# ---------------------------------------------------------------------- resolving

T = TypeVar("T")


def _as_written(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


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
        ram_budget=fwd.forward_ram_budget or DEFAULT_RAM_BUDGET, tif=bool(fwd.forward_tif),
        provenance=job.provenance())


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
        em_aug_misalignment=data.em_aug_misalignment or 0.0, em_aug_intensity=data.em_aug_intensity or 0.0,
        schedule=schedule_of(train), provenance=job.provenance())


def schedule_of(train: TrainingConfig) -> Schedule:
    """The schedule keys of a job's [parameters] (their defaults are TrainingConfig's)."""
    return Schedule(
        eta=train.eta, anneal_factor=train.anneal_factor, num_iter_per_annealing=train.num_iter_per_annealing,
        momentum=train.momentum, weight_decay=train.weight_decay, optimizer=train.effective_optimizer,
        is_malis=train.is_malis, malis_norm_type=train.malis_norm_type,
        is_constrained_malis=train.is_constrained_malis, num_iter_per_show=train.num_iter_per_show,
        num_iter_per_test=train.num_iter_per_test, test_num=train.test_num,
        num_iter_per_save=train.num_iter_per_save, max_iter=train.max_iter, seed=train.seed)
