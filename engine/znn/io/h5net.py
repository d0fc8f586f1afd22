"""Saved networks in ZNN's `.h5` layout (reference §7.1, §7.3).

One HDF5 group per layer under P (`/processing/znn/train/network` in the "stdio" layout,
else the file root), holding datasets only: scalar strings for every option
(`group_type`, `name`, `type`, `input`, ...), int64 `size` and `stride`, and for
trainable layers `filters` or `biases` plus `momentum_vol`. Kernels are stored in ZNN's
element order, converted with `znn.params.net_params.kernels_to/from_znn_order`. A network trained with
Adam also stores each layer's `second_moment` (same shape as `momentum_vol`), which ZNN's
loader does not read.

Loading refuses weights (filters, biases) holding NaN or infinite values, the trace of a
diverged run: forward passes would write a constant map and training would go on from NaN.
`load_network(..., finite=False)` reads them anyway (to look at the file), with a warning that
names the arrays. The resume state is checked too (`znn.io.training_state`). `apply_saved`
copies saved parameters into a network built from a `.znn` template by layer name, as ZNN's
loader does (§6.3).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from znn.base.errors import NetworkSpecError, SavedNetworkError, ZnnError
from znn.io.curve import STDIO_STATISTICS, LearningCurve, read_curve_group, write_curve_group
from znn.io.h5atomic import atomic_h5_file, read_text, write_array, write_string
from znn.io.training_state import TRAINING_STATE, check_state
from znn.netspec.spec import EdgeGroup, NetSpec, NodeGroup
from znn.netspec.znnfile import group_lines, parse_znn
from znn.params.net_params import NetParams, kernels_from_znn_order, kernels_to_znn_order

STDIO_NETWORK = "/processing/znn/train/network"
PARAMETER_KEYS = ("filters", "biases", "momentum_vol", "second_moment")
# Keys fixed by the network description: an `options` override may repeat them, not change them.
STRUCTURE_KEYS = ("group_type", "name", "type", "input", "output", "size", "stride")
INTEGER_ARRAY_KEYS = ("size", "stride")


@dataclass
class SavedNetwork:
    """Everything read from a saved network file."""

    spec: NetSpec  # the topology rebuilt from the stored option strings
    params: NetParams
    options: dict[str, dict[str, str]]  # layer -> every stored option as text (not the arrays)
    stdio: bool
    dtype: np.dtype
    nan_arrays: list[str]  # e.g. ["conv1/filters", "nl1/biases"]
    learning_curve: LearningCurve | None = None
    path: str | None = None
    state: dict[str, int | float | str] | None = None  # TRAINING_STATE, when present


# ----------------------------------------------------------------------------- saving


def save_network(path: str | Path, spec: NetSpec, params: NetParams, *, stdio: bool,
                 options: dict[str, dict[str, str]] | None = None,
                 learning_curve: LearningCurve | None = None,
                 state: dict[str, int | float | str] | None = None) -> None:
    """Write `spec` with `params` in ZNN's layout, atomically.

    `options` overrides or adds option strings per layer, e.g. the eta/momentum/fft the
    trainer used ({"conv1": {"eta": "0.00999999978"}}). A learning curve can only be
    stored in the stdio layout; non-stdio runs keep it in a separate statistics file
    (`znn.io.curve.write_learning_curve`). `state` holds scalars a resumed run needs
    (iteration, seed, ...), stored under TRAINING_STATE.
    """
    if learning_curve is not None and not stdio:
        raise ValueError("the non-stdio layout has no place for a learning curve; write it with "
                         "znn.io.curve.write_learning_curve to a separate statistics file")
    params.check_against(spec)
    layer_strings = {name: _layer_strings(group) for name, group in _layers(spec)}
    for name, overrides in (options or {}).items():
        _apply_overrides(name, layer_strings, overrides)
    with atomic_h5_file(path) as handle:
        root = handle.require_group(STDIO_NETWORK) if stdio else handle["/"]
        # Sorted names make the bytes independent of the order of the spec's dicts.
        for name in sorted(layer_strings):
            _write_layer(root.create_group(name), layer_strings[name], name, params)
        if learning_curve is not None:
            write_curve_group(handle.require_group(STDIO_STATISTICS), learning_curve)
        if state:
            group = handle.require_group(TRAINING_STATE)
            for key in sorted(state):
                value = state[key]
                if isinstance(value, str):
                    write_string(group, key, value)
                else:
                    write_array(group, key, np.asarray(value))


def _layers(spec: NetSpec) -> list[tuple[str, NodeGroup | EdgeGroup]]:
    return [*spec.nodes.items(), *spec.edges.items()]


def _layer_strings(group: NodeGroup | EdgeGroup) -> dict[str, str]:
    """The options ZNN would hold for a group, as text: what the `.znn` file set, plus name and kind."""
    strings = {"group_type": "node" if isinstance(group, NodeGroup) else "edge", "name": group.name}
    for line in group_lines(group)[1:]:
        key, value = line.split(" ", 1)
        strings[key] = value
    return strings


def _apply_overrides(name: str, layer_strings: dict[str, dict[str, str]], overrides: dict[str, str]) -> None:
    if name not in layer_strings:
        raise ValueError(f"options given for '{name}', which is not a layer of the network")
    strings = layer_strings[name]
    for key, value in overrides.items():
        if key in PARAMETER_KEYS:
            raise ValueError(f"layer '{name}': '{key}' comes from the parameters, not from options")
        if key in STRUCTURE_KEYS and strings.get(key) != value:
            raise ValueError(f"layer '{name}': option '{key}' is fixed by the network description "
                             f"({strings.get(key)!r}), cannot store {value!r}")
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            raise ValueError(f"layer '{name}': option '{key}' must be a non-empty string without "
                             f"spaces, got {value!r}")
        strings[key] = value


def _write_layer(group: h5py.Group, strings: dict[str, str], name: str, params: NetParams) -> None:
    datasets: dict[str, str | np.ndarray] = dict(strings)
    for key in INTEGER_ARRAY_KEYS:
        if key in datasets:
            datasets[key] = np.array([int(v) for v in str(datasets[key]).split(",")], dtype=np.int64)
    if name in params.kernels:
        datasets["filters"] = kernels_to_znn_order(params.kernels[name])
        datasets["momentum_vol"] = kernels_to_znn_order(params.kernel_momentum[name])
        if name in params.kernel_second:
            datasets["second_moment"] = kernels_to_znn_order(params.kernel_second[name])
    elif name in params.biases:
        datasets["biases"] = np.ascontiguousarray(params.biases[name])
        datasets["momentum_vol"] = np.ascontiguousarray(params.bias_momentum[name])
        if name in params.bias_second:
            datasets["second_moment"] = np.ascontiguousarray(params.bias_second[name])
    for key in sorted(datasets):
        value = datasets[key]
        if isinstance(value, str):
            write_string(group, key, value)
        else:
            write_array(group, key, value)


# ----------------------------------------------------------------------------- loading


@dataclass
class _StoredLayer:
    name: str
    is_node: bool
    options: dict[str, str]
    arrays: dict[str, np.ndarray]


def load_network(path: str | Path, *, finite: bool = True) -> SavedNetwork:
    """Read a network file written by ZNN (either layout, float32 or float64) or by `save_network`.
    With `finite` (the default) weights holding NaN or infinite values are refused; without, they
    only warn."""
    path = Path(path)
    file = str(path)
    if not path.exists():
        if path.is_symlink():
            raise SavedNetworkError(f"a link to a missing file ({path.readlink()})", file=file,
                                    expected="a link to a saved network, or no link (then training starts afresh)")
        raise SavedNetworkError("saved network file not found", file=file)
    if not path.is_file():
        raise SavedNetworkError("not a file", file=file, expected="a saved network .h5 file",
                                found="a directory" if path.is_dir() else "a special file")
    if not h5py.is_hdf5(path):
        raise SavedNetworkError("not an HDF5 file", file=file,
                                expected="a saved network .h5 file (HDF5 signature)",
                                found="a file without the HDF5 signature")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise SavedNetworkError(f"cannot open the HDF5 file ({error})", file=file) from None
    with handle:
        try:
            stdio = STDIO_NETWORK in handle
            root = handle[STDIO_NETWORK] if stdio else handle["/"]
            layers = [_read_layer(root, name, file) for name in root]
            curve = None
            if stdio and STDIO_STATISTICS in handle:
                curve = read_curve_group(handle[STDIO_STATISTICS], file=file)
            state = check_state(_read_state(handle[TRAINING_STATE]), file) if TRAINING_STATE in handle else None
        except (ZnnError, MemoryError):
            raise
        except Exception as error:  # h5py fails on damaged files with OSError, KeyError, RuntimeError, ...
            raise SavedNetworkError(f"the file is damaged ({type(error).__name__}: {error})", file=file,
                                    expected="a complete saved network .h5 file") from None
    if not layers:
        raise SavedNetworkError("the file holds no network (no layer groups)", file=file,
                                expected=f"one group per layer at the root or under {STDIO_NETWORK}",
                                found="no layer group")
    spec = _rebuild_spec(layers, file)
    params = _collect_params(layers, file)
    params.check_against(spec, file=file)
    nan_counts = params.nan_counts()
    _check_finite(params, file, refuse=finite)
    return SavedNetwork(spec=spec, params=params, options={layer.name: layer.options for layer in layers},
                        stdio=stdio, dtype=params.dtype, nan_arrays=list(nan_counts),
                        learning_curve=curve, path=file, state=state)


def _check_finite(params: NetParams, file: str, *, refuse: bool) -> None:
    """Refuse (or with `refuse` False, warn about) weights holding NaN or infinite values, naming
    the arrays; momentum buffers are only named in the warning."""
    counts = params.nonfinite_counts()
    if not counts:
        return
    sizes = {name: array.size for name, array in params.arrays()}
    weights = {name: count for name, count in counts.items() if name.endswith(("/filters", "/biases"))}
    listed = weights if refuse and weights else counts
    listing = ", ".join(f"{name} ({nan} NaN, {inf} infinite of {sizes[name]})" if nan and inf else
                        f"{name} ({nan or inf} {'NaN' if nan else 'infinite'} of {sizes[name]})"
                        for name, (nan, inf) in list(listed.items())[:4])
    if len(listed) > 4:
        listing += f" and {len(listed) - 4} more"
    if refuse and weights:
        raise SavedNetworkError(f"the weights hold NaN or infinite values: {listing} (a diverged training run)",
                                file=file, expected="finite weights (an earlier checkpoint, <prefix>_<N>.h5)")
    warnings.warn(f"{file}: the saved network holds NaN or infinite values (a diverged training run?) in "
                  f"{listing}", stacklevel=3)


def read_training_state(path: str | Path) -> dict[str, int | float | str] | None:
    """A checkpoint's resume state (iteration, seed, ...) alone, without its layers: cheap enough for a
    GUI's main thread. None when the file has none; OSError when it cannot be read, SavedNetworkError
    when a value is impossible."""
    with h5py.File(path, "r") as handle:
        return check_state(_read_state(handle[TRAINING_STATE]), str(path)) if TRAINING_STATE in handle else None


def _read_state(group: h5py.Group) -> dict[str, int | float | str]:
    state: dict[str, int | float | str] = {}
    for key, dataset in group.items():
        value = dataset[()]
        if isinstance(value, bytes | str):
            state[key] = read_text(dataset)
        elif np.issubdtype(np.asarray(value).dtype, np.integer):
            state[key] = int(value)
        else:
            state[key] = float(value)
    return state


def _read_layer(root: h5py.Group, name: str, file: str) -> _StoredLayer:
    item = root[name]
    where = f"{root.name.rstrip('/')}/{name}"
    if not isinstance(item, h5py.Group):
        raise SavedNetworkError("expected one group per layer", file=file, group=where,
                                expected="an HDF5 group", found="a dataset")
    options: dict[str, str] = {}
    arrays: dict[str, np.ndarray] = {}
    for key, dataset in item.items():
        if not isinstance(dataset, h5py.Dataset):
            raise SavedNetworkError("a layer group holds only datasets", file=file, group=where, key=key,
                                    expected="a dataset", found="a group")
        if key in PARAMETER_KEYS:
            array = dataset[()]
            if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
                raise SavedNetworkError("parameters must be a floating-point array", file=file, group=where,
                                        key=key, expected="float32 or float64 array",
                                        found=str(getattr(array, "dtype", type(array).__name__)))
            arrays[key] = array
            continue
        try:
            options[key] = read_text(dataset)
        except TypeError:
            raise SavedNetworkError("option value is not text or integers", file=file, group=where, key=key,
                                    expected="a scalar string", found=str(dataset.dtype)) from None
    for key in ("group_type", "type"):
        if key not in options:
            raise SavedNetworkError(f"layer group has no '{key}' dataset", file=file, group=where, key=key,
                                    expected=f"a scalar string dataset '{key}'", found="nothing")
    if options["group_type"] not in ("node", "edge"):
        raise SavedNetworkError("unknown group_type", file=file, group=where, key="group_type",
                                expected="'node' or 'edge'", found=options["group_type"])
    if options.get("name", name) != name:
        raise SavedNetworkError("the stored name differs from the group's name", file=file, group=where,
                                key="name", expected=name, found=options["name"])
    is_node = options["group_type"] == "node"
    blob = "biases" if is_node else "filters"
    wrong_blob = "filters" if is_node else "biases"
    if wrong_blob in arrays:
        raise SavedNetworkError(f"a {options['group_type']} group cannot hold '{wrong_blob}'", file=file,
                                group=where, key=wrong_blob, expected=f"'{blob}' or no parameters")
    if (blob in arrays) != ("momentum_vol" in arrays):
        missing = "momentum_vol" if blob in arrays else blob
        raise SavedNetworkError(f"'{blob}' and 'momentum_vol' come in pairs", file=file, group=where,
                                key=missing, expected=f"a dataset '{missing}'", found="nothing")
    for buffer in ("momentum_vol", "second_moment"):
        if blob in arrays and buffer in arrays and arrays[blob].shape != arrays[buffer].shape:
            raise SavedNetworkError(f"'{buffer}' must have the shape of '{blob}'", file=file, group=where,
                                    key=buffer, expected=f"shape {arrays[blob].shape}",
                                    found=f"shape {arrays[buffer].shape}")
    if "second_moment" in arrays and blob not in arrays:
        raise SavedNetworkError(f"'second_moment' without '{blob}'", file=file, group=where, key=blob,
                                expected=f"a dataset '{blob}'", found="nothing")
    return _StoredLayer(name, is_node, options, arrays)


def _rebuild_spec(layers: list[_StoredLayer], file: str) -> NetSpec:
    """The NetSpec the stored option strings describe, via the `.znn` parser (same rules, same errors)."""
    lines: list[str] = []
    for layer in sorted(layers, key=lambda item: (not item.is_node, item.name)):
        lines.append(f"{'nodes' if layer.is_node else 'edges'} {layer.name}")
        for key, value in layer.options.items():
            if key in ("group_type", "name"):
                continue
            if not value or any(c.isspace() for c in key + value):
                raise SavedNetworkError("option cannot be expressed in a network description", file=file,
                                        group=layer.name, key=key, expected="a value without spaces",
                                        found=value)
            lines.append(f"{key} {value}")
        lines.append("")
    try:
        spec = parse_znn("\n".join(lines), file)
    except NetworkSpecError as error:
        raise SavedNetworkError(f"the stored layers do not form a valid network: {error.message}", file=file,
                                group=error.group, key=error.key, expected=error.expected,
                                found=error.found) from error
    # Line numbers refer to the text built above, not to anything the user can open.
    spec.warnings = [re.sub(r"^.*?:\d+: ", f"{file}: ", text) for text in spec.warnings]
    groups: list[NodeGroup | EdgeGroup] = [*spec.nodes.values(), *spec.edges.values()]
    for group in groups:
        group.line = None
        group.key_lines = {}
    return spec


def _collect_params(layers: list[_StoredLayer], file: str) -> NetParams:
    dtypes = {layer.arrays[key].dtype for layer in layers for key in layer.arrays}
    if len(dtypes) > 1:
        raise SavedNetworkError("parameters are stored with mixed precision", file=file,
                                expected="one dtype (float32 or float64) for every array",
                                found=", ".join(sorted(str(d) for d in dtypes)))
    dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
    kernels, kernel_momentum, biases, bias_momentum = {}, {}, {}, {}
    kernel_second, bias_second = {}, {}
    for layer in layers:
        if "filters" in layer.arrays:
            for key in ("filters", "momentum_vol"):
                if layer.arrays[key].ndim != 5:
                    raise SavedNetworkError("kernels must be a 5-D array", file=file, group=layer.name,
                                            key=key, expected="shape (n_in, n_out, z, y, x)",
                                            found=f"shape {layer.arrays[key].shape}")
            kernels[layer.name] = kernels_from_znn_order(layer.arrays["filters"])
            kernel_momentum[layer.name] = kernels_from_znn_order(layer.arrays["momentum_vol"])
            if "second_moment" in layer.arrays:
                kernel_second[layer.name] = kernels_from_znn_order(layer.arrays["second_moment"])
        elif "biases" in layer.arrays:
            biases[layer.name] = layer.arrays["biases"]
            bias_momentum[layer.name] = layer.arrays["momentum_vol"]
            if "second_moment" in layer.arrays:
                bias_second[layer.name] = layer.arrays["second_moment"]
    return NetParams(kernels, kernel_momentum, biases, bias_momentum, dtype, kernel_second, bias_second)


# ----------------------------------------------------------------------------- seeding


@dataclass
class LoadReport:
    """What `apply_saved` did, layer by layer."""

    loaded: list[str]  # template layers that received the saved parameters
    new: list[str]  # trainable template layers the file lacks: they keep their initial values
    not_copied: list[str]  # trainable layers of the file that went nowhere
    skipped: list[str]  # template layers marked 'seeding 0' that the file has
    # Saved `fft` flags of matching layers: ZNN copies them into the template (§6.3, quirk 17).
    fft: dict[str, int]


def apply_saved(template: NetSpec, saved: SavedNetwork, params: NetParams) -> LoadReport:
    """Copy kernels/biases and their momentum from `saved` into `params` (the template's), by name.

    Unlike ZNN, shapes are checked first: a mismatch raises SavedNetworkError naming the
    layer, the expected and the found shape, and leaves `params` untouched.
    """
    params.check_against(template)
    file = saved.path
    copies: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]] = []
    report = LoadReport(loaded=[], new=[], not_copied=[], skipped=[], fft={})
    for name, group in sorted(_layers(template), key=lambda item: item[0]):
        seeded = group.extra.get("seeding") != "0"
        in_file = name in saved.params.kernels or name in saved.params.biases
        if seeded and "fft" in saved.options.get(name, {}):
            report.fft[name] = _fft_flag(saved, name)
        if name not in params.kernels and name not in params.biases:
            continue  # nothing trainable in this template layer
        if not seeded:
            if in_file:
                report.skipped.append(name)
            continue
        if not in_file:
            report.new.append(name)
            continue
        _check_same_kind(name, params, saved, file)
        if name in params.kernels:
            _check_shape(name, "filters", params.kernels[name], saved.params.kernels[name], file)
            copies.append((params.kernels, saved.params.kernels, name))
            copies.append((params.kernel_momentum, saved.params.kernel_momentum, name))
            if name in saved.params.kernel_second:
                copies.append((params.kernel_second, saved.params.kernel_second, name))
        else:
            _check_shape(name, "biases", params.biases[name], saved.params.biases[name], file)
            copies.append((params.biases, saved.params.biases, name))
            copies.append((params.bias_momentum, saved.params.bias_momentum, name))
            if name in saved.params.bias_second:
                copies.append((params.bias_second, saved.params.bias_second, name))
        report.loaded.append(name)
    for target, source, name in copies:
        target[name] = np.array(source[name], dtype=params.dtype, copy=True)
    saved_layers = set(saved.params.kernels) | set(saved.params.biases)
    report.not_copied = sorted(saved_layers - set(report.loaded))
    return report


def _fft_flag(saved: SavedNetwork, name: str) -> int:
    text = saved.options[name]["fft"]
    try:
        return int(text)
    except ValueError:
        raise SavedNetworkError("bad fft flag", file=saved.path, group=name, key="fft",
                                expected="0 or 1", found=text) from None


def _check_same_kind(name: str, params: NetParams, saved: SavedNetwork, file: str | None) -> None:
    wants_kernels = name in params.kernels
    if wants_kernels != (name in saved.params.kernels):
        expected, found = ("conv kernels", "biases") if wants_kernels else ("biases", "conv kernels")
        raise SavedNetworkError("the saved layer of this name is of another kind", file=file, group=name,
                                expected=expected, found=found)


def _check_shape(name: str, key: str, mine: np.ndarray, theirs: np.ndarray, file: str | None) -> None:
    if mine.shape != theirs.shape:
        raise SavedNetworkError("the saved parameters do not fit the network's layer", file=file,
                                group=name, key=key, expected=f"shape {mine.shape}",
                                found=f"shape {theirs.shape}")
