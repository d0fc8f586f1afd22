"""Forward outputs on disk, named as ZNN named them (reference §8, step 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from znn.io.h5atomic import atomic_h5_file
from znn.io.volumes import write_volume


def output_paths(prefix: Path, sample_id: int, outputs: dict[str, np.ndarray]) -> dict[str, Path]:
    """{output node: `<prefix>_sample<N>_<output>.h5`}, `prefix` the resolved output_prefix."""
    return {name: prefix.with_name(f"{prefix.name}_sample{sample_id}_{name}.h5") for name in outputs}


def tif_path(h5_path: Path, map_index: int) -> Path:
    """`<output_prefix>_sample<N>_<output>_<map>.tif`."""
    return h5_path.with_name(f"{h5_path.stem}_{map_index}.tif")


def write_outputs(paths: dict[str, Path], outputs: dict[str, np.ndarray], *, tif: bool = False) -> list[Path]:
    """Each output as an .h5 (dataset /main, gzip), written atomically; optionally one TIFF per map."""
    written = []
    for name, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = outputs[name]
        with atomic_h5_file(path) as handle:
            handle.create_dataset("main", data=data, compression="gzip",
                                  chunks=(1, *(min(n, c) for n, c in zip(data.shape[1:], (16, 128, 128)))))
        written.append(path)
        if tif:
            for index in range(data.shape[0]):
                target = tif_path(path, index)
                write_volume(target, data[index])
                written.append(target)
    return written
