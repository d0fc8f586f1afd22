"""Running a bioimage.io model package with ONNX weights on an EM stack, so that a lab can compare
its ZNN network with a zoo model on the same data.

`open_zoo_model` reads the package's `rdf.yaml` (format 0.5): the ONNX weights, the one input
(one channel, axes z,y,x or y,x, valid sizes min + step), its preprocessing (zero_mean_unit_variance,
scale_range, scale_linear, clip, applied here to the whole stack, not per tile), the output's size
(a reference to the input with an offset, which is the context a tile loses) and halo, and what the
output channels mean. `iter_predict_zoo` tiles the stack (mirrored at its borders so that every
voxel is answered), runs each tile with onnxruntime and yields progress; it returns the maps as
(channels, z, y, x). Anything else is refused in one line naming the package and the field.
"""

from __future__ import annotations

import zipfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from znn.base.errors import ZnnError

TILE = 256  # output voxels per tile side in y and x (z: as deep as the model needs)


@dataclass(frozen=True)
class ZooModel:
    path: Path
    name: str
    onnx: bytes
    input_id: str
    output_id: str
    axes: str  # "zyx" or "yx": the model's spatial axes
    minimum: tuple[int, ...]  # smallest valid input per spatial axis
    step: tuple[int, ...]
    context: tuple[int, ...]  # input - output per spatial axis (what a valid tile loses)
    halo: tuple[int, ...]  # output voxels to drop on each side per spatial axis
    preprocessing: tuple[dict, ...]
    channels: tuple[str, ...]

    @property
    def kind(self) -> str:
        """How the dock shows the maps: affinity for 3 channels, boundary otherwise."""
        return "affinity" if len(self.channels) == 3 else "boundary"


def _fail(path: Path, what: str) -> ZnnError:
    return ZnnError(f"{path}: {what}")


def _read(path: Path) -> tuple[dict, Any]:
    import yaml

    if zipfile.is_zipfile(path):
        def member(name: str) -> bytes:  # opened for each read: no archive left open behind
            with zipfile.ZipFile(path) as archive:
                return archive.read(name)

        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(("rdf.yaml", "bioimageio.yaml"))]
        if not names:
            raise _fail(path, "not a bioimage.io package (no rdf.yaml)")
        return yaml.safe_load(member(names[0])), member
    if path.is_dir() or path.suffix in (".yaml", ".yml"):
        folder = path if path.is_dir() else path.parent
        rdf = folder / "rdf.yaml" if path.is_dir() else path
        if not rdf.is_file():
            raise _fail(path, "no rdf.yaml in this folder")
        return yaml.safe_load(rdf.read_text()), lambda name: (folder / name).read_bytes()
    raise _fail(path, "not a bioimage.io package (a .zip, a folder or an rdf.yaml)")


def _size(axis: dict) -> tuple[int, int, int | None, int]:
    """(min, step, referenced, offset) of a space axis: a fixed size, min + step, or a reference."""
    size = axis.get("size", 1)
    if isinstance(size, int):
        return size, 0, None, 0
    if "min" in size:
        return int(size["min"]), int(size.get("step", 0)), None, 0
    return 0, 0, 1, int(size.get("offset", 0))


def open_zoo_model(path: str | Path) -> ZooModel:
    path = Path(path)
    rdf, read = _read(path)
    if rdf.get("type") != "model" or not str(rdf.get("format_version", "")).startswith("0.5"):
        raise _fail(path, f"a bioimage.io model of format 0.5 is needed (found type {rdf.get('type')!r}, "
                    f"format {rdf.get('format_version')!r})")
    onnx_entry = (rdf.get("weights") or {}).get("onnx")
    if not onnx_entry:
        raise _fail(path, "weights: the package has no ONNX weights (found: "
                    f"{', '.join(rdf.get('weights') or {}) or 'none'}); only ONNX packages run here")
    inputs, outputs = rdf.get("inputs") or [], rdf.get("outputs") or []
    if len(inputs) != 1 or len(outputs) < 1:
        raise _fail(path, f"inputs: one EM image input is needed (found {len(inputs)})")
    tensor_in, tensor_out = inputs[0], outputs[0]
    in_axes = {a.get("id", a["type"]): a for a in tensor_in["axes"]}
    channel = in_axes.get("channel")
    if channel is not None and len(channel.get("channel_names", [None])) != 1:
        raise _fail(path, f"inputs.0.axes: one input channel is needed (found {len(channel['channel_names'])})")
    spatial = "".join(a for a in "zyx" if a in in_axes)
    if spatial not in ("zyx", "yx"):
        raise _fail(path, f"inputs.0.axes: space axes z,y,x or y,x are needed (found {spatial or 'none'})")
    out_axes = {a.get("id", a["type"]): a for a in tensor_out["axes"]}
    minimum, step, context, halo = [], [], [], []
    for axis in spatial:
        low, stride, _ref, _o = _size(in_axes[axis])
        minimum.append(max(low, 1))
        step.append(stride)
        out_axis = out_axes.get(axis, {})
        _l, _s, referenced, offset = _size(out_axis)
        context.append(-offset if referenced else 0)
        halo.append(int(out_axis.get("halo", 0)))
    out_channel = out_axes.get("channel", {})
    channels = tuple(out_channel.get("channel_names", ["map0"]))
    if not 1 <= len(channels) <= 3:
        raise _fail(path, f"outputs.0.axes: one to three output channels are needed (a boundary map, (object, "
                    f"boundary) or affinities); found {len(channels)}")
    try:
        weights = read(str(onnx_entry["source"]))
    except (KeyError, OSError):
        raise _fail(path, f"weights.onnx.source: '{onnx_entry.get('source')}' is not in the package") from None
    return ZooModel(path, str(rdf.get("name", path.stem)), weights, str(tensor_in["id"]),
                    str(tensor_out["id"]), spatial, tuple(minimum), tuple(step), tuple(context), tuple(halo),
                    tuple(tensor_in.get("preprocessing") or ()), channels)


def preprocess(model: ZooModel, volume: np.ndarray) -> np.ndarray:
    """The package's preprocessing applied to the whole (z, y, x) stack."""
    x = volume.astype(np.float32)
    for step in model.preprocessing:
        kind, kwargs = step.get("id"), step.get("kwargs") or {}
        axes = tuple("zyx".index(a) for a in kwargs.get("axes", model.axes) if a in "zyx")
        if kind == "zero_mean_unit_variance":
            mean = x.mean(axis=axes, keepdims=True)
            std = x.std(axis=axes, keepdims=True)
            x = (x - mean) / (std + float(kwargs.get("eps", 1e-6)))
        elif kind == "scale_range":
            low = np.percentile(x, float(kwargs.get("min_percentile", 0.0)), axis=axes, keepdims=True)
            high = np.percentile(x, float(kwargs.get("max_percentile", 100.0)), axis=axes, keepdims=True)
            x = (x - low) / (high - low + float(kwargs.get("eps", 1e-6)))
        elif kind == "scale_linear":
            x = x * float(kwargs.get("gain", 1.0)) + float(kwargs.get("offset", 0.0))
        elif kind == "clip":
            x = np.clip(x, kwargs.get("min"), kwargs.get("max"))
        elif kind == "ensure_dtype":
            x = x.astype(np.float32)
        else:
            raise _fail(model.path, f"inputs.0.preprocessing: '{kind}' is not supported here")
    return x.astype(np.float32)


def _valid(model: ZooModel, axis: int, wanted: int) -> int:
    """The smallest valid input size of at least `wanted` on a spatial axis."""
    low, stride = model.minimum[axis], model.step[axis]
    if wanted <= low or stride == 0:
        return low
    return low + -(-(wanted - low) // stride) * stride


def iter_predict_zoo(model: ZooModel, volume: np.ndarray, tile: int = TILE,
                     ) -> Generator[tuple[int, int], None, dict[str, np.ndarray]]:
    """Maps of a (z, y, x) stack, tile by tile; yields (tiles done, tiles in all)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = False  # the dock's process lives on: keep no arena once the maps are made
    session = ort.InferenceSession(model.onnx, options, providers=["CPUExecutionProvider"])
    data = preprocess(model, volume)
    if model.axes == "yx":
        plans = [(z, slice(z, z + 1)) for z in range(data.shape[0])]
        spatial = data.shape[1:]
    else:
        plans = [(0, slice(0, data.shape[0]))]
        spatial = data.shape
    lost = [c + 2 * h for c, h in zip(model.context, model.halo)]
    sides = [min(tile, n) if i >= len(spatial) - 2 else n for i, n in enumerate(spatial)]
    in_sides = [_valid(model, i, s + lost[i]) for i, s in enumerate(sides)]
    out_sides = [i - lo for i, lo in zip(in_sides, lost)]
    before = [c // 2 + h for c, h in zip(model.context, model.halo)]
    starts = [list(range(0, n, o)) for n, o in zip(spatial, out_sides)]
    # mirrored borders: context before each axis, and after it whatever the last tile reaches past the end
    pad = [(b, max(0, s[-1] + i - b - n)) for b, s, i, n in zip(before, starts, in_sides, spatial)]
    grid = np.stack(np.meshgrid(*starts, indexing="ij"), -1).reshape(-1, len(spatial))
    total = len(plans) * len(grid)
    result = np.zeros((len(model.channels), *data.shape), dtype=np.float32)
    done = 0
    for z, section in plans:
        block = data[section][0] if model.axes == "yx" else data
        padded = np.pad(block, pad, mode="symmetric")
        for start in grid:
            window = tuple(slice(s, s + i) for s, i in zip(start, in_sides))
            sample = padded[window][None, None]
            answer = session.run([model.output_id], {model.input_id: sample})[0][0]
            crop = tuple(slice(h, h + o) for h, o in zip(model.halo, out_sides))
            answer = answer[(slice(None), *crop)]
            target = tuple(slice(int(s), min(int(s) + o, n)) for s, o, n in zip(start, out_sides, spatial))
            sized = answer[(slice(None), *(slice(0, t.stop - t.start) for t in target))]
            where: tuple[Any, ...] = (slice(None), z, *target) if model.axes == "yx" else (slice(None), *target)
            result[where] = sized
            done += 1
            yield done, total
    return {model.output_id: result}
