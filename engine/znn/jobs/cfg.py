"""Reading and writing ZNN `.cfg` job files (reference §6.1, §6.2).

A job file has one `[parameters]` section. `read_cfg` turns it into a `JobConfig`
(defined in `znn.jobs.job`) made of four groups (`NetworkConfig`, `DataConfig`,
`TrainingConfig`, `ForwardConfig`); `CFG_KEYS` maps each field to
the key's ZNN spelling (e.g. `num_iter_per_show` ↔ `Num_iter_per_show`) so `write_cfg`
emits a file the original ZNN can read too.

Reading is lenient about *missing* keys: what only one command needs (training or
forward) is kept as None and checked by `JobConfig.require_training()` /
`require_forward()`. Malformed values are ConfigErrors naming file, line and key; unknown
keys and legacy keys that do nothing are `ConfigWarning`s (also kept in
`JobConfig.warnings`).

Paths (`fnet_spec`, `fdata_spec`, `train_net_prefix`, `forward_net`, `output_prefix`) are
stored as written. `JobConfig.resolve` takes relative paths from the directory of the
`.cfg` file — a deliberate change: the original resolved them against its working
directory (`python/`), which only coincides for configs kept in `python/`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from znn.base.atomic import atomic_write_text
from znn.base.errors import ConfigError, did_you_mean, printable
from znn.jobs import values as v
from znn.jobs.dataspec import parse_spec_file
from znn.jobs.ini import ConfigWarning, IniDocument, IniSection, read_ini
from znn.jobs.job import (
    DataConfig,
    ForwardConfig,
    JobConfig,
    NetworkConfig,
    TrainingConfig,
)
from znn.jobs.rules import job_problems

__all__ = [
    "CFG_KEYS", "CfgKey", "ConfigWarning", "DataConfig", "ForwardConfig", "JobConfig",
    "NetworkConfig", "TrainingConfig", "format_cfg", "read_cfg", "write_cfg", "znn_key_for",
]


@dataclass(frozen=True)
class CfgKey:
    """One `.cfg` key: its ZNN spelling, the field holding it, and how to read/write it."""

    znn_name: str
    group: str  # attribute of JobConfig: network, data, training or forward
    field: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str]


def _key(znn_name: str, group: str, parse: Callable[[str], Any],
         format: Callable[[Any], str] = str) -> CfgKey:
    return CfgKey(znn_name, group, znn_name.lower(), parse, format)


_BOOL = (v.parse_bool, v.format_bool)
_COUNT = (v.parse_positive_int, str)
_UNIT = (v.parse_unit_float, v.format_float)

CFG_KEYS: tuple[CfgKey, ...] = (
    _key("fnet_spec", "network", v.parse_path),
    _key("num_threads", "network", v.parse_thread_count),
    _key("dtype", "network", v.parse_dtype),
    _key("out_type", "network", v.parse_out_type),
    _key("train_conv_mode", "network", v.parse_conv_mode),
    _key("forward_conv_mode", "network", v.parse_conv_mode),
    _key("is_train_optimize", "network", *_BOOL),
    _key("is_forward_optimize", "network", *_BOOL),
    _key("force_fft", "network", *_BOOL),
    _key("logging", "network", *_BOOL),
    _key("fdata_spec", "data", v.parse_path),
    _key("is_data_aug", "data", *_BOOL),
    _key("is_bd_mirror", "data", *_BOOL),
    _key("rebalance_mode", "data", v.parse_rebalance_mode),
    _key("is_rebalance", "data", *_BOOL),
    _key("is_patch_rebalance", "data", *_BOOL),
    _key("em_aug_missing_section", "data", *_UNIT),
    _key("em_aug_misalignment", "data", *_UNIT),
    _key("em_aug_intensity", "data", *_UNIT),
    _key("train_net_prefix", "training", v.parse_path),
    _key("train_range", "training", v.parse_range, v.format_range),
    _key("test_range", "training", v.parse_range, v.format_range),
    _key("train_outsz", "training", v.parse_triple, v.format_triple),
    _key("cost_fn", "training", v.parse_cost_fn),
    _key("eta", "training", v.parse_nonnegative_float, v.format_float),
    _key("anneal_factor", "training", *_UNIT),
    _key("Num_iter_per_annealing", "training", *_COUNT),
    _key("momentum", "training", *_UNIT),
    _key("weight_decay", "training", *_UNIT),
    _key("optimizer", "training", v.parse_optimizer),
    _key("is_malis", "training", *_BOOL),
    _key("malis_norm_type", "training", v.parse_malis_norm_type),
    _key("is_constrained_malis", "training", *_BOOL),
    _key("is_visual", "training", *_BOOL),
    _key("is_stdio", "training", *_BOOL),
    _key("is_debug", "training", *_BOOL),
    _key("is_check", "training", *_BOOL),
    _key("Num_iter_per_show", "training", *_COUNT),
    _key("Num_iter_per_test", "training", *_COUNT),
    _key("test_num", "training", *_COUNT),
    _key("Num_iter_per_save", "training", *_COUNT),
    _key("Max_iter", "training", *_COUNT),
    _key("seed", "training", v.parse_seed),
    _key("forward_range", "forward", v.parse_range, v.format_range),
    _key("forward_net", "forward", v.parse_path),
    _key("forward_outsz", "forward", v.parse_outsz_or_auto, v.format_outsz_or_auto),
    _key("output_prefix", "forward", v.parse_path),
    _key("forward_ram_budget", "forward", v.parse_ram_budget),
    _key("forward_tif", "forward", *_BOOL),
)
_KEYS_BY_NAME = {key.znn_name.lower(): key for key in CFG_KEYS}
# Older spellings of train_net_prefix (a full file name; ".h5" is removed), in ZNN's order.
_PREFIX_FALLBACKS = ("train_net", "train_save_net")
_KNOWN_NAMES = tuple(key.znn_name for key in CFG_KEYS) + _PREFIX_FALLBACKS


def znn_key_for(field_name: str) -> str:
    """The key as ZNN spells it for a field name, e.g. 'max_iter' → 'Max_iter'."""
    for key in CFG_KEYS:
        if key.field == field_name:
            return key.znn_name
    raise KeyError(field_name)


# --- reading -----------------------------------------------------------------------------

class _CfgReader:
    """Builds a JobConfig from a parsed document, collecting warnings."""

    def __init__(self, document: IniDocument) -> None:
        self.document = document
        self.file = document.file
        self.job = JobConfig(source=Path(self.file), warnings=list(document.notes))

    def warn(self, line: int | None, message: str) -> None:
        where = f"{self.file}:{line}" if line is not None else self.file
        self.job.warnings.append(f"{where}: {message}")

    def read(self) -> JobConfig:
        parameters = self._parameters_section()
        fallbacks: dict[str, tuple[str, int]] = {}
        for entry in parameters.entries.values():
            if entry.key in _PREFIX_FALLBACKS:
                fallbacks[entry.key] = (entry.value, entry.line)
                continue
            key = _KEYS_BY_NAME.get(entry.key)
            if key is None:
                self.warn(entry.line, f"unknown key '{entry.spelled}'"
                          f"{did_you_mean(entry.key, _KNOWN_NAMES)}; ignored")
                continue
            try:
                value = key.parse(entry.value)
            except v.BadValue as bad:
                raise ConfigError(bad.problem, file=self.file, line=entry.line, group="parameters",
                                  key=entry.spelled, expected=bad.expected, found=bad.found) from None
            setattr(getattr(self.job, key.group), key.field, value)
            self.job.key_lines[key.znn_name] = entry.line
        self._apply_prefix_fallbacks(fallbacks)
        self._apply_legacy_conv_modes()
        self._note_ineffective_keys()
        self._check_rules()
        return self.job

    def _parameters_section(self) -> IniSection:
        sections = self.document.sections
        if "parameters" not in sections:
            raise ConfigError(
                "no [parameters] section" + did_you_mean("parameters", sections),
                file=self.file, expected="a '[parameters]' line before the keys",
                found=", ".join(f"[{name}]" for name in sections) or "no section")
        for name, section in sections.items():
            if name != "parameters":
                self.warn(section.line, f"section [{name}] ignored (job keys belong in"
                          " [parameters]; data sections belong in the .spec file)")
        return sections["parameters"]

    def _line(self, znn_name: str) -> int | None:
        return self.job.key_lines.get(znn_name)

    def _apply_prefix_fallbacks(self, fallbacks: dict[str, tuple[str, int]]) -> None:
        training = self.job.training
        used = "train_net_prefix" if training.train_net_prefix is not None else None
        for name in _PREFIX_FALLBACKS:
            if name not in fallbacks:
                continue
            text, line = fallbacks[name]
            if used is not None:
                self.warn(line, f"legacy key '{name}' ignored: '{used}' is also given")
                continue
            try:
                path = v.parse_path(text)
            except v.BadValue as bad:
                raise ConfigError(bad.problem, file=self.file, line=line, group="parameters",
                                  key=name, expected=bad.expected, found=bad.found) from None
            # ZNN removes every ".h5" from the file name to get the prefix.
            training.train_net_prefix = path.replace(".h5", "")
            self.job.key_lines["train_net_prefix"] = line
            used = name

    def _apply_legacy_conv_modes(self) -> None:
        # ZNN's order: is_*_optimize, then force_fft, then an explicit *_conv_mode wins.
        network = self.job.network
        for mode_field, optimize_field in (("train_conv_mode", "is_train_optimize"),
                                           ("forward_conv_mode", "is_forward_optimize")):
            explicit = getattr(network, mode_field)
            legacy_mode, legacy_key = None, None
            optimize = getattr(network, optimize_field)
            if optimize is not None:
                legacy_mode, legacy_key = ("optimize" if optimize else "direct"), optimize_field
            if network.force_fft:
                if legacy_key == optimize_field:
                    self.warn(self._line(optimize_field),
                              f"'{optimize_field}' is overridden by 'force_fft = yes'")
                legacy_mode, legacy_key = "fft", "force_fft"
            if legacy_key is None:
                continue
            if explicit is None:
                setattr(network, mode_field, legacy_mode)
            elif legacy_key != "force_fft":
                self.warn(self._line(legacy_key),
                          f"legacy key '{legacy_key}' is overridden by '{mode_field}'"
                          f" (line {self._line(mode_field)})")
        if network.force_fft and self._line("train_conv_mode") and self._line("forward_conv_mode"):
            self.warn(self._line("force_fft"), "legacy key 'force_fft' is overridden by"
                      " 'train_conv_mode' and 'forward_conv_mode'")

    def _note_ineffective_keys(self) -> None:
        job = self.job
        for name in ("is_rebalance", "is_patch_rebalance"):
            if getattr(job.data, name) is not None:
                self.warn(self._line(name), f"legacy key '{name}' has no effect in ZNN;"
                          " use 'rebalance_mode = global' or 'patch' (omit it for no rebalancing)")
        mode = job.data.rebalance_mode
        if mode is not None and mode not in ("global", "patch"):
            effect = job.data.effective_rebalance_mode
            meaning = "no rebalancing" if effect is None else f"'{effect}' rebalancing"
            self.warn(self._line("rebalance_mode"), f"rebalance_mode '{mode}' means {meaning} in ZNN"
                      " (only omitting the key turns rebalancing off)")
        if job.network.logging:
            self.warn(self._line("logging"), "'logging = yes' crashed the original ZNN;"
                      " it is ignored here")
        if job.training.is_visual:
            self.warn(self._line("is_visual"), "'is_visual' has no effect")
        if "square_square" in job.training.cost_fn:
            self.warn(self._line("cost_fn"), f"ZNN reads cost_fn '{job.training.cost_fn}' as"
                      " square_loss; write 'square-square' for the thresholded square loss")

    def _check_rules(self) -> None:
        """The cross-field rules (`znn.jobs.rules`, which the dock applies too): errors refuse the
        file, naming the key and its line; warnings are kept with the job."""
        written = self.job.provenance().written
        for problem in job_problems(self.job):
            key = problem.key
            if problem.severity == "error":
                raise ConfigError(problem.message, file=self.file, line=self._line(key), group="parameters",
                                  key=key, expected=problem.expected, found=written.get(key.lower()))
            self.warn(self._line(key), problem.message)


def _load_data_spec(job: JobConfig) -> None:
    spec_path = job.data.fdata_spec
    if spec_path is None:
        return
    resolved = job.resolve(spec_path)
    if not resolved.is_file():
        raise ConfigError(
            f"data spec file not found (looked for {resolved})",
            file=str(job.source), line=job.key_line("fdata_spec"), group="parameters",
            key="fdata_spec", expected="an existing .spec file, relative to the .cfg's directory",
            found=spec_path)
    job.data_spec = parse_spec_file(resolved)
    job.warnings.extend(job.data_spec.warnings)


def read_cfg(path: str | os.PathLike[str], *, load_spec: bool = True) -> JobConfig:
    """Read a `.cfg` job file; with `load_spec`, also read the `.spec` named by fdata_spec.

    Missing training/forward keys are allowed (None); see `JobConfig.require_training`.
    Data volume paths are never checked here, only the existence of the `.spec` file.
    """
    job = _CfgReader(read_ini(path)).read()
    if load_spec:
        _load_data_spec(job)
    job.warnings = [printable(message) for message in job.warnings]  # they quote the file
    for message in job.warnings:
        warnings.warn(message, ConfigWarning, stacklevel=2)
    return job


# --- writing -----------------------------------------------------------------------------

_GROUP_TITLES = {"network": "network", "data": "data", "training": "training", "forward": "forward pass"}


def format_cfg(job: JobConfig) -> str:
    """The text of a `[parameters]` file that `read_cfg` reads back as `job`; keys unset
    (None) are left out, everything else is written explicitly with ZNN's spelling."""
    lines = ["[parameters]"]
    for group, title in _GROUP_TITLES.items():
        settings = getattr(job, group)
        lines.append(f"# {title}")
        for key in CFG_KEYS:
            if key.group != group:
                continue
            value = getattr(settings, key.field)
            if value is not None:
                lines.append(f"{key.znn_name} = {key.format(value)}")
        lines.append("")
    return "\n".join(lines)


def write_cfg(job: JobConfig, path: str | os.PathLike[str]) -> None:
    """Write `job` as a `.cfg` at `path`. Paths are written as stored, so relative paths
    keep pointing at the same files only when `path` is in the same directory."""
    atomic_write_text(path, format_cfg(job))

