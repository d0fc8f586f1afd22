"""Forward outputs on disk, named as ZNN named them (reference §8, step 6)."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np

from znn.errors import WriteFailed
from znn.io.h5atomic import atomic_h5_file, remove_temporaries
from znn.io.volumes import write_volume


def output_paths(prefix: Path, sample_id: int, outputs: dict[str, np.ndarray]) -> dict[str, Path]:
    """{output node: `<prefix>_sample<N>_<output>.h5`}, `prefix` the resolved output_prefix."""
    return {name: prefix.with_name(f"{prefix.name}_sample{sample_id}_{name}.h5") for name in outputs}


def tif_path(h5_path: Path, map_index: int) -> Path:
    """`<output_prefix>_sample<N>_<output>_<map>.tif`."""
    return h5_path.with_name(f"{h5_path.stem}_{map_index}.tif")


def is_output_file(prefix: Path, name: str) -> bool:
    """Whether `name` is an .h5 output that a forward pass of `prefix` writes."""
    return re.fullmatch(rf"{re.escape(prefix.name)}_sample\d+_.+\.h5", name) is not None


def remove_stale_temporaries(prefix: Path) -> list[Path]:
    """Delete the temporary files of interrupted writes of `prefix`'s outputs; returns them.
    Only while holding the forward lock of `prefix` (znn.io.runlock)."""
    return remove_temporaries(prefix.parent, lambda name: is_output_file(prefix, name))


def write_outputs(paths: dict[str, Path], outputs: dict[str, np.ndarray], *, tif: bool = False) -> list[Path]:
    """Each output as an .h5 (dataset /main, gzip), written atomically; optionally one TIFF per map.
    A system error (full disk, read-only folder) raises WriteFailed naming the file; a TIFF
    left incomplete is removed."""
    written: list[Path] = []
    for name, path in paths.items():
        data = outputs[name]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_h5_file(path) as handle:
                handle.create_dataset("main", data=data, compression="gzip",
                                      chunks=(1, *(min(n, c) for n, c in zip(data.shape[1:], (16, 128, 128)))))
        except OSError as error:
            if error.errno is None:
                raise
            raise WriteFailed.from_os_error(error, context=_kept(written)) from error
        written.append(path)
        if tif:
            for index in range(data.shape[0]):
                target = tif_path(path, index)
                try:
                    write_volume(target, data[index])
                except OSError as error:
                    if error.errno is None:
                        raise
                    with contextlib.suppress(OSError):
                        target.unlink()
                    raise WriteFailed.from_os_error(error, file=target, context=_kept(written)) from error
                written.append(target)
    return written


def _kept(written: list[Path]) -> str:
    if not written:
        return "the forward pass stopped; outputs of earlier samples are complete"
    return f"the forward pass stopped; {', '.join(p.name for p in written)} and earlier outputs are complete"
