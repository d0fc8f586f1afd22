"""The closed vocabularies of the engine as `Literal` types, in one small module.

The values stay plain strings at run time (they are what `.cfg` files, checkpoints and
messages hold); the aliases let a type checker catch a misspelt mode. Text as a user
wrote it (`train_conv_mode = fft_optimize`, `cost_fn = auto`) is a `str`; these types
describe the *effective* value that ZNN's substring rules give (see `znn.jobs.values`).
The tuples beside them list the values at run time, in display order.
"""

from __future__ import annotations

from typing import Literal, get_args

# `direct` is ZNN's word for non-FFT convolution and means `gemm`; `gemm` and `loop` name the
# two direct implementations; `optimize` times the candidates per conv group and keeps the fastest.
ConvMode = Literal["fft", "direct", "optimize", "gemm", "loop"]
# What a conv group runs once `optimize` has chosen: the implementations in znn.layers.conv.
ConvImplMode = Literal["fft", "gemm", "loop"]
Phase = Literal["train", "test"]  # dropout on / off; also the two learning-curve series
Dtype = Literal["float32", "float64"]
OutputKind = Literal["boundary", "affinity"]
Executor = Literal["tasks", "sequential"]
CostFn = Literal["square_loss", "square_square_loss", "binomial_cross_entropy", "softmax_loss"]
# Rebalancing when it is on; a resolved job says "off" rather than None (see RebalanceSetting).
Rebalance = Literal["global", "patch"]
RebalanceSetting = Literal["off", "global", "patch"]
PpType = Literal["standard2D", "standard3D", "symetric_rescale", "none"]
MalisNorm = Literal["none", "frac", "num", "pair", "constrain"]
FinishReason = Literal["max_iter", "stopped", "time_limit"]
# The weight update: ZNN's SGD with momentum, or Adam (znn.passes.update).
Optimizer = Literal["sgd", "adam"]
# What the values of a label volume mean (a `[labelN]`'s `label_mode`, see znn.data.label_modes):
# ZNN's 0 = membrane, napari's 0 = background with touching instance ids, or painted strokes
# with 0 = unlabelled.
LabelMode = Literal["dense_boundary", "dense_instances", "sparse_strokes"]

CONV_MODES: tuple[ConvMode, ...] = get_args(ConvMode)
CONV_IMPL_MODES: tuple[ConvImplMode, ...] = get_args(ConvImplMode)
PHASES: tuple[Phase, ...] = get_args(Phase)
EXECUTORS: tuple[Executor, ...] = get_args(Executor)
DTYPES: tuple[Dtype, ...] = get_args(Dtype)
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)
COST_FNS: tuple[CostFn, ...] = get_args(CostFn)
PP_TYPES: tuple[PpType, ...] = get_args(PpType)
MALIS_NORMS: tuple[MalisNorm, ...] = get_args(MalisNorm)
LABEL_MODES: tuple[LabelMode, ...] = get_args(LabelMode)
OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)

__all__ = [
    "COST_FNS", "CONV_IMPL_MODES", "CONV_MODES", "DTYPES", "EXECUTORS", "LABEL_MODES", "PHASES", "MALIS_NORMS",
    "OPTIMIZERS", "OUTPUT_KINDS", "PP_TYPES",
    "ConvImplMode", "ConvMode", "CostFn", "Dtype", "Executor", "FinishReason", "LabelMode", "MalisNorm",
    "Optimizer", "OutputKind", "Phase", "PpType", "Rebalance", "RebalanceSetting",
]
