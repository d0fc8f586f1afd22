"""Forward outputs on disk, named as ZNN named them (reference §8, step 6), and the checks
made before a forward pass starts (`check_outputs`)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from znn.base.atomic import remove_temporaries
from znn.base.errors import WriteFailed, ZnnError
from znn.base.triples import triple
from znn.io.h5atomic import atomic_h5_file
from znn.io.space import require_free_space
from znn.io.volumes import parse_location, split_sections, write_volume
from znn.io.writable import check_output_folder, refuse_overwriting_inputs
from znn.jobs.resolved import ResolvedForward
from znn.netspec.spec import NetSpec


def output_paths(prefix: Path, sample_id: int, outputs: Iterable[str]) -> dict[str, Path]:
    """{output node: `<prefix>_sample<N>_<output>.h5`}, `prefix` the resolved output_prefix
    (`outputs` names the output nodes, e.g. the dict of their maps)."""
    return {name: prefix.with_name(f"{prefix.name}_sample{sample_id}_{name}.h5") for name in outputs}


def check_outputs(run: ResolvedForward, spec: NetSpec, fov: tuple[int, int, int],
                  sample_ids: Iterable[int], network_file: Path) -> None:
    """Before any sample is read: output_prefix's folder can be written, no output file is a
    folder or one of the pass's inputs (the samples' volumes, the network, the job files),
    and the disk has room for every output (uncompressed, TIFFs included)."""
    from znn.base.geometry import output_shape_for
    from znn.data.dataset import forward_input_location
    from znn.io.volumes import open_input

    origin = run.provenance.origin("output_prefix")
    check_output_folder(run.output_prefix.parent, origin, what="forward outputs")
    inputs: list[tuple[str | Path, str]] = [(network_file, f"the network file {network_file}")]
    job_files = (run.provenance.file, run.data_spec.source, run.network_file)
    inputs += [(path, f"the job's file {path}") for path in job_files if path is not None]
    maps = sum(spec.nodes[name].size for name in spec.output_names)
    needed = 0
    ids = tuple(sample_ids)
    for sample_id in ids:
        for node in spec.input_names:
            location, _ = forward_input_location(run.data_spec, sample_id, node)
            if not location.startswith("synthetic:"):
                file = parse_location(split_sections(location)[0]).file
                inputs.append((file, f"the input volume {file} of sample {sample_id}"))
        try:
            out = output_shape_for(triple(int(n) for n in open_input(location).shape[-3:]), fov, run.mirror)
        except (ZnnError, ValueError):
            continue  # reading the sample reports it, with the .spec's file and line
        needed += maps * math.prod(out) * np.dtype(run.dtype).itemsize * (2 if run.tif else 1)
    for sample_id in ids:
        for name, path in output_paths(run.output_prefix, sample_id, spec.output_names).items():
            tifs = [tif_path(path, index) for index in range(spec.nodes[name].size)] if run.tif else []
            for target in (path, *tifs):
                refuse_overwriting_inputs(target, origin, inputs)
                if target.is_dir():
                    raise origin.error(f"{target} is a folder", expected="a free name, or a file, for each output")
    require_free_space(run.output_prefix.parent, needed, origin, what="the forward outputs")


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
