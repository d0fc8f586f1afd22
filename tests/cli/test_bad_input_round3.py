"""Bad input, third corpus: checkpoints that cannot be trusted, numbers that pass the parser and
break later, labels that make no sense, paths as users name them, and the environment.

Most cases run `znn` in a child process through `expect_refusal` (exit status 2, no traceback,
one `error:` line naming the file and the key or value, no existing file changed). Cases whose
documented answer is to go on with a note (a thread count above the cores, a path with a ';'
that names a real file) run to the end and check the note and the result instead.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.helpers import jobkit
from tests.helpers.badinput import expect_refusal, file_hashes, run_znn
from tests.helpers.oshook import HOOK
from tests.helpers.paths import REPO

STATE = "/processing/znn/train/state"
NETWORK = "/processing/znn/train/network"
STATISTICS = "/processing/znn/train/statistics"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job trained for 10 updates (checkpoints at 5 and 10)."""
    folder = tmp_path_factory.mktemp("trained3")
    jobkit.trained_job(folder)
    return folder


@pytest.fixture(scope="module")
def hook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hook3")
    (folder / "sitecustomize.py").write_text(HOOK)
    return folder


def em_stack(shape: tuple[int, int, int] = (3, 64, 64), seed: int = 3) -> np.ndarray:
    """Smooth noise in 0..255: an EM-like image (most neighbouring pixels differ)."""
    from scipy.ndimage import gaussian_filter

    noise = np.random.default_rng(seed).normal(size=shape)
    smooth = gaussian_filter(noise, (0, 1.5, 1.5))
    return np.clip(128 + 400 * smooth + 20 * np.random.default_rng(seed + 1).normal(size=shape), 0, 255).astype(
        np.uint8)


def cells(shape: tuple[int, int, int] = (3, 64, 64)) -> np.ndarray:
    """Square cells 1, 2, ... with one-voxel membranes (0) between them: dense boundary labels."""
    z, y, x = np.indices(shape)
    ids = (y // 16) * 8 + (x // 16) + 1
    ids[(y % 16 == 0) | (x % 16 == 0)] = 0
    return ids.astype(np.uint16)


@dataclass
class Kit:
    tmp: Path
    trained: Path
    hook: Path
    env: dict[str, str] = field(default_factory=dict)

    # --- a job to break
    def job(self, **keys: str) -> Path:
        """The trained job copied to job/ with .cfg keys replaced; returns the folder."""
        folder = self.tmp / "job"
        shutil.copytree(self.trained, folder)
        cfg = folder / "job.cfg"
        text = cfg.read_text()
        for key, value in keys.items():
            text, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.MULTILINE)
            assert count == 1, key
        cfg.write_text(text)
        return folder

    def fresh_job(self, **options: object) -> Path:
        """A new tiny job (not trained) in fresh/; returns the folder."""
        folder = self.tmp / "fresh"
        jobkit.write_job(folder, **options)  # type: ignore[arg-type]
        return folder

    def spec(self, folder: Path, text: str) -> None:
        (folder / "data.spec").write_text(text)

    # --- files
    def tif(self, name: str, array: np.ndarray) -> str:
        import tifffile

        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, array, photometric="minisblack")
        return str(path)

    def h5(self, name: str, array: np.ndarray, dataset: str = "main") -> str:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "a") as handle:
            handle.create_dataset(dataset, data=array)
        return str(path)

    def readonly(self, *folders: Path) -> None:
        self.env["PYTHONPATH"] = os.pathsep.join([str(self.hook), str(REPO / "engine"), str(REPO / "src"),
                                                  os.environ.get("PYTHONPATH", "")])
        self.env["ZNN_TEST_READONLY"] = os.pathsep.join(str(f) for f in folders)


def set_state(path: Path, key: str, value: object) -> None:
    with h5py.File(path, "r+") as handle:
        group = handle[STATE]
        if key in group:
            del group[key]
        group[key] = np.bytes_(value) if isinstance(value, str) else value


def fill_weights(path: Path, value: float, *, only_first: bool = False) -> None:
    """Set the filters and biases of the saved network to `value` (one voxel with `only_first`)."""
    with h5py.File(path, "r+") as handle:
        for layer in handle[NETWORK].values():
            for key in ("filters", "biases"):
                if key in layer:
                    data = layer[key][()]
                    if only_first:
                        data.flat[0] = value
                    else:
                        data[...] = value
                    layer[key][...] = data
                    if only_first:
                        return


@dataclass(frozen=True)
class Outcome:
    """What a case expects: a refusal naming `names`, or (`goes_on`) exit 0 with `note` in the output."""

    argv: list[str]
    names: list[str] = field(default_factory=list)
    goes_on: bool = False
    note: str = ""
    check: Callable[[], None] | None = None


Case = Callable[[Kit], Outcome]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(build: Case) -> Case:
        assert name not in CASES, name
        CASES[name] = build
        return build
    return register


def train(folder: Path, *extra: str) -> list[str]:
    return ["train", "-c", str(folder / "job.cfg"), "--quiet", *extra]


def forward(folder: Path, *extra: str) -> list[str]:
    return ["forward", "-c", str(folder / "job.cfg"), "--quiet", *extra]


# ------------------------------------------------------------------ 1. checkpoints are trusted

def _state_case(key: str, value: object, shown: str) -> Case:
    def build(kit: Kit) -> Outcome:
        job = kit.job()
        set_state(job / "run/net_current.h5", key, value)
        return Outcome(train(job), ["net_current.h5", f"{STATE}/{key}", shown])
    return build


for _key, _value, _shown in [("iteration", -5, "-5"), ("iteration", "abc", "abc"), ("iteration", 2.5, "2.5"),
                             ("seed", float("nan"), "nan"), ("seed", -7, "-7"), ("seed", 2 ** 40, str(2 ** 40)),
                             ("adam_steps", -1, "-1"), ("optimizer", "rmsprop", "rmsprop"),
                             ("train_outsz", "1,0,24", "1,0,24")]:
    case(f"checkpoint/state-{_key}-{_shown}")(_state_case(_key, _value, _shown))


@case("checkpoint/forward-all-nan")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    fill_weights(job / "run/net_current.h5", float("nan"))
    return Outcome(forward(job), ["net_current.h5", "NaN"])


@case("checkpoint/forward-all-inf")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    fill_weights(job / "run/net_current.h5", float("inf"))
    return Outcome(forward(job), ["net_current.h5", "infinite"])


@case("checkpoint/forward-one-nan-filter-value")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    fill_weights(job / "run/net_current.h5", float("nan"), only_first=True)
    return Outcome(forward(job), ["net_current.h5", "NaN"])


@case("checkpoint/forward-net-flag-inf")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    shutil.copyfile(job / "run/net_current.h5", kit.tmp / "other.h5")
    fill_weights(kit.tmp / "other.h5", float("-inf"))
    return Outcome(forward(job, "--net", str(kit.tmp / "other.h5")), ["other.h5", "infinite"])


@case("checkpoint/blockwise-nan")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    fill_weights(job / "run/net_current.h5", float("nan"))
    em = kit.h5("em.h5", em_stack((2, 40, 40)))
    return Outcome(["forward", "--blockwise", "--input", em, "--net", str(job / "run/net_current.h5"), "--output",
                    str(kit.tmp / "maps.zarr"), "--workers", "1", "--memory-per-worker", "1GiB", "--quiet"],
                   ["net_current.h5", "NaN"])


@case("checkpoint/seed-from-nan-net")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    (job / "run").rename(job / "old")
    fill_weights(job / "old/net_current.h5", float("nan"))
    return Outcome(train(job, "-s", str(job / "old/net_current.h5")), ["old/net_current.h5", "-s", "NaN"])


@case("checkpoint/resume-nan-current")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    fill_weights(job / "run/net_current.h5", float("nan"))
    return Outcome(train(job), ["net_current.h5", "NaN"])


@case("checkpoint/broken-current-link")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    (job / "run/net_current.h5").unlink()
    (job / "run/net_current.h5").symlink_to("net_99.h5")
    return Outcome(train(job), ["net_current.h5", "net_99.h5"])


@case("checkpoint/curve-lengths-differ")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    with h5py.File(job / "run/net_current.h5", "r+") as handle:
        errors = handle[f"{STATISTICS}/train/err"][()]
        del handle[f"{STATISTICS}/train/err"]
        handle[f"{STATISTICS}/train/err"] = errors[:-2]
    return Outcome(train(job, "--max-iter", "12"), ["net_current.h5", "train/err"])


@case("checkpoint/curve-iterations-go-back")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    with h5py.File(job / "run/net_current.h5", "r+") as handle:
        iterations = handle[f"{STATISTICS}/train/it"][()]
        handle[f"{STATISTICS}/train/it"][...] = iterations[::-1]
    return Outcome(train(job, "--max-iter", "12"), ["net_current.h5", "train/it"])


# ------------------------------------------------------------------ 2. numbers that break later

@case("numbers/cfg-seed-negative")
def _(kit: Kit) -> Outcome:
    return Outcome(train(kit.job(seed="-1", train_net_prefix="run2/net")), ["job.cfg", "seed", "-1"])


@case("numbers/cfg-seed-huge")
def _(kit: Kit) -> Outcome:
    return Outcome(train(kit.job(seed=str(2 ** 80), train_net_prefix="run2/net")), ["job.cfg", "seed", str(2 ** 80)])


@case("numbers/cfg-seed-fraction")
def _(kit: Kit) -> Outcome:
    return Outcome(train(kit.job(seed="1.5", train_net_prefix="run2/net")), ["job.cfg", "seed", "1.5"])


@case("numbers/train-threads-huge")
def _(kit: Kit) -> Outcome:
    job = kit.fresh_job(max_iter=3, save=2)
    return Outcome(train(job, "--threads", "100000"), goes_on=True,
                   note=f"--threads 100000 is more than the {CORES} cores", check=lambda: None)


@case("numbers/cfg-num-threads-huge-forward")
def _(kit: Kit) -> Outcome:
    job = kit.job(num_threads="100000")
    return Outcome(forward(job), goes_on=True, note=f"num_threads 100000 is more than the {CORES} cores",
                   check=lambda: None)


@case("numbers/cfg-num-threads-huge-train")
def _(kit: Kit) -> Outcome:
    job = kit.job(num_threads="100000", train_net_prefix="run2/net", Max_iter="6")
    return Outcome(train(job), goes_on=True, note=f"num_threads 100000 is more than the {CORES} cores",
                   check=lambda: None)


@case("numbers/blockwise-threads-per-worker-huge")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    em = kit.h5("em.h5", em_stack((1, 40, 40)))
    return Outcome(["forward", "--blockwise", "--input", em, "--net", str(job / "run/net_current.h5"), "--output",
                    str(kit.tmp / "maps.zarr"), "--workers", "1", "--threads-per-worker", "100000",
                    "--memory-per-worker", "1GiB", "--quiet"], goes_on=True,
                   note=f"--threads-per-worker 100000 is more than the {CORES} cores", check=lambda: None)


@case("numbers/blockwise-workers-huge")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    em = kit.h5("em.h5", em_stack((1, 40, 40)))
    return Outcome(["forward", "--blockwise", "--input", em, "--net", str(job / "run/net_current.h5"), "--output",
                    str(kit.tmp / "maps.zarr"), "--workers", "100000", "--memory-per-worker", "1GiB", "--quiet"],
                   goes_on=True, note=f"--workers 100000 is more than the {CORES} cores", check=lambda: None)


@case("numbers/minutes-nan")
def _(kit: Kit) -> Outcome:
    return Outcome(train(kit.job(), "--minutes", "nan"), ["--minutes", "nan"])


@case("numbers/segment-threshold-nan")
def _(kit: Kit) -> Outcome:
    maps = kit.h5("maps.h5", np.random.default_rng(1).uniform(size=(1, 2, 24, 24)).astype(np.float32))
    return Outcome(["segment", maps, "-o", str(kit.tmp / "seg.h5"), "-t", "nan"], ["-t", "nan"])


@case("numbers/segment-threshold-above-one")
def _(kit: Kit) -> Outcome:
    maps = kit.h5("maps.h5", np.random.default_rng(1).uniform(size=(1, 2, 24, 24)).astype(np.float32))
    return Outcome(["segment", maps, "-o", str(kit.tmp / "seg.h5"), "-t", "1.5"], ["-t", "1.5"])


# ------------------------------------------------------------------ 3. labels that make no sense

DENSE_SPEC = """\
[image1]
fnames = {image}
pp_types = standard2D
is_auto_crop = no

[label1]
fnames = {label}
pp_types = auto
is_auto_crop = no
{label_extra}
[image2]
fnames = {image}
pp_types = standard2D
is_auto_crop = no

[label2]
fnames = {label2}
pp_types = auto
is_auto_crop = no
{label_extra}
[sample1]
input = 1
output = 1

[sample2]
input = 2
output = 2
"""


def _labels_case(kit: Kit, label: np.ndarray | str, *, extra: str = "", label2: np.ndarray | None = None,
                 image: np.ndarray | None = None) -> Path:
    job = kit.job(train_net_prefix="run2/net", Max_iter="6")
    image_file = kit.tif("em.tif", em_stack() if image is None else image)
    label_file = label if isinstance(label, str) else kit.tif("labels.tif", label)
    label2_file = kit.tif("labels2.tif", label2) if label2 is not None else kit.tif("cells.tif", cells())
    kit.spec(job, DENSE_SPEC.format(image=image_file, label=label_file, label2=label2_file, label_extra=extra))
    return job


@case("labels/image-is-its-own-label")
def _(kit: Kit) -> Outcome:
    job = kit.job(train_net_prefix="run2/net")
    image = kit.tif("em.tif", em_stack())
    kit.spec(job, DENSE_SPEC.format(image=image, label=image, label2=kit.tif("cells.tif", cells()), label_extra=""))
    return Outcome(train(job), ["data.spec", "label1", "fnames", "em.tif"])


@case("labels/image-copy-as-label")
def _(kit: Kit) -> Outcome:
    job = _labels_case(kit, em_stack())
    return Outcome(train(job), ["data.spec", "label1", "labels.tif", "image"])


@case("labels/other-image-as-label")
def _(kit: Kit) -> Outcome:
    job = _labels_case(kit, em_stack(seed=11))
    return Outcome(train(job), ["data.spec", "label1", "labels.tif", "looks like an image"])


@case("labels/negative-ids")
def _(kit: Kit) -> Outcome:
    ids = cells().astype(np.int16)
    ids[1, 5, 5] = -1
    job = _labels_case(kit, ids)
    return Outcome(train(job), ["data.spec", "label1", "labels.tif", "-1"])


@case("labels/strokes-of-one-class")
def _(kit: Kit) -> Outcome:
    strokes = np.zeros((3, 64, 64), np.uint8)
    strokes[:, 30, 15:45] = 1  # membrane only
    strokes2 = np.zeros((3, 64, 64), np.uint8)
    strokes2[:, 34, 15:45] = 1
    job = _labels_case(kit, strokes, label2=strokes2, extra="label_mode = sparse_strokes\n")
    return Outcome(train(job), ["data.spec", "label1", "labels.tif", "stroke_cell"])


@case("labels/strokes-of-one-class-cell")
def _(kit: Kit) -> Outcome:
    strokes = np.zeros((3, 64, 64), np.uint8)
    strokes[:, 30, 15:45] = 2  # cell only
    job = _labels_case(kit, strokes, label2=strokes, extra="label_mode = sparse_strokes\n")
    return Outcome(train(job), ["data.spec", "label1", "labels.tif", "stroke_membrane"])


@case("segment/on-a-segmentation")
def _(kit: Kit) -> Outcome:
    seg = kit.h5("seg.h5", cells().astype(np.uint32))
    return Outcome(["segment", seg, "-o", str(kit.tmp / "out.h5")], ["seg.h5", "probability"])


@case("segment/on-the-raw-image")
def _(kit: Kit) -> Outcome:
    raw = kit.tif("em.tif", em_stack())
    return Outcome(["segment", raw, "-o", str(kit.tmp / "out.h5")], ["em.tif", "probability"])


@case("segment/on-a-float-image")
def _(kit: Kit) -> Outcome:
    raw = kit.h5("em.h5", em_stack().astype(np.float32))
    return Outcome(["segment", raw, "-o", str(kit.tmp / "out.h5")], ["em.h5", "probability"])


@case("segment/thresholds-that-name-one-file")
def _(kit: Kit) -> Outcome:
    maps = kit.h5("maps.h5", np.random.default_rng(1).uniform(size=(1, 2, 24, 24)).astype(np.float32))
    return Outcome(["segment", maps, "-o", str(kit.tmp / "seg.h5"), "-t", "0.3", "0.3000001"],
                   ["-t", "0.3000001"])


@case("evaluate/all-background-truth")
def _(kit: Kit) -> Outcome:
    seg = kit.h5("seg.h5", cells().astype(np.uint32))
    truth = kit.h5("truth.h5", np.zeros((3, 64, 64), np.uint32))
    return Outcome(["evaluate", seg, truth], ["truth.h5"])


@case("evaluate/probability-map-as-truth")
def _(kit: Kit) -> Outcome:
    seg = kit.h5("seg.h5", cells().astype(np.uint32))
    truth = kit.h5("truth.h5", np.random.default_rng(2).uniform(size=(3, 64, 64)).astype(np.float32))
    return Outcome(["evaluate", seg, truth], ["truth.h5"])


@case("evaluate/image-as-segmentation")
def _(kit: Kit) -> Outcome:
    seg = kit.tif("em.tif", em_stack())
    truth = kit.h5("truth.h5", cells().astype(np.uint32))
    return Outcome(["evaluate", seg, truth], ["em.tif", "looks like an image"])


# ------------------------------------------------------------------ 4. paths as users name them

def _image_spec(kit: Kit, image: str, label: str) -> Path:
    job = kit.job(train_net_prefix="run2/net", Max_iter="6")
    kit.spec(job, DENSE_SPEC.format(image=image, label=label, label2=label, label_extra=""))
    return job


def _trains(job: Path) -> Callable[[], None]:
    def check() -> None:
        assert (job / "run2/net_current.h5").is_file()
    return check


@case("paths/folder-of-slices-named-tif")
def _(kit: Kit) -> Outcome:
    stack = em_stack()
    for z in range(stack.shape[0]):
        kit.tif(f"scans.tif/slice_{z:03d}.tif", stack[z])
    job = _image_spec(kit, str(kit.tmp / "scans.tif"), kit.tif("cells.tif", cells()))
    return Outcome(train(job), goes_on=True, check=_trains(job))


@case("paths/folder-named-h5-in-output-prefix")
def _(kit: Kit) -> Outcome:
    job = kit.job(output_prefix="res.h5/pred")
    (job / "res.h5").mkdir()

    def check() -> None:
        assert [p.name for p in (job / "res.h5").glob("pred_sample2_*.h5")], "no output in the folder res.h5/"
    return Outcome(forward(job), goes_on=True, check=check)


@case("paths/tif-inside-a-zarr-named-folder")
def _(kit: Kit) -> Outcome:
    image = kit.tif("proj.zarr/raw.tif", em_stack())
    job = _image_spec(kit, image, kit.tif("proj.zarr/cells.tif", cells()))
    return Outcome(train(job), goes_on=True, check=_trains(job))


@case("paths/semicolon-after-space-in-a-file-name")
def _(kit: Kit) -> Outcome:
    image = kit.tif("img ;v2.tif", em_stack())
    job = _image_spec(kit, image, kit.tif("cells.tif", cells()))
    return Outcome(train(job), goes_on=True, check=_trains(job))


@case("paths/semicolon-and-hash-inside-a-file-name")
def _(kit: Kit) -> Outcome:
    image = kit.tif("img;v2#3.tif", em_stack())
    job = _image_spec(kit, image, kit.tif("cells.tif", cells()))
    return Outcome(train(job), goes_on=True, check=_trains(job))


@case("paths/semicolon-comment-hides-a-missing-file")
def _(kit: Kit) -> Outcome:
    job = _image_spec(kit, str(kit.tmp / "img") + " ;v2.tif", kit.tif("cells.tif", cells()))
    return Outcome(train(job), ["data.spec", "image1", "fnames", "comment"])


@case("paths/folder-without-volumes")
def _(kit: Kit) -> Outcome:
    (kit.tmp / "empty.tif").mkdir()
    job = _image_spec(kit, str(kit.tmp / "empty.tif"), kit.tif("cells.tif", cells()))
    return Outcome(train(job), ["data.spec", "image1", "empty.tif", "folder"])


@case("paths/truncated-tif-in-blockwise")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    em = Path(kit.tif("em.tif", em_stack((4, 64, 64))))
    data = em.read_bytes()
    em.write_bytes(data[: len(data) * 2 // 3])
    return Outcome(["forward", "--blockwise", "--input", str(em), "--net", str(job / "run/net_current.h5"),
                    "--output", str(kit.tmp / "maps.zarr"), "--workers", "1", "--memory-per-worker", "1GiB",
                    "--quiet"], ["em.tif", "truncated"])


# ------------------------------------------------------------------ 5. the environment

@case("environment/home-not-writable")
def _(kit: Kit) -> Outcome:
    job = kit.fresh_job(max_iter=3, save=2)
    home = kit.tmp / "home"
    home.mkdir()
    kit.env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    kit.readonly(home, REPO / "engine")

    def check() -> None:
        assert (job / "run/net_current.h5").is_file()
    return Outcome(train(job), goes_on=True, check=check)


@case("environment/blockwise-store-through-a-link")
def _(kit: Kit) -> Outcome:
    job = kit.job()
    em = kit.h5("em.h5", em_stack((1, 40, 40)))
    (kit.tmp / "real.zarr").mkdir()
    (kit.tmp / "maps.zarr").symlink_to(kit.tmp / "real.zarr")
    from znn.io.runlock import RunLock

    lock = RunLock(kit.tmp / "real.zarr", "blockwise")
    lock.acquire()
    return Outcome(["forward", "--blockwise", "--input", em, "--net", str(job / "run/net_current.h5"), "--output",
                    str(kit.tmp / "maps.zarr"), "--workers", "1", "--memory-per-worker", "1GiB", "--quiet"],
                   ["maps.zarr", "another blockwise prediction"], check=lock.release)


@pytest.mark.parametrize("name", list(CASES))
def test_round3(name: str, tmp_path: Path, trained: Path, hook: Path) -> None:
    kit = Kit(tmp_path, trained, hook)
    outcome = CASES[name](kit)
    env = kit.env or None
    try:
        if not outcome.goes_on:
            expect_refusal(tmp_path, outcome.argv, outcome.names, timeout=240, env=env)
            return
        before = file_hashes(tmp_path)
        done = run_znn(tmp_path, outcome.argv, timeout=240, env=env)
        shown = f"znn {' '.join(outcome.argv)}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr, shown
        assert done.returncode == 0, shown
        assert outcome.note in done.stdout + done.stderr, shown
        after = file_hashes(tmp_path)
        assert [p for p, digest in before.items() if after.get(p) != digest and "run" not in p.parts
                and "run2" not in p.parts] == [], shown
    finally:
        if outcome.check is not None and not outcome.goes_on:
            outcome.check()
    if outcome.check is not None:
        outcome.check()


def test_enough_cases() -> None:
    families = {name.split("/")[0] for name in CASES}
    assert families == {"checkpoint", "numbers", "labels", "segment", "evaluate", "paths", "environment"}
    assert len(CASES) >= 50
