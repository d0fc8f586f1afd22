"""Bad files refused with one line: `.znn`, `.cfg`, `.spec`, volumes, saved networks, memory.

Every case builds a job (or a single file) in `tmp_path`, runs `znn` on it in a child process
and checks, with `expect_refusal`, that it exits with status 2, prints no traceback and exactly
one error line, and that this line names the file and the key, line, section or layer at fault;
no file that was there before may change.

Cases are functions registered with `@case(name)`: they write what they need under `tmp` and
return the command line and the names the error must contain (`{tmp}` stands for `tmp_path`).
Most fail while the job is set up, before a network is built, so each costs about a second.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import zarr

from tests.helpers.badinput import expect_refusal, run_znn
from tests.helpers.paths import NETWORKS

TINY = NETWORKS / "tiny2d.znn"
TINY_TEXT = TINY.read_text()
# tiny2d with three output maps: an affinity network of the same geometry (field of view 1x18x18).
TINY_AFF_TEXT = TINY_TEXT.replace("nodes output\ntype transfer\nsize 2", "nodes output\ntype transfer\nsize 3")
SHAPE = (3, 40, 40)

Built = tuple[list[str], list[str]]
CASES: dict[str, Callable[[Path], Built]] = {}


def case(name: str) -> Callable[[Callable[[Path], Built]], Callable[[Path], Built]]:
    def register(build: Callable[[Path], Built]) -> Callable[[Path], Built]:
        assert name not in CASES, name
        CASES[name] = build
        return build
    return register


# ----------------------------------------------------------------------------- building jobs

CFG = {
    "fnet_spec": str(TINY),
    "fdata_spec": "data.spec",
    "num_threads": "1",
    "dtype": "float32",
    "out_type": "boundary",
    "seed": "5",
    "train_net_prefix": "run/net",
    "train_range": "1",
    "test_range": "1",
    "train_outsz": "1,8,8",
    "train_conv_mode": "fft",
    "cost_fn": "auto",
    "eta": "0.05",
    "momentum": "0.9",
    "is_data_aug": "no",
    "is_bd_mirror": "yes",
    "rebalance_mode": "global",
    "Num_iter_per_show": "1",
    "Num_iter_per_test": "10",
    "test_num": "1",
    "Num_iter_per_save": "10",
    "Max_iter": "20",
    "forward_range": "1",
    "forward_net": "net.h5",
    "forward_conv_mode": "fft",
    "forward_outsz": "1,16,16",
    "output_prefix": "out/pred",
}


def cfg_line(key: str, **changes: str | None) -> int:
    """The line `key` is written on in the job file `write_cfg(**changes)` writes."""
    values = {**CFG, **changes}
    return [k for k, value in values.items() if value is not None].index(key) + 2  # line 1 is [parameters]


def write_cfg(folder: Path, **changes: str | None) -> Path:
    """job.cfg with CFG's keys, some changed (None leaves a key out)."""
    values = {**CFG, **changes}
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["[parameters]"] + [f"{key} = {value}" for key, value in values.items() if value is not None]
    path = folder / "job.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_spec(folder: Path, *, image: str = "raw.tif", label: str | None = "lab.tif", mask: str | None = None,
               pp: str = "standard2D", image_crop: str = "no", label_crop: str = "no") -> Path:
    text = f"[image1]\nfnames = {image}\npp_types = {pp}\nis_auto_crop = {image_crop}\n\n"
    if label is not None:
        text += f"[label1]\nfnames = {label}\npp_types = auto\nis_auto_crop = {label_crop}\n"
        text += f"fmasks = {mask}\n\n" if mask else "\n"
    text += "[sample1]\ninput = 1\n" + ("output = 1\n" if label is not None else "")
    path = folder / "data.spec"
    path.write_text(text)
    return path


SPEC_LINES = {"image1": 2, "label1": 7}  # the fnames lines of write_spec's sections
MASK_LINE = 10


def raw_image(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(0).random(shape).astype(np.float32)


def label_ids(shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    """Square objects of 8x8 voxels separated by one-voxel boundaries (id 0); 2-D or 3-D."""
    z, y, x = np.indices((1,) * (3 - len(shape)) + tuple(shape))
    ids = (y // 8) * 16 + (x // 8) + 1 + z * 256
    ids[(y % 8 == 0) | (x % 8 == 0)] = 0
    return ids.astype(np.uint32).reshape(shape)


def save(path: Path, array: np.ndarray, *, dataset: str = "main") -> Path:
    """Write `array` as a TIFF, HDF5 (dataset /main) or zarr volume, by the path's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in (".tif", ".tiff"):
        tifffile.imwrite(path, array, photometric="minisblack")
    elif path.suffix == ".h5":
        with h5py.File(path, "a") as handle:
            handle.create_dataset(dataset, data=array)
    else:
        zarr.save_array(str(path), array)
    return path


def job(tmp: Path, *, image: np.ndarray | None = None, label: np.ndarray | None = None,
        image_name: str = "raw.tif", label_name: str | None = "lab.tif", mask: np.ndarray | None = None,
        mask_name: str | None = None, net_text: str | None = None, saved_net: bytes | None = None,
        spec: dict[str, str] | None = None, **cfg: str | None) -> Path:
    """A job folder `tmp/job` with generated volumes; returns the .cfg path."""
    folder = tmp / "job"
    folder.mkdir(parents=True, exist_ok=True)
    if image_name.endswith((".tif", ".h5", ".zarr")) and not (folder / image_name).exists():
        save(folder / image_name, raw_image() if image is None else image)
    if label_name is not None and label_name.endswith((".tif", ".h5", ".zarr")) \
            and not (folder / label_name).exists():
        save(folder / label_name, label_ids() if label is None else label)
    if mask is not None:
        assert mask_name is not None
        save(folder / mask_name, mask)
    if net_text is not None:
        (folder / "net.znn").write_text(net_text)
        cfg.setdefault("fnet_spec", "net.znn")
    if saved_net is not None:
        (folder / "net.h5").write_bytes(saved_net)
    write_spec(folder, image=image_name, label=label_name, mask=mask_name, **(spec or {}))
    return write_cfg(folder, **cfg)


TRAIN = ["train", "-c", "{tmp}/job/job.cfg", "--max-iter", "1", "--threads", "1", "--quiet"]
FORWARD = ["forward", "-c", "{tmp}/job/job.cfg", "--threads", "1", "--quiet"]
CFG_FILE = "{tmp}/job/job.cfg"
SPEC_FILE = "{tmp}/job/data.spec"


def spec_at(section: str) -> list[str]:
    """Names of a .spec section's fnames line: file and line, section, key."""
    return [f"{SPEC_FILE}:{SPEC_LINES[section]}", f"group '{section}'", "key 'fnames'"]


def at_cfg(key: str, **changes: str | None) -> list[str]:
    return [f"{CFG_FILE}:{cfg_line(key, **changes)}", f"key '{key}'"]


# ----------------------------------------------------------------------------- saved networks

def _saved_network_bytes(text: str, folder: Path) -> bytes:
    from znn.io.trained_network import save_trained
    from znn.netspec.znnfile import parse_znn
    from znn.network.net import Network

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "net.h5"
    with Network(parse_znn(text), (1, 8, 8), dtype="float32", conv_mode="fft", seed=1, num_threads=1) as net:
        save_trained(net, path)
    return path.read_bytes()


_SAVED: dict[str, bytes] = {}


def saved(kind: str = "tiny2d") -> bytes:
    """A freshly initialised network saved as ZNN does: tiny2d, or tiny2d with 5x5 first kernels."""
    if kind not in _SAVED:
        text = TINY_TEXT if kind == "tiny2d" else TINY_TEXT.replace("size 1,3,3", "size 1,5,5", 1)
        with tempfile.TemporaryDirectory() as folder:
            _SAVED[kind] = _saved_network_bytes(text, Path(folder))
    return _SAVED[kind]


def edited_network(path: Path, edit: Callable[[h5py.Group], None]) -> Path:
    """tiny2d saved at `path`, then changed by `edit` (given the group holding the layers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(saved())
    with h5py.File(path, "a") as handle:
        edit(handle["/processing/znn/train/network"])
    return path


# ============================================================================ .znn files

ZNN_OK = TINY_TEXT


def bad_znn(tmp: Path, data: bytes | str, name: str = "bad.znn") -> Path:
    path = tmp / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def info(path: str) -> list[str]:
    return ["info", path]


@case("znn-random-bytes")
def _(tmp: Path) -> Built:
    bad_znn(tmp, np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn", "not a text .znn file"]


@case("znn-tiff-renamed")
def _(tmp: Path) -> Built:
    save(tmp / "x.tif", raw_image())
    shutil.copyfile(tmp / "x.tif", tmp / "bad.znn")
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn", "not a text .znn file"]


@case("znn-utf16")
def _(tmp: Path) -> Built:
    bad_znn(tmp, ZNN_OK.encode("utf-16"))
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn", "not a text .znn file"]


@case("znn-invalid-utf8-bytes")
def _(tmp: Path) -> Built:
    bad_znn(tmp, bytes(range(128, 256)) * 40)
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn", "not a text .znn file"]


@case("znn-huge-file")
def _(tmp: Path) -> Built:
    bad_znn(tmp, ("nodes a\ntype input\nsize 1\n" + "# padding\n" * 10) * 140_000)
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn", "too large"]


@case("znn-escape-in-key")
def _(tmp: Path) -> Built:
    bad_znn(tmp, ZNN_OK.replace("function rectify_linear", "function rectify_linear\n\x1b[2Jcolour red", 1))
    return info("{tmp}/bad.znn"), [f"{{tmp}}/bad.znn:{znn_line('function rectify_linear', 1)}:", "\\x1b[2Jcolour"]


@case("znn-escape-in-value")
def _(tmp: Path) -> Built:
    bad_znn(tmp, ZNN_OK.replace("init xavier", "init xav\x07ier", 1))
    return info("{tmp}/bad.znn"), [f"{{tmp}}/bad.znn:{znn_line('init xavier')}:", "key 'init'", "\\x07"]


@case("znn-escape-in-group-name")
def _(tmp: Path) -> Built:
    text = ZNN_OK.replace("edges pool1\n", "edges pool1\x1b\n").replace("edges pool2\n", "edges pool1\x1b\n")
    bad_znn(tmp, text)
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn:", "pool1\\x1b", "duplicate"]


@case("znn-empty")
def _(tmp: Path) -> Built:
    bad_znn(tmp, "")
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn", "input"]


@case("znn-only-comments")
def _(tmp: Path) -> Built:
    bad_znn(tmp, "# a network\n# still nothing\n")
    return info("{tmp}/bad.znn"), ["{tmp}/bad.znn", "input"]


@case("znn-directory")
def _(tmp: Path) -> Built:
    (tmp / "net.znn").mkdir()
    return info("{tmp}/net.znn"), ["{tmp}/net.znn", "is a folder"]


@case("znn-missing")
def _(tmp: Path) -> Built:
    return info("{tmp}/nothere.znn"), ["{tmp}/nothere.znn", "not found"]


# Single mistakes in an otherwise good network: file, line and key are named. Each edit is
# (text, replacement, line of the mistake counted from the start of the replacement, key).
ZNN_EDITS = {
    "bad-triple": ("size 1,3,3", "size 1,3", 0, "key 'size'"),
    "unknown-key": ("init xavier", "init xavier\ncolour red", 1, "key 'colour'"),
    "unknown-node-type": ("type sum", "type summ", 0, "key 'type'"),
    "unknown-function": ("function rectify_linear", "function relu_x", 0, "key 'function'"),
    "bad-fft-flag": ("init xavier", "init xavier\nfft 2", 1, "key 'fft'"),
    "size-zero": ("nodes nconv1\ntype transfer\nsize 8", "nodes nconv1\ntype transfer\nsize 0", 2, "key 'size'"),
    "option-without-value": ("stride 1,1,1", "stride", 0, "key 'stride'"),
    "edge-to-unknown-node": ("output nconv1", "output nconv9", 0, "nconv9"),
}


def znn_line(text: str, offset: int = 0) -> int:
    """The line of tiny2d.znn on which `text` starts, plus `offset`."""
    return ZNN_OK[:ZNN_OK.index(text)].count("\n") + 1 + offset


for _name, (_old, _new, _offset, _key) in ZNN_EDITS.items():
    def _build(tmp: Path, old: str = _old, new: str = _new, offset: int = _offset, key: str = _key) -> Built:
        bad_znn(tmp, ZNN_OK.replace(old, new, 1))
        return info("{tmp}/bad.znn"), [f"{{tmp}}/bad.znn:{znn_line(old, offset)}:", key]
    case(f"znn-{_name}")(_build)


@case("znn-binary-via-job")
def _(tmp: Path) -> Built:
    job(tmp, net_text="")
    (tmp / "job" / "net.znn").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(2000))
    return TRAIN, ["{tmp}/job/net.znn", "not a text .znn file"]


@case("znn-bad-line-via-job")
def _(tmp: Path) -> Built:
    job(tmp, net_text=ZNN_OK.replace("size 1,3,3", "size 1,3,x", 1))
    return TRAIN, [f"{{tmp}}/job/net.znn:{znn_line('size 1,3,3')}:", "key 'size'"]


# ============================================================================ .cfg files

@case("cfg-fnet-spec-missing")
def _(tmp: Path) -> Built:
    job(tmp, fnet_spec="nets/none.znn")
    return TRAIN, [*at_cfg("fnet_spec"), "nets/none.znn"]


@case("cfg-fnet-spec-directory")
def _(tmp: Path) -> Built:
    job(tmp, fnet_spec="nets")
    (tmp / "job" / "nets").mkdir()
    return TRAIN, [*at_cfg("fnet_spec"), "nets"]


@case("cfg-fnet-spec-missing-forward")
def _(tmp: Path) -> Built:
    job(tmp, fnet_spec="none.znn", saved_net=saved())
    return FORWARD, [*at_cfg("fnet_spec"), "none.znn"]


@case("cfg-num-threads-negative")
def _(tmp: Path) -> Built:
    job(tmp, num_threads="-3")
    return TRAIN, [*at_cfg("num_threads"), "-3"]


@case("cfg-num-threads-minus-one-forward")
def _(tmp: Path) -> Built:
    job(tmp, num_threads="-1", saved_net=saved())
    return FORWARD, [*at_cfg("num_threads"), "-1"]


@case("cfg-num-threads-text")
def _(tmp: Path) -> Built:
    job(tmp, num_threads="all")
    return TRAIN, [*at_cfg("num_threads"), "all"]


@case("cfg-out-type-affinity-two-maps")
def _(tmp: Path) -> Built:
    job(tmp, out_type="affinity")
    return TRAIN, [*at_cfg("out_type"), str(TINY), "2 maps"]


@case("cfg-out-type-affinity-two-maps-forward")
def _(tmp: Path) -> Built:
    job(tmp, out_type="affinity", saved_net=saved())
    return FORWARD, [*at_cfg("out_type"), str(TINY), "2 maps"]


@case("cfg-out-type-boundary-one-map-train")
def _(tmp: Path) -> Built:
    job(tmp, net_text=TINY_TEXT.replace("nodes output\ntype transfer\nsize 2", "nodes output\ntype transfer\nsize 1"))
    return TRAIN, [*at_cfg("out_type", fnet_spec="net.znn"), "{tmp}/job/net.znn", "1 map"]


@case("cfg-out-type-boundary-three-maps")
def _(tmp: Path) -> Built:
    job(tmp, net_text=TINY_AFF_TEXT)
    return TRAIN, [*at_cfg("out_type", fnet_spec="net.znn"), "{tmp}/job/net.znn", "3 maps"]


@case("cfg-out-type-boundary-four-maps")
def _(tmp: Path) -> Built:
    job(tmp, net_text=TINY_TEXT.replace("nodes output\ntype transfer\nsize 2", "nodes output\ntype transfer\nsize 4"))
    return TRAIN, [*at_cfg("out_type", fnet_spec="net.znn"), "{tmp}/job/net.znn", "4 maps"]


@case("cfg-train-outsz-larger-than-image")
def _(tmp: Path) -> Built:
    job(tmp, train_outsz="1,60,60")
    return TRAIN, [*at_cfg("train_outsz"), "{tmp}/job/raw.tif", "(3, 40, 40)", "1x77x77"]


@case("cfg-train-outsz-more-sections-than-volume")
def _(tmp: Path) -> Built:
    job(tmp, train_outsz="5,8,8")
    return TRAIN, [*at_cfg("train_outsz"), "{tmp}/job/raw.tif", "(3, 40, 40)", "5x25x25"]


@case("cfg-train-outsz-without-mirror")
def _(tmp: Path) -> Built:
    job(tmp, train_outsz="1,30,30", is_bd_mirror="no")
    return TRAIN, [*at_cfg("train_outsz"), "{tmp}/job/raw.tif", "(3, 40, 40)", "1x47x47", "field of view"]


@case("cfg-train-outsz-larger-than-label")
def _(tmp: Path) -> Built:
    job(tmp, image=raw_image((3, 80, 80)), label=label_ids((3, 40, 40)), train_outsz="1,48,48",
        spec={"image_crop": "yes", "label_crop": "yes"})
    return TRAIN, [*at_cfg("train_outsz"), "{tmp}/job/lab.tif", "(3, 40, 40)"]


@case("cfg-train-outsz-affinity-needs-one-more")
def _(tmp: Path) -> Built:
    job(tmp, net_text=TINY_AFF_TEXT, out_type="affinity", train_outsz="1,40,40", image=raw_image((3, 80, 80)),
        spec={"image_crop": "yes", "label_crop": "yes"})
    return TRAIN, [*at_cfg("train_outsz", fnet_spec="net.znn"), "{tmp}/job/lab.tif", "(3, 40, 40)", "affinity"]


@case("cfg-train-outsz-too-large-for-validation-sample")
def _(tmp: Path) -> Built:
    cfg = job(tmp, test_range="2", train_outsz="1,24,24")
    save(cfg.parent / "small.tif", raw_image((2, 20, 20)))
    save(cfg.parent / "small-lab.tif", label_ids((2, 20, 20)))
    spec = cfg.parent / "data.spec"
    spec.write_text(spec.read_text() + "\n[image2]\nfnames = small.tif\npp_types = standard2D\nis_auto_crop = no\n"
                    "\n[label2]\nfnames = small-lab.tif\npp_types = auto\nis_auto_crop = no\n"
                    "\n[sample2]\ninput = 2\noutput = 2\n")
    return TRAIN, [*at_cfg("train_outsz", test_range="2"), "{tmp}/job/small.tif", "(2, 20, 20)", "sample2"]


@case("cfg-forward-volume-smaller-than-window")
def _(tmp: Path) -> Built:
    job(tmp, image=raw_image((3, 12, 12)), is_bd_mirror="no", saved_net=saved())
    return FORWARD, [*at_cfg("forward_outsz", is_bd_mirror="no"), "{tmp}/job/raw.tif", "(3, 12, 12)",
                     "field of view"]


# Malformed values: named with file, line and key (mostly refused already; they guard the family).
CFG_VALUES = {
    "dtype-half": ("dtype", "float16"),
    "out-type-unknown": ("out_type", "segmentation"),
    "train-range-zero": ("train_range", "0"),
    "train-range-garbage": ("train_range", "1&2"),
    "train-outsz-two-numbers": ("train_outsz", "100,100"),
    "train-outsz-zero": ("train_outsz", "1,0,8"),
    "forward-outsz-negative": ("forward_outsz", "1,-8,8"),
    "eta-negative": ("eta", "-0.1"),
    "momentum-above-one": ("momentum", "1.5"),
    "conv-mode-typo": ("train_conv_mode", "optimise"),
    "cost-fn-unknown": ("cost_fn", "hinge"),
    "max-iter-below-save": ("Max_iter", "5"),
    "train-range-unknown-sample": ("train_range", "7"),
}

for _name, (_key, _value) in CFG_VALUES.items():
    def _build(tmp: Path, key: str = _key, value: str = _value) -> Built:
        job(tmp, **{key: value})
        return TRAIN, at_cfg(key)
    case(f"cfg-{_name}")(_build)


@case("cfg-forward-range-unknown-sample")
def _(tmp: Path) -> Built:
    job(tmp, forward_range="4", saved_net=saved())
    return FORWARD, at_cfg("forward_range")


@case("cfg-binary")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "job" / "job.cfg").write_bytes(b"[parameters]\n\x00\x01\x02" + bytes(range(1, 9)) * 50)
    return TRAIN, [CFG_FILE, "not a text"]


@case("cfg-latin1-garbage")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "job" / "job.cfg").write_bytes(bytes(range(128, 256)) * 20)
    return TRAIN, [CFG_FILE, "not a text"]


@case("cfg-no-parameters-section")
def _(tmp: Path) -> Built:
    cfg = job(tmp)
    cfg.write_text(cfg.read_text().replace("[parameters]", "[params]"))
    return TRAIN, [CFG_FILE, "[parameters]"]


@case("cfg-escape-in-value")
def _(tmp: Path) -> Built:
    job(tmp, dtype="float\x1b[31m32")
    return TRAIN, [*at_cfg("dtype"), "\\x1b"]


@case("cfg-fdata-spec-missing")
def _(tmp: Path) -> Built:
    job(tmp, fdata_spec="nothere.spec")
    return TRAIN, [*at_cfg("fdata_spec"), "nothere.spec"]


@case("cfg-is-directory")
def _(tmp: Path) -> Built:
    (tmp / "job" / "job.cfg").mkdir(parents=True)
    return TRAIN, [CFG_FILE]


# ============================================================================ .spec files

def spec_job(tmp: Path, text: str) -> Path:
    cfg = job(tmp)
    (cfg.parent / "data.spec").write_text(text)
    return cfg


GOOD_SPEC = ("[image1]\nfnames = raw.tif\npp_types = standard2D\nis_auto_crop = no\n\n"
             "[label1]\nfnames = lab.tif\npp_types = auto\nis_auto_crop = no\n\n"
             "[sample1]\ninput = 1\noutput = 1\n")

SPEC_EDITS = {
    "section-typo": ("[label1]", "[lable1]", 6, "lable1"),
    "section-leading-zero": ("[image1]", "[image01]", 1, "image01"),
    "missing-fnames": ("fnames = raw.tif\n", "", 1, "key 'fnames'"),
    "unknown-pp-type": ("pp_types = standard2D", "pp_types = zscore", 3, "key 'pp_types'"),
    "bad-auto-crop": ("is_auto_crop = no\n\n[label1]", "is_auto_crop = maybe\n\n[label1]", 4, "key 'is_auto_crop'"),
    "sample-binds-missing-image": ("input = 1", "input = 5", 12, "key 'input'"),
    "sample-binds-text": ("input = 1", "input = raw", 12, "key 'input'"),
    "input-not-bound": ("input = 1", "inptu = 1", 12, "did you mean 'input'"),
    "binds-unknown-node": ("output = 1", "outptu = 1", 13, "key 'outptu'"),
    "two-image-files": ("fnames = raw.tif\npp_types = standard2D",
                        "fnames = raw.tif,\n    lab.tif\npp_types = standard2D,standard2D", 2, "group 'image1'"),
}

for _name, (_old, _new, _line, _key) in SPEC_EDITS.items():
    def _build(tmp: Path, old: str = _old, new: str = _new, line: int = _line, key: str = _key) -> Built:
        assert old in GOOD_SPEC
        spec_job(tmp, GOOD_SPEC.replace(old, new, 1))
        return TRAIN, [f"{SPEC_FILE}:{line}", key]
    case(f"spec-{_name}")(_build)


@case("spec-binary")
def _(tmp: Path) -> Built:
    cfg = job(tmp)
    (cfg.parent / "data.spec").write_bytes(b"[image1]\nfnames = \x00\x00\x00\x01\x02\n" + bytes(600))
    return TRAIN, [SPEC_FILE, "not a text"]


@case("spec-image-missing")
def _(tmp: Path) -> Built:
    job(tmp, image_name="none.tif")
    (tmp / "job" / "none.tif").unlink()
    return TRAIN, [*spec_at("image1"), "{tmp}/job/none.tif", "not found"]


@case("spec-image-unknown-format")
def _(tmp: Path) -> Built:
    job(tmp, image_name="raw.png")
    (tmp / "job" / "raw.png").write_bytes(b"\x89PNG\r\n")
    return TRAIN, [*spec_at("image1"), "raw.png", "unknown volume format"]


@case("spec-empty-section-range")
def _(tmp: Path) -> Built:
    job(tmp, image_name="raw.tif[10:20]")
    save(tmp / "job" / "raw.tif", raw_image())
    return TRAIN, [*spec_at("image1"), "raw.tif", "[10:20]"]


# ============================================================================ image volumes

def colour_tif(tmp: Path, shape: tuple[int, ...]) -> None:
    """tmp/job/raw.tif as an 8-bit colour image (RGB or RGBA by the last axis)."""
    (tmp / "job").mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    tifffile.imwrite(tmp / "job" / "raw.tif", pixels, photometric="rgb")


@case("image-rgb-tif")
def _(tmp: Path) -> Built:
    colour_tif(tmp, (3, 40, 40, 3))
    job(tmp)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif", "RGB"]


@case("image-rgba-tif")
def _(tmp: Path) -> Built:
    colour_tif(tmp, (3, 40, 40, 4))
    job(tmp)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif", "RGB"]


@case("image-rgb-single-section-tif")
def _(tmp: Path) -> Built:
    colour_tif(tmp, (40, 40, 3))
    job(tmp, label=label_ids((1, 40, 40)))
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif", "RGB"]


@case("image-rgb-h5")
def _(tmp: Path) -> Built:
    job(tmp, image_name="raw.h5", image=np.full((3, 40, 40, 3), 100, np.uint8))
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5", "RGB"]


@case("image-rgb-forward")
def _(tmp: Path) -> Built:
    job(tmp, image_name="raw.h5", image=np.full((3, 40, 40, 3), 100, np.uint8), saved_net=saved())
    return FORWARD, [*spec_at("image1"), "{tmp}/job/raw.h5", "RGB"]


def nan_image(value: float, section: int) -> np.ndarray:
    image = raw_image()
    image[section, 5, 7] = value
    return image


for _fmt in ("tif", "h5", "zarr"):
    for _value, _word in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")):
        def _build(tmp: Path, fmt: str = _fmt, value: float = _value) -> Built:
            job(tmp, image_name=f"raw.{fmt}", image=nan_image(value, 1))
            return TRAIN, [*spec_at("image1"), f"{{tmp}}/job/raw.{fmt}", "section z=1", "NaN or infinite"]
        case(f"image-{_word}-{_fmt}")(_build)


@case("image-nan-forward")
def _(tmp: Path) -> Built:
    job(tmp, image=nan_image(np.nan, 2), saved_net=saved())
    return FORWARD, [*spec_at("image1"), "{tmp}/job/raw.tif", "section z=2", "NaN or infinite"]


@case("image-inf-forward-float64")
def _(tmp: Path) -> Built:
    job(tmp, image_name="raw.h5", image=nan_image(np.inf, 0).astype(np.float64), saved_net=saved())
    return FORWARD, [*spec_at("image1"), "{tmp}/job/raw.h5", "section z=0", "NaN or infinite"]


@case("image-nan-with-pp-none")
def _(tmp: Path) -> Built:
    job(tmp, image=nan_image(np.nan, 0), spec={"pp": "none"})
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif", "section z=0"]


for _fmt in ("h5", "zarr"):
    @case(f"image-complex-{_fmt}")
    def _(tmp: Path, fmt: str = _fmt) -> Built:
        job(tmp, image_name=f"raw.{fmt}", image=raw_image().astype(np.complex64))
        return TRAIN, [*spec_at("image1"), f"{{tmp}}/job/raw.{fmt}", "complex64"]

    @case(f"image-bool-{_fmt}")
    def _(tmp: Path, fmt: str = _fmt) -> Built:
        job(tmp, image_name=f"raw.{fmt}", image=raw_image() > 0.5)
        return TRAIN, [*spec_at("image1"), f"{{tmp}}/job/raw.{fmt}", "bool"]

    @case(f"image-zero-sized-{_fmt}")
    def _(tmp: Path, fmt: str = _fmt) -> Built:
        job(tmp, image_name=f"raw.{fmt}", image=np.zeros((0, 40, 40), np.float32))
        return TRAIN, [*spec_at("image1"), f"{{tmp}}/job/raw.{fmt}", "(0, 40, 40)"]

    @case(f"image-one-dimensional-{_fmt}")
    def _(tmp: Path, fmt: str = _fmt) -> Built:
        job(tmp, image_name=f"raw.{fmt}", image=np.zeros(40, np.float32))
        return TRAIN, [*spec_at("image1"), f"{{tmp}}/job/raw.{fmt}", "(40,)"]

    @case(f"image-five-dimensional-{_fmt}")
    def _(tmp: Path, fmt: str = _fmt) -> Built:
        job(tmp, image_name=f"raw.{fmt}", image=np.zeros((2, 2, 3, 40, 40), np.float32))
        return TRAIN, [*spec_at("image1"), f"{{tmp}}/job/raw.{fmt}", "(2, 2, 3, 40, 40)"]


@case("image-zero-sized-tif")
def _(tmp: Path) -> Built:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tifffile: a zero-size array makes a nonconformant TIFF
        save(tmp / "job" / "raw.tif", np.zeros((3, 0, 40), np.float32))
    job(tmp)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif"]


@case("image-strings-h5")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.h5", image=np.zeros(1))
    (cfg.parent / "raw.h5").unlink()
    with h5py.File(cfg.parent / "raw.h5", "w") as handle:
        handle.create_dataset("main", data=np.array([["a", "b"], ["c", "d"]], dtype="S1").reshape(1, 2, 2))
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5", "voxel"]


@case("image-channels-4d-h5")
def _(tmp: Path) -> Built:
    job(tmp, image_name="raw.h5", image=np.zeros((2, 3, 40, 40), np.float32))
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5", "(2, 3, 40, 40)"]


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@case("image-truncated-tif")
def _(tmp: Path) -> Built:
    cfg = job(tmp)
    truncate(cfg.parent / "raw.tif", 0.6)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif"]


@case("image-truncated-tif-forward")
def _(tmp: Path) -> Built:
    cfg = job(tmp, saved_net=saved())
    truncate(cfg.parent / "raw.tif", 0.6)
    return FORWARD, [*spec_at("image1"), "{tmp}/job/raw.tif"]


@case("image-corrupt-strip-tif")
def _(tmp: Path) -> Built:
    path = tmp / "job" / "raw.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, raw_image(), photometric="minisblack", compression="zlib")
    data = bytearray(path.read_bytes())
    data[200:1200] = bytes(1000)  # zeros over the start of the compressed strips
    path.write_bytes(bytes(data))
    job(tmp)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif"]


@case("image-garbage-tif")
def _(tmp: Path) -> Built:
    cfg = job(tmp)
    (cfg.parent / "raw.tif").write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif", "TIFF"]


@case("image-empty-file-tif")
def _(tmp: Path) -> Built:
    cfg = job(tmp)
    (cfg.parent / "raw.tif").write_bytes(b"")
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.tif", "TIFF"]


@case("image-directory-tif")
def _(tmp: Path) -> Built:
    (tmp / "job" / "stack.tif").mkdir(parents=True)
    job(tmp, image_name="stack.tif")
    return TRAIN, [*spec_at("image1"), "{tmp}/job/stack.tif"]


@case("image-garbage-h5")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.h5")
    (cfg.parent / "raw.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5", "HDF5"]


@case("image-truncated-h5")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.h5")
    truncate(cfg.parent / "raw.h5", 0.5)
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5"]


@case("image-truncated-h5-forward")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.h5", saved_net=saved())
    truncate(cfg.parent / "raw.h5", 0.5)
    return FORWARD, [*spec_at("image1"), "{tmp}/job/raw.h5"]


@case("image-empty-h5")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.h5", image=np.zeros(1))
    (cfg.parent / "raw.h5").unlink()
    h5py.File(cfg.parent / "raw.h5", "w").close()
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5", "no datasets"]


@case("image-h5-missing-dataset")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.h5:/raw")
    save(cfg.parent / "raw.h5", raw_image())
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5", "'/raw'"]


@case("image-h5-several-datasets")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.h5", image=np.zeros(1))
    (cfg.parent / "raw.h5").unlink()
    save(cfg.parent / "raw.h5", raw_image(), dataset="a")
    save(cfg.parent / "raw.h5", raw_image(), dataset="b")
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.h5", "several"]


@case("image-zarr-missing-array")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.zarr/nothere")
    save(cfg.parent / "raw.zarr", raw_image())
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.zarr", "nothere"]


@case("image-zarr-empty-folder")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.zarr")
    shutil.rmtree(cfg.parent / "raw.zarr")
    (cfg.parent / "raw.zarr").mkdir()
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.zarr", "zarr"]


@case("image-zarr-corrupt-chunk")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.zarr")
    chunks = [p for p in (cfg.parent / "raw.zarr").rglob("*") if p.is_file() and p.name != "zarr.json"]
    assert chunks
    for chunk in chunks:
        chunk.write_bytes(b"not a chunk")
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.zarr"]


@case("image-zarr-corrupt-metadata")
def _(tmp: Path) -> Built:
    cfg = job(tmp, image_name="raw.zarr")
    (cfg.parent / "raw.zarr" / "zarr.json").write_text("{ not json")
    return TRAIN, [*spec_at("image1"), "{tmp}/job/raw.zarr"]


@case("image-label-shapes-differ")
def _(tmp: Path) -> Built:
    job(tmp, image=raw_image((3, 40, 40)), label=label_ids((3, 32, 32)))
    return TRAIN, ["{tmp}/job/raw.tif", "(3, 40, 40)", "{tmp}/job/lab.tif", "(3, 32, 32)", "sample1"]


@case("image-label-sections-differ-h5")
def _(tmp: Path) -> Built:
    job(tmp, image_name="raw.h5", label_name="lab.h5", image=raw_image((4, 40, 40)), label=label_ids((3, 40, 40)))
    return TRAIN, ["{tmp}/job/raw.h5", "(4, 40, 40)", "{tmp}/job/lab.h5", "(3, 40, 40)", "sample1"]


@case("image-2d-label-3d")
def _(tmp: Path) -> Built:
    job(tmp, image=raw_image((40, 40)), label=label_ids((3, 40, 40)))
    return TRAIN, ["{tmp}/job/raw.tif", "(1, 40, 40)", "{tmp}/job/lab.tif", "(3, 40, 40)", "sample1"]


@case("image-3d-label-2d-zarr")
def _(tmp: Path) -> Built:
    job(tmp, label_name="lab.zarr", label=label_ids((40, 40)))
    return TRAIN, ["{tmp}/job/raw.tif", "(3, 40, 40)", "{tmp}/job/lab.zarr", "(1, 40, 40)", "sample1"]


# ============================================================================ label volumes

@case("label-fractional-float")
def _(tmp: Path) -> Built:
    labels = label_ids().astype(np.float32)
    labels[1, 4, 4] = 0.5
    job(tmp, label=labels)
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.tif", "0.5"]


@case("label-fractional-h5-float64")
def _(tmp: Path) -> Built:
    job(tmp, label_name="lab.h5", label=label_ids().astype(np.float64) / 3)
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.h5", "whole numbers"]


@case("label-nan")
def _(tmp: Path) -> Built:
    labels = label_ids().astype(np.float32)
    labels[2, 10, 10] = np.nan
    job(tmp, label_name="lab.zarr", label=labels)
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.zarr", "nan"]


@case("label-complex")
def _(tmp: Path) -> Built:
    job(tmp, label_name="lab.h5", label=label_ids().astype(np.complex64))
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.h5", "complex64"]


@case("label-missing")
def _(tmp: Path) -> Built:
    job(tmp, label_name="none.h5")
    (tmp / "job" / "none.h5").unlink()
    return TRAIN, [*spec_at("label1"), "{tmp}/job/none.h5", "not found"]


@case("label-truncated-tif")
def _(tmp: Path) -> Built:
    cfg = job(tmp)
    truncate(cfg.parent / "lab.tif", 0.4)
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.tif"]


@case("label-garbage-h5")
def _(tmp: Path) -> Built:
    cfg = job(tmp, label_name="lab.h5")
    (cfg.parent / "lab.h5").write_bytes(bytes(range(256)) * 10)
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.h5", "HDF5"]


@case("label-h5-missing-dataset")
def _(tmp: Path) -> Built:
    cfg = job(tmp, label_name="lab.h5:/seg")
    save(cfg.parent / "lab.h5", label_ids(), dataset="labels")
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.h5", "'/seg'"]


@case("label-zero-sized-h5")
def _(tmp: Path) -> Built:
    job(tmp, label_name="lab.h5", label=np.zeros((3, 40, 0), np.uint32))
    return TRAIN, [*spec_at("label1"), "{tmp}/job/lab.h5", "(3, 40, 0)"]


@case("label-rgba-tif")
def _(tmp: Path) -> Built:
    cfg = job(tmp, label_name="rgba.tif")
    tifffile.imwrite(cfg.parent / "rgba.tif", np.full((3, 40, 40, 4), 7, np.uint8), photometric="rgb")
    return TRAIN, [*spec_at("label1"), "{tmp}/job/rgba.tif"]


# ============================================================================ masks

def mask_job(tmp: Path, mask: np.ndarray, name: str = "mask.tif") -> Path:
    return job(tmp, mask=mask, mask_name=name)


def mask_names(file: str) -> list[str]:
    return [f"{SPEC_FILE}:{MASK_LINE}", "group 'label1'", "key 'fmasks'", f"{{tmp}}/job/{file}"]


@case("mask-wrong-shape")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.ones((3, 32, 32), np.uint8))
    return TRAIN, [*mask_names("mask.tif"), "(3, 32, 32)", "(3, 40, 40)"]


@case("mask-2d")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.ones((40, 40), np.uint8), name="mask.h5")
    return TRAIN, [*mask_names("mask.h5"), "(1, 40, 40)"]


@case("mask-value-two")
def _(tmp: Path) -> Built:
    mask = np.ones(SHAPE, np.uint8)
    mask[0, 3, 3] = 2
    mask_job(tmp, mask)
    return TRAIN, [*mask_names("mask.tif"), "2"]


@case("mask-value-255")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.full(SHAPE, 255, np.uint8), name="mask.zarr")
    return TRAIN, [*mask_names("mask.zarr"), "255"]


@case("mask-fraction")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.full(SHAPE, 0.5, np.float32), name="mask.h5")
    return TRAIN, [*mask_names("mask.h5"), "0.5"]


@case("mask-negative")
def _(tmp: Path) -> Built:
    mask = np.ones(SHAPE, np.int16)
    mask[2, 30, 30] = -1
    mask_job(tmp, mask)
    return TRAIN, [*mask_names("mask.tif"), "-1"]


@case("mask-nan")
def _(tmp: Path) -> Built:
    mask = np.ones(SHAPE, np.float32)
    mask[1, 1, 1] = np.nan
    mask_job(tmp, mask)
    return TRAIN, [*mask_names("mask.tif"), "nan"]


@case("mask-missing-file")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.ones(SHAPE, np.uint8))
    (tmp / "job" / "mask.tif").unlink()
    return TRAIN, [*mask_names("mask.tif"), "not found"]


@case("mask-truncated-h5")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.ones(SHAPE, np.uint8), name="mask.h5")
    truncate(tmp / "job" / "mask.h5", 0.5)
    return TRAIN, mask_names("mask.h5")


@case("mask-complex")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.ones(SHAPE, np.complex64), name="mask.h5")
    return TRAIN, [*mask_names("mask.h5"), "complex64"]


@case("mask-all-off")
def _(tmp: Path) -> Built:
    mask_job(tmp, np.zeros(SHAPE, np.uint8))
    return TRAIN, [*mask_names("mask.tif"), "no voxel"]


# ============================================================================ saved networks

def forward_with(tmp: Path, data: bytes) -> None:
    job(tmp, saved_net=data)


def at_forward_net(extra: list[str]) -> list[str]:
    return ["{tmp}/job/net.h5", *extra]


@case("net-garbage-forward-net")
def _(tmp: Path) -> Built:
    forward_with(tmp, bytes(range(256)) * 16)
    return FORWARD, at_forward_net(["HDF5"])


@case("net-truncated-forward-net")
def _(tmp: Path) -> Built:
    forward_with(tmp, saved()[: len(saved()) // 2])
    return FORWARD, at_forward_net([])


@case("net-empty-h5-forward-net")
def _(tmp: Path) -> Built:
    job(tmp)
    h5py.File(tmp / "job" / "net.h5", "w").close()
    return FORWARD, at_forward_net(["no network"])


@case("net-volume-not-network")
def _(tmp: Path) -> Built:
    job(tmp)
    save(tmp / "job" / "net.h5", raw_image())
    return FORWARD, at_forward_net(["/main"])


@case("net-wrong-kernel-shape")
def _(tmp: Path) -> Built:
    forward_with(tmp, saved("wide"))
    return FORWARD, at_forward_net(["conv1", "(1, 8, 1, 3, 3)", "(1, 8, 1, 5, 5)"])


@case("net-other-network")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "job" / "net.h5").write_bytes(_saved_network_bytes(
        TINY_TEXT.replace("conv3", "conv3b"), tmp / "other"))
    shutil.rmtree(tmp / "other")
    return FORWARD, at_forward_net(["conv3"])


@case("net-filters-wrong-ndim")
def _(tmp: Path) -> Built:
    def edit(root: h5py.Group) -> None:
        data = root["conv2/filters"][()]
        del root["conv2/filters"]
        del root["conv2/momentum_vol"]
        root["conv2/filters"] = data.reshape(data.shape[0], -1)
        root["conv2/momentum_vol"] = data.reshape(data.shape[0], -1)
    job(tmp)
    edited_network(tmp / "job" / "net.h5", edit)
    return FORWARD, at_forward_net(["conv2", "filters"])


@case("net-biases-wrong-length")
def _(tmp: Path) -> Built:
    def edit(root: h5py.Group) -> None:
        for key in ("biases", "momentum_vol"):
            del root[f"nconv2/{key}"]
            root[f"nconv2/{key}"] = np.zeros(5, np.float32)
    job(tmp)
    edited_network(tmp / "job" / "net.h5", edit)
    return FORWARD, at_forward_net(["nconv2", "biases", "(5)"])


@case("net-momentum-shape-differs")
def _(tmp: Path) -> Built:
    def edit(root: h5py.Group) -> None:
        del root["conv1/momentum_vol"]
        root["conv1/momentum_vol"] = np.zeros((2, 2), np.float32)
    job(tmp)
    edited_network(tmp / "job" / "net.h5", edit)
    return FORWARD, at_forward_net(["conv1", "momentum_vol"])


@case("net-integer-filters")
def _(tmp: Path) -> Built:
    def edit(root: h5py.Group) -> None:
        data = root["conv4/filters"][()]
        del root["conv4/filters"]
        root["conv4/filters"] = data.astype(np.int32)
    job(tmp)
    edited_network(tmp / "job" / "net.h5", edit)
    return FORWARD, at_forward_net(["conv4", "filters"])


@case("net-layer-without-type")
def _(tmp: Path) -> Built:
    def edit(root: h5py.Group) -> None:
        del root["pool1/type"]
    job(tmp)
    edited_network(tmp / "job" / "net.h5", edit)
    return FORWARD, at_forward_net(["pool1", "type"])


@case("net-forward-net-directory")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "job" / "net.h5").mkdir()
    return FORWARD, at_forward_net([])


@case("net-forward-net-missing")
def _(tmp: Path) -> Built:
    job(tmp)
    return FORWARD, [*at_cfg("forward_net"), "net.h5"]


@case("net-option-garbage")
def _(tmp: Path) -> Built:
    forward_with(tmp, bytes(1000))
    return [*FORWARD, "--net", "{tmp}/job/net.h5"], at_forward_net(["HDF5"])


@case("net-option-wrong-shape")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "wide.h5").write_bytes(saved("wide"))
    return [*FORWARD, "--net", "{tmp}/wide.h5"], ["{tmp}/wide.h5", "conv1"]


@case("net-option-missing")
def _(tmp: Path) -> Built:
    job(tmp)
    return [*FORWARD, "--net", "{tmp}/none.h5"], ["--net {tmp}/none.h5", "no such file"]


@case("net-seed-garbage")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "seed.h5").write_bytes(b"seed" * 500)
    return [*TRAIN, "-s", "{tmp}/seed.h5"], ["{tmp}/seed.h5", "HDF5"]


@case("net-seed-wrong-shape")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "seed.h5").write_bytes(saved("wide"))
    return [*TRAIN, "-s", "{tmp}/seed.h5"], ["{tmp}/seed.h5", "conv1", "(1, 8, 1, 5, 5)"]


@case("net-seed-empty-h5")
def _(tmp: Path) -> Built:
    job(tmp)
    h5py.File(tmp / "seed.h5", "w").close()
    return [*TRAIN, "-s", "{tmp}/seed.h5"], ["{tmp}/seed.h5", "no network"]


@case("net-seed-truncated")
def _(tmp: Path) -> Built:
    job(tmp)
    (tmp / "seed.h5").write_bytes(saved()[:3000])
    return [*TRAIN, "-s", "{tmp}/seed.h5"], ["{tmp}/seed.h5"]


@case("net-seed-a-volume")
def _(tmp: Path) -> Built:
    job(tmp)
    save(tmp / "seed.h5", raw_image())
    return [*TRAIN, "-s", "{tmp}/seed.h5"], ["{tmp}/seed.h5", "/main"]


@case("net-resume-from-garbage-checkpoint")
def _(tmp: Path) -> Built:
    cfg = job(tmp)
    (cfg.parent / "run").mkdir()
    (cfg.parent / "run" / "net_current.h5").write_bytes(bytes(4096))
    return TRAIN, ["{tmp}/job/run/net_current.h5", "HDF5"]


# ============================================================================ memory

MEMORY_NAMES = ["job.cfg", "needs", "available", "largest"]


@case("memory-train-fft")
def _(tmp: Path) -> Built:
    job(tmp, train_outsz="1,200000,200000")
    return TRAIN, [*at_cfg("train_outsz"), *MEMORY_NAMES, "direct"]


@case("memory-train-direct")
def _(tmp: Path) -> Built:
    job(tmp, train_outsz="1,200000,200000", train_conv_mode="direct")
    return TRAIN, [*at_cfg("train_outsz"), *MEMORY_NAMES]


@case("memory-train-optimize-float64")
def _(tmp: Path) -> Built:
    job(tmp, train_outsz="1,100000,100000", train_conv_mode="optimize", dtype="float64")
    return TRAIN, [*at_cfg("train_outsz"), *MEMORY_NAMES]


@case("memory-train-many-maps")
def _(tmp: Path) -> Built:
    fat = TINY_TEXT.replace("nodes nconv1\ntype transfer\nsize 8", "nodes nconv1\ntype transfer\nsize 80000000")
    fat = fat.replace("nodes npool1\ntype sum\nsize 8", "nodes npool1\ntype sum\nsize 80000000")
    job(tmp, net_text=fat)
    return TRAIN, [*at_cfg("train_outsz", fnet_spec="net.znn"), *MEMORY_NAMES, "conv2 (spectra", "fewer maps"]


def huge_zarr(tmp: Path, side: int = 100_000) -> None:
    """A 1 x side x side image whose chunks were never written: nothing on disk, side**2 bytes once read."""
    zarr.create_array(store=str(tmp / "job" / "huge.zarr"), shape=(1, side, side), chunks=(1, 4096, 4096),
                      dtype="uint8", fill_value=0)


@case("memory-forward-explicit-outsz")
def _(tmp: Path) -> Built:
    huge_zarr(tmp)
    job(tmp, image_name="huge.zarr", label_name=None, saved_net=saved(), forward_outsz="1,100000,100000")
    return FORWARD, [*at_cfg("forward_outsz"), *MEMORY_NAMES]


@case("memory-forward-direct")
def _(tmp: Path) -> Built:
    huge_zarr(tmp, 60_000)  # volumes of 40 GiB beside a network of more than a TiB
    job(tmp, image_name="huge.zarr", label_name=None, saved_net=saved(), forward_outsz="1,60000,60000",
        forward_conv_mode="direct")
    return FORWARD, [*at_cfg("forward_outsz", forward_conv_mode="direct"), *MEMORY_NAMES]


# ============================================================================ the suite


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_refused_with_one_line(tmp_path: Path, name: str) -> None:
    argv, names = CASES[name](tmp_path)
    result = expect_refusal(tmp_path, argv, names)
    shown = [line for line in (result.stdout + result.stderr).splitlines() if not line.isprintable()]
    assert not shown, f"control characters reached the terminal: {shown!r}"


def test_the_suite_covers_every_family() -> None:
    families = {name.split("-")[0] for name in CASES}
    assert families == {"znn", "cfg", "spec", "image", "label", "mask", "net", "memory"}
    assert len(CASES) >= 110


def test_a_long_list_of_problems_is_capped(tmp_path: Path) -> None:
    """A text file that is not a network at all: the first problems, then how many more."""
    (tmp_path / "bad.znn").write_text("".join(f"key{i} value\n" for i in range(100)))
    result = run_znn(tmp_path, ["info", "{tmp}/bad.znn"])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = result.error_lines
    assert 2 <= len(errors) <= 11, result.stderr
    assert all(str(tmp_path / "bad.znn") in line for line in errors)
    assert "90 more" in result.stderr


def test_rgb_labels_are_still_read_as_ids(tmp_path: Path) -> None:
    """VAST exports labels as RGB: they stay accepted (only RGB images are refused)."""
    from znn.io.volumes import read_volume

    rgb = np.zeros((2, 4, 4, 3), np.uint8)
    rgb[..., 2] = 5
    rgb[0, 0, 0] = (1, 2, 3)
    tifffile.imwrite(tmp_path / "lab.tif", rgb, photometric="rgb")
    ids = read_volume(tmp_path / "lab.tif")
    assert ids.shape == (2, 4, 4) and ids[0, 0, 0] == 65536 + 2 * 256 + 3 and ids[1, 1, 1] == 5
