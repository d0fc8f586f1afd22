"""Cost functions of one training iteration (reference §4.1) and the per-iteration error counts.

Every function takes dicts {output name: array (C, z, y, x)} and returns new arrays: the
inputs are never written to. Props and gradients keep the dtype of the network outputs;
costs are accumulated in float64 and returned as Python floats.

`compute_cost` returns, per output,
  * props - what the statistics look at (masked props for the square losses, as ZNN does;
    raw props for binomial cross-entropy; softmax probabilities for softmax_loss);
  * grads - dE/d(output) handed to `backward`. For binomial_cross_entropy and softmax_loss
    this is the derivative w.r.t. the *pre-activation* (the logit), which is why those
    costs expect `forward_logistics` / `linear` output nodes (quirk 8 of §10).

Deliberate deviation from ZNN: a label or mask whose shape differs from its output raises
ValueError. ZNN's `utils.dict_mul` silently dropped such an entry from the result, which
only failed later and far from the cause (quirk 24).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from znn.base.modes import COST_FNS, CostFn

COST_FUNCTIONS: tuple[CostFn, ...] = COST_FNS

# square_square_loss ignores residuals this small (ZNN's margin).
SQUARE_SQUARE_MARGIN = 0.2

# binomial_cross_entropy clips p into [eps, 1 - eps] for the logarithm only, so a saturated
# output (p exactly 0 or 1 in float32) gives a large finite cost instead of inf/nan; ZNN
# would report inf. Values inside the interval, and the gradient, are not affected.
BCE_LOG_EPS = 1e-12

ArrayDict = Mapping[str, np.ndarray]


@dataclass
class CostResult:
    """What one call of a cost function produces for all outputs of a network."""

    # what statistics use (masked props for square losses, softmax probabilities for softmax_loss)
    props: dict[str, np.ndarray]
    cost: float  # summed over all outputs/voxels/channels
    grads: dict[str, np.ndarray]  # dE/d(network output) to hand to backward


def softmax(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Softmax along `axis` (the channel axis), subtracting the per-voxel maximum first.

    Subtracting the maximum keeps exp() from overflowing and does not change the result.
    Returns a new array of x's (floating) dtype.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int = 0) -> np.ndarray:
    # ln s computed from the shifted logits: finite even where s underflows to 0.
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _matching(name: str, what: str, out: np.ndarray, arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.shape != out.shape:
        raise ValueError(
            f"{what} of output {name!r} has shape {arr.shape}, but the output has shape {out.shape}"
        )
    return arr.astype(out.dtype, copy=False)


def _prepare(
    outputs: ArrayDict, labels: ArrayDict, masks: ArrayDict | None
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None]]:
    """(name, output, label, mask-or-None) per output, all in the output's dtype."""
    items = []
    for name, out in outputs.items():
        out = np.asarray(out)
        if not np.issubdtype(out.dtype, np.floating):
            out = out.astype(np.float64)
        if name not in labels:
            raise ValueError(f"no label given for output {name!r}")
        lbl = _matching(name, "label", out, labels[name])
        m = None
        raw = None if masks is None else masks.get(name)
        # An empty (size 0) mask means "no mask", as in ZNN's dict_mul.
        if raw is not None and np.size(raw) > 0:
            m = _matching(name, "mask", out, raw)
        items.append((name, out, lbl, m))
    return items


def _masked(arr: np.ndarray, m: np.ndarray | None) -> np.ndarray:
    return arr if m is None else arr * m


def _fsum(arr: np.ndarray) -> float:
    return float(np.sum(arr, dtype=np.float64))


def compute_cost(
    name: CostFn,
    outputs: ArrayDict,
    labels: ArrayDict,
    masks: ArrayDict | None = None,
) -> CostResult:
    """Apply the cost function `name` (one of COST_FUNCTIONS) to every network output.

    p = output, l = label, m = mask (None, a missing entry or an empty array: all ones):

    * square_loss: props p·m, cost Σ m(p−l)², grad 2(p−l)m.
    * square_square_loss: r = p−l with |r| ≤ 0.2 set to 0; props p·m, cost Σ m r², grad 2rm.
    * binomial_cross_entropy: props p, cost Σ m[−l ln p − (1−l) ln(1−p)] (p clipped to
      [1e-12, 1−1e-12] inside the logs only), grad (p−l)m w.r.t. the logit.
    * softmax_loss: s = softmax over channels, props s, cost Σ m(−Σ_c l_c ln s_c),
      grad (s−l)m w.r.t. the linear outputs (exact when each voxel's labels sum to 1 and
      its mask is the same in every channel, which is how ZNN builds boundary targets).

    For 0/1 masks the square losses agree with ZNN, which masked p and l before squaring.
    """
    if name not in COST_FUNCTIONS:
        raise ValueError(f"unknown cost function {name!r}; expected one of {COST_FUNCTIONS}")
    props: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    cost = 0.0
    for key, p, lbl, m in _prepare(outputs, labels, masks):
        if name == "square_loss":
            r = p - lbl
            props[key] = p * m if m is not None else p.copy()
            cost += _fsum(_masked(r * r, m))
            grads[key] = _masked(2 * r, m)
        elif name == "square_square_loss":
            r = p - lbl
            r[np.abs(r) <= SQUARE_SQUARE_MARGIN] = 0
            props[key] = p * m if m is not None else p.copy()
            cost += _fsum(_masked(r * r, m))
            grads[key] = _masked(2 * r, m)
        elif name == "binomial_cross_entropy":
            pc = np.clip(p.astype(np.float64), BCE_LOG_EPS, 1.0 - BCE_LOG_EPS)
            l64 = lbl.astype(np.float64)
            ce = -l64 * np.log(pc) - (1.0 - l64) * np.log1p(-pc)
            cost += _fsum(_masked(ce, m))
            props[key] = p.copy()
            grads[key] = _masked(p - lbl, m)
        else:  # softmax_loss
            s = softmax(p, axis=0)
            ce = -lbl.astype(np.float64) * _log_softmax(p.astype(np.float64), axis=0)
            cost += _fsum(_masked(ce, m))
            props[key] = s
            grads[key] = _masked(s - lbl, m)
    return CostResult(props=props, cost=cost, grads=grads)


def pixel_error_count(props: ArrayDict, labels: ArrayDict, masks: ArrayDict | None = None) -> int:
    """Number of (voxel, channel) entries where (p > 0.5) != (l > 0.5), over all outputs.

    Unmasked by default on purpose: ZNN's training loop counts every entry (§3.1 step 4). The
    outputs named in `masks` (trained from painted strokes) count only their mask-on entries,
    since elsewhere the label is unknown.
    """
    wrong = 0
    for name, p in props.items():
        p = np.asarray(p)
        if name not in labels:
            raise ValueError(f"no label given for output {name!r}")
        lbl = np.asarray(labels[name])
        if lbl.shape != p.shape:
            raise ValueError(
                f"label of output {name!r} has shape {lbl.shape}, "
                f"but the props have shape {p.shape}"
            )
        differ = (p > 0.5) != (lbl > 0.5)
        if masks is not None and name in masks:
            differ &= _matching(name, "mask", p, masks[name]) > 0
        wrong += int(np.count_nonzero(differ))
    return wrong


def _as_dict(x: np.ndarray | ArrayDict) -> ArrayDict:
    return x if isinstance(x, Mapping) else {"": x}


def malis_bce_metrics(
    weights: np.ndarray | ArrayDict,
    props: np.ndarray | ArrayDict,
    labels: np.ndarray | ArrayDict,
) -> tuple[float, float]:
    """MALIS-weighted pixel error and binomial cross-entropy (§4.4 item 8).

    Returns (Σ w·[p>0.5 ≠ l>0.5] / Σ w, Σ w·BCE(p, l) / Σ w). Sums skip NaNs, as ZNN's
    np.nansum does, so 0·ln 0 entries (p exactly 0 or 1) drop out instead of poisoning the
    result. Accepts single arrays or dicts keyed by output name (summed over the keys of
    `weights`). Both values are NaN when the weights sum to zero.
    """
    w_d, p_d, l_d = _as_dict(weights), _as_dict(props), _as_dict(labels)
    wsum = cls_sum = eng_sum = 0.0
    for name, w in w_d.items():
        w = np.asarray(w, dtype=np.float64)
        p = np.asarray(p_d[name], dtype=np.float64)
        lbl = np.asarray(l_d[name], dtype=np.float64)
        if not (w.shape == p.shape == lbl.shape):
            raise ValueError(
                f"output {name!r}: weights {w.shape}, props {p.shape} and labels {lbl.shape} "
                "must have the same shape"
            )
        wrong = ((p > 0.5) != (lbl > 0.5)).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            eng = -lbl * np.log(p) - (1.0 - lbl) * np.log(1.0 - p)
            eng_sum += float(np.nansum(eng * w))
        cls_sum += float(np.nansum(wrong * w))
        wsum += float(np.nansum(w))
    if wsum == 0.0:
        return float("nan"), float("nan")
    return cls_sum / wsum, eng_sum / wsum
