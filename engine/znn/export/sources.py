"""Where an export's network and weights come from (a job's latest checkpoint, a checkpoint file,
a bare `.znn`), and the way back: a package or ONNX file this program wrote, read into a `.znn`
text and a checkpoint."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from znn.base.errors import ZnnError
from znn.export.onnx_graph import ExportError
from znn.export.package import ExportSource
from znn.netspec.spec import NetSpec
from znn.netspec.znnfile import parse_znn, read_znn


def _weights(spec: NetSpec, checkpoint: Path | None, seed: int = 0) -> tuple[dict, dict]:
    from znn.io.trained_network import load_trained
    from znn.network.net import Network

    if checkpoint is not None:
        net = load_trained(checkpoint, (1, 1, 1), spec=spec, num_threads=1)
    else:
        net = Network(spec, (1, 1, 1), phase="test", seed=seed, num_threads=1)
    with net:  # a checkpoint with NaN or infinite weights is refused as it loads
        kernels = {k: v.copy() for k, v in net.params.kernels.items()}
        biases = {k: v.copy() for k, v in net.params.biases.items()}
    return kernels, biases


def from_job(cfg: Path, checkpoint: Path | None = None) -> ExportSource:
    """A job's network with its latest checkpoint (or `checkpoint`), output kind, softmax and the
    normalisation of its first image."""
    from znn.jobs import read_cfg
    from znn.jobs.job import resolve_training
    from znn.train.checkpoint import current_path, curve_png_path

    job = read_cfg(cfg)
    settings = resolve_training(job)
    spec = read_znn(settings.network_file)
    if checkpoint is None:
        checkpoint = current_path(settings.train_net_prefix)
        if not checkpoint.is_file():
            raise ZnnError(f"{cfg}: the job has no checkpoint yet ({checkpoint} is missing): train it first, or "
                           "name one with --checkpoint FILE.h5")
    kernels, biases = _weights(spec, checkpoint)
    images = settings.data_spec.images
    pp_type = images[min(images)].pp_types[0] if images else None
    curve = curve_png_path(settings.train_net_prefix)
    shown = {"network": settings.network_file.name, "checkpoint": checkpoint.name, "cost": settings.cost_fn,
             "training patch": "x".join(map(str, settings.train_outsz)), "normalisation": pp_type or "none",
             "rebalance": settings.rebalance, "augmentation": str(settings.augment)}
    return ExportSource(spec, kernels, biases, settings.output_kind, "softmax" in settings.cost_fn, pp_type,
                        shown, curve if curve.is_file() else None)


def from_files(net: Path | None, checkpoint: Path | None, output_kind: str | None = None) -> ExportSource:
    """A bare network (`net`, fresh weights), a checkpoint (its own network), or both (the network of
    `net` with the weights of `checkpoint`). Boundary networks of 2 outputs get the channel softmax."""
    from znn.io.h5net import load_network

    if net is None and checkpoint is None:
        raise ZnnError("name a job (-c job.cfg), a checkpoint (--checkpoint FILE.h5) or a network (--net FILE.znn)")
    spec = read_znn(net) if net is not None else load_network(checkpoint).spec  # type: ignore[arg-type]
    kernels, biases = _weights(spec, checkpoint)
    outputs = spec.nodes[spec.output_names[0]].size
    kind = output_kind or {2: "boundary", 3: "affinity"}.get(outputs)
    return ExportSource(spec, kernels, biases, kind, kind == "boundary" and outputs == 2, None)


# ---------------------------------------------------------------------------- import


def read_package(path: Path) -> tuple[str, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(.znn text, kernels, biases) of a package or ONNX file that this program exported."""
    import onnx
    from onnx import numpy_helper

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "rdf.yaml" not in names or "network.znn" not in names:
                raise ZnnError(f"{path}: not a package written by znn export (no rdf.yaml with network.znn)")
            text = archive.read("network.znn").decode()
            import yaml

            rdf = yaml.safe_load(archive.read("rdf.yaml"))
            weights = rdf.get("weights", {}).get("onnx", {}).get("source", "weights.onnx")
            model = onnx.load_from_string(archive.read(weights))
    else:
        try:
            model = onnx.load(str(path))
        except Exception as error:  # onnx raises its own DecodeError and friends
            raise ZnnError(f"{path}: not an ONNX file ({type(error).__name__})") from None
        meta = {p.key: p.value for p in model.metadata_props}
        if "znn.network" not in meta:
            raise ZnnError(f"{path}: an ONNX file without the network description znn export stores "
                           "(metadata 'znn.network'): only files znn exported can be read back")
        text = meta["znn.network"]
    spec = parse_znn(text, str(path))
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    kernels, biases = {}, {}
    for name, edge in spec.edges.items():
        if edge.type == "conv":
            if f"{name}.W" not in arrays:
                raise ExportError(f"{path}: no weights for group '{name}'")
            weights = arrays[f"{name}.W"]
            kernels[name] = np.ascontiguousarray(np.flip(weights, axis=(2, 3, 4)).transpose(1, 0, 2, 3, 4))
    for name, node in spec.nodes.items():
        if node.type == "transfer":
            if f"{name}.bias" not in arrays:
                raise ExportError(f"{path}: no biases for group '{name}'")
            biases[name] = arrays[f"{name}.bias"].reshape(-1).copy()
    return text, kernels, biases


def import_package(path: Path, folder: Path) -> tuple[Path, Path]:
    """Write `network.znn` and `net.h5` (ZNN's layout) into `folder` from an exported package."""
    from znn.base.atomic import atomic_write_text
    from znn.io.trained_network import save_trained
    from znn.network.net import Network

    text, kernels, biases = read_package(path)
    folder.mkdir(parents=True, exist_ok=True)
    znn_path, h5_path = folder / "network.znn", folder / "net.h5"
    with Network(parse_znn(text), (1, 1, 1), phase="test", num_threads=1) as net:
        for name, values in kernels.items():
            net.params.kernels[name][...] = values
        for name, values in biases.items():
            net.params.biases[name][...] = values
        atomic_write_text(znn_path, text)
        save_trained(net, h5_path)
    return znn_path, h5_path
