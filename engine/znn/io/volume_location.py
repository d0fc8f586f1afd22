"""Where a volume lives: one string names the file, its format, the array inside it and
optionally a range of sections (see `znn.io.volumes`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from znn.base.errors import VolumeError

# `.ext` followed by the end, a ':' (inner path) or a '/' (zarr inner path).
_CONTAINER = re.compile(r"\.(tiff?|h5|hdf5|hdf|he5|zarr)(?=$|:|[/\\])", re.IGNORECASE)
_KIND_OF_EXT = {"tif": "tif", "tiff": "tif", "h5": "h5", "hdf5": "h5", "hdf": "h5",
                "he5": "h5", "zarr": "zarr"}
SUPPORTED = (".tif/.tiff, .h5/.hdf5 (optionally 'file.h5:/dataset'), .zarr (optionally 'dir.zarr/array'), "
             "or a folder of one .tif per section")
DEFAULT_H5_DATASET = "/main"


_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")
_SECTION_SUFFIXES = (".tif", ".tiff")
_MAGIC = {b"\x89HDF\r\n\x1a\n": "h5", b"II*\x00": "tif", b"MM\x00*": "tif", b"II+\x00": "tif", b"MM\x00+": "tif"}


@dataclass(frozen=True)
class VolumeLocation:
    """Where a volume lives: the file on disk, its format and the path inside it."""

    file: Path
    kind: str  # "tif", "h5", "zarr" or "sections" (a folder of one TIFF per section)
    inner: str | None  # dataset/array path inside an h5 file or zarr store

    @property
    def key(self) -> str | None:
        """The inner path as users write it in errors: '/main' in HDF5, 'sub/array' in zarr."""
        if self.inner is None:
            return None
        return "/" + self.inner if self.kind == "h5" else self.inner


def section_files(folder: Path) -> list[Path]:
    """The TIFF files of a folder of sections, in natural order (slice_2 before slice_10)."""
    def natural(path: Path) -> list[object]:
        return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]

    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _SECTION_SUFFIXES
                   and not p.name.startswith(".")), key=natural)


def is_zarr_store(folder: Path) -> bool:
    return any((folder / marker).exists() for marker in _ZARR_MARKERS)


def _sniffed(file: Path) -> str | None:
    """The format of an existing file from its first bytes (HDF5 or TIFF signature)."""
    try:
        with open(file, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return None
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def _on_disk(text: str) -> VolumeLocation | None:
    """What an existing path is, whatever its name says: a file by its suffix or signature, a
    folder as a zarr store (its marker files) or a folder of TIFF sections."""
    path = Path(text)
    if path.is_file():
        match = _CONTAINER.search(path.name)
        kind = _KIND_OF_EXT[match.group(1).lower()] if match and match.end() == len(path.name) else _sniffed(path)
        return VolumeLocation(file=path, kind=kind, inner=None) if kind in ("tif", "h5") else None
    if path.is_dir():
        if is_zarr_store(path):
            inside = any(is_zarr_store(Path(text[: m.end()])) for m in _CONTAINER.finditer(text)
                         if m.end() < len(text.rstrip("/\\")))
            return None if inside else VolumeLocation(file=path, kind="zarr", inner=None)  # inside: an inner path
        if section_files(path):
            return VolumeLocation(file=path, kind="sections", inner=None)
    return None


def parse_location(path: str | Path) -> VolumeLocation:
    """Split 'file.h5:/dataset' or 'dir.zarr/sub/array' into file, format and inner path.

    The file system is asked before the names: an existing file is read by its suffix (or its
    signature when the suffix says nothing), an existing folder is a zarr store if it holds one's
    marker files and else a folder of TIFF sections, whatever it is called (`scans.tif/`), and a
    folder named like a file (`res.h5/`) is a folder on the way to the file.
    """
    text = str(path)
    found = _on_disk(text)
    if found is not None:
        return found
    matches = list(_CONTAINER.finditer(text))
    if not matches:
        raise VolumeError("unknown volume format", file=text, expected=SUPPORTED,
                          found=Path(text).suffix or "no extension")
    chosen = _container_of(text, matches)
    kind = _KIND_OF_EXT[chosen.group(1).lower()]
    file, rest = Path(text[: chosen.end()]), text[chosen.end():]
    if file.is_dir() and kind != "zarr":
        raise VolumeError("a folder holding no volume: neither a zarr store nor TIFF sections", file=str(file),
                          expected=f"a {kind} file, a zarr store or a folder of one TIFF per section",
                          found="a folder")
    if rest.startswith(":"):
        rest = rest[1:]
    elif rest and kind != "zarr":
        raise VolumeError("a path inside an HDF5 or TIFF file is written after ':'", file=text,
                          expected="'file.h5:/dataset'", found=rest)
    inner = rest.strip("/\\") or None
    if inner is not None and kind == "tif":
        raise VolumeError("a TIFF file holds one volume; nothing can be selected inside it",
                          file=str(file), expected="no ':' suffix", found=rest)
    return VolumeLocation(file=file, kind=kind, inner=inner)


def _container_of(text: str, matches: list[re.Match[str]]) -> re.Match[str]:
    """The suffix that ends the container: the first one naming something of its kind on disk (an
    h5/tif file, a zarr store); a folder merely named like one is passed by; nothing on disk: the
    first one that is not such a folder (for writing)."""
    last = matches[-1]
    for match in matches:
        prefix = Path(text[: match.end()])
        zarr = match.group(1).lower() == "zarr"
        if (prefix.is_file() and not zarr) or (prefix.is_dir() and zarr and (is_zarr_store(prefix) or match is last)):
            return match
    return next((m for m in matches if not Path(text[: m.end()]).is_dir()), last)


_SECTIONS = re.compile(r"\[\s*(-?[0-9]*)\s*:\s*(-?[0-9]*)\s*\]$")


def split_sections(text: str) -> tuple[str, slice | None]:
    """'stack.tif[0:15]' -> ('stack.tif', slice(0, 15)); no range -> (text, None)."""
    match = _SECTIONS.search(text)
    if match is None:
        return text, None
    start, stop = (int(g) if g else None for g in match.groups())
    return text[:match.start()], slice(start, stop)


def take_sections(volume: Any, sections: slice, name: str) -> Any:
    """The sections of a (z, y, x) or (c, z, y, x) volume; an empty selection is an error."""
    if volume.ndim == 4:  # (c, z, y, x)
        picked = volume[:, sections]
    else:
        picked = volume[sections]
    if picked.shape[-3] == 0:
        raise VolumeError("the section range selects no section", file=name,
                          expected=f"a range within the {volume.shape[-3]} sections",
                          found=f"[{sections.start if sections.start is not None else ''}:"
                                f"{sections.stop if sections.stop is not None else ''}]")
    return picked
