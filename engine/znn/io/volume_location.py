"""Where a volume lives: one string names the file, its format, the array inside it and
optionally a range of sections (see `znn.io.volumes`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from znn.errors import VolumeError

# `.ext` followed by the end, a ':' (inner path) or a '/' (zarr inner path).
_CONTAINER = re.compile(r"\.(tiff?|h5|hdf5|hdf|he5|zarr)(?=$|:|[/\\])", re.IGNORECASE)
_KIND_OF_EXT = {"tif": "tif", "tiff": "tif", "h5": "h5", "hdf5": "h5", "hdf": "h5",
                "he5": "h5", "zarr": "zarr"}
SUPPORTED = ".tif/.tiff, .h5/.hdf5 (optionally 'file.h5:/dataset'), .zarr (optionally 'dir.zarr/array')"
DEFAULT_H5_DATASET = "/main"


@dataclass(frozen=True)
class VolumeLocation:
    """Where a volume lives: the file on disk, its format and the path inside it."""

    file: Path
    kind: str  # "tif", "h5" or "zarr"
    inner: str | None  # dataset/array path inside an h5 file or zarr store

    @property
    def key(self) -> str | None:
        """The inner path as users write it in errors: '/main' in HDF5, 'sub/array' in zarr."""
        if self.inner is None:
            return None
        return "/" + self.inner if self.kind == "h5" else self.inner


def parse_location(path: str | Path) -> VolumeLocation:
    """Split 'file.h5:/dataset' or 'dir.zarr/sub/array' into file, format and inner path."""
    text = str(path)
    matches = list(_CONTAINER.finditer(text))
    if not matches:
        raise VolumeError("unknown volume format", file=text, expected=SUPPORTED,
                          found=Path(text).suffix or "no extension")
    # A directory may itself be called 'x.h5' or 'x.zarr': prefer the first
    # candidate that exists on disk, else the outermost one (for writing).
    chosen = next((m for m in matches if Path(text[: m.end()]).exists()), matches[0])
    kind = _KIND_OF_EXT[chosen.group(1).lower()]
    file, rest = Path(text[: chosen.end()]), text[chosen.end():]
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
