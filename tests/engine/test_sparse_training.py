"""Training from painted strokes: unlabelled voxels count nowhere (cost, gradient, rebalancing,
sampling, validation, pixel error)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.netcheck import build, finite_difference_error, parameter_gradients, random_inputs
from tests.helpers.paths import NETWORKS
from znn.app.job_folder import write_job_folder
from znn.base.errors import ConfigError
from znn.data.label_modes import convert_labels
from znn.data.rebalance import global_boundary_weights
from znn.data.sampling import Patch, TrainingSample
from znn.data.strokes import paint_strokes
from znn.io.synthetic import make_em_volume
from znn.jobs import JobConfig, read_cfg
from znn.train.costs import COST_FUNCTIONS, compute_cost, pixel_error_count
from znn.train.events import Step, Validation
from znn.train.setup import prepare_training
from znn.train.trainer import Trainer
from znn.train.validation import pixel_errors

SMALL_NET = ("nodes input\ntype input\nsize 1\n\n"
             "edges c1\ntype conv\ninit uniform\nsize 1,3,3\ninput input\noutput h\n\n"
             "nodes h\ntype transfer\nfunction tanh\nsize 3\n\n"
             "edges c2\ntype conv\ninit uniform\nsize 1,2,2\ninput h\noutput output\n\n"
             "nodes output\ntype transfer\nfunction linear\nsize 2\n")


def strokes_mask(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A (2, z, y, x) boundary mask of a few painted voxels (the same on both channels)."""
    on = np.random.default_rng(seed).random(shape[1:]) < 0.3
    return np.repeat(on[np.newaxis], 2, axis=0).astype(np.float64)


def boundary_targets(shape: tuple[int, ...], seed: int) -> np.ndarray:
    cell = np.random.default_rng(seed).random(shape[1:]) < 0.5
    return np.stack([cell, ~cell]).astype(np.float64)


# --- cost and gradient ------------------------------------------------------------------------------

@pytest.mark.parametrize("cost_fn", COST_FUNCTIONS)
def test_a_masked_out_voxel_changes_neither_the_cost_nor_the_gradient(cost_fn):
    shape = (2, 1, 5, 5)
    rng = np.random.default_rng(1)
    output = rng.uniform(0.05, 0.95, shape)
    target, mask = boundary_targets(shape, 2), strokes_mask(shape)
    base = compute_cost(cost_fn, {"o": output}, {"o": target}, {"o": mask})
    off = np.argwhere(mask[0] == 0)
    assert len(off) > 3
    other_output, other_target = output.copy(), target.copy()
    for z, y, x in off[:4]:
        other_output[:, z, y, x] = rng.uniform(0.05, 0.95, 2)
        other_target[:, z, y, x] = 1 - other_target[:, z, y, x]
    changed = compute_cost(cost_fn, {"o": other_output}, {"o": other_target}, {"o": mask})
    assert changed.cost == base.cost
    np.testing.assert_array_equal(changed.grads["o"], base.grads["o"])
    assert not base.grads["o"][mask == 0].any()
    # Unmasked, the same change is seen: the test would notice a mask that is ignored.
    assert compute_cost(cost_fn, {"o": other_output}, {"o": other_target}).cost != compute_cost(
        cost_fn, {"o": output}, {"o": target}).cost


def _masked_cost(net, inputs, target, mask) -> float:
    return compute_cost("softmax_loss", net.forward(inputs), {"output": target}, {"output": mask}).cost


def _weight_gradients(net, inputs, target, mask) -> dict[tuple[str, str], np.ndarray]:
    result = compute_cost("softmax_loss", net.forward(inputs), {"output": target}, {"output": mask})
    net.backward(result.grads)
    return parameter_gradients(net)


def test_the_weight_gradient_under_a_sparse_mask_is_that_of_the_masked_cost():
    net = build(SMALL_NET, (1, 4, 4))
    inputs = random_inputs(net)
    shape = net.graph.output_sizes["output"]
    target, mask = boundary_targets(shape, 3), strokes_mask(shape, 4)
    assert 0 < mask[0].sum() < mask[0].size
    analytic = _weight_gradients(net, inputs, target, mask)
    assert finite_difference_error(net, analytic, lambda: _masked_cost(net, inputs, target, mask), samples=30) < 1e-6
    # Whatever the unlabelled voxels' targets say, the gradient is the same.
    scrambled = target.copy()
    off = mask[0] == 0
    scrambled[0][off], scrambled[1][off] = 0.3, 0.7
    again = _weight_gradients(net, inputs, scrambled, mask)
    for key in analytic:
        np.testing.assert_array_equal(again[key], analytic[key], err_msg=str(key))
    unmasked = _weight_gradients(net, inputs, scrambled, np.ones_like(mask))
    assert any(not np.allclose(unmasked[key], analytic[key]) for key in analytic)


# --- rebalancing and sampling ------------------------------------------------------------------------

def stroke_sample(kind="boundary", *, rebalance=None, augment=True, output_size=(1, 16, 16), seed=6,
                  strokes=None) -> tuple[TrainingSample, np.ndarray]:
    volume = make_em_volume((6, 64, 64), seed=seed)
    if strokes is None:
        strokes = paint_strokes(volume.labels, [1, 4], rng=seed)
    labels, mask = convert_labels(strokes, None, "sparse_strokes", kind, file="strokes.h5")
    sample = TrainingSample(1, {"input": volume.raw.astype(np.float32)}, {"output": labels}, {"output": mask},
                            input_sizes={"input": output_size}, output_size=output_size, kind=kind,
                            rebalance=rebalance, augment=augment, label_modes={"output": "sparse_strokes"})
    return sample, strokes


def test_rebalance_weights_count_painted_voxels_only():
    sample, strokes = stroke_sample(rebalance="global")
    n_cell, n_membrane = int((strokes == 2).sum()), int((strokes == 1).sum())
    total = n_cell + n_membrane
    assert sample.global_weights["output"] == [(total / (2 * n_cell), total / (2 * n_membrane))]
    # Whatever the unlabelled voxels hold after conversion, the weights stay.
    labels, mask = sample.labels["output"].copy(), sample.masks["output"]
    labels[mask == 0] = np.random.default_rng(0).integers(0, 2, int((mask == 0).sum()))
    assert global_boundary_weights(labels, mask) == sample.global_weights["output"][0]
    assert global_boundary_weights(labels) != sample.global_weights["output"][0]
    # Patch mode: the v1 pair of each patch comes from its painted voxels.
    patched, _ = stroke_sample(rebalance="patch")
    rng = np.random.default_rng(1)
    for _ in range(20):
        patch = patched.draw(rng)
        on = patch.masks["output"][0] > 0
        cell = patch.targets["output"][0] > 0
        p, z = int((cell & on).sum()), int((~cell & on).sum())
        expected = (1.0, 1.0) if p == 0 or z == 0 else (z / (p + z), p / (p + z))
        weights = patch.weights["output"][0]
        if cell.any():
            assert weights[cell].flat[0] == pytest.approx(expected[0])
        if (~cell).any():
            assert weights[~cell].flat[0] == pytest.approx(expected[1])


def test_every_centre_is_painted_and_every_patch_holds_painted_voxels():
    sample, strokes = stroke_sample()
    assert sample.candidate_count <= int((strokes != 0).sum())
    rng = np.random.default_rng(2)
    for _ in range(300):
        patch = sample.draw(rng)
        assert strokes[patch.location] != 0
        assert patch.masks["output"].any() and patch.sparse == {"output"}


@pytest.mark.parametrize("output_size", [(1, 9, 9), (2, 8, 8)])
@pytest.mark.parametrize("augment", [True, False])
def test_every_sparse_affinity_patch_holds_a_painted_edge(output_size, augment):
    # A one-section output drops the drawn voxel's section unless flipped: such patches are drawn again.
    volume = make_em_volume((6, 64, 64), seed=6)
    strokes = np.zeros(volume.labels.shape, np.uint32)
    for z in (1, 4):
        strokes[z, 20:24, 10:50] = volume.labels[z, 20:24, 10:50]
    sample, _ = stroke_sample("affinity", augment=augment, output_size=output_size, strokes=strokes)
    rng = np.random.default_rng(3)
    for _ in range(100):
        patch = sample.draw(rng)
        assert patch.masks["output"].any()


def test_pixel_error_counts_masked_entries_only_when_asked():
    props = {"o": np.array([[0.9, 0.1, 0.9]])}
    labels = {"o": np.array([[0.0, 1.0, 1.0]])}
    assert pixel_error_count(props, labels) == 2
    assert pixel_error_count(props, labels, {"o": np.array([[0, 1, 1]])}) == 1
    assert pixel_error_count(props, labels, {"other": np.zeros((1, 3))}) == 2
    # The training loop's count: painted entries of stroke outputs, every entry of the others (ZNN).
    mask = np.array([[0.0, 1.0, 0.0]])
    patch = Patch(inputs={}, targets={"o": labels["o"], "d": labels["o"]}, masks={"o": mask, "d": mask},
                  sparse=frozenset({"o"}))
    assert pixel_errors({"o": props["o"], "d": props["o"]}, patch) == (1 + 2, 1 + 3)


# --- the training loop: validation and pixel error over painted voxels --------------------------------

def sparse_job(tmp_path, **keys) -> JobConfig:
    volume = make_em_volume((4, 48, 48), seed=2)
    strokes = paint_strokes(volume.labels, [1, 2], rng=1)
    job = JobConfig()
    job.network.num_threads, job.network.dtype, job.network.out_type = 1, "float32", "boundary"
    job.network.train_conv_mode = job.network.forward_conv_mode = "fft"
    job.training.train_outsz, job.training.max_iter, job.training.num_iter_per_save = (1, 16, 16), 4, 3
    job.training.num_iter_per_show, job.training.num_iter_per_test, job.training.test_num = 2, 2, 3
    job.training.seed = 4
    job.data.is_bd_mirror = True
    job.forward.forward_outsz = (1, 16, 16)
    cfg = write_job_folder(tmp_path / "job", network_text=(NETWORKS / "tiny2d.znn").read_text(), image=volume.raw,
                           labels=strokes, job=job, label_mode="sparse_strokes", **keys)
    return read_cfg(cfg)


def test_validation_cost_and_pixel_errors_count_painted_voxels_only(tmp_path):
    setup = prepare_training(sparse_job(tmp_path).require_training())
    try:
        trainer = Trainer(setup)
        events = list(trainer.run())
        steps = [e for e in events if isinstance(e, Step)]
        validation = [e for e in events if isinstance(e, Validation)][-1]
        patches = trainer.validator.patches()
        assert all(p.sparse == {"output"} for p in patches)
        setup.net.set_phase("test")
        cost = wrong = counted = 0.0
        for patch in patches:
            result = compute_cost(setup.cost_fn, setup.net.forward(patch.inputs), patch.targets, patch.masks)
            cost += result.cost
            wrong += pixel_error_count(result.props, patch.targets, patch.masks)
            counted += float(patch.masks["output"].sum())
        assert counted < 0.5 * sum(p.targets["output"].size for p in patches)
        again = trainer.validate(validation.iteration)
        assert again.cost == pytest.approx(cost / counted, rel=1e-6)
        assert again.pixel_error == pytest.approx(wrong / counted)
        assert all(0 <= s.pixel_error <= 1 and np.isfinite(s.cost) for s in steps)
    finally:
        setup.net.close()


def test_malis_is_refused_for_strokes_naming_the_key(tmp_path):
    job = sparse_job(tmp_path)
    job.training.is_malis = True
    with pytest.raises(ConfigError) as caught:
        prepare_training(job.require_training())
    assert caught.value.key == "is_malis" and "painted strokes" in str(caught.value)


def test_a_stroke_update_steps_by_the_mean_over_painted_voxels():
    """An update divides the summed gradient by the patch's voxels (ZNN); a patch of strokes has
    its gradient scaled by voxels / painted voxels, so the step is eta times the mean over the
    painted voxels, whatever the patch size, and dense patches are left as they are."""
    from znn.train.trainer import stroke_gradient_scales

    for size in ((1, 16, 16), (1, 24, 24)):
        sample, _ = stroke_sample(output_size=size)
        rng = np.random.default_rng(3)
        for _ in range(10):
            patch = sample.draw(rng)
            mask, target = patch.masks["output"], patch.targets["output"]
            [(name, scale)] = stroke_gradient_scales(patch).items()
            assert name == "output" and scale == pytest.approx(target.size / mask.sum()) and scale > 1
    dense = stroke_sample()[0].draw(np.random.default_rng(0))
    dense.sparse = frozenset()
    assert stroke_gradient_scales(dense) == {}
