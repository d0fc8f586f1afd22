"""Scoring a network on the held-back data: the validation patches, their cost and pixel error.

The patches are drawn once (from `test_range`, with their own random stream) and reused, so
that every validation, and every set of weights scored, compares like with like. Costs follow
ZNN (§4.5: no masks, no rebalancing), except for outputs trained from painted strokes, whose
cost and pixel error count the painted voxels only.
"""

from __future__ import annotations

import time

import numpy as np

from znn.data.prefetch import draw_patch
from znn.data.sampling import Patch
from znn.params.net_params import NetParams
from znn.train.costs import compute_cost, pixel_error_count
from znn.train.events import Validation
from znn.train.malis import rand_error
from znn.train.setup import TrainingSetup

VALIDATION_STREAM = 1  # added to the seed: validation patches never repeat training patches


def pixel_errors(props: dict[str, np.ndarray], patch: Patch) -> tuple[int, float]:
    """(wrong (voxel, channel) pairs, pairs counted) of a patch: every pair (ZNN), except that outputs
    trained from strokes count their painted voxels only."""
    sparse = {n: patch.masks[n] for n in patch.sparse}
    counted = sum(float(patch.masks[n].sum()) if n in sparse else a.size for n, a in patch.targets.items())
    return pixel_error_count(props, patch.targets, sparse), counted


class Validator:
    """Scores the setup's network on the validation patches."""

    def __init__(self, setup: TrainingSetup) -> None:
        self.setup = setup
        self._patches: list[Patch] | None = None

    def patches(self) -> list[Patch]:
        if self._patches is None:
            seed = self.setup.seed + VALIDATION_STREAM
            self._patches = [draw_patch(self.setup.test_set, seed, k)
                             for k in range(1, self.setup.settings.schedule.test_num + 1)]
        return self._patches

    def score(self, iteration: int) -> Validation:
        """Cost and pixel error of the network's current weights."""
        started = time.perf_counter()
        net, setup = self.setup.net, self.setup
        patches = self.patches()
        name = setup.spec.output_names[0]
        net.set_phase("test")
        cost = wrong = voxels = 0.0
        rand_errors = []
        try:
            for patch in patches:
                outputs = net.forward(patch.inputs)
                sparse = {n: patch.masks[n] for n in patch.sparse}
                result = compute_cost(setup.cost_fn, outputs, patch.targets, sparse or None)
                cost += result.cost
                patch_wrong, patch_voxels = pixel_errors(result.props, patch)
                wrong += patch_wrong
                voxels += patch_voxels
                if setup.kind == "affinity" and name not in patch.sparse:  # strokes leave most of the graph unknown
                    rand_errors.append(rand_error(result.props[name], patch.targets[name]))
        finally:
            net.set_phase("train")
        return Validation(iteration, cost / voxels, wrong / voxels, len(patches), time.perf_counter() - started,
                          float(np.mean(rand_errors)) if rand_errors else None)

    def score_weights(self, params: NetParams, iteration: int) -> Validation:
        """The score of other weights (a saved best), the network's own put back afterwards."""
        net = self.setup.net
        own = net.params
        net.params = params.astype(own.dtype)
        try:
            return self.score(iteration)
        finally:
            net.params = own
