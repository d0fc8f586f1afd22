"""A trained network as a bioimage.io model package (spec 0.5): ONNX weights, `rdf.yaml`, test
tensors computed by the engine, a README, the network drawn as cover, and the `.znn` text as an
attachment (so `znn import` gets the network back exactly).

Axes are (batch, channel, z, y, x). A dense network accepts any input of at least its field of
view (min = field of view, step 1) and answers input - (field of view - 1), written as a size
reference to the input; a network with max_pool subsamples, so its sizes step by the pooling
product and the output is a scaled reference. The job's image normalisation becomes the package's
preprocessing (standard2D/3D: `zero_mean_unit_variance` over y,x or z,y,x; symetric_rescale:
`scale_range` then `scale_linear` to [-1, 1]). Boundary outputs carry the channel softmax.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from znn.base.errors import ZnnError
from znn.export.onnx_graph import ExportError, build_onnx
from znn.netspec.graph import NetworkGraph
from znn.netspec.spec import NetSpec
from znn.netspec.znnfile import format_znn

ZNN_CITATION = ("Zlateski, A., Lee, K., Seung, H. S. (2016). ZNN - A Fast and Scalable Algorithm for Training 3D "
                "Convolutional Networks on Multi-core and Many-Core Shared Memory Machines. IPDPS 2016.")
ZNN_DOI = "10.1109/IPDPS.2016.119"
CHANNELS = {"boundary": ["object", "boundary"], "affinity": ["affinity_x", "affinity_y", "affinity_z"]}


@dataclass(frozen=True)
class PackageInfo:
    """What the user says about the model (defaults make a valid package)."""

    name: str = "ZNN network"
    description: str = "A dense sliding-window convolutional network trained with ZNN (napari-znn)."
    authors: tuple[str, ...] = ("napari-znn user",)
    license: str = "CC-BY-4.0"
    training_data: str = "not named"
    tags: tuple[str, ...] = ("electron-microscopy", "segmentation", "znn", "connectomics")
    cite: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # extra (text, doi or url)


@dataclass(frozen=True)
class ExportSource:
    """A network with its weights and what the job says about it."""

    spec: NetSpec
    kernels: dict[str, np.ndarray]
    biases: dict[str, np.ndarray]
    output_kind: str | None  # "boundary", "affinity" or None (unknown: raw maps)
    softmax: bool
    pp_type: str | None  # the job's image normalisation
    settings: dict[str, str] = field(default_factory=dict)  # the job's settings, for the README
    curve_png: Path | None = None


Sizes = tuple[int, ...]


def sizes(spec: NetSpec) -> tuple[dict[str, tuple[Sizes, Sizes]], dict[str, Sizes]]:
    """Per input: (smallest input, step) per axis; per output: its size for the smallest input."""
    one = NetworkGraph(spec, (1, 1, 1))
    two = NetworkGraph(spec, (2, 2, 2))
    inputs: dict[str, tuple[Sizes, Sizes]] = {
        n: (tuple(one.input_sizes[n][1:]), tuple(b - a for a, b in zip(one.input_sizes[n][1:], two.input_sizes[n][1:])))
        for n in spec.input_names}
    return inputs, {n: tuple(one.output_sizes[n][1:]) for n in spec.output_names}


def _preprocessing(pp_type: str | None, axes: list[str]) -> list[dict]:
    if pp_type == "standard2D":
        return [{"id": "zero_mean_unit_variance", "kwargs": {"axes": axes[-2:], "eps": 1e-6}}]
    if pp_type == "standard3D":
        return [{"id": "zero_mean_unit_variance", "kwargs": {"axes": axes[-3:], "eps": 1e-6}}]
    if pp_type == "symetric_rescale":
        return [{"id": "scale_range", "kwargs": {"axes": axes[-3:], "min_percentile": 0.0, "max_percentile": 100.0}},
                {"id": "scale_linear", "kwargs": {"gain": 2.0, "offset": -1.0}}]
    return []


def _normalised(volume: np.ndarray, pp_type: str | None) -> np.ndarray:
    """What the network sees: the job's normalisation of each input map (as the package's preprocessing)."""
    from znn.data.preprocess import preprocess

    return np.stack([preprocess(m, pp_type or "none", "float32") for m in volume])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def engine_forward(source: ExportSource, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The engine's forward pass (test phase, softmax as the job applies it) on (maps, z, y, x) inputs."""
    from znn.forward.predict import channel_softmax
    from znn.network.net import Network

    first = source.spec.input_names[0]
    net_in = NetworkGraph(source.spec, (1, 1, 1))
    outsz = tuple(s - f + 1 for s, f in zip(inputs[first].shape[1:], net_in.input_size))
    if net_in.is_dense is False:
        step = tuple(b - a for a, b in zip(net_in.input_size, NetworkGraph(source.spec, (2, 2, 2)).input_size))
        outsz = tuple((s - f) // t + 1 for s, f, t in zip(inputs[first].shape[1:], net_in.input_size, step))
    with Network(source.spec, outsz, phase="test", seed=0, num_threads=1) as net:
        for name, kernels in source.kernels.items():
            net.params.kernels[name][...] = kernels
        for name, bias in source.biases.items():
            net.params.biases[name][...] = bias
        net.invalidate_kernel_spectra()
        outputs = net.forward(inputs)
    if source.softmax:
        for maps in outputs.values():
            channel_softmax(maps)
    return outputs


def write_package(source: ExportSource, path: str | Path, info: PackageInfo = PackageInfo(), *,
                  test_size: tuple[int, int, int] | None = None) -> Path:
    """Write the package zip to `path` (atomically: a failed export leaves no half file)."""
    try:
        import bioimageio.spec  # noqa: F401
        import yaml  # noqa: F401
    except ImportError:
        raise ExportError("writing a bioimage.io package needs the 'export' extra: "
                          "pip install 'napari-znn[export]' (onnx, onnxruntime, bioimageio.spec)") from None
    path = Path(path)
    spec = source.spec
    if len(spec.input_names) != 1:
        raise ExportError(f"a bioimage.io package here has one image input; this network has "
                          f"{len(spec.input_names)} ({', '.join(spec.input_names)}): export it with --onnx")
    text = network_text(spec)
    model = build_onnx(spec, source.kernels, source.biases, softmax=source.softmax,
                       doc=f"{info.name}: exported by napari-znn", network_text=text)
    mins, outs = sizes(spec)
    (name,), (output,) = spec.input_names, spec.output_names
    low, step = mins[name]
    size = test_size or tuple(m + s * 6 for m, s in zip(low, step))
    rng = np.random.default_rng(0)
    test_input = rng.normal(100.0, 30.0, (spec.nodes[name].size, *size)).astype(np.float32)  # EM-like values
    test_output = engine_forward(source, {name: _normalised(test_input, source.pp_type)})[output]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "weights.onnx").write_bytes(model.SerializeToString())
        np.save(folder / "test_input.npy", test_input[None])
        np.save(folder / "test_output.npy", test_output[None])
        (folder / "network.znn").write_text(text)
        _cover(spec, folder / "cover.png")
        if source.curve_png is not None and source.curve_png.is_file():  # the job's learning curve
            (folder / "curve.png").write_bytes(source.curve_png.read_bytes())
        (folder / "README.md").write_text(_readme(source, info, mins[name], outs[output]))
        rdf = _rdf(source, info, folder, mins[name], list(test_output.shape[1:]), size)
        import yaml

        (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))
        from bioimageio.spec import load_description, save_bioimageio_package

        description = load_description(folder / "rdf.yaml", perform_io_checks=True)
        summary = getattr(description, "validation_summary", None)
        if getattr(summary, "status", "passed") == "failed":
            raise ExportError(f"the package description did not validate: {summary.format() if summary else ''}")
        tmp_zip = path.with_name(f".{path.stem}.partial.zip")
        try:
            save_bioimageio_package(description, output_path=tmp_zip)
            tmp_zip.replace(path)
        finally:
            tmp_zip.unlink(missing_ok=True)
    return path


def network_text(spec: NetSpec) -> str:
    """The network as its file says it (comments and layout kept) when that file still describes it,
    else as written from the spec."""
    from znn.netspec.znnfile import parse_znn

    try:
        text = Path(spec.source).read_text()  # type: ignore[arg-type]
        if parse_znn(text) == spec:
            return text
    except (OSError, TypeError, ValueError, ZnnError):  # no file, or not text (a checkpoint's .h5)
        pass
    return format_znn(spec)


def _cover(spec: NetSpec, path: Path) -> None:
    from znn.netspec.diagram import draw

    draw(NetworkGraph(spec, (1, 1, 1)), path)


def _axes(sizes_: list, channels: list[str]) -> list[dict]:
    axes: list[dict] = [{"type": "batch"}, {"type": "channel", "channel_names": channels}]
    for axis, value in zip("zyx", sizes_):
        axes.append({"type": "space", "id": axis, "size": value})
    return axes


def _rdf(source: ExportSource, info: PackageInfo, folder: Path, mins: tuple, out_test: list[int],
         test_size: tuple[int, ...]) -> dict:
    spec = source.spec
    (name,), (output,) = spec.input_names, spec.output_names
    low, step = mins
    graph = NetworkGraph(spec, (1, 1, 1))
    in_maps, out_maps = spec.nodes[name].size, spec.nodes[output].size
    channels_in = ["em"] if in_maps == 1 else [f"channel{i}" for i in range(in_maps)]
    kind = source.output_kind if source.output_kind in CHANNELS and len(CHANNELS[source.output_kind]) == out_maps \
        else None
    channels_out = CHANNELS[kind] if kind else [f"map{i}" for i in range(out_maps)]
    in_sizes = [{"min": int(m), "step": int(s)} for m, s in zip(low, step)]
    if graph.is_dense:
        out_sizes = [{"tensor_id": name, "axis_id": a, "offset": -int(f - 1)} for a, f in zip("zyx", graph.fov)]
    else:
        raise ExportError("a bioimage.io package describes dense networks (every voxel answered); this one "
                          "subsamples with max_pool: export it with --onnx")
    meaning = {"boundary": "channel softmax of (object, boundary): 'boundary' is the membrane probability",
               "affinity": "logistic affinities to the previous voxel along x, y and z"}.get(kind or "", "raw maps")
    return {
        "type": "model", "format_version": "0.5.4", "name": info.name, "description": info.description,
        "authors": [{"name": a} for a in info.authors],
        "cite": [{"text": ZNN_CITATION, "doi": ZNN_DOI}] + [
            {"text": t, ("doi" if r.startswith("10.") else "url"): r} for t, r in info.cite],
        "license": info.license, "tags": list(info.tags), "documentation": "README.md",
        "covers": ["cover.png"],
        "attachments": [{"source": file, "sha256": _sha256(folder / file)} for file in ("network.znn", "curve.png")
                        if (folder / file).is_file()],
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "inputs": [{"id": name, "description": "EM image (z, y, x)", "axes": _axes(in_sizes, channels_in),
                    "test_tensor": {"source": "test_input.npy", "sha256": _sha256(folder / "test_input.npy")},
                    "data": {"type": "float32"}, "preprocessing": _preprocessing(source.pp_type, ["z", "y", "x"])}],
        "outputs": [{"id": output, "description": meaning,
                     "axes": _axes(out_sizes, channels_out),
                     "test_tensor": {"source": "test_output.npy", "sha256": _sha256(folder / "test_output.npy")},
                     "data": {"type": "float32"}}],
        "weights": {"onnx": {"source": "weights.onnx", "sha256": _sha256(folder / "weights.onnx"),
                             "opset_version": 17}},
        "config": {"znn": {"network": "network.znn", "output_kind": source.output_kind or "raw",
                           "softmax": source.softmax, "pp_type": source.pp_type or "none",
                           "field_of_view": list(graph.fov), "training_data": info.training_data}},
    }


def _readme(source: ExportSource, info: PackageInfo, mins: tuple, outs: tuple) -> str:
    spec = source.spec
    graph = NetworkGraph(spec, (1, 1, 1))
    lines = [f"# {info.name}", "", info.description, "",
             "## Network", "",
             f"A ZNN network ({len(spec.nodes)} node groups, {len(spec.edges)} edge groups, "
             f"{graph.parameter_count:,} parameters) with a field of view of {'x'.join(map(str, graph.fov))} "
             "(z, y, x); `network.znn` is its description in ZNN's format and `cover.png` its drawing. The "
             "ONNX graph answers every voxel of the input less the field of view (dense sliding-window output).",
             "", f"Output: {source.output_kind or 'raw maps'}"
             + (" (channel softmax applied: the second channel is the membrane probability)." if source.softmax
                else "."),
             f"Input normalisation: {source.pp_type or 'none'}.", "",
             "## Training data", "", info.training_data, ""]
    if source.curve_png is not None and source.curve_png.is_file():
        lines += ["## Learning curve", "", "![cost and pixel error during training](curve.png)", ""]
    if source.settings:
        lines += ["## Training settings", ""] + [f"- `{k}`: {v}" for k, v in source.settings.items()] + [""]
    lines += ["## Use", "",
              "Any bioimage.io consumer that runs ONNX weights (bioimageio.core, ilastik, deepImageJ, napari "
              "plugins) can run this package; `znn import` turns it back into `network.znn` and a `.h5` "
              "checkpoint for napari-znn and ZNN.", "", "## Citation", "", ZNN_CITATION, ""]
    return "\n".join(lines)


__all__ = ["ExportError", "ExportSource", "PackageInfo", "ZnnError", "engine_forward", "sizes", "write_package"]
