"""Everything a training run needs before its first update, built from a job's resolved settings.

`prepare_training` reads the network, decides where training starts (a seed network given
with `-s`, else `<prefix>_current.h5` if it exists, else a fresh initialisation, as ZNN's
`train.py` does, §6.3), and loads the training and validation samples. Resuming restores
momentum (and Adam's second moments), learning curve, iteration and random seed. A seed
network starts a new run instead (unlike ZNN, which carried the file's iteration count on):
its weights are copied, its optimiser state, curve and iteration are not, so the run counts
its own updates from iteration 1 and `Max_iter` is how many it makes.

Everything that can be checked is checked before the network is built: the network's output
maps against out_type, its memory estimate against the memory available, the saved network it
starts from, and every volume of the samples (`znn.data.dataset`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from znn.base.errors import SavedNetworkError
from znn.base.modes import CostFn, Optimizer, OutputKind
from znn.data.augment import EMAugment
from znn.data.dataset import load_sample_set
from znn.data.sampling import SampleSet
from znn.io.curve import LearningCurve
from znn.io.h5net import LoadReport, SavedNetwork, apply_saved, load_network
from znn.io.space import checkpoint_room, require_free_space
from znn.io.writable import check_output_folder
from znn.jobs.resolved import ResolvedTraining
from znn.jobs.rules import check_output_maps
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import EdgeGroup, NetSpec, NodeGroup
from znn.netspec.znnfile import read_znn
from znn.network.net import Network
from znn.planning.memory_fit import memory_shortfall
from znn.train.checkpoint import checkpoint_path, current_path, curve_png_path


@dataclass
class TrainingSetup:
    """The network, the data and where in the run we are."""

    settings: ResolvedTraining
    spec: NetSpec
    net: Network
    seed: int
    first_iteration: int
    curve: LearningCurve
    train_set: SampleSet
    test_set: SampleSet
    resumed_from: Path | None = None  # this run's own checkpoint it continues
    seeded_from: Path | None = None  # the trained network a new run starts from (-s)
    load_report: LoadReport | None = None
    notes: list[str] = field(default_factory=list)
    niceness: int = 0  # of the run's compute threads (network, prefetcher, previews)

    @property
    def kind(self) -> OutputKind:
        return self.settings.output_kind

    @property
    def cost_fn(self) -> CostFn:
        return self.settings.cost_fn

    @property
    def prefix(self) -> Path:
        """train_net_prefix, resolved: checkpoints are `<prefix>_<iteration>.h5`."""
        return self.settings.train_net_prefix

    @property
    def fov(self) -> tuple[int, int, int]:
        return self.net.graph.fov


def _em_augment(run: ResolvedTraining) -> EMAugment | None:
    augment = EMAugment(missing_section=run.em_aug_missing_section, misalignment=run.em_aug_misalignment,
                        intensity=run.em_aug_intensity)
    return augment if augment.enabled else None


def _resume_source(run: ResolvedTraining, seed_network: str | Path | None) -> Path | None:
    prefix = run.train_net_prefix
    if seed_network is not None:
        seed_path = Path(seed_network)
        if not seed_path.is_file():
            raise SavedNetworkError("seed network file not found (-s)", file=str(seed_path),
                                    expected="an existing .h5 network file")
        if current_path(prefix).exists():
            raise run.provenance.error(
                "train_net_prefix", f"{current_path(prefix)} already exists: seeding a new run from {seed_path} "
                "would overwrite that training's checkpoints",
                expected="a new train_net_prefix for the seeded run (or drop -s to resume it)")
        return seed_path
    current = current_path(prefix)
    return current if current.exists() or current.is_symlink() else None  # a broken link is refused, not skipped


def _load_start(source: Path, seeded: bool) -> SavedNetwork:
    """The network a run starts from; a refusal of a -s network says it was given with -s."""
    try:
        return load_network(source)
    except SavedNetworkError as error:
        if not seeded:
            raise
        raise SavedNetworkError(f"{error.message} (the network given with -s)", file=error.file, line=error.line,
                                group=error.group, key=error.key, expected=error.expected,
                                found=error.found) from None


def _check_memory(run: ResolvedTraining, graph: NetworkGraph, threads: int) -> None:
    """Refuse a training whose network would not fit in the memory available now."""
    shortfall = memory_shortfall(graph, dtype=run.dtype, conv_mode=run.conv_mode, num_threads=threads, training=True)
    if shortfall is None:
        return
    patch = "x".join(map(str, graph.outsz))
    advice = "a smaller train_outsz, " + ("" if run.conv_mode == "direct" else "'train_conv_mode = direct' "
                                          "(no spectra), ") + "or a network with fewer maps"
    what = (f"training {run.network_file.name} with {patch} output patches ({run.conv_mode}, {run.dtype}, "
            f"{threads} thread{'s' if threads != 1 else ''})")
    raise run.provenance.error("train_outsz", shortfall.describe(what), expected=advice,
                               found=",".join(map(str, run.train_outsz)))


def check_checkpoint_folder(run: ResolvedTraining, graph: NetworkGraph, resume_from: Path | None = None) -> None:
    """Refuse, before any work, a train_net_prefix whose folder cannot take the next checkpoint:
    a file on its path, a folder that cannot be written, too little free space."""
    origin = run.provenance.origin("train_net_prefix")
    prefix = run.train_net_prefix
    check_output_folder(prefix.parent, origin, what="checkpoints")
    for path in (checkpoint_path(prefix, "init"), current_path(prefix), curve_png_path(prefix)):
        if path.is_dir():
            raise origin.error(f"{path} is a folder", expected="a prefix whose checkpoint names are free or files")
    layers = len(graph.spec.nodes) + len(graph.spec.edges)
    resumed = resume_from.stat().st_size if resume_from is not None and resume_from.is_file() else 0
    needed = checkpoint_room(graph.parameter_count, run.dtype, layers=layers, at_least=resumed)
    require_free_space(prefix.parent, needed, origin, what="the next checkpoint and its copy")


def prepare_training(run: ResolvedTraining, *, seed_network: str | Path | None = None,
                     niceness: int = 0) -> TrainingSetup:
    """Build the network and data of a run from its resolved settings (overrides, such as another
    thread count, are `dataclasses.replace` of them); `niceness` is the compute threads' (a GUI's
    choice, see `znn.base.niceness`)."""
    train = run.schedule
    spec = read_znn(run.network_file)
    check_output_maps(run.output_kind, run.provenance, {name: spec.nodes[name].size for name in spec.output_names},
                      run.network_file, training=True)
    run.data_spec.check_against_network(spec.input_names, spec.output_names)
    threads = run.num_threads
    graph = NetworkGraph(spec, run.train_outsz)  # the geometry the network will be built with
    _check_memory(run, graph, threads)
    notes: list[str] = []
    source = _resume_source(run, seed_network)
    seeded = seed_network is not None
    saved = _load_start(source, seeded) if source is not None else None
    state = (saved.state or {}) if saved is not None else {}
    seed = int(state["seed"]) if "seed" in state and not seeded else train.seed
    if seed is None:
        seed = secrets.randbits(31)
        notes.append(f"random seed {seed} (set 'seed = {seed}' in the .cfg to repeat this run)")
    check_checkpoint_folder(run, graph, source)
    # The samples before the network: a bad volume is refused before anything is built.
    fov = graph.fov
    input_sizes = {name: size[1:] for name, size in graph.input_sizes.items()}
    common: dict[str, Any] = dict(fov=fov, input_sizes=input_sizes, output_size=graph.outsz,
                                  kind=run.output_kind, output_names=spec.output_names,
                                  augment=run.augment, mirror=run.mirror)
    rebalance = None if run.rebalance == "off" else run.rebalance  # the loaders' spelling of off
    common.update(provenance=run.provenance, dtype=run.dtype)
    train_set = load_sample_set(run.data_spec, run.train_range, rebalance=rebalance, em_augment=_em_augment(run),
                                both_stroke_classes=True, **common)
    test_set = load_sample_set(run.data_spec, run.test_range, rebalance=None, **common)
    if train.is_malis and any(sample.sparse for sample in train_set):
        # MALIS needs the whole affinity graph of a patch; strokes leave most of it unknown.
        raise run.provenance.error("is_malis", "MALIS cannot train from painted strokes (label_mode = sparse_strokes)",
                                   expected="'is_malis = no', or dense labels", found="yes")
    net = Network(spec, run.train_outsz, dtype=run.dtype, conv_mode=run.conv_mode, seed=seed,
                  num_threads=threads, phase="train", niceness=niceness)
    report = None
    curve = LearningCurve()
    first = 1
    if saved is not None:
        try:
            report = apply_saved(spec, saved, net.params)
        except SavedNetworkError:
            net.close()
            raise
        net.invalidate_kernel_spectra()
        if seeded:
            net.params.reset_optimizer_state()
            notes.append(_seeded_note(source, state, saved.learning_curve, train.max_iter))
        else:
            first, curve = _resumed_position(state, saved.learning_curve)
            notes += _restore_optimizer(net, state, train.optimizer)
    groups: list[NodeGroup | EdgeGroup] = [*spec.nodes.values(), *spec.edges.values()]
    if any(g.eta is not None or g.momentum is not None or g.weight_decay is not None for g in groups):
        notes.append("per-layer eta/momentum/weight_decay in the .znn are replaced by the .cfg values "
                     "(as in ZNN's train.py)")
    return TrainingSetup(settings=run, spec=spec, net=net, seed=seed, first_iteration=first, curve=curve,
                         train_set=train_set, test_set=test_set, resumed_from=None if seeded else source,
                         seeded_from=source if seeded else None, load_report=report, notes=notes,
                         niceness=niceness)


def _resumed_position(state: dict[str, Any], saved_curve: LearningCurve | None) -> tuple[int, LearningCurve]:
    """(first iteration, learning curve) of a run that goes on from its own checkpoint."""
    curve = saved_curve if saved_curve is not None else LearningCurve()
    if "iteration" in state:
        first = int(state["iteration"]) + 1
        return first, curve.cropped(first - 1)
    return curve.last_iteration + 1, curve  # a file written by ZNN: its rule, max(last test it, last train it) + 1


def _restore_optimizer(net: Network, state: dict[str, Any], optimizer: Optimizer) -> list[str]:
    """Adam's step count from the checkpoint; a run that changes optimiser starts that one afresh."""
    saved_optimizer = str(state.get("optimizer", "sgd"))
    if saved_optimizer == optimizer:
        net.adam_steps = int(state.get("adam_steps", 0)) if optimizer == "adam" else 0
        return []
    net.params.reset_optimizer_state()
    return [f"the checkpoint was trained with {saved_optimizer} and this job uses {optimizer}: its momentum is "
            "reset"]


def _seeded_note(source: Path | None, state: dict[str, Any], saved_curve: LearningCurve | None,
                 max_iter: int) -> str:
    trained = int(state["iteration"]) if "iteration" in state else (
        saved_curve.last_iteration if saved_curve is not None else 0)
    where = f" (trained for {trained:,} iterations there)" if trained else ""
    return (f"a new run from the weights of {source}{where}: it counts its own updates from iteration 1 and "
            f"makes {max_iter:,} (Max_iter); momentum and learning curve start afresh")
