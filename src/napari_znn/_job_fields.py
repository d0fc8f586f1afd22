"""What the dock's settings form shows for each `.cfg` key: its name, its tooltip, and the
values a new napari job starts from. Kept apart from the widgets so the words can be read
(and reviewed) in one place."""

from __future__ import annotations

import re

from znn.jobs.job import DataConfig, ForwardConfig, JobConfig, NetworkConfig, TrainingConfig

# Tooltip text per key (what it does, its effect); the order is the order of the form.
TIPS: dict[str, str] = {
    "out_type": "What the network predicts: 'boundary' (object/boundary maps) or 'affinity' "
                "(x/y/z voxel connections); sets the targets and the 'auto' cost.",
    "dtype": "Precision of all arrays: float32 is faster and halves memory; float64 checks numerics.",
    "num_threads": "Worker threads for training and the forward pass; 0 uses every CPU core.",
    "train_conv_mode": "How training convolves: 'direct' (BLAS products, fastest for 2-D nets and small "
                       "kernels), 'fft' (for large 3-D kernels) or 'optimize' (times them per layer on "
                       "this machine and keeps the fastest).",
    "forward_conv_mode": "How prediction convolves: optimize, direct or fft.",
    "is_data_aug": "Random flips in z, y, x and a y/x swap per patch (16 variants): more varied data.",
    "is_bd_mirror": "Mirrors the image at the volume border so patches reach the edge voxels.",
    "rebalance_mode": "Weights gradients so boundary and object voxels count equally; 'global' "
                      "computes the weights once per sample, 'patch' per patch; 'off' omits the key.",
    "em_aug_missing_section": "napari-znn: chance per section of a training patch that it is "
                              "blanked, like a lost EM section; 0 = off.",
    "em_aug_misalignment": "napari-znn: chance per patch that one section slips by up to 8 pixels, "
                           "like a misaligned EM section; 0 = off.",
    "em_aug_intensity": "napari-znn: amplitude of a random per-section contrast and brightness "
                        "change (0.1 = ±10%); 0 = off.",
    "train_outsz": "Output patch z,y,x of one update: larger gives steadier gradients, slower updates.",
    "cost_fn": "The loss; 'auto' = softmax_loss for boundary, binomial_cross_entropy for affinity.",
    "optimizer": "napari-znn: how the gradient becomes a step: 'sgd' is ZNN's (momentum SGD); 'adam' "
                 "scales each weight's step by its recent gradients, so few painted voxels or a trained "
                 "network fine-tuned still move it steadily (learning rate 0.00003-0.001).",
    "eta": "Learning rate, the step of each update: too high diverges, too low learns slowly.",
    "anneal_factor": "eta is multiplied by this every Num_iter_per_annealing updates; 1 keeps it.",
    "Num_iter_per_annealing": "Updates between two annealing steps of eta.",
    "momentum": "Share of the previous update added to the next (0-1); smooths and speeds SGD.",
    "weight_decay": "Pulls weights towards zero at every update (L2); 0 turns it off.",
    "is_malis": "MALIS: weights affinity errors by the merges and splits they cause (affinity only).",
    "malis_norm_type": "How MALIS normalises its pair counts (used with MALIS only).",
    "is_constrained_malis": "Separate merger and splitter MALIS passes, constrained by the labels.",
    "Num_iter_per_show": "Updates per training point of the learning curve (mean cost, pixel error).",
    "Num_iter_per_test": "Updates between two validation tests on the test samples.",
    "test_num": "Validation patches per test; more gives a steadier curve but takes longer.",
    "Num_iter_per_save": "Updates between checkpoints (<prefix>_<it>.h5, _current.h5 to resume).",
    "Max_iter": "Training stops (and saves) after this many updates; must exceed Num_iter_per_save.",
    "seed": "napari-znn: a fixed seed repeats initial weights, patches and dropout; unticked, a "
            "random seed is drawn and kept in the checkpoint.",
    "forward_outsz": "Output tile z,y,x of the forward pass; 'auto' lets the planner pick the "
                     "fastest tile that fits in forward_ram_budget.",
    "forward_ram_budget": "napari-znn: RAM for forward_outsz auto, e.g. 8GiB, 500MB or 50% of RAM.",
    "forward_tif": "napari-znn: also write one TIFF per output map beside the .h5, as ZNN did.",
}
# What the form calls each key; the .cfg key is in the field's tooltip.
NAMES: dict[str, str] = {
    "out_type": "Output", "dtype": "Precision", "num_threads": "Threads",
    "train_conv_mode": "Convolution (training)", "forward_conv_mode": "Convolution (prediction)",
    "is_data_aug": "Flip augmentation", "is_bd_mirror": "Mirror at borders", "rebalance_mode": "Class rebalancing",
    "em_aug_missing_section": "Missing sections", "em_aug_misalignment": "Misaligned sections",
    "em_aug_intensity": "Intensity jitter", "train_outsz": "Training patch", "cost_fn": "Cost function",
    "optimizer": "Optimiser", "eta": "Learning rate", "anneal_factor": "Learning-rate decay",
    "Num_iter_per_annealing": "Decay every",
    "momentum": "Momentum", "weight_decay": "Weight decay", "is_malis": "MALIS",
    "malis_norm_type": "MALIS normalisation", "is_constrained_malis": "Constrained MALIS",
    "Num_iter_per_show": "Curve point every", "Num_iter_per_test": "Validate every",
    "test_num": "Validation patches", "Num_iter_per_save": "Checkpoint every",
    "Max_iter": "Max updates (job file)", "seed": "Seed", "forward_outsz": "Prediction tile",
    "forward_ram_budget": "Prediction memory", "forward_tif": "Also write TIFFs",
}
FORM_KEYS: tuple[str, ...] = tuple(TIPS)


def readable(key: str) -> str:
    """The form's name of a .cfg key."""
    return NAMES.get(key, key)


_KEY_WORDS = re.compile(r"\b(" + "|".join(sorted(map(re.escape, NAMES), key=len, reverse=True)) + r")\b")


def in_form_words(text: str) -> str:
    """An engine message about .cfg keys with each key called by its name in the form."""
    return _KEY_WORDS.sub(lambda match: NAMES[match.group(1)], text)


def form_defaults() -> JobConfig:
    """The settings a new napari job starts from (ZNN's own where they suit a desktop)."""
    return JobConfig(
        network=NetworkConfig(num_threads=0, dtype="float32", out_type="boundary",
                              train_conv_mode="optimize", forward_conv_mode="optimize"),
        data=DataConfig(is_data_aug=True, is_bd_mirror=True, rebalance_mode="global"),
        # 1,64,64 instead of ZNN's 1,100,100: 2.4x fewer output voxels per update, so updates
        # are quick and the learning curve moves on a laptop; a server user can raise it.
        training=TrainingConfig(
            train_outsz=(1, 64, 64), cost_fn="auto", eta=0.01, anneal_factor=0.997,
            num_iter_per_annealing=100, momentum=0.9, weight_decay=0.0,
            num_iter_per_show=10, num_iter_per_test=100, test_num=10, num_iter_per_save=500,
            max_iter=100_000, seed=None),
        forward=ForwardConfig(forward_outsz="auto", forward_ram_budget="50%", forward_tif=False))
