"""ZNN job files: `.cfg` (what to train or run) and `.spec` (which volumes feed which node)."""

from __future__ import annotations

from znn.jobs.cfg import (
    CFG_KEYS,
    CfgKey,
    DataConfig,
    ForwardConfig,
    JobConfig,
    NetworkConfig,
    TrainingConfig,
    format_cfg,
    read_cfg,
    write_cfg,
    znn_key_for,
)
from znn.jobs.dataspec import (
    DataSpec,
    ImageSpec,
    LabelSpec,
    SampleSpec,
    read_spec,
)
from znn.jobs.ini import ConfigWarning
from znn.jobs.spec_writer import format_spec, write_spec

__all__ = [
    "CFG_KEYS",
    "CfgKey",
    "ConfigWarning",
    "DataConfig",
    "DataSpec",
    "ForwardConfig",
    "ImageSpec",
    "JobConfig",
    "LabelSpec",
    "NetworkConfig",
    "SampleSpec",
    "TrainingConfig",
    "format_cfg",
    "format_spec",
    "read_cfg",
    "read_spec",
    "write_cfg",
    "write_spec",
    "znn_key_for",
]
