"""A job folder: everything `znn train -c` needs, written from arrays or files (the napari dock's
Export) and read back (Import).

    <folder>/network.znn   the network text
    <folder>/data.spec     sample 1 trains, sample 2 validates, sample 3 is the whole image to predict
    <folder>/job.cfg       the settings; checkpoints go to net/, predictions to out/
    <folder>/data/*.h5     images and labels given as arrays (files given by path are referenced)

One image with labels is split by sections: the last fifth (at least one section) validates,
the rest trains. A single-section image trains and validates on that section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from znn.errors import ConfigError
from znn.io.volumes import read_volume, write_volume
from znn.jobs.cfg import read_cfg, write_cfg
from znn.jobs.dataspec import DataSpec, ImageSpec, LabelSpec, SampleSpec, write_spec
from znn.jobs.job import JobConfig
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


def write_job_folder(folder: str | Path, *, network_text: str, image: Source, labels: Source, job: JobConfig,
                     name: str = "net", pp_type: str = "standard2D") -> Path:
    """Write a job folder; `job` supplies every setting but the file and range keys. Returns the .cfg."""
    folder = Path(folder)
    parse_znn(network_text, "network.znn")  # refuse to write a job that cannot run
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "network.znn").write_text(network_text, encoding="utf-8")
    image_name, sections = _volume_name(folder, image, "image")
    labels_name, label_sections = _volume_name(folder, labels, "labels")
    if label_sections != sections:
        raise ConfigError("image and labels have different numbers of sections", expected=str(sections),
                          found=str(label_sections))
    train, validation = validation_split(sections)
    spec = DataSpec(
        images={1: ImageSpec([image_name + train], [pp_type], False),
                2: ImageSpec([image_name + validation], [pp_type], False),
                3: ImageSpec([image_name], [pp_type], False)},
        labels={1: LabelSpec([labels_name + train], ["auto"], False),
                2: LabelSpec([labels_name + validation], ["auto"], False)},
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
    job.network.fnet_spec, job.data.fdata_spec = "network.znn", "data.spec"
    job.training.train_net_prefix = f"net/{name}"
    job.training.train_range, job.training.test_range = (1,), (2,)
    job.forward.forward_range, job.forward.forward_net = (3,), f"net/{name}_current.h5"
    job.forward.output_prefix = f"out/{name}"
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
    labels = spec.labels[label_id].fnames[0] if label_id is not None else None

    def whole(name: str) -> str:
        return str(spec.resolve(_SECTIONS.sub("", name)))

    return JobFolder(job, network_text, whole(image.fnames[0]), whole(labels) if labels else None)
