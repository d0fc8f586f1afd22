"""Data for training and demos: synthetic EM volumes with exact ground truth (and painted strokes
on them), and the training-data pipeline (label modes, preprocessing, mirroring, targets,
rebalancing, augmentation, patch sampling, loading from a job's .spec, background prefetching)."""

from __future__ import annotations

from znn.base.geometry import mirror_pad, mirror_widths
from znn.data.augment import EMAugment, Flips
from znn.data.dataset import load_forward_inputs, load_sample_set
from znn.data.label_modes import convert_labels, guess_label_mode
from znn.data.prefetch import PatchPrefetcher, PrefetchError, draw_patch
from znn.data.preprocess import IMAGE_PP_TYPES, preprocess
from znn.data.rebalance import (
    affinity_weight_map,
    boundary_weight_map,
    global_affinity_weights,
    global_boundary_weights,
    patch_weights,
)
from znn.data.sampling import Patch, SampleSet, TrainingSample
from znn.data.strokes import paint_strokes, split_strokes
from znn.data.targets import (
    affinity_from_labels,
    affinity_mask,
    affinity_target,
    boundary_mask,
    boundary_target,
    one_class_target,
)
from znn.io.synthetic import SyntheticEM, make_em_volume

__all__ = [
    "IMAGE_PP_TYPES",
    "EMAugment",
    "Flips",
    "Patch",
    "PatchPrefetcher",
    "PrefetchError",
    "SampleSet",
    "SyntheticEM",
    "TrainingSample",
    "affinity_from_labels",
    "affinity_mask",
    "affinity_target",
    "affinity_weight_map",
    "boundary_mask",
    "boundary_target",
    "boundary_weight_map",
    "convert_labels",
    "draw_patch",
    "global_affinity_weights",
    "global_boundary_weights",
    "guess_label_mode",
    "load_forward_inputs",
    "load_sample_set",
    "make_em_volume",
    "mirror_pad",
    "mirror_widths",
    "one_class_target",
    "paint_strokes",
    "patch_weights",
    "preprocess",
    "split_strokes",
]
