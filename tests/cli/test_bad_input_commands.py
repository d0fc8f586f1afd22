"""Bad command lines, output paths and the commands' own checks.

Every case builds its files in `tmp_path` and runs `znn` in a child process through
`expect_refusal`: exit status 2, no traceback, exactly one `error:` line that names the path
and the flag or `.cfg` key (the `names` of each case), and no file that existed before changed
(so the input maps of `segment maps.h5 -o maps.h5` stay byte-identical).

Families: an output folder path that runs into a file; folders that cannot be written; too
little free disk; outputs that are inputs (also through links, relative paths, HDF5 datasets
and zarr stores), folders where files go, wrong output suffixes; ground truth of the wrong
type or shape; an unreachable or malformed dask scheduler; NaN or infinite input voxels of a
blockwise pass; and bad values of the subcommands' flags.

Read-only folders and a nearly full disk are simulated in the child by a small
`sitecustomize` hook (see HOOK): the tests run as root, where chmod stops no write, and a
read-only mount or a full disk cannot be made without privileges. The hook makes the
operating system's answer the one a read-only mount gives (EROFS for creating, opening for
writing and making folders there) and makes `shutil.disk_usage` report little free space.
It only touches Python-level calls: HDF5 and zarr still write freely, so a command that does
not check up front exits 0 and the test fails, and one that checks is refused by its own
probe file, written with `os.open` like any other file.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import jobkit
from tests.helpers.badinput import expect_refusal, run_znn
from tests.helpers.oshook import HOOK
from tests.helpers.paths import REPO


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job folder whose network was trained for one update by `znn train`."""
    folder = tmp_path_factory.mktemp("trained")
    cfg = jobkit.write_job(folder, max_iter=2, save=1)
    done = run_znn(folder, ["train", "-c", str(cfg), "-k", "yes", "--quiet"])
    assert done.returncode == 0, done.stderr
    assert (folder / "run" / "net_current.h5").is_file()
    return folder


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hook")
    (folder / "sitecustomize.py").write_text(HOOK)
    return folder


@dataclass
class Kit:
    """Builds a case's files in `tmp` (the child's working folder) and its environment."""

    tmp: Path
    trained: Path
    hook: Path
    env: dict[str, str] = field(default_factory=dict)

    # --- files
    def h5(self, name: str, array: np.ndarray, dataset: str = "main") -> str:
        import h5py

        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "a") as handle:
            handle.create_dataset(dataset, data=array)
        return name

    def tif(self, name: str, array: np.ndarray) -> str:
        import tifffile

        (self.tmp / name).parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(self.tmp / name, array, photometric="minisblack")
        return name

    def zarr(self, name: str, array: np.ndarray, inner: str | None = None) -> str:
        import zarr

        if inner is None:
            zarr.create_array(store=str(self.tmp / name), data=array)
        else:
            zarr.open_group(str(self.tmp / name), mode="a").create_array(inner, data=array)
        return name

    def file(self, name: str, text: str = "not a folder\n") -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return name

    def folder(self, name: str) -> str:
        (self.tmp / name).mkdir(parents=True, exist_ok=True)
        return name

    def maps(self, name: str = "maps.h5", channels: int = 2) -> str:
        rng = np.random.default_rng(1)
        return self.h5(name, rng.uniform(size=(channels, 2, 24, 24)).astype(np.float32))

    def labels(self, name: str = "seg.h5", shape: tuple[int, ...] = (2, 24, 24), dtype: str = "uint32") -> str:
        values = np.random.default_rng(2).integers(1, 6, shape)
        if name.endswith(".tif"):
            return self.tif(name, values.astype(dtype))
        return self.h5(name, values.astype(dtype))

    def em(self, name: str = "em.h5", shape: tuple[int, int, int] = (3, 40, 40)) -> str:
        image = np.random.default_rng(3).integers(0, 255, shape).astype(np.uint8)
        return self.tif(name, image) if name.endswith(".tif") else self.h5(name, image)

    @property
    def net(self) -> str:
        """A copy of the trained network in the case's folder."""
        if not (self.tmp / "net.h5").exists():
            shutil.copyfile(self.trained / "run" / "net_current.h5", self.tmp / "net.h5")
        return "net.h5"

    def job(self, image2: str | None = None, **keys: str) -> str:
        """The trained job copied to job/ (network included), with .cfg keys replaced and
        optionally sample 2's image; returns the .cfg path."""
        folder = self.tmp / "job"
        (folder / "run").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.trained / "run" / "net_current.h5", folder / "run" / "net_current.h5")
        text = (self.trained / "job.cfg").read_text()
        for key, value in keys.items():
            text, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
            assert count == 1, key
        (folder / "job.cfg").write_text(text)
        spec = (self.trained / "data.spec").read_text()
        if image2 is not None:
            spec = re.sub(r"(\[image2\]\nfnames = ).*", lambda m: m.group(1) + image2, spec)
        (folder / "data.spec").write_text(spec)
        return "job/job.cfg"

    # --- the environment of the child
    def _hooked(self) -> None:
        self.env["PYTHONPATH"] = os.pathsep.join([str(self.hook), str(REPO / "engine"), str(REPO / "src"),
                                                  os.environ.get("PYTHONPATH", "")])

    def readonly(self, name: str) -> str:
        """`name` (a folder, made here) behaves as a read-only mount in the child."""
        self.folder(name)
        self._hooked()
        self.env["ZNN_TEST_READONLY"] = str(self.tmp / name)
        return name

    def disk_full(self, free: int = 1000) -> None:
        """The child sees `free` bytes free on the disk of every path in the case's folder."""
        self._hooked()
        self.env["ZNN_TEST_FREE_BYTES"] = f"{self.tmp}={free}"


Case = Callable[[Kit], tuple[list[str], list[str]]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(build: Case) -> Case:
        assert name not in CASES, name
        CASES[name] = build
        return build
    return register


def blockwise(kit: Kit, *extra: str, input: str | None = None, output: str = "maps.zarr") -> list[str]:
    """`forward --blockwise --input ... --net ... --output ...` on a small volume, one worker."""
    return ["forward", "--blockwise", "--input", input or kit.em(), "--net", kit.net, "--output", output,
            "--workers", "1", "--memory-per-worker", "1GiB", "--block", "1,20,40", "--quiet", *extra]


# ---------------------------------------------------------------- 1. a file where a folder goes

@case("file-in-path/train_net_prefix")
def _(kit: Kit):
    kit.file("job/runs")
    return ["train", "-c", kit.job(train_net_prefix="runs/net"), "--quiet"], ["job/job.cfg", "train_net_prefix",
                                                                              "job/runs"]


@case("file-in-path/train_net_prefix-deeper")
def _(kit: Kit):
    kit.file("job/runs")
    return ["train", "-c", kit.job(train_net_prefix="runs/a/b/net"), "--quiet"], ["train_net_prefix", "job/runs"]


@case("file-in-path/train-checkpoint-name-is-a-folder")
def _(kit: Kit):
    kit.folder("job/fresh/net_init.h5")
    return (["train", "-c", kit.job(train_net_prefix="fresh/net"), "--quiet"],
            ["train_net_prefix", "fresh/net_init.h5"])


@case("file-in-path/output_prefix")
def _(kit: Kit):
    kit.file("job/outs")
    return ["forward", "-c", kit.job(output_prefix="outs/pred"), "--quiet"], ["output_prefix", "job/outs"]


@case("file-in-path/forward-output-name-is-a-folder")
def _(kit: Kit):
    kit.folder("job/out/pred_sample2_output.h5")
    return ["forward", "-c", kit.job(), "--quiet"], ["output_prefix", "pred_sample2_output.h5"]


@case("file-in-path/blockwise-output_prefix")
def _(kit: Kit):
    kit.file("job/outs")
    return (["forward", "--blockwise", "-c", kit.job(output_prefix="outs/pred"), "--workers", "1", "--quiet"],
            ["output_prefix", "job/outs"])


@case("file-in-path/blockwise-output")
def _(kit: Kit):
    kit.file("results")
    return blockwise(kit, output="results/maps.zarr"), ["--output", "results"]


@case("file-in-path/blockwise-output-is-a-file")
def _(kit: Kit):
    kit.file("maps.zarr")
    return blockwise(kit, output="maps.zarr"), ["--output", "maps.zarr", "not a zarr group"]


@case("file-in-path/segment-output")
def _(kit: Kit):
    kit.file("results")
    return ["segment", kit.maps(), "-o", "results/seg.h5"], ["-o/--output", "results"]


@case("file-in-path/segment-output-deeper")
def _(kit: Kit):
    kit.file("results")
    return ["segment", kit.maps(), "-o", "results/a/seg.tif"], ["-o/--output", "results"]


@case("file-in-path/demo-output")
def _(kit: Kit):
    kit.file("demo")
    return ["demo", "--output", "demo", "--minutes", "0.01"], ["--output", "demo"]


@case("file-in-path/bench-output")
def _(kit: Kit):
    kit.file("results")
    return (["bench", "--output", "results/bench", "--nets", "tiny2d", "--outsz", "1,8,8", "--no-peer"],
            ["--output", "results"])


# ---------------------------------------------------------------- 2. folders that cannot be written

@case("readonly/train-checkpoint-folder")
def _(kit: Kit):
    cfg = kit.job(train_net_prefix="ro/net")
    kit.readonly("job/ro")
    return ["train", "-c", cfg, "--quiet"], ["train_net_prefix", "job/ro", "Read-only file system"]


@case("readonly/train-parent-folder")
def _(kit: Kit):
    cfg = kit.job(train_net_prefix="ro/new/net")
    kit.readonly("job/ro")
    return ["train", "-c", cfg, "--quiet"], ["train_net_prefix", "job/ro/new", "Read-only file system"]


@case("readonly/forward-output_prefix")
def _(kit: Kit):
    cfg = kit.job(output_prefix="ro/pred")
    kit.readonly("job/ro")
    return ["forward", "-c", cfg, "--quiet"], ["output_prefix", "job/ro", "Read-only file system"]


@case("readonly/blockwise-output_prefix")
def _(kit: Kit):
    cfg = kit.job(output_prefix="ro/pred")
    kit.readonly("job/ro")
    return (["forward", "--blockwise", "-c", cfg, "--workers", "1", "--quiet"],
            ["output_prefix", "job/ro", "Read-only file system"])


@case("readonly/blockwise-output")
def _(kit: Kit):
    kit.readonly("ro")
    return blockwise(kit, output="ro/maps.zarr"), ["--output", "ro/maps.zarr", "Read-only file system"]


@case("readonly/segment-output")
def _(kit: Kit):
    kit.readonly("ro")
    return ["segment", kit.maps(), "-o", "ro/seg.h5"], ["-o/--output", "ro", "Read-only file system"]


@case("readonly/segment-output-new-folder")
def _(kit: Kit):
    kit.readonly("ro")
    return ["segment", kit.maps(), "-o", "ro/new/seg.tif"], ["-o/--output", "ro/new", "Read-only file system"]


@case("readonly/demo-output")
def _(kit: Kit):
    kit.readonly("ro")
    return ["demo", "--output", "ro/demo", "--minutes", "0.01"], ["--output", "ro/demo", "Read-only file system"]


@case("readonly/bench-output")
def _(kit: Kit):
    kit.readonly("ro")
    return (["bench", "--output", "ro/bench", "--nets", "tiny2d", "--outsz", "1,8,8", "--no-peer"],
            ["--output", "ro/bench", "Read-only file system"])


# ---------------------------------------------------------------- 3. too little free disk

@case("disk-full/train")
def _(kit: Kit):
    cfg = kit.job()
    kit.disk_full(64 << 10)
    return ["train", "-c", cfg, "--quiet"], ["train_net_prefix", "job/run", "checkpoint"]


@case("disk-full/train-float64")
def _(kit: Kit):
    cfg = kit.job(train_net_prefix="new/net")
    kit.disk_full(100 << 10)
    return ["train", "-c", cfg, "-d", "float64", "--quiet"], ["train_net_prefix", "job/new", "free"]


@case("disk-full/forward")
def _(kit: Kit):
    cfg = kit.job()
    kit.disk_full()
    return ["forward", "-c", cfg, "--quiet"], ["output_prefix", "job/out", "free"]


@case("disk-full/forward-tif")
def _(kit: Kit):
    cfg = kit.job()
    kit.disk_full(20 << 10)  # the maps need 32 KiB uncompressed, the TIFFs as much again
    return ["forward", "-c", cfg, "--tif", "--quiet"], ["output_prefix", "job/out", "free"]


@case("disk-full/blockwise-output")
def _(kit: Kit):
    args = blockwise(kit)
    kit.disk_full()
    return args, ["--output", "maps.zarr", "free"]


@case("disk-full/blockwise-output_prefix")
def _(kit: Kit):
    cfg = kit.job()
    kit.disk_full()
    return ["forward", "--blockwise", "-c", cfg, "--workers", "1", "--quiet"], ["output_prefix", "job/out", "free"]


# ---------------------------------------------------------------- 4. outputs over inputs, folders, suffixes

@case("output-is-input/segment-same-path")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "maps.h5"], ["-o/--output", "maps.h5", "MAPS"]


@case("output-is-input/segment-relative-path")
def _(kit: Kit):
    kit.folder("sub")
    return ["segment", kit.maps(), "-o", "sub/../maps.h5"], ["-o/--output", "sub/../maps.h5"]


@case("output-is-input/segment-absolute-path")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", str(kit.tmp / "maps.h5")], ["-o/--output", str(kit.tmp / "maps.h5")]


@case("output-is-input/segment-symlink")
def _(kit: Kit):
    maps = kit.maps()
    (kit.tmp / "link.h5").symlink_to(kit.tmp / maps)
    return ["segment", maps, "-o", "link.h5"], ["-o/--output", "link.h5"]


@case("output-is-input/segment-h5-dataset")
def _(kit: Kit):
    return ["segment", kit.maps() + ":/main", "-o", "maps.h5:/labels"], ["-o/--output", "maps.h5:/labels"]


@case("output-is-input/segment-zarr")
def _(kit: Kit):
    maps = kit.zarr("maps.zarr", np.random.default_rng(1).uniform(size=(2, 2, 24, 24)).astype(np.float32))
    return ["segment", maps, "-o", "maps.zarr"], ["-o/--output", "maps.zarr"]


@case("output-is-input/segment-zarr-array-in-store")
def _(kit: Kit):
    kit.zarr("maps.zarr", np.random.default_rng(1).uniform(size=(2, 2, 24, 24)).astype(np.float32), "output")
    return ["segment", "maps.zarr/output", "-o", "maps.zarr"], ["-o/--output", "maps.zarr"]


@case("output-is-input/segment-over-ground-truth")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "gt.h5", "--gt", kit.labels("gt.h5")], ["-o/--output", "gt.h5", "--gt"]


@case("output-is-input/segment-threshold-name")
def _(kit: Kit):
    kit.maps("seg_t0.3.h5")
    return (["segment", "seg_t0.3.h5", "-o", "seg.h5", "-t", "0.3", "0.6"],
            ["-o/--output", "seg_t0.3.h5"])


@case("output-is-input/segment-output-is-a-folder")
def _(kit: Kit):
    kit.folder("seg.h5")
    return ["segment", kit.maps(), "-o", "seg.h5"], ["-o/--output", "seg.h5", "folder"]


@case("output-is-input/segment-tif-output-is-a-folder")
def _(kit: Kit):
    kit.folder("seg.tif")
    return ["segment", kit.maps(), "-o", "seg.tif"], ["-o/--output", "seg.tif", "folder"]


@case("output-is-input/segment-zarr-output-is-other-data")
def _(kit: Kit):
    kit.file("notes.zarr/readme.txt")
    return ["segment", kit.maps(), "-o", "notes.zarr"], ["-o/--output", "notes.zarr", "not a zarr store"]


@case("output-is-input/segment-unknown-suffix")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.nrrd"], ["-o/--output", "seg.nrrd", ".tif"]


@case("output-is-input/blockwise-same-store")
def _(kit: Kit):
    em = kit.zarr("em.zarr", np.random.default_rng(3).integers(0, 255, (3, 40, 40)).astype(np.uint8))
    return blockwise(kit, input=em, output="em.zarr"), ["--output", "em.zarr", "input"]


@case("output-is-input/blockwise-array-in-store")
def _(kit: Kit):
    kit.zarr("em.zarr", np.random.default_rng(3).integers(0, 255, (3, 40, 40)).astype(np.uint8), "raw")
    return blockwise(kit, input="em.zarr/raw", output="em.zarr"), ["--output", "em.zarr", "input"]


@case("output-is-input/blockwise-symlink")
def _(kit: Kit):
    em = kit.zarr("em.zarr", np.random.default_rng(3).integers(0, 255, (3, 40, 40)).astype(np.uint8))
    (kit.tmp / "link.zarr").symlink_to(kit.tmp / em, target_is_directory=True)
    return blockwise(kit, input=em, output="link.zarr"), ["--output", "link.zarr"]


@case("output-is-input/blockwise-h5-input")
def _(kit: Kit):
    return blockwise(kit, output="em.h5"), ["--output", "em.h5"]


@case("output-is-input/blockwise-tif-suffix")
def _(kit: Kit):
    return blockwise(kit, output="out.tif"), ["--output", "out.tif", ".zarr"]


@case("output-is-input/blockwise-no-suffix")
def _(kit: Kit):
    return blockwise(kit, output="maps"), ["--output", "maps", ".zarr"]


@case("output-is-input/blockwise-output-is-the-net")
def _(kit: Kit):
    return blockwise(kit, output=kit.net), ["--output", "net.h5"]


@case("output-is-input/forward-output-is-a-sample-image")
def _(kit: Kit):
    kit.h5("job/data/img_sample2_output.h5", np.random.default_rng(3).integers(0, 255, (2, 64, 64)).astype(np.uint8))
    cfg = kit.job(image2="data/img_sample2_output.h5", output_prefix="data/img")
    return ["forward", "-c", cfg, "--quiet"], ["output_prefix", "img_sample2_output.h5"]


@case("output-is-input/forward-tif-output-is-a-sample-image")
def _(kit: Kit):
    image = np.random.default_rng(3).integers(0, 255, (2, 64, 64)).astype(np.uint8)
    kit.tif("job/data/img_sample2_output_1.tif", image)
    cfg = kit.job(image2="data/img_sample2_output_1.tif", output_prefix="data/img")
    return ["forward", "-c", cfg, "--tif", "--quiet"], ["output_prefix", "img_sample2_output_1.tif"]


@case("output-is-input/blockwise-output-is-a-sample-image")
def _(kit: Kit):
    kit.zarr("job/data/em_sample2.zarr", np.random.default_rng(3).integers(0, 255, (2, 64, 64)).astype(np.uint8))
    cfg = kit.job(image2="data/em_sample2.zarr", output_prefix="data/em")
    return (["forward", "--blockwise", "-c", cfg, "--workers", "1", "--quiet"],
            ["output_prefix", "em_sample2.zarr"])


@case("output-is-input/evaluate-against-itself")
def _(kit: Kit):
    seg = kit.labels()
    return ["evaluate", seg, seg], ["GT", "seg.h5", "itself"]


# ---------------------------------------------------------------- 5. ground truth: type and shape

@case("ground-truth/evaluate-float")
def _(kit: Kit):
    kit.h5("gt.h5", np.random.default_rng(4).uniform(size=(2, 24, 24)).astype(np.float32))
    return ["evaluate", kit.labels(), "gt.h5"], ["GT gt.h5", "float32"]


@case("ground-truth/evaluate-float64-tif")
def _(kit: Kit):
    kit.tif("gt.tif", np.random.default_rng(4).uniform(1, 5, size=(2, 24, 24)))
    return ["evaluate", kit.labels(), "gt.tif"], ["GT gt.tif", "float64"]


@case("ground-truth/evaluate-shape")
def _(kit: Kit):
    return (["evaluate", kit.labels(), kit.labels("gt.h5", (2, 24, 25))],
            ["GT gt.h5", "(2, 24, 25)", "(2, 24, 24)"])


@case("ground-truth/evaluate-float-segmentation")
def _(kit: Kit):
    kit.h5("probs.h5", np.random.default_rng(4).uniform(size=(2, 24, 24)).astype(np.float32))
    return ["evaluate", "probs.h5", kit.labels("gt.h5")], ["SEG probs.h5", "float32"]


@case("ground-truth/evaluate-missing")
def _(kit: Kit):
    return ["evaluate", kit.labels(), "nothing.h5"], ["GT nothing.h5", "not found"]


@case("ground-truth/segment-float")
def _(kit: Kit):
    kit.h5("gt.h5", np.random.default_rng(4).uniform(size=(2, 24, 24)).astype(np.float32))
    return ["segment", kit.maps(), "-o", "seg.h5", "--gt", "gt.h5"], ["--gt gt.h5", "float32"]


@case("ground-truth/segment-shape")
def _(kit: Kit):
    return (["segment", kit.maps(), "-o", "seg.h5", "--gt", kit.labels("gt.h5", (3, 24, 24))],
            ["--gt gt.h5", "(3, 24, 24)", "(2, 24, 24)"])


@case("ground-truth/segment-missing")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.h5", "--gt", "nothing.h5"], ["--gt nothing.h5", "not found"]


# ---------------------------------------------------------------- 6. the dask scheduler

@case("scheduler/unreachable")
def _(kit: Kit):
    return blockwise(kit, "--scheduler", "tcp://127.0.0.1:9"), ["--scheduler", "tcp://127.0.0.1:9", "5 s"]


@case("scheduler/unreachable-short-timeout")
def _(kit: Kit):
    return (blockwise(kit, "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1"),
            ["--scheduler", "tcp://127.0.0.1:9", "1 s"])


@case("scheduler/malformed")
def _(kit: Kit):
    return blockwise(kit, "--scheduler", "nonsense::::"), ["--scheduler", "nonsense::::"]


@case("scheduler/bad-port")
def _(kit: Kit):
    return blockwise(kit, "--scheduler", "tcp://127.0.0.1:port"), ["--scheduler", "tcp://127.0.0.1:port"]


@case("scheduler/timeout-zero")
def _(kit: Kit):
    return (blockwise(kit, "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "0"),
            ["--scheduler-timeout 0", "positive"])


# ---------------------------------------------------------------- 7. NaN or infinite input voxels

@case("nonfinite/blockwise-nan-h5")
def _(kit: Kit):
    image = np.random.default_rng(3).uniform(size=(3, 40, 40)).astype(np.float32)
    image[1, 5, 7] = np.nan
    return blockwise(kit, input=kit.h5("em.h5", image)), ["--input", "em.h5", "section 1", "NaN"]


@case("nonfinite/blockwise-inf-tif")
def _(kit: Kit):
    image = np.random.default_rng(3).uniform(size=(3, 40, 40)).astype(np.float32)
    image[2, 0, 0] = np.inf
    return blockwise(kit, input=kit.tif("em.tif", image)), ["--input", "em.tif", "section 2"]


@case("nonfinite/blockwise-job-sample")
def _(kit: Kit):
    image = np.random.default_rng(3).uniform(size=(2, 64, 64)).astype(np.float32)
    image[0, 10, 10] = np.nan
    kit.h5("job/data/nan.h5", image)
    cfg = kit.job(image2="data/nan.h5")
    return (["forward", "--blockwise", "-c", cfg, "--workers", "1", "--quiet"],
            ["job/data.spec", "fnames", "nan.h5", "section 0"])


# ---------------------------------------------------------------- 8. flag values

@case("flags/forward-threads-negative")
def _(kit: Kit):
    return ["forward", "-c", kit.job(), "--threads", "-1", "--quiet"], ["--threads", "-1"]


@case("flags/forward-range-zero")
def _(kit: Kit):
    return ["forward", "-c", kit.job(), "--range", "0", "--quiet"], ["--range", "'0'"]


@case("flags/forward-range-malformed")
def _(kit: Kit):
    return ["forward", "-c", kit.job(), "--range", "2-x", "--quiet"], ["--range", "2-x"]


@case("flags/forward-outsz-zero")
def _(kit: Kit):
    return ["forward", "-c", kit.job(), "--outsz", "0,8,8", "--quiet"], ["--outsz", "0,8,8"]


@case("flags/forward-outsz-pair")
def _(kit: Kit):
    return ["forward", "-c", kit.job(), "--outsz", "8,8", "--quiet"], ["--outsz", "8,8"]


@case("flags/forward-budget")
def _(kit: Kit):
    return ["forward", "-c", kit.job(), "--outsz", "auto", "--budget", "lots", "--quiet"], ["--budget", "lots"]


@case("flags/forward-config-missing")
def _(kit: Kit):
    return ["forward", "-c", "nothing.cfg", "--quiet"], ["-c/--config", "nothing.cfg"]


@case("flags/forward-config-is-a-folder")
def _(kit: Kit):
    kit.folder("jobs")
    return ["forward", "-c", "jobs", "--quiet"], ["-c/--config", "jobs", "folder"]


@case("flags/forward-net-is-a-folder")
def _(kit: Kit):
    kit.folder("nets")
    return ["forward", "-c", kit.job(), "-n", "nets", "--quiet"], ["-n/--net", "nets", "folder"]


@case("flags/forward-net-missing")
def _(kit: Kit):
    return ["forward", "-c", kit.job(), "-n", "nothing.h5", "--quiet"], ["-n/--net", "nothing.h5"]


@case("flags/blockwise-range-malformed")
def _(kit: Kit):
    return ["forward", "--blockwise", "-c", kit.job(), "--range", "x", "--quiet"], ["--range", "'x'"]


@case("flags/blockwise-threads-negative")
def _(kit: Kit):
    return ["forward", "--blockwise", "-c", kit.job(), "--threads", "-3", "--quiet"], ["--threads", "-3"]


@case("flags/blockwise-net-missing")
def _(kit: Kit):
    return (["forward", "--blockwise", "--input", kit.em(), "--net", "nothing.h5", "--output", "m.zarr"],
            ["--net", "nothing.h5"])


@case("flags/blockwise-net-not-a-network")
def _(kit: Kit):
    return (["forward", "--blockwise", "--input", kit.em(), "--net", kit.em("other.h5"), "--output", "m.zarr"],
            ["--net", "other.h5"])


@case("flags/blockwise-input-missing")
def _(kit: Kit):
    return blockwise(kit, input="nothing.h5"), ["--input", "nothing.h5", "not found"]


@case("flags/blockwise-input-is-a-folder")
def _(kit: Kit):
    kit.folder("stack.tif")
    return blockwise(kit, input="stack.tif"), ["--input", "stack.tif"]


@case("flags/blockwise-input-unknown-format")
def _(kit: Kit):
    kit.file("em.raw")
    return blockwise(kit, input="em.raw"), ["--input", "em.raw", "unknown volume format"]


@case("flags/blockwise-network-missing")
def _(kit: Kit):
    return blockwise(kit, "--network", "nothing.znn"), ["--network", "nothing.znn"]


@case("flags/blockwise-workers-zero")
def _(kit: Kit):
    return blockwise(kit, "--workers", "0"), ["--workers", "'0'"]


@case("flags/blockwise-block-zero")
def _(kit: Kit):
    return blockwise(kit, "--block", "0,20,20"), ["--block", "0,20,20"]


@case("flags/blockwise-block-malformed")
def _(kit: Kit):
    return blockwise(kit, "--block", "1,x,2"), ["--block", "1,x,2"]


@case("flags/blockwise-memory")
def _(kit: Kit):
    return blockwise(kit, "--memory-per-worker", "lots"), ["--memory-per-worker", "lots"]


@case("flags/blockwise-retries-negative")
def _(kit: Kit):
    return blockwise(kit, "--retries=-1"), ["--retries", "-1"]


@case("flags/blockwise-pp-type")
def _(kit: Kit):
    return blockwise(kit, "--pp-type", "sharpen"), ["--pp-type", "sharpen"]


@case("flags/segment-threshold-nan")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.h5", "-t", "nan"], ["-t/--threshold", "nan"]


@case("flags/segment-threshold-above-one")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.h5", "-t", "0.5", "1.5"], ["-t/--threshold", "1.5"]


@case("flags/segment-threshold-negative")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.h5", "-t=-0.2"], ["-t/--threshold", "-0.2"]


@case("flags/segment-min-size-negative")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.h5", "--min-size=-3"], ["--min-size", "-3"]


@case("flags/segment-maps-missing")
def _(kit: Kit):
    return ["segment", "nothing.h5", "-o", "seg.h5"], ["MAPS nothing.h5", "not found"]


@case("flags/segment-maps-dataset-missing")
def _(kit: Kit):
    return ["segment", kit.maps() + ":/nothing", "-o", "seg.h5"], ["MAPS maps.h5", "/nothing"]


@case("flags/segment-maps-unknown-format")
def _(kit: Kit):
    kit.file("maps.nrrd")
    return ["segment", "maps.nrrd", "-o", "seg.h5"], ["MAPS maps.nrrd", "unknown volume format"]


@case("flags/segment-kind-against-channels")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.h5", "--kind", "affinity"], ["MAPS maps.h5", "affinities"]


@case("flags/segment-kind-unknown")
def _(kit: Kit):
    return ["segment", kit.maps(), "-o", "seg.h5", "--kind", "fuzzy"], ["--kind", "fuzzy"]


@case("flags/info-outsz")
def _(kit: Kit):
    return ["info", "tiny2d", "--outsz", "1,0,8"], ["--outsz", "1,0,8"]


@case("flags/info-network-missing")
def _(kit: Kit):
    return ["info", "nothing.znn"], ["nothing.znn", "network file not found"]


@case("flags/info-network-is-a-folder")
def _(kit: Kit):
    kit.folder("nets")
    return ["info", "nets"], ["NETWORK nets", "folder"]


@case("flags/info-diagram-suffix")
def _(kit: Kit):
    return ["info", "tiny2d", "--diagram", "net.txt"], ["--diagram net.txt", ".svg"]


@case("flags/info-diagram-folder-is-a-file")
def _(kit: Kit):
    kit.file("taken", "x")
    return ["info", "tiny2d", "--diagram", "taken/net.svg"], ["--diagram taken/net.svg", "is a file, not a folder"]


@case("flags/train-threads-negative")
def _(kit: Kit):
    return ["train", "-c", kit.job(), "--threads=-2"], ["--threads", "-2"]


@case("flags/train-max-iter-negative")
def _(kit: Kit):
    return ["train", "-c", kit.job(), "--max-iter=-5"], ["--max-iter", "-5"]


@case("flags/train-minutes-negative")
def _(kit: Kit):
    return ["train", "-c", kit.job(), "--minutes=-1"], ["--minutes", "-1"]


@case("flags/train-config-missing")
def _(kit: Kit):
    return ["train", "-c", "nothing.cfg"], ["-c/--config nothing.cfg", "no such file"]


@case("flags/train-config-is-a-folder")
def _(kit: Kit):
    kit.folder("jobs")
    return ["train", "-c", "jobs"], ["-c/--config jobs", "folder"]


@case("flags/train-seed-missing")
def _(kit: Kit):
    return ["train", "-c", kit.job(), "-s", "none.h5"], ["-s/--seed none.h5", "no such file"]


@case("flags/demo-minutes-zero")
def _(kit: Kit):
    return ["demo", "--output", "demo", "--minutes", "0"], ["--minutes", "0"]


@case("flags/demo-minutes-negative")
def _(kit: Kit):
    return ["demo", "--output", "demo", "--minutes=-2"], ["--minutes", "-2"]


@case("flags/demo-threads-negative")
def _(kit: Kit):
    return ["demo", "--output", "demo", "--minutes", "0.01", "--threads=-1"], ["--threads", "-1"]


@case("flags/demo-seed-negative")
def _(kit: Kit):
    return ["demo", "--output", "demo", "--minutes", "0.01", "--seed=-1"], ["--seed", "-1"]


@case("flags/bench-threads-negative")
def _(kit: Kit):
    return ["bench", "--output", "bench", "--threads=-1", "--no-peer"], ["--threads", "-1"]


@case("flags/bench-modes-unknown")
def _(kit: Kit):
    return ["bench", "--output", "bench", "--modes", "fft,blah", "--no-peer"], ["--modes", "blah"]


@case("flags/bench-nets-unknown")
def _(kit: Kit):
    return ["bench", "--output", "bench", "--nets", "nosuch", "--no-peer"], ["--nets", "nosuch"]


@case("flags/bench-patches-unknown")
def _(kit: Kit):
    return ["bench", "--output", "bench", "--patches", "nosuch"], ["--patches", "nosuch"]


@case("flags/bench-budget")
def _(kit: Kit):
    return ["bench", "--output", "bench", "--patches", "3d_3", "--budget", "lots"], ["--budget", "lots"]


@case("flags/bench-repeats-zero")
def _(kit: Kit):
    return ["bench", "--output", "bench", "--repeats", "0"], ["--repeats", "0"]


@pytest.mark.parametrize("name", list(CASES))
def test_refused_with_one_line(name: str, tmp_path: Path, trained: Path, hook: Path) -> None:
    kit = Kit(tmp_path, trained, hook)
    argv, names = CASES[name](kit)
    began = time.monotonic()
    expect_refusal(tmp_path, argv, names, timeout=120, env=kit.env or None)
    if name.startswith("scheduler/"):
        assert time.monotonic() - began < 20, "an unreachable scheduler must be refused within seconds"


def test_enough_cases() -> None:
    assert len(CASES) >= 55
