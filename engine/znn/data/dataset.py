"""Loading the volumes of a job's `.spec` samples (reference §5.1-§5.3, §5.5).

For every `[sampleN]`: each network input reads its `[imageK]` volume, normalises it with
the section's `pp_types` and, with `is_bd_mirror`, mirrors it by the network's field of
view; each output reads the first file of its `[labelK]` (raw ids, not normalised) and the
first of its `fmasks`, if any, and turns them into ZNN's convention as the section's
`label_mode` says (`znn.data.label_modes`; painted strokes become a mask of painted voxels).
Volumes are cached by path within one call, since the same file is often bound in many samples.

ZNN reads exactly one volume per `[imageN]` (it asserts a single channel), so several
files in one image section are an error here too. Of a label section only the first file
(and the first mask) is read; ZNN would fail on several.

Everything is checked as it is loaded, and each problem names the `.spec` line and the
volume file: images must be grey (not colour, not true/false) and finite, labels whole
numbers, masks 0/1 (`znn.data.checks`); an image and the label of the same sample must have
the same shape unless `is_auto_crop = yes` in either section (then they are aligned at their
centres, as ZNN's sampler always did, reference §5.6); a mask must have its label's shape;
and every volume must hold the patch `train_outsz` asks for, an error that names the .cfg key.
Labels must also make sense (`znn.data.label_sense`): not the image itself, not an image, and
the strokes of a training set of both classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from znn.base.errors import ConfigError, VolumeError
from znn.base.geometry import mirror_pad
from znn.base.modes import OutputKind, Rebalance
from znn.data.augment import EMAugment
from znn.data.checks import check_image_values, check_label_values, check_mask_values
from znn.data.label_modes import convert_labels
from znn.data.label_sense import StrokeClasses, check_dense_labels, check_not_the_image
from znn.data.preprocess import preprocess
from znn.data.sampling import SampleSet, TrainingSample
from znn.io.volumes import open_volume_lazy, read_volume
from znn.jobs.dataspec import DataSpec, ImageSpec, LabelSpec, SampleSpec
from znn.jobs.resolved import DEFAULT_DTYPE, NO_PROVENANCE, Provenance

_CHECKS = {"image": check_image_values, "label": check_label_values, "mask": check_mask_values}


@dataclass(frozen=True)
class VolumeSource:
    """Where a loaded volume comes from, for messages: the file, its shape as read (before
    preprocessing and mirroring) and the `.spec` section, key and line naming it."""

    file: str
    shape: tuple[int, ...]
    section: str
    key: str
    line: int | None
    auto_crop: bool


def _shape_text(shape: Iterable[int]) -> str:
    return "x".join(str(int(n)) for n in shape)


class _Loader:
    """Reads volumes of one DataSpec, each file once, each image variant once."""

    def __init__(self, spec: DataSpec, dtype: DTypeLike | None = None) -> None:
        self.spec: DataSpec = spec
        self.file = str(self.spec.source) if self.spec.source else None
        self.dtype = np.dtype(dtype or DEFAULT_DTYPE)
        self._raw: dict[tuple[Path, str], np.ndarray] = {}
        self._images: dict[tuple[Path, str, tuple[int, int, int] | None], np.ndarray] = {}
        self._converted: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray | None]] = {}

    def error(self, message: str, *, group: str, key: str | None, expected: str,
              found: str, line: int | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=line, group=group, key=key,
                           expected=expected, found=found)

    def volume_error(self, error: VolumeError, *, group: str, key: str, line: int | None) -> ConfigError:
        """A problem of a volume file, placed at the .spec line that names the file."""
        return ConfigError(str(error), file=self.file, line=line, group=group, key=key)

    def sample(self, sample_id: int) -> SampleSpec:
        if sample_id not in self.spec.samples:
            raise self.error(f"no [sample{sample_id}] section", group=f"sample{sample_id}",
                             key=None, expected=f"one of the sample ids {sorted(self.spec.samples)}",
                             found=str(sample_id))
        return self.spec.samples[sample_id]

    def read(self, name: str, *, role: str, group: str, key: str, line: int | None) -> np.ndarray:
        """A volume of the spec read as an image, label or mask and checked as one (see the
        module docstring); a problem is reported with the file and its spec line."""
        path = self.spec.resolve(name)
        if (path, role) not in self._raw:
            try:
                volume = read_volume(path, image=role == "image")
                _CHECKS[role](volume, str(path))
            except VolumeError as error:
                raise self.volume_error(error, group=group, key=key, line=line) from error
            self._raw[path, role] = volume
        return self._raw[path, role]

    def binding(self, sample_id: int, sample: SampleSpec, node: str, role: str) -> int:
        section_id = sample.binding_for(node)
        group = f"sample{sample_id}"
        if section_id is None:
            kind = "image" if role == "input" else "label"
            raise self.error(f"network {role} '{node}' is not bound in this sample", group=group,
                             key=node, line=self.spec.section_lines.get(group),
                             expected=f"a line '{node} = <{kind} id>'", found="nothing")
        return section_id

    def image_section(self, sample_id: int, sample: SampleSpec, node: str) -> tuple[str, ImageSpec]:
        """The `[imageK]` bound to input `node` (its name and contents), holding one volume."""
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
        return group, image

    def image(self, sample_id: int, sample: SampleSpec, node: str,
              fov: tuple[int, int, int] | None) -> tuple[np.ndarray, VolumeSource]:
        """The preprocessed (and, with `fov`, mirrored) image bound to input `node`, and its source."""
        group, image = self.image_section(sample_id, sample, node)
        path = self.spec.resolve(image.fnames[0])
        line = image.lines.get("fnames")
        raw = self.read(image.fnames[0], role="image", group=group, key="fnames", line=line)
        key = (path, image.pp_types[0], fov)
        if key not in self._images:
            volume = preprocess(raw, image.pp_types[0], self.dtype)
            self._images[key] = volume if fov is None else mirror_pad(volume, fov)
        return self._images[key], VolumeSource(str(path), raw.shape, group, "fnames", line, image.is_auto_crop)

    def image_shape(self, sample_id: int, sample: SampleSpec, node: str) -> VolumeSource:
        """The source of the image bound to input `node`, its shape found without reading the voxels."""
        group, image = self.image_section(sample_id, sample, node)
        path = self.spec.resolve(image.fnames[0])
        line = image.lines.get("fnames")
        try:
            shape = (read_volume(path, image=True) if str(path).startswith("synthetic:")
                     else open_volume_lazy(path, image=True)).shape
        except VolumeError as error:
            raise self.volume_error(error, group=group, key="fnames", line=line) from error
        return VolumeSource(str(path), tuple(shape), group, "fnames", line, image.is_auto_crop)

    def label(self, sample_id: int, sample: SampleSpec, node: str,
              ) -> tuple[np.ndarray, VolumeSource, np.ndarray | None, VolumeSource | None, LabelSpec]:
        """Raw label ids and mask (None without `fmasks`) bound to output `node`, with their sources
        and the `[labelK]` section."""
        label_id = self.binding(sample_id, sample, node, "output")
        if label_id not in self.spec.labels:
            raise self.error(f"output '{node}' is bound to [label{label_id}], which is not defined",
                             group=f"sample{sample_id}", key=node,
                             expected=f"one of the label ids {sorted(self.spec.labels)}",
                             found=str(label_id))
        label = self.spec.labels[label_id]
        group = f"label{label_id}"
        line = label.lines.get("fnames")
        ids = self.read(label.fnames[0], role="label", group=group, key="fnames", line=line)
        source = VolumeSource(str(self.spec.resolve(label.fnames[0])), ids.shape, group, "fnames", line,
                              label.is_auto_crop)
        if not label.fmasks:
            return ids, source, None, None, label
        mask_line = label.lines.get("fmasks")
        mask = self.read(label.fmasks[0], role="mask", group=group, key="fmasks", line=mask_line)
        mask_source = VolumeSource(str(self.spec.resolve(label.fmasks[0])), mask.shape, group, "fmasks",
                                   mask_line, label.is_auto_crop)
        return ids, source, mask, mask_source, label

    def converted(self, label: LabelSpec, ids: np.ndarray, source: VolumeSource, mask: np.ndarray | None,
                  mask_source: VolumeSource | None, kind: OutputKind) -> tuple[np.ndarray, np.ndarray | None]:
        """Label and mask in ZNN's convention (`label_mode`), each combination converted once; a
        value the mode does not allow is reported at the label's `fnames` line."""
        key = (source.file, mask_source.file if mask_source else None, label.label_mode, label.stroke_membrane,
               label.stroke_cell, kind)
        if key not in self._converted:
            try:
                self._converted[key] = convert_labels(ids, mask, label.label_mode, kind, file=source.file,
                                                      membrane=label.stroke_membrane, cell=label.stroke_cell)
            except VolumeError as error:
                raise self.volume_error(error, group=source.section, key=source.key, line=source.line) from error
        return self._converted[key]

    def _raw_of(self, file: str, role: str) -> np.ndarray | None:
        return next((volume for (path, read_as), volume in self._raw.items() if str(path) == file and read_as == role),
                    None)

    def check_label_sense(self, sample_id: int, images: Mapping[str, VolumeSource], labels: Mapping[str, VolumeSource],
                          sections: Mapping[str, LabelSpec]) -> None:
        """Each label neither the sample's image nor an image (`label_sense`), refused at its .spec line."""
        sample = self.spec.samples[sample_id]
        for node, label in labels.items():
            ids = self._raw_of(label.file, "label")
            try:
                for input_node, image in images.items():
                    image_id = sample.binding_for(input_node)
                    raw = self._raw_of(image.file, "image")
                    if ids is not None and raw is not None:
                        check_not_the_image(ids, label.file, raw, image.file, f"image{image_id}")
                if ids is not None:
                    check_dense_labels(ids, label.file, sections[node].label_mode)
            except VolumeError as error:
                raise self.volume_error(error, group=label.section, key=label.key, line=label.line) from error

    def check_shapes(self, sample_id: int, images: Mapping[str, VolumeSource],
                     labels: Mapping[str, VolumeSource], masks: Mapping[str, VolumeSource]) -> None:
        """A mask has its label's shape; an image and a label have the same shape unless either
        section asks for `is_auto_crop` (then the sampler aligns their centres)."""
        for node, mask in masks.items():
            label = labels[node]
            if mask.shape != label.shape:
                raise ConfigError(
                    f"the mask {mask.file} has shape {mask.shape} but its label {label.file} has shape "
                    f"{label.shape}", file=self.file, line=mask.line, group=mask.section, key="fmasks",
                    expected="a mask of the label's shape")
        for image in images.values():
            for label in labels.values():
                if image.shape != label.shape and not (image.auto_crop or label.auto_crop):
                    group = f"sample{sample_id}"
                    raise ConfigError(
                        f"the image {image.file} has shape {image.shape} but the label {label.file} has shape "
                        f"{label.shape}", file=self.file, line=self.spec.section_lines.get(group), group=group,
                        expected=f"volumes of the same shape, or 'is_auto_crop = yes' in [{image.section}] or "
                                 f"[{label.section}] to align them at their centres")


def _output_names(loader: _Loader, sample: SampleSpec, input_names: Iterable[str],
                  output_names: Iterable[str] | None) -> list[str]:
    if output_names is not None:
        return list(output_names)
    # Without the network's output names: every binding that is not an input and that
    # points at a label section is an output (spelled as in the .spec).
    inputs = {name.lower() for name in input_names}
    return [name for name, section_id in sample.bindings.items()
            if name.lower() not in inputs and section_id in loader.spec.labels]


def load_sample_set(data_spec: DataSpec, sample_ids: Iterable[int], *, fov: tuple[int, int, int],
                    input_sizes: Mapping[str, tuple[int, int, int]],
                    output_size: tuple[int, int, int], kind: OutputKind, rebalance: Rebalance | None,
                    augment: bool, em_augment: EMAugment | None = None, mirror: bool,
                    output_names: Iterable[str] | None = None, both_stroke_classes: bool = False,
                    dtype: DTypeLike | None = None, provenance: Provenance = NO_PROVENANCE) -> SampleSet:
    """The TrainingSamples of `sample_ids` ([sampleN] of `data_spec`) as a SampleSet.

    `input_sizes` maps every network input to its patch size; `output_names` lists the
    network outputs (default: the non-input bindings of each sample that name a label).
    Images are preprocessed to `dtype` (float32 by default) and mirrored by `fov` when `mirror`.
    Raises ConfigError naming the .spec, section and node for missing bindings, the .spec line
    and the file for a volume that is unreadable or holds the wrong values or shape, and the
    .cfg's train_outsz (where `provenance` says it was written) for a volume smaller than its
    patch. With `both_stroke_classes` (a training set) painted strokes that mark one class only
    are refused.
    """
    loader = _Loader(data_spec, dtype)
    fixed_outputs = None if output_names is None else list(output_names)
    strokes = StrokeClasses(kind)
    first_strokes: VolumeSource | None = None
    samples: list[TrainingSample] = []
    for sample_id in sample_ids:
        sample = loader.sample(sample_id)
        images: dict[str, np.ndarray] = {}
        image_sources: dict[str, VolumeSource] = {}
        for node in input_sizes:
            images[node], image_sources[node] = loader.image(sample_id, sample, node, fov if mirror else None)
        labels: dict[str, np.ndarray] = {}
        masks: dict[str, np.ndarray | None] = {}
        label_sources: dict[str, VolumeSource] = {}
        mask_sources: dict[str, VolumeSource] = {}
        sections: dict[str, LabelSpec] = {}
        for node in _output_names(loader, sample, input_sizes, fixed_outputs):
            labels[node], label_sources[node], masks[node], mask_source, sections[node] = \
                loader.label(sample_id, sample, node)
            if mask_source is not None:
                mask_sources[node] = mask_source
        if not labels:
            group = f"sample{sample_id}"
            raise loader.error("no network output is bound to a label in this sample",
                               group=group, key=None, line=loader.spec.section_lines.get(group),
                               expected="a line '<output node> = <label id>'", found="nothing")
        loader.check_shapes(sample_id, image_sources, label_sources, mask_sources)
        loader.check_label_sense(sample_id, image_sources, label_sources, sections)
        for node, section in sections.items():
            labels[node], masks[node] = loader.converted(section, labels[node], label_sources[node], masks[node],
                                                         mask_sources.get(node), kind)
            painted = masks[node]
            if section.label_mode == "sparse_strokes" and painted is not None:
                first_strokes = first_strokes or label_sources[node]
                strokes.add(labels[node], painted, label_sources[node].file, section.stroke_membrane,
                            section.stroke_cell)
        grow = 1 if kind == "affinity" else 0
        for node, source in image_sources.items():
            patch = tuple(n + grow for n in input_sizes[node])
            _check_patch_fits(provenance, sample_id, source, images[node].shape, patch, output_size, fov, mirror, kind)
        for source in label_sources.values():
            patch = tuple(n + grow for n in output_size)
            _check_patch_fits(provenance, sample_id, source, source.shape, patch, output_size, None, False, kind)
        samples.append(TrainingSample(
            sample_id, images, labels, masks, input_sizes=input_sizes, output_size=output_size,
            kind=kind, rebalance=rebalance, augment=augment, em_augment=em_augment,
            source=loader.file or "", label_modes={node: section.label_mode for node, section in sections.items()}))
    if both_stroke_classes and first_strokes is not None:
        try:
            strokes.check()
        except VolumeError as error:
            raise loader.volume_error(error, group=first_strokes.section, key=first_strokes.key,
                                      line=first_strokes.line) from error
    return SampleSet(samples)


def _check_patch_fits(provenance: Provenance, sample_id: int, source: VolumeSource, have: tuple[int, ...],
                      patch: tuple[int, ...], outsz: tuple[int, int, int], fov: tuple[int, int, int] | None,
                      mirror: bool, kind: OutputKind) -> None:
    """ConfigError naming train_outsz when a volume (`have`: its shape once mirrored) is smaller
    than its patch; `fov` is given for images, whose patch is train_outsz plus the field of view."""
    if all(h >= p for h, p in zip(have, patch)):
        return
    role = "image" if fov is not None else "label"
    how = f"train_outsz {','.join(map(str, outsz))}"
    if fov is not None:
        how += f" with the field of view {_shape_text(fov)}"
    if kind == "affinity":
        how += ", one voxel larger per axis for affinity"
    mirrored = f" ({_shape_text(have)} after mirroring)" if mirror else ""
    limit = [o + h - p for o, h, p in zip(outsz, have, patch)]
    if min(limit) >= 1:
        expected = f"train_outsz at most {','.join(map(str, limit))} for this volume"
    else:
        expected = "a larger volume"
    if fov is not None and not mirror:
        expected += ", or 'is_bd_mirror = yes'"
    raise provenance.error(
        "train_outsz", f"the {role} patch {_shape_text(patch)} ({how}) does not fit the {role} {source.file} of "
        f"shape {source.shape}{mirrored} in [sample{sample_id}]", expected=expected, found=",".join(map(str, outsz)))


def load_forward_inputs(data_spec: DataSpec, sample_id: int, *, fov: tuple[int, int, int],
                        mirror: bool, input_names: Iterable[str],
                        dtype: DTypeLike | None = None) -> dict[str, np.ndarray]:
    """Preprocessed (and, with `mirror`, mirrored) 3-D images of one sample's inputs,
    for a forward pass, in `dtype` (float32 by default)."""
    loader = _Loader(data_spec, dtype)
    sample = loader.sample(sample_id)
    return {node: loader.image(sample_id, sample, node, fov if mirror else None)[0]
            for node in input_names}


def forward_input_shapes(data_spec: DataSpec, sample_id: int,
                         input_names: Iterable[str]) -> dict[str, VolumeSource]:
    """The file and shape (as stored, before mirroring) of each input image of a sample, found
    without reading the voxels: what a forward pass checks before it starts."""
    loader = _Loader(data_spec)
    sample = loader.sample(sample_id)
    return {node: loader.image_shape(sample_id, sample, node) for node in input_names}


def forward_input_location(data_spec: DataSpec, sample_id: int, node: str) -> tuple[str, str]:
    """The volume file (resolved, with any section range) and pp_type bound to input `node` of
    a sample: what a blockwise pass reads lazily instead of loading the image."""
    loader = _Loader(data_spec)
    _group, image = loader.image_section(sample_id, loader.sample(sample_id), node)
    return str(loader.spec.resolve(image.fnames[0])), image.pp_types[0]
