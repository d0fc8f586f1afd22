"""The rules that judge a job's keys together (cross-field rules), beside the settings they judge.

`job_problems` is used by the `.cfg` reader and by the dock's form alike, so `znn train` and the
dock refuse the same jobs with the same words; `check_output_maps` judges a job's out_type against
the network it names, for training and forward passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from znn.base.modes import OutputKind
from znn.jobs.resolved import Provenance

if TYPE_CHECKING:
    from znn.jobs.job import JobConfig

ETA_HIGH = 0.1  # above this a warning, above ETA_MAX an error: SGD on a patch diverges
ADAM_ETA_HIGH = 0.01  # Adam's step is eta per weight whatever the gradient: 0.01 already jumps
ETA_MAX = 1.0

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One finding about a job: an error makes it unrunnable, a warning does not. `key` is the
    ZNN spelling of the key it is about (the one a message names and a form marks)."""

    severity: Severity
    key: str
    message: str
    expected: str | None = None


def job_problems(job: JobConfig) -> list[Problem]:
    """Every cross-field problem of `job`: errors first, then warnings."""
    train, net = job.training, job.network
    problems: list[Problem] = []
    if train.max_iter <= train.num_iter_per_save:
        # ZNN asserts Max_iter > Num_iter_per_save; a file that leaves Max_iter at its default hears
        # about the key it wrote.
        if job.source is not None and job.key_line("Max_iter") is None:
            problems.append(Problem("error", "Num_iter_per_save", "Num_iter_per_save must be smaller than "
                                    f"Max_iter ({train.max_iter}, the default)", f"an integer < {train.max_iter}"))
        else:
            problems.append(Problem("error", "Max_iter", f"Max_iter ({train.max_iter}) must be larger than "
                                    f"Num_iter_per_save ({train.num_iter_per_save})",
                                    f"an integer > {train.num_iter_per_save}"))
    affinity = net.output_kind == "affinity"
    if train.is_malis and net.out_type is not None and not affinity:
        problems.append(Problem("error", "is_malis", "MALIS needs out_type affinity (it weighs errors on the "
                                "affinity graph)", "'out_type = affinity', or 'is_malis = no'"))
    if train.eta > ETA_MAX:
        problems.append(Problem("error", "eta", f"eta {train.eta:g} makes every update overshoot (training "
                                "diverges)", f"at most {ETA_MAX:g}, usually 0.001-0.05"))
    if affinity and "softmax" in train.cost_fn.lower():
        problems.append(Problem("warning", "cost_fn", "softmax_loss with affinity outputs is unusual: it makes "
                                "the x/y/z affinities compete; binomial_cross_entropy (auto) treats each alone"))
    if train.is_constrained_malis and not train.is_malis:
        problems.append(Problem("warning", "is_constrained_malis", "is_constrained_malis has no effect while "
                                "MALIS is off"))
    if train.num_iter_per_test > train.max_iter:
        problems.append(Problem("warning", "Num_iter_per_test", "Num_iter_per_test exceeds Max_iter: no "
                                "validation test will run"))
    if train.eta == 0:
        problems.append(Problem("warning", "eta", "eta is 0: the weights will never change"))
    elif train.effective_optimizer == "adam" and train.eta > ADAM_ETA_HIGH:
        problems.append(Problem("warning", "eta", f"eta {train.eta:g} is high for Adam; training may diverge "
                                "(usually 0.00003-0.001)"))
    elif ETA_HIGH < train.eta <= ETA_MAX:
        problems.append(Problem("warning", "eta", f"eta {train.eta:g} is high; training may diverge "
                                "(usually 0.001-0.05)"))
    if train.anneal_factor == 0:
        problems.append(Problem("warning", "anneal_factor", "anneal_factor 0 sets the learning rate to 0 after "
                                "the first decay step"))
    return sorted(problems, key=lambda p: p.severity != "error")


def check_output_maps(kind: OutputKind | None, provenance: Provenance, output_maps: Mapping[str, int],
                      network_file: Path | str, *, training: bool) -> None:
    """ConfigError naming out_type unless every output of the network (name -> maps) has the
    maps out_type calls for: 3 for affinity (x, y, z), 2 for boundary (object, boundary),
    whose forward pass also accepts a single map."""
    if kind is None:
        return
    allowed = (3,) if kind == "affinity" else (2,) if training else (1, 2)
    for name, maps in output_maps.items():
        if maps in allowed:
            continue
        need = " or ".join(map(str, allowed))
        fits = "affinity" if maps == 3 else "boundary" if maps == 2 or (maps == 1 and not training) else None
        suggestion = f"out_type = {fits}" if fits not in (None, kind) else None
        raise provenance.error(
            "out_type",
            f"the network {network_file} has {maps} map{'s' if maps != 1 else ''} at output '{name}', but "
            f"{'training ' if training and kind == 'boundary' else ''}{kind} outputs need {need}",
            expected=(f"'{suggestion}' for this network, or a network with {need} output maps" if suggestion
                      else f"a network with {need} output maps"))
