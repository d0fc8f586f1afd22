"""Loading the volumes of a job's `.spec` samples (reference §5.1-§5.3, §5.5).

For every `[sampleN]`: each network input reads its `[imageK]` volume, normalises it with
the section's `pp_types` and, with `is_bd_mirror`, mirrors it by the network's field of
view; each output reads the first file of its `[labelK]` (raw ids, not normalised) and the
first of its `fmasks`, if any. Volumes are cached by path within one call, since the same
file is often bound in many samples.

ZNN reads exactly one volume per `[imageN]` (it asserts a single channel), so several
files in one image section are an error here too. Of a label section only the first file
(and the first mask) is read; ZNN would fail on several.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from znn.data.augment import EMAugment
from znn.data.mirror import mirror_pad
from znn.data.preprocess import preprocess
from znn.data.sampling import SampleSet, TrainingSample
from znn.errors import ConfigError, VolumeError
from znn.io.volumes import read_volume
from znn.jobs.dataspec import DataSpec, SampleSpec
from znn.jobs.job import JobConfig, job_dtype
from znn.modes import OutputKind, Rebalance


class _Loader:
    """Reads volumes of one DataSpec, each file once, each image variant once."""

    def __init__(self, job: JobConfig, dtype: DTypeLike | None = None) -> None:
        self.spec: DataSpec = job.loaded_data_spec()
        self.file = str(self.spec.source) if self.spec.source else None
        self.dtype = np.dtype(dtype or job_dtype(job))
        self._raw: dict[Path, np.ndarray] = {}
        self._images: dict[tuple[Path, str, tuple[int, int, int] | None], np.ndarray] = {}

    def error(self, message: str, *, group: str, key: str | None, expected: str,
              found: str, line: int | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=line, group=group, key=key,
                           expected=expected, found=found)

    def sample(self, sample_id: int) -> SampleSpec:
        if sample_id not in self.spec.samples:
            raise self.error(f"no [sample{sample_id}] section", group=f"sample{sample_id}",
                             key=None, expected=f"one of the sample ids {sorted(self.spec.samples)}",
                             found=str(sample_id))
        return self.spec.samples[sample_id]

    def read(self, name: str, *, group: str, key: str, line: int | None) -> np.ndarray:
        """A volume of the spec; a file that cannot be read is reported with its spec line."""
        path = self.spec.resolve(name)
        if path not in self._raw:
            try:
                self._raw[path] = read_volume(path)
            except VolumeError as error:
                raise self.error(f"cannot read the volume ({error})", group=group, key=key, line=line,
                                 expected="a readable volume file (paths are relative to the .spec)",
                                 found=name) from error
        return self._raw[path]

    def binding(self, sample_id: int, sample: SampleSpec, node: str, role: str) -> int:
        section_id = sample.binding_for(node)
        group = f"sample{sample_id}"
        if section_id is None:
            kind = "image" if role == "input" else "label"
            raise self.error(f"network {role} '{node}' is not bound in this sample", group=group,
                             key=node, line=self.spec.section_lines.get(group),
                             expected=f"a line '{node} = <{kind} id>'", found="nothing")
        return section_id

    def image(self, sample_id: int, sample: SampleSpec, node: str,
              fov: tuple[int, int, int] | None) -> np.ndarray:
        """The preprocessed (and, with `fov`, mirrored) image bound to input `node`."""
        image_id = self.binding(sample_id, sample, node, "input")
        group = f"image{image_id}"
        if image_id not in self.spec.images:
            raise self.error(f"input '{node}' is bound to [{group}], which is not defined",
                             group=f"sample{sample_id}", key=node,
                             expected=f"one of the image ids {sorted(self.spec.images)}",
                             found=str(image_id))
        image = self.spec.images[image_id]
        if len(image.fnames) != 1:
            raise self.error("an image section holds exactly one volume (as in ZNN)", group=group,
                             key="fnames", line=image.lines.get("fnames"), expected="one file",
                             found=", ".join(image.fnames))
        path = self.spec.resolve(image.fnames[0])
        key = (path, image.pp_types[0], fov)
        if key not in self._images:
            raw = self.read(image.fnames[0], group=group, key="fnames", line=image.lines.get("fnames"))
            volume = preprocess(raw, image.pp_types[0], self.dtype)
            self._images[key] = volume if fov is None else mirror_pad(volume, fov)
        return self._images[key]

    def label(self, sample_id: int, sample: SampleSpec, node: str,
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """Raw label ids and mask (None without `fmasks`) bound to output `node`."""
        label_id = self.binding(sample_id, sample, node, "output")
        if label_id not in self.spec.labels:
            raise self.error(f"output '{node}' is bound to [label{label_id}], which is not defined",
                             group=f"sample{sample_id}", key=node,
                             expected=f"one of the label ids {sorted(self.spec.labels)}",
                             found=str(label_id))
        label = self.spec.labels[label_id]
        group = f"label{label_id}"
        mask = (self.read(label.fmasks[0], group=group, key="fmasks", line=label.lines.get("fmasks"))
                if label.fmasks else None)
        return self.read(label.fnames[0], group=group, key="fnames", line=label.lines.get("fnames")), mask


def _output_names(loader: _Loader, sample: SampleSpec, input_names: Iterable[str],
                  output_names: Iterable[str] | None) -> list[str]:
    if output_names is not None:
        return list(output_names)
    # Without the network's output names: every binding that is not an input and that
    # points at a label section is an output (spelled as in the .spec).
    inputs = {name.lower() for name in input_names}
    return [name for name, section_id in sample.bindings.items()
            if name.lower() not in inputs and section_id in loader.spec.labels]


def load_sample_set(job: JobConfig, sample_ids: Iterable[int], *, fov: tuple[int, int, int],
                    input_sizes: Mapping[str, tuple[int, int, int]],
                    output_size: tuple[int, int, int], kind: OutputKind, rebalance: Rebalance | None,
                    augment: bool, em_augment: EMAugment | None = None, mirror: bool,
                    output_names: Iterable[str] | None = None) -> SampleSet:
    """The TrainingSamples of `sample_ids` ([sampleN] of the job's .spec) as a SampleSet.

    `input_sizes` maps every network input to its patch size; `output_names` lists the
    network outputs (default: the non-input bindings of each sample that name a label).
    Images are preprocessed to the job's dtype and mirrored by `fov` when `mirror`.
    Raises ConfigError naming the .spec, section and node for missing bindings.
    """
    loader = _Loader(job)
    fixed_outputs = None if output_names is None else list(output_names)
    samples: list[TrainingSample] = []
    for sample_id in sample_ids:
        sample = loader.sample(sample_id)
        images = {node: loader.image(sample_id, sample, node, fov if mirror else None)
                  for node in input_sizes}
        labels: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray | None] = {}
        for node in _output_names(loader, sample, input_sizes, fixed_outputs):
            labels[node], masks[node] = loader.label(sample_id, sample, node)
        if not labels:
            group = f"sample{sample_id}"
            raise loader.error("no network output is bound to a label in this sample",
                               group=group, key=None, line=loader.spec.section_lines.get(group),
                               expected="a line '<output node> = <label id>'", found="nothing")
        samples.append(TrainingSample(
            sample_id, images, labels, masks, input_sizes=input_sizes, output_size=output_size,
            kind=kind, rebalance=rebalance, augment=augment, em_augment=em_augment,
            source=loader.file or ""))
    return SampleSet(samples)


def load_forward_inputs(job: JobConfig, sample_id: int, *, fov: tuple[int, int, int],
                        mirror: bool, input_names: Iterable[str],
                        dtype: DTypeLike | None = None) -> dict[str, np.ndarray]:
    """Preprocessed (and, with `mirror`, mirrored) 3-D images of one sample's inputs,
    for a forward pass. `dtype` defaults to the job's dtype (see `job_dtype`)."""
    loader = _Loader(job, dtype)
    sample = loader.sample(sample_id)
    return {node: loader.image(sample_id, sample, node, fov if mirror else None)
            for node in input_names}


def forward_input_location(job: JobConfig, sample_id: int, node: str) -> tuple[str, str]:
    """The volume file (resolved, with any section range) and pp_type bound to input `node` of
    a sample: what a blockwise pass reads lazily instead of loading the image."""
    loader = _Loader(job)
    sample = loader.sample(sample_id)
    image_id = loader.binding(sample_id, sample, node, "input")
    if image_id not in loader.spec.images:
        raise loader.error(f"input '{node}' is bound to [image{image_id}], which is not defined",
                           group=f"sample{sample_id}", key=node,
                           expected=f"one of the image ids {sorted(loader.spec.images)}", found=str(image_id))
    image = loader.spec.images[image_id]
    if len(image.fnames) != 1:
        raise loader.error("an image section holds exactly one volume (as in ZNN)", group=f"image{image_id}",
                           key="fnames", line=image.lines.get("fnames"), expected="one file",
                           found=", ".join(image.fnames))
    return str(loader.spec.resolve(image.fnames[0])), image.pp_types[0]
