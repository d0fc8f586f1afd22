"""Blockwise forward on dask.distributed: geometry, normalisation, equality with the in-memory
pass, resuming, and a worker killed mid-run."""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import replace

import numpy as np
import pytest

from znn.base.geometry import BlockGrid, read_padded
from znn.blockwise.normalise import needs_second_pass, normalisation_from, section_stats
from znn.data.preprocess import IMAGE_PP_TYPES, preprocess

# 1x1x1 convolution to two logistic maps: fov 1, and an output computable by hand.
POINTWISE = """nodes input
type input
size 1

edges conv1
type conv
init xavier
size 1,1,1
input input
output output

nodes output
type transfer
function logistics
size 2
"""


# ----------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("shape,start,stop,before", [
    ((4, 9, 7), (0, 0, 0), (4, 9, 7), (0, 0, 0)),      # no padding
    ((4, 9, 7), (0, 0, 0), (6, 20, 18), (1, 5, 5)),    # both borders reflected
    ((3, 5, 4), (2, 3, 1), (9, 17, 16), (3, 6, 6)),    # padding wider than the axis (periodic)
    ((5, 12, 11), (3, 7, 6), (8, 16, 15), (2, 4, 4)),  # an interior window reaching the far border
])
def test_read_padded_equals_numpy_symmetric_padding(shape, start, stop, before):
    volume = np.random.default_rng(0).integers(0, 255, shape).astype(np.uint8)
    after = tuple(max(0, b - n - p) for b, n, p in zip(stop, shape, before))
    padded = np.pad(volume, tuple(zip(before, after)), mode="symmetric")
    window = padded[tuple(slice(a, b) for a, b in zip(start, stop))]
    np.testing.assert_array_equal(read_padded(volume, start, stop, before), window)


def test_block_grid_covers_the_output_once_and_windows_are_full_size():
    grid = BlockGrid((7, 50, 33), (3, 16, 16))
    seen = np.zeros((7, 50, 33), np.int32)
    for block in grid:
        seen[block.slices()] += 1
        start, stop = grid.compute_window(block)
        assert tuple(b - a for a, b in zip(start, stop)) == grid.block_shape
        assert all(a <= s and e <= b for a, b, s, e in zip(start, stop, block.start, block.stop))
        assert all(0 <= a and b <= n for a, b, n in zip(start, stop, grid.output_shape))
    assert len(grid) == 3 * 4 * 3 and np.all(seen == 1)


@pytest.mark.parametrize("pp_type", IMAGE_PP_TYPES)
def test_blocks_are_normalised_exactly_like_the_whole_volume(pp_type):
    rng = np.random.default_rng(1)
    volume = rng.integers(0, 255, (6, 20, 24)).astype(np.uint8)
    volume[2] = 17  # a constant section
    parts = [section_stats(volume[z:z + 4], z) for z in (4, 0)]  # any order
    squares = None
    if needs_second_pass(pp_type):
        from znn.blockwise.normalise import global_mean

        centre = global_mean(parts, 20 * 24)
        squares = [section_stats(volume[z:z + 4], z, centre) for z in (0, 4)]
    norm = normalisation_from(pp_type, parts, 20 * 24, squares)
    whole = preprocess(volume, pp_type)
    sections = np.array([5, 2, 3])
    block = norm.apply(volume[sections][:, 3:11, 5:20], sections)
    np.testing.assert_allclose(block, whole[sections][:, 3:11, 5:20], rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- a worker's state


def _pointwise_maps(image, weights):
    """POINTWISE's output by its formula: logistic(k_c * standardised section + b_c)."""
    from znn.io.h5net import load_network

    saved = load_network(weights)
    kernel = saved.params.kernels["conv1"].reshape(2)
    bias = saved.params.biases["output"]
    values = image.astype(np.float64)
    x = (values - values.mean(axis=(1, 2), keepdims=True)) / values.std(axis=(1, 2), keepdims=True)
    return np.stack([1.0 / (1.0 + np.exp(-(kernel[c] * x + bias[c]))) for c in range(2)])


def _pointwise_task(folder, image, seed, suffix):
    from znn.blockwise.normalise import normalisation_from, section_stats
    from znn.blockwise.task import BlockTask
    from znn.io.volumes import write_volume

    folder.mkdir()
    source = folder / f"in{suffix}"
    write_volume(source, image)
    weights = _saved_net(folder, POINTWISE, seed=seed)
    plane = image.shape[1] * image.shape[2]
    normalisation = normalisation_from("standard2D", [section_stats(image, 0)], plane)
    block = (1, image.shape[1], image.shape[2])
    return BlockTask(str(source), str(folder / "out.zarr"), POINTWISE, str(weights), image.shape, block,
                     (1, 1, 1), False, False, normalisation)


def test_one_block_worker_holds_one_request_at_a_time_and_never_mixes_two(tmp_path, monkeypatch):
    import gc
    import weakref

    from znn.blockwise.task import BlockWorker
    from znn.network.net import Network

    closed = []
    close = Network.close

    def recording_close(self):
        closed.append(id(self))
        close(self)

    monkeypatch.setattr(Network, "close", recording_close)
    rng = np.random.default_rng(7)
    image_a = rng.integers(0, 255, (2, 12, 10)).astype(np.uint8)
    image_b = rng.integers(0, 255, (3, 12, 10)).astype(np.uint8)
    # The same network text and block: only the weights (and the input) tell the requests apart.
    task_a = _pointwise_task(tmp_path / "a", image_a, 3, ".h5")
    task_b = _pointwise_task(tmp_path / "b", image_b, 11, ".zarr")
    expected_a, expected_b = _pointwise_maps(image_a, task_a.weights), _pointwise_maps(image_b, task_b.weights)
    assert np.abs(expected_a - expected_b[:, :2]).max() > 0.1

    closed.clear()  # saving the weights built and closed networks too
    worker = BlockWorker()
    for number, task, expected in ((0, task_a, expected_a), (1, task_b, expected_b), (1, task_a, expected_a),
                                   (2, task_b, expected_b)):
        maps = worker.compute_block(task, number)
        np.testing.assert_allclose(maps["output"], expected[:, number:number + 1], rtol=0, atol=1e-5)
        assert worker.input(task.input).shape == expected.shape[1:]
    assert len(closed) == 3  # each change of request closed the network of the one before

    # One network per worker: the previous request's network is closed and let go.
    held = worker.network(task_b)
    first = weakref.ref(worker.network(task_a))
    assert closed[-1] == id(held) and worker.network(task_a) is first() and len(closed) == 4
    del held
    worker.network(task_b)
    gc.collect()
    assert first() is None and len(closed) == 5
    # Two workers in one process share nothing.
    other = BlockWorker()
    np.testing.assert_allclose(other.compute_block(task_a, 0)["output"], expected_a[:, :1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(worker.compute_block(task_b, 0)["output"], expected_b[:, :1], rtol=0, atol=1e-5)
    worker.close()
    other.close()
    assert len(closed) == 7


# ----------------------------------------------------------------------------- on a cluster


@pytest.fixture(scope="module")
def client():
    from znn.blockwise.cluster import cluster_client

    with cluster_client(workers=2, memory_per_worker=1 << 30) as c:
        yield c


def _saved_net(tmp_path, text, seed=3):
    from znn.io.h5net import save_network
    from znn.netspec.znnfile import parse_znn
    from znn.network.net import Network

    spec = parse_znn(text)
    path = tmp_path / "net.h5"
    with Network(spec, (1, 4, 4), seed=seed) as net:
        save_network(path, spec, net.params, stdio=True)
    return path


def _tiny2d_text():
    from znn.netspec.library import network_path

    return network_path("tiny2d").read_text()


def _request(tmp_path, image, text, *, suffix=".zarr", **options):
    from znn.blockwise.run import BlockwiseRequest
    from znn.io.volumes import write_volume

    source = tmp_path / f"in{suffix}"
    write_volume(source, image)
    return BlockwiseRequest(input=str(source), output=str(tmp_path / "out.zarr"), network_text=text,
                            weights=str(_saved_net(tmp_path, text)), **options)


def _run(request, client, **kw):
    from znn.blockwise.run import iter_blockwise

    return list(iter_blockwise(request, client, **kw))


def _stored(path, name="output"):
    import zarr

    return np.asarray(zarr.open_group(str(path), mode="r")[name][:])


@pytest.mark.parametrize("pp_type,mirror,suffix", [("standard2D", True, ".zarr"), ("standard3D", False, ".zarr"),
                                                   ("standard2D", True, ".tif"), ("symetric_rescale", True, ".h5")])
def test_blockwise_equals_the_in_memory_forward(client, tmp_path, pp_type, mirror, suffix):
    from znn.forward.image import iter_predict_image
    from znn.netspec.znnfile import parse_znn

    image = np.random.default_rng(2).integers(0, 255, (5, 61, 75)).astype(np.uint8)
    request = _request(tmp_path, image, _tiny2d_text(), block_shape=(2, 24, 32), pp_type=pp_type, mirror=mirror,
                       softmax=True, suffix=suffix)
    events = _run(request, client)
    finished = events[-1]
    assert finished.computed == len(BlockGrid(events[0].output_shape, (2, 24, 32))) and not finished.stopped
    run = iter_predict_image(image, parse_znn(request.network_text), request.weights, pp_type=pp_type,
                             mirror=mirror, softmax=True, outsz=(1, 16, 16))
    while True:
        try:
            next(run)
        except StopIteration as done:
            expected = done.value["output"]
            break
    stored = _stored(request.output)
    assert stored.shape == expected.shape
    assert np.abs(stored - expected).max() <= 1e-5


def test_an_interrupted_run_resumes_with_only_the_missing_blocks(client, tmp_path):
    import threading

    from znn.blockwise.store import done_flags

    image = np.random.default_rng(3).integers(0, 255, (4, 64, 64)).astype(np.uint8)
    request = _request(tmp_path, image, _tiny2d_text(), block_shape=(1, 32, 32))
    stop = threading.Event()
    first = []
    from znn.blockwise.run import BlockDone, iter_blockwise

    for event in iter_blockwise(request, client, stop=stop):
        first.append(event)
        if isinstance(event, BlockDone) and event.done == 5:
            stop.set()
    assert first[-1].stopped
    flagged = int(done_flags(request.output).sum())
    assert 5 <= flagged < 16
    partial = _stored(request.output)
    assert np.isnan(partial).any()  # blocks never written read as NaN

    second = _run(request, client)
    assert second[0].todo == 16 - flagged
    assert second[-1].computed == 16 - flagged and not second[-1].stopped
    assert sum(isinstance(e, BlockDone) for e in second) == 16 - flagged
    assert done_flags(request.output).all() and not np.isnan(_stored(request.output)).any()
    again = _run(request, client)
    assert again[0].todo == 0 and again[-1].computed == 0


def test_a_store_of_another_run_is_refused_not_overwritten(client, tmp_path):
    from znn.blockwise.store import StoreMismatch

    image = np.random.default_rng(4).integers(0, 255, (2, 40, 40)).astype(np.uint8)
    request = _request(tmp_path, image, _tiny2d_text(), block_shape=(1, 40, 40))
    _run(request, client)
    before = _stored(request.output)
    request = replace(request, pp_type="standard3D")
    with pytest.raises(StoreMismatch, match="pp_type"):
        _run(request, client)
    np.testing.assert_array_equal(_stored(request.output), before)


def test_an_output_path_holding_other_data_is_never_overwritten(client, tmp_path):
    import zarr

    from znn.blockwise.store import StoreMismatch

    image = np.random.default_rng(4).integers(0, 255, (2, 40, 40)).astype(np.uint8)
    request = _request(tmp_path, image, _tiny2d_text(), block_shape=(1, 40, 40), overwrite=True)
    request = replace(request, output=str(tmp_path / "notes.txt"))
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(StoreMismatch, match="is not a zarr group"):
        _run(request, client)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    other = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    other.create_array("data", shape=(4,), dtype="uint8", fill_value=7)
    request = replace(request, output=str(tmp_path / "other.zarr"))
    with pytest.raises(StoreMismatch, match="not a znn blockwise output"):
        _run(request, client)  # even with overwrite=True
    assert list(zarr.open_group(str(tmp_path / "other.zarr"), mode="r")["data"][:]) == [7, 7, 7, 7]
    (tmp_path / "empty.zarr").mkdir()
    request = replace(request, output=str(tmp_path / "empty.zarr"))
    assert _run(request, client)[-1].computed == 2


def test_a_store_being_written_is_locked_so_a_second_run_cannot_overwrite_it(client, tmp_path):
    from znn.blockwise.run import BlockDone, iter_blockwise, prepare_blockwise
    from znn.blockwise.store import done_flags
    from znn.io.runlock import RunLocked

    image = np.random.default_rng(5).integers(0, 255, (3, 64, 64)).astype(np.uint8)
    request = _request(tmp_path, image, _tiny2d_text(), block_shape=(1, 32, 32))
    again = replace(request, overwrite=True)
    ready = prepare_blockwise(again)  # checked before the first run took the store
    lock = tmp_path / "out.zarr.blockwise.lock"
    first = iter_blockwise(request, client)
    events = [next(first)]
    while not isinstance(events[-1], BlockDone):
        events.append(next(first))
    written = done_flags(request.output).copy()
    for second in (lambda: prepare_blockwise(again), lambda: next(iter_blockwise(again, client, prepared=ready))):
        with pytest.raises(RunLocked) as refused:
            second()
        message = str(refused.value)
        assert f"PID {os.getpid()}" in message and "another blockwise prediction" in message
        assert "out.zarr.blockwise.lock" in message and message.endswith("another output")
        assert (done_flags(request.output) >= written).all()  # nothing wiped
    assert lock.exists()
    events.extend(first)
    assert events[-1].computed == 12 and not events[-1].stopped
    assert done_flags(request.output).all() and not np.isnan(_stored(request.output)).any()
    assert not lock.exists()  # released with the run's last event
    assert _run(again, client)[-1].computed == 12  # free again: the overwrite starts afresh


def test_a_file_system_without_flock_runs_unlocked_and_says_so(client, tmp_path, monkeypatch):
    import errno
    import fcntl

    from znn.blockwise.store import done_flags

    def no_flock(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_flock)
    image = np.random.default_rng(6).integers(0, 255, (2, 32, 32)).astype(np.uint8)
    request = _request(tmp_path, image, _tiny2d_text(), block_shape=(1, 32, 32))
    events = _run(request, client)
    assert events[0].note is not None and events[0].note.startswith(f"cannot lock {tmp_path / 'out.zarr'}")
    assert "no other run writes these files" in events[0].note
    assert events[-1].computed == 2 and done_flags(request.output).all()


def test_a_failing_block_surfaces_its_traceback_after_the_retries(client, tmp_path):
    from znn.blockwise.run import BlockwiseError, prepare_blockwise
    from znn.blockwise.store import done_flags

    image = np.random.default_rng(5).integers(0, 255, (2, 40, 40)).astype(np.uint8)
    request = _request(tmp_path, image, _tiny2d_text(), block_shape=(1, 20, 20), retries=1)
    broken = tmp_path / "broken.h5"
    shutil.copyfile(request.weights, broken)
    request = replace(request, weights=str(broken))
    prepared = prepare_blockwise(request)  # the driver's checks pass (a damaged file is refused there) ...
    broken.write_bytes(b"not an HDF5 file")  # ... and then the workers fail to load it, for every block
    with pytest.raises(BlockwiseError, match=r"block \d+ \(output .*\) failed after 2 attempt\(s\)") as failure:
        _run(request, client, prepared=prepared)
    message = str(failure.value)
    assert "broken.h5" in message and "load_network" in message  # the worker's traceback
    assert not done_flags(request.output).any()


def test_two_requests_on_one_cluster_use_their_own_network_and_input(client, tmp_path):
    from znn.blockwise.store import done_flags
    from znn.blockwise.worker import PLUGIN_NAME

    rng = np.random.default_rng(8)
    runs = []
    for name, shape, seed in (("a", (3, 30, 20), 3), ("b", (2, 20, 36), 11), ("c", (3, 30, 20), 5)):
        image = rng.integers(0, 255, shape).astype(np.uint8)
        folder = tmp_path / name
        folder.mkdir()
        # The same network text for all three; only the weights and the input differ.
        request = _request(folder, image, POINTWISE, block_shape=(1, 10, 10), mirror=False)
        _saved_net(folder, POINTWISE, seed=seed)  # the request's weights file, with this seed
        assert _run(request, client)[-1].computed == shape[0] * -(-shape[1] // 10) * -(-shape[2] // 10)
        runs.append((request, image))
    for request, image in runs:
        assert done_flags(request.output).all()
        expected = _pointwise_maps(image, request.weights)
        np.testing.assert_allclose(_stored(request.output), expected, rtol=0, atol=1e-5)
    assert all(client.run(lambda dask_worker: PLUGIN_NAME in dask_worker.plugins).values())


def test_a_worker_killed_mid_run_loses_nothing_and_output_exceeds_worker_memory(tmp_path):
    from znn.blockwise.cluster import cluster_client
    from znn.blockwise.run import BlockDone, iter_blockwise
    from znn.blockwise.store import done_flags
    from znn.io.h5net import load_network

    memory = 400 << 20
    shape = (56, 1024, 1024)  # float32 output: 2 maps x 59M voxels = 470 MB > 400 MiB per worker
    rng = np.random.default_rng(6)
    image = rng.integers(0, 255, shape, dtype=np.uint8)
    request = _request(tmp_path, image, POINTWISE, block_shape=(10, 256, 512), mirror=False)
    assert 2 * np.prod(shape) * 4 > memory
    killed = []
    with cluster_client(workers=2, memory_per_worker=memory) as c:
        for event in iter_blockwise(request, c):
            if isinstance(event, BlockDone) and event.done == 4 and not killed:
                pids = c.run(os.getpid)
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
        finished = event
    assert killed and not finished.stopped
    assert done_flags(request.output).all()
    saved = load_network(request.weights)
    kernel = saved.params.kernels["conv1"].reshape(2)
    bias = saved.params.biases["output"]
    import zarr

    stored = zarr.open_group(str(request.output), mode="r")["output"]
    for z in (0, 17, 55):  # whole sections against the formula
        section = image[z].astype(np.float64)
        x = (section - section.mean()) / section.std()
        for c in range(2):
            expected = 1.0 / (1.0 + np.exp(-(kernel[c] * x + bias[c])))
            np.testing.assert_allclose(stored[c, z], expected, rtol=0, atol=1e-5)
    for z in range(0, shape[0], 5):
        assert not np.isnan(stored[:, z]).any()
