"""A job folder: everything `znn train -c` needs, written from arrays or files (the napari dock's
Export) and read back (Import).

    <folder>/network.znn   the network text
    <folder>/data.spec     sample 1 trains, sample 2 validates, sample 3 is the whole image to predict
    <folder>/job.cfg       the settings; checkpoints go to net/, predictions to out/
    <folder>/data/*.h5     images and labels given as arrays (files given by path are referenced)

One image with dense labels is split by sections: the last fifth (at least one section) validates,
the rest trains. A single-section image trains and validates on that section.

Painted strokes (`label_mode = "sparse_strokes"`) lie on a few sections only, so a section split
would leave one side without labels. Both samples then read the whole stack and the strokes are
split instead (`znn.data.strokes.split_strokes`): about `validation_share` of their connected
components are held back. Which voxels each sample uses is written as masks:

    <folder>/data/train-mask.h5        fmasks of [label1]: the training strokes
    <folder>/data/validation-mask.h5   fmasks of [label2]: the held-back strokes

and both label sections say `label_mode = sparse_strokes` (with `stroke_membrane` and
`stroke_cell` when they are not 1 and 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from znn.base.atomic import atomic_write_text
from znn.base.errors import ConfigError
from znn.base.modes import LABEL_MODES, LabelMode, OutputKind
from znn.data.sampling import centre_region
from znn.data.strokes import split_strokes
from znn.io.volumes import read_volume, write_volume
from znn.jobs.cfg import read_cfg, write_cfg
from znn.jobs.dataspec import (
    DEFAULT_LABEL_MODE,
    DEFAULT_STROKE_CELL,
    DEFAULT_STROKE_MEMBRANE,
    DataSpec,
    ImageSpec,
    LabelSpec,
    SampleSpec,
)
from znn.jobs.job import JobConfig
from znn.jobs.spec_writer import write_spec
from znn.netspec.znnfile import parse_znn

Source = str | Path | np.ndarray
_SECTIONS = re.compile(r"\[[^\[\]]*:[^\[\]]*\]$")


def validation_split(sections: int) -> tuple[str, str]:
    """Section ranges (train, validation) for a stack of `sections`."""
    if sections < 2:
        return "", ""
    held_out = max(1, round(sections / 5))
    return f"[0:{sections - held_out}]", f"[{sections - held_out}:{sections}]"


def _volume_name(folder: Path, source: Source, stem: str) -> tuple[str, int]:
    """The name the .spec uses for a volume, and its number of sections."""
    if isinstance(source, np.ndarray):
        if source.ndim != 3:
            raise ConfigError(f"the {stem} must be a 3-D (z, y, x) array", expected="3 axes",
                              found=f"shape {source.shape}")
        write_volume(folder / "data" / f"{stem}.h5", source)
        return f"data/{stem}.h5", source.shape[0]
    path = Path(source).resolve()
    return str(path), read_volume(path).shape[0]


def _centres(shape: tuple[int, ...], outsz: tuple[int, int, int], kind: OutputKind) -> np.ndarray:
    """The voxels of a label volume on which a patch of `outsz` can be centred."""
    usable = np.zeros(shape, dtype=bool)
    usable[centre_region(shape, outsz, kind)] = True
    return usable


def _held_back_masks(folder: Path, labels: Source, job: JobConfig, share: float) -> tuple[str, str]:
    """Write the training and validation masks of painted strokes; their names in the .spec."""
    strokes = labels if isinstance(labels, np.ndarray) else read_volume(Path(labels).resolve())
    train, validation = split_strokes(strokes, share, seed=job.training.seed or 0,
                                      usable=_centres(strokes.shape, job.training.train_outsz,
                                                      job.network.output_kind or "affinity"))
    write_volume(folder / "data" / "train-mask.h5", train)
    write_volume(folder / "data" / "validation-mask.h5", validation)
    return "data/train-mask.h5", "data/validation-mask.h5"


def write_job_folder(folder: str | Path, *, network_text: str, image: Source, labels: Source, job: JobConfig,
                     name: str = "net", pp_type: str = "standard2D", label_mode: LabelMode = DEFAULT_LABEL_MODE,
                     stroke_membrane: int = DEFAULT_STROKE_MEMBRANE, stroke_cell: int = DEFAULT_STROKE_CELL,
                     validation_share: float = 0.2) -> Path:
    """Write a job folder; `job` supplies every setting but the file and range keys. Returns the .cfg.

    `label_mode` says what the label values mean (see `znn.data.label_modes`); with
    `sparse_strokes` the painted strokes are split into training and held-back validation strokes
    (`validation_share` of their connected components, chosen with the job's seed or 0, among
    those a `train_outsz` patch can be centred on) instead of the stack's sections. A single
    stroke cannot be split: it then trains and validates.
    """
    folder = Path(folder)
    parse_znn(network_text, "network.znn")  # refuse to write a job that cannot run
    if label_mode not in LABEL_MODES:
        raise ConfigError("unknown label mode", key="label_mode", expected=", ".join(LABEL_MODES),
                          found=str(label_mode))
    if not 0.0 <= validation_share < 1.0:
        raise ConfigError("the share of held-back strokes is a fraction", key="validation_share",
                          expected="a number from 0 up to (not including) 1", found=str(validation_share))
    if stroke_membrane <= 0 or stroke_cell <= 0 or stroke_membrane == stroke_cell:
        raise ConfigError("the painted membrane and cell values are two different positive integers",
                          key="stroke_membrane", expected="e.g. 1 and 2 (0 means unlabelled)",
                          found=f"{stroke_membrane} and {stroke_cell}")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "network.znn", network_text)
    image_name, sections = _volume_name(folder, image, "image")
    labels_name, label_sections = _volume_name(folder, labels, "labels")
    if label_sections != sections:
        raise ConfigError("image and labels have different numbers of sections", expected=str(sections),
                          found=str(label_sections))
    sparse = label_mode == "sparse_strokes"
    train, validation = ("", "") if sparse else validation_split(sections)
    masks = _held_back_masks(folder, labels, job, validation_share) if sparse else None

    def label_section(name: str, mask: str | None) -> LabelSpec:
        return LabelSpec([name], ["auto"], False, [mask] if mask else [], label_mode=label_mode,
                         stroke_membrane=stroke_membrane, stroke_cell=stroke_cell)

    spec = DataSpec(
        images={1: ImageSpec([image_name + train], [pp_type], False),
                2: ImageSpec([image_name + validation], [pp_type], False),
                3: ImageSpec([image_name], [pp_type], False)},
        labels={1: label_section(labels_name + train, masks[0] if masks else None),
                2: label_section(labels_name + validation, masks[1] if masks else None)},
        samples={1: SampleSpec({"input": 1, "output": 1}), 2: SampleSpec({"input": 2, "output": 2}),
                 3: SampleSpec({"input": 3})})
    network = parse_znn(network_text)
    for sample in spec.samples.values():  # bind the network's own node names
        bindings = {}
        for role, section_id in sample.bindings.items():
            names = network.input_names if role == "input" else network.output_names
            bindings[names[0]] = section_id
        sample.bindings = bindings
    write_spec(spec, folder / "data.spec")
    # the caller's settings with this folder's files and ranges (its job is left as it was)
    job = replace(job, network=replace(job.network, fnet_spec="network.znn"),
                  data=replace(job.data, fdata_spec="data.spec"),
                  training=replace(job.training, train_net_prefix=f"net/{name}", train_range=(1,), test_range=(2,)),
                  forward=replace(job.forward, forward_range=(3,), forward_net=f"net/{name}_current.h5",
                                  output_prefix=f"out/{name}"))
    cfg = folder / "job.cfg"
    write_cfg(job, cfg)
    return cfg


@dataclass
class JobFolder:
    """A job folder read back: settings, network text, and the first training sample's volumes."""

    job: JobConfig
    network_text: str
    image: str  # volume names as the .spec writes them, resolved, without section ranges
    labels: str | None
    label_mode: LabelMode = DEFAULT_LABEL_MODE  # of the first training sample's label
    stroke_membrane: int = DEFAULT_STROKE_MEMBRANE
    stroke_cell: int = DEFAULT_STROKE_CELL


def read_job_folder(folder: str | Path) -> JobFolder:
    """Read `<folder>/job.cfg` (or a .cfg path) with its network and first training sample."""
    path = Path(folder)
    cfg = path / "job.cfg" if path.is_dir() else path
    job = read_cfg(cfg)
    run = job.require_training()
    network_text = run.network_file.read_text(encoding="utf-8")
    spec = run.data_spec
    network = parse_znn(network_text, str(run.network_file))
    sample = spec.samples[min(run.train_range)]
    image = spec.images[sample.binding_for(network.input_names[0])]  # type: ignore[index]
    label_id = sample.binding_for(network.output_names[0])
    label = spec.labels[label_id] if label_id is not None else None
    labels = label.fnames[0] if label is not None else None

    def whole(name: str) -> str:
        return str(spec.resolve(_SECTIONS.sub("", name)))

    if label is None:
        return JobFolder(job, network_text, whole(image.fnames[0]), None)
    return JobFolder(job, network_text, whole(image.fnames[0]), whole(labels) if labels else None,
                     label.label_mode, label.stroke_membrane, label.stroke_cell)
