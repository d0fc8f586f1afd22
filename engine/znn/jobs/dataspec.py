"""ZNN `.spec` data binding files: which volumes feed which network node (reference §5.1).

A `.spec` has three kinds of sections, N a positive integer written without leading zeros
(ZNN looks sections up as `"image%d" % N`):

* `[imageN]`  — `fnames`, `pp_types` (one per file), `is_auto_crop` (all required);
* `[labelN]`  — `fnames`, `pp_types` (recorded, ZNN ignores them), `is_auto_crop`, optional `fmasks`,
  and (not in ZNN) optional `label_mode` with `stroke_membrane` and `stroke_cell` (what the label
  values mean, see `znn.data.label_modes`);
* `[sampleN]` — `node_name = id`: a network input bound to `[image<id>]`, or an output bound
  to `[label<id>]`. Node names are matched case-insensitively, as ConfigParser does.

Several files are written `a,` newline, indented `b` (ZNN splits on comma+newline), so
`a, b` on one line is a single odd file name; we keep ZNN's reading and warn about it.
Relative volume paths are resolved against the directory of the `.spec` file
(`DataSpec.resolve`); the original resolved them against its working directory, which
for the shipped examples is the same place the paths were written for. `znn.jobs.spec_writer`
writes them.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from znn.base.errors import ConfigError, did_you_mean, printable
from znn.base.modes import LABEL_MODES, LabelMode
from znn.jobs.ini import ConfigWarning, IniDocument, IniEntry, IniSection, read_ini
from znn.jobs.values import BadValue, parse_bool, parse_int

IMAGE_PP_TYPES = ("standard2D", "standard3D", "symetric_rescale", "none")
LABEL_PP_TYPES = ("none", "one_class", "binary_class", "affinity", "auto")

_IMAGE_KEYS = ("fnames", "pp_types", "is_auto_crop")
_LABEL_KEYS = ("fnames", "pp_types", "is_auto_crop", "fmasks", "label_mode", "stroke_membrane", "stroke_cell")
DEFAULT_LABEL_MODE: LabelMode = "dense_boundary"  # ZNN's convention: 0 = membrane
DEFAULT_STROKE_MEMBRANE = 1
DEFAULT_STROKE_CELL = 2
_SECTION_RE = re.compile(r"(image|label|sample)([1-9][0-9]*)")


@dataclass
class ImageSpec:
    """An `[imageN]` section: input volume file(s) and their preprocessing."""

    fnames: list[str]
    pp_types: list[str]
    is_auto_crop: bool
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class LabelSpec:
    """A `[labelN]` section: label volume file(s), optional masks (voxels > 0 are on) and what
    the label values mean (`label_mode`; the two painted values of `sparse_strokes`)."""

    fnames: list[str]
    pp_types: list[str]
    is_auto_crop: bool
    fmasks: list[str] = field(default_factory=list)
    label_mode: LabelMode = DEFAULT_LABEL_MODE
    stroke_membrane: int = DEFAULT_STROKE_MEMBRANE
    stroke_cell: int = DEFAULT_STROKE_CELL
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class SampleSpec:
    """A `[sampleN]` section: network node name → image id (inputs) or label id (outputs)."""

    bindings: dict[str, int]
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def binding_for(self, node_name: str) -> int | None:
        """The id bound to `node_name`, compared case-insensitively like ZNN; None if unbound."""
        for name, section_id in self.bindings.items():
            if name.lower() == node_name.lower():
                return section_id
        return None


@dataclass
class DataSpec:
    """A whole `.spec` file. `source` is the file it was read from (None if built in code)."""

    images: dict[int, ImageSpec] = field(default_factory=dict)
    labels: dict[int, LabelSpec] = field(default_factory=dict)
    samples: dict[int, SampleSpec] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)
    warnings: list[str] = field(default_factory=list, compare=False, repr=False)
    section_lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def resolve(self, path: str) -> Path:
        """A volume path from this spec, relative paths taken from the spec's directory
        (generated `synthetic:` volumes are names, not paths, and stay as written)."""
        if path.startswith("synthetic:"):
            return Path(path)
        candidate = Path(path).expanduser()
        if candidate.is_absolute() or self.source is None:
            return candidate
        return self.source.parent / candidate

    def check_against_network(self, input_names: Iterable[str], output_names: Iterable[str]) -> None:
        """Raise ConfigError unless every sample binds every network input to an existing
        image, binds outputs (optional) to existing labels, and binds nothing else."""
        inputs = list(input_names)
        outputs = list(output_names)
        lowered_inputs = {name.lower() for name in inputs}
        lowered_outputs = {name.lower() for name in outputs}
        file = str(self.source) if self.source else None
        for sample_id, sample in sorted(self.samples.items()):
            group = f"sample{sample_id}"
            for name, section_id in sample.bindings.items():
                line = sample.lines.get(name.lower())
                lowered = name.lower()
                if lowered in lowered_inputs:
                    if section_id not in self.images:
                        raise ConfigError(
                            f"network input '{name}' is bound to [image{section_id}], which is not defined",
                            file=file, line=line, group=group, key=name,
                            expected=f"one of the image ids {sorted(self.images)}", found=str(section_id))
                elif lowered in lowered_outputs:
                    if section_id not in self.labels:
                        raise ConfigError(
                            f"network output '{name}' is bound to [label{section_id}], which is not defined",
                            file=file, line=line, group=group, key=name,
                            expected=f"one of the label ids {sorted(self.labels)}", found=str(section_id))
                else:
                    raise ConfigError(
                        "not a node of the network" + did_you_mean(name, inputs + outputs),
                        file=file, line=line, group=group, key=name,
                        expected=f"a network input {inputs} or output {outputs}", found=name)
            for name in inputs:
                if sample.binding_for(name) is None:
                    raise ConfigError(
                        f"network input '{name}' has no image in this sample",
                        file=file, line=self.section_lines.get(group), group=group, key=name,
                        expected=f"a line '{name} = <image id>'", found="nothing")


# --- reading -----------------------------------------------------------------------------

class _SpecReader:
    """Turns a parsed document into a DataSpec, collecting warnings along the way."""

    def __init__(self, document: IniDocument) -> None:
        self.document = document
        self.file = document.file
        self.warnings: list[str] = list(document.notes)

    def error(self, message: str, *, line: int | None, group: str, key: str | None = None,
              expected: str | None = None, found: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, line=line, group=group, key=key,
                           expected=expected, found=found)

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.file}:{line}: {message}")

    def required(self, section: IniSection, key: str) -> IniEntry:
        entry = section.get(key)
        if entry is None:
            raise self.error("required key is missing", line=section.line, group=section.name,
                             key=key, expected=f"a line '{key} = ...' in [{section.name}]",
                             found="nothing")
        return entry

    def file_list(self, section: IniSection, entry: IniEntry, *, allow_empty: bool) -> list[str]:
        if not entry.value.strip():
            if allow_empty:
                return []
            raise self.error("no file named", line=entry.line, group=section.name, key=entry.spelled,
                             expected="one or more file paths", found=entry.value)
        names = [name.strip() for name in entry.value.split(",\n")]
        if entry.comment and len(names) == 1 and not names[0].startswith("synthetic:"):
            names[0] = self._name_with_comment(section, entry, names[0])
        if any(not name for name in names):
            raise self.error("empty file name in the list", line=entry.line, group=section.name,
                             key=entry.spelled, expected="'a,' newline, indented 'b'", found=entry.value)
        for name in names:
            # Generated volumes ("synthetic:raw?shape=8,64,64") have commas in their options.
            if "," in name and not name.startswith("synthetic:"):
                self.warn(entry.line, f"[{section.name}] {entry.spelled}: '{name}' is read as ONE file"
                          " name; list several files as 'a,' then an indented 'b' on the next line")
        return names

    def _name_with_comment(self, section: IniSection, entry: IniEntry, name: str) -> str:
        """A file name the ini comment rule cut at ' ;': the whole text when that names an existing file
        and the cut one does not; neither existing is refused here, where the cut can be explained."""
        whole = name + entry.comment
        if self._exists(name):
            return name
        if self._exists(whole):
            return whole
        raise self.error(f"no file '{name}', nor '{whole}': the text from ' ;' on is a comment in ZNN's files",
                         line=entry.line, group=section.name, key=entry.spelled,
                         expected="an existing file (a ';' with a space before it starts a comment)",
                         found=whole)

    def _exists(self, name: str) -> bool:
        from znn.io.volume_location import split_sections

        path, _ = split_sections(name)
        base = Path(self.file).parent if self.file != "<text>" else Path.cwd()
        candidate = Path(path.split(":", 1)[0] if ".h5:" in path else path).expanduser()
        return (candidate if candidate.is_absolute() else base / candidate).exists()

    def boolean(self, section: IniSection, entry: IniEntry) -> bool:
        try:
            return parse_bool(entry.value)
        except BadValue as bad:
            raise self.error(bad.problem, line=entry.line, group=section.name, key=entry.spelled,
                             expected=bad.expected, found=bad.found) from None

    def warn_unknown_keys(self, section: IniSection, known: tuple[str, ...]) -> None:
        for entry in section.entries.values():
            if entry.key not in known:
                self.warn(entry.line, f"[{section.name}] unknown key '{entry.spelled}'"
                          f"{did_you_mean(entry.key, known)}; ignored")

    def image_pp_types(self, section: IniSection, entry: IniEntry, count: int) -> list[str]:
        tokens = [token.strip() for token in entry.value.split(",")]
        if len(tokens) != count:
            raise self.error(f"{len(tokens)} preprocessing types for {count} file(s)",
                             line=entry.line, group=section.name, key=entry.spelled,
                             expected="one type per file", found=entry.value)
        return [self.image_pp_type(section, entry, token) for token in tokens]

    def image_pp_type(self, section: IniSection, entry: IniEntry, token: str) -> str:
        # ZNN matches these names as substrings; we also ignore case.
        lowered = token.lower()
        for name in IMAGE_PP_TYPES:
            if name.lower() in lowered:
                return name
        raise self.error("unknown image preprocessing type" + did_you_mean(token, IMAGE_PP_TYPES),
                         line=entry.line, group=section.name, key=entry.spelled,
                         expected=", ".join(IMAGE_PP_TYPES), found=token)

    def image(self, section: IniSection) -> ImageSpec:
        self.warn_unknown_keys(section, _IMAGE_KEYS)
        fnames_entry = self.required(section, "fnames")
        pp_entry = self.required(section, "pp_types")
        crop_entry = self.required(section, "is_auto_crop")
        fnames = self.file_list(section, fnames_entry, allow_empty=False)
        return ImageSpec(
            fnames=fnames,
            pp_types=self.image_pp_types(section, pp_entry, len(fnames)),
            is_auto_crop=self.boolean(section, crop_entry),
            lines=_lines(section))

    def label(self, section: IniSection) -> LabelSpec:
        self.warn_unknown_keys(section, _LABEL_KEYS)
        fnames_entry = self.required(section, "fnames")
        pp_entry = self.required(section, "pp_types")
        crop_entry = self.required(section, "is_auto_crop")
        pp_types = [token.strip() for token in pp_entry.value.split(",")]
        for token in pp_types:
            if not any(name in token.lower() for name in LABEL_PP_TYPES):
                self.warn(pp_entry.line, f"[{section.name}] unknown label pp_type '{token}'"
                          f"{did_you_mean(token, LABEL_PP_TYPES)} (ZNN ignores label pp_types;"
                          " the output type decides the label transform)")
        fnames = self.file_list(section, fnames_entry, allow_empty=False)
        masks_entry = section.get("fmasks")
        fmasks = [] if masks_entry is None else self.file_list(section, masks_entry, allow_empty=True)
        membrane = self.stroke_value(section, "stroke_membrane", DEFAULT_STROKE_MEMBRANE)
        cell = self.stroke_value(section, "stroke_cell", DEFAULT_STROKE_CELL)
        if membrane == cell:
            entry = section.get("stroke_cell") or section.get("stroke_membrane")
            assert entry is not None  # the defaults differ, so one of them was written
            raise self.error("stroke_membrane and stroke_cell are the same value", line=entry.line,
                             group=section.name, key=entry.spelled,
                             expected=f"a painted value other than {membrane}", found=entry.value)
        return LabelSpec(
            fnames=fnames,
            pp_types=pp_types,
            is_auto_crop=self.boolean(section, crop_entry),
            fmasks=fmasks,
            label_mode=self.label_mode(section),
            stroke_membrane=membrane,
            stroke_cell=cell,
            lines=_lines(section))

    def label_mode(self, section: IniSection) -> LabelMode:
        entry = section.get("label_mode")
        if entry is None:
            return DEFAULT_LABEL_MODE
        word = entry.value.strip().lower()
        for mode in LABEL_MODES:
            if word == mode:
                return mode
        raise self.error("unknown label mode" + did_you_mean(word, LABEL_MODES), line=entry.line,
                         group=section.name, key=entry.spelled, expected=", ".join(LABEL_MODES),
                         found=entry.value)

    def stroke_value(self, section: IniSection, key: str, default: int) -> int:
        # 0 means "unlabelled", so a painted value is a positive integer.
        entry = section.get(key)
        if entry is None:
            return default
        try:
            value = parse_int(entry.value)
        except BadValue:
            value = 0
        if value <= 0:
            raise self.error("a painted label value is a positive integer (0 means unlabelled)",
                             line=entry.line, group=section.name, key=entry.spelled,
                             expected="a positive integer", found=entry.value)
        return value

    def sample(self, section: IniSection) -> SampleSpec:
        bindings: dict[str, int] = {}
        for entry in section.entries.values():
            try:
                section_id = parse_int(entry.value)
            except BadValue as bad:
                raise self.error("a sample binds a node name to a section id", line=entry.line,
                                 group=section.name, key=entry.spelled,
                                 expected="a positive integer (N of [imageN] or [labelN])",
                                 found=bad.found) from None
            if section_id <= 0:
                raise self.error("section ids start at 1", line=entry.line, group=section.name,
                                 key=entry.spelled, expected="a positive integer",
                                 found=entry.value)
            bindings[entry.spelled] = section_id
        if not bindings:
            raise self.error("sample binds no network node", line=section.line, group=section.name,
                             expected="lines such as 'input = 1' and 'output = 1'", found="nothing")
        return SampleSpec(bindings=bindings, lines=_lines(section))

    def check_section_name(self, section: IniSection) -> tuple[str, int]:
        match = _SECTION_RE.fullmatch(section.name)
        if match is not None:
            return match.group(1), int(match.group(2))
        name = section.name
        kind = re.sub(r"[0-9]+$", "", name)
        if name != name.strip():
            problem = "no spaces are allowed inside the brackets"
        elif kind in ("image", "label", "sample") and kind == name:
            problem = f"the section needs its number, e.g. [{kind}1]"
        elif kind in ("image", "label", "sample"):
            problem = "section ids start at 1 and have no leading zeros (ZNN looks up [image%d])"
        elif name.lower() == "parameters":
            problem = "job parameters belong in the .cfg file, not in the .spec"
        else:
            problem = "unknown section" + did_you_mean(kind or name, ("image", "label", "sample"))
        raise self.error(problem, line=section.line, group=section.name,
                         expected="[imageN], [labelN] or [sampleN] with N = 1, 2, 3, ...",
                         found=f"[{section.name}]")

    def read(self) -> DataSpec:
        spec = DataSpec(source=Path(self.file),
                        section_lines={s.name: s.line for s in self.document.sections.values()})
        for section in self.document.sections.values():
            kind, section_id = self.check_section_name(section)
            if kind == "image":
                spec.images[section_id] = self.image(section)
            elif kind == "label":
                spec.labels[section_id] = self.label(section)
            else:
                spec.samples[section_id] = self.sample(section)
        self.check_sample_targets(spec)
        spec.warnings = [printable(message) for message in self.warnings]  # they quote the file
        return spec

    def check_sample_targets(self, spec: DataSpec) -> None:
        # Without the network we cannot tell inputs from outputs, but an id that is neither
        # an image nor a label is wrong whatever the node is.
        for sample_id, sample in spec.samples.items():
            for name, section_id in sample.bindings.items():
                if section_id not in spec.images and section_id not in spec.labels:
                    raise self.error(
                        f"'{name}' refers to section id {section_id}, but there is no"
                        f" [image{section_id}] or [label{section_id}]",
                        line=sample.lines.get(name.lower()), group=f"sample{sample_id}", key=name,
                        expected=f"an image id {sorted(spec.images)} or label id {sorted(spec.labels)}",
                        found=str(section_id))


def _lines(section: IniSection) -> dict[str, int]:
    lines = {key: entry.line for key, entry in section.entries.items()}
    lines[""] = section.line
    return lines


def parse_spec_file(path: str | os.PathLike[str]) -> DataSpec:
    """Like `read_spec`, but only collects warnings in `DataSpec.warnings` (for callers
    such as `read_cfg` that issue them together with their own)."""
    return _SpecReader(read_ini(path)).read()


def read_spec(path: str | os.PathLike[str]) -> DataSpec:
    """Read and validate a `.spec` file. Volume files are not opened or checked here.

    Warnings (unknown keys, repeated sections, suspicious values) are issued as
    `ConfigWarning` and kept in `DataSpec.warnings`.
    """
    spec = parse_spec_file(path)
    for message in spec.warnings:
        warnings.warn(message, ConfigWarning, stacklevel=2)
    return spec
