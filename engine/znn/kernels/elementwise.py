"""Voxel-wise layer operations: transfer functions (§2.3), dropout and crop (§2.2).

Transfer functions are applied in place, with the node's bias added first, and
their derivative is expressed in the OUTPUT y = f(x) (the engine keeps only y).
A small integer code selects the function inside one numba kernel; the table
`TRANSFER_CODES` maps the `.znn` names to those codes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from znn.base.jit import cached_njit
from znn.base.triples import triple

LINEAR = 0
RECTIFY_LINEAR = 1
TANH = 2
SOFT_SIGN = 3
LOGISTICS = 4
FORWARD_LOGISTICS = 5

# Names exactly as the original accepts them (note the trailing "s" of the logistic ones).
TRANSFER_CODES: dict[str, int] = {
    "linear": LINEAR,
    "rectify_linear": RECTIFY_LINEAR,
    "tanh": TANH,
    "soft_sign": SOFT_SIGN,
    "logistics": LOGISTICS,
    "forward_logistics": FORWARD_LOGISTICS,
}

# (a, b) defaults of `function_args`; functions without arguments ignore them.
_DEFAULT_ARGS: dict[str, tuple[float, float]] = {"linear": (1.0, 0.0), "tanh": (1.0, 1.0)}


def transfer_code(name: str) -> int:
    """The kernel code of a transfer function name; ValueError for an unknown name."""
    try:
        return TRANSFER_CODES[name]
    except KeyError:
        raise ValueError(
            f"unknown transfer function {name!r}; expected one of {sorted(TRANSFER_CODES)}"
        ) from None


def transfer_args(name: str, args: Sequence[float] | None) -> tuple[float, float]:
    """The (a, b) parameters of `name` from `function_args`, filling in the original's defaults.

    linear: `a` or `a,b` (default 1,0; a single value leaves b = 0); tanh: `a,b` (default 1,1,
    a single value leaves b = 1). Other functions take no arguments.
    """
    transfer_code(name)
    a, b = _DEFAULT_ARGS.get(name, (0.0, 0.0))
    values = [] if args is None else [float(v) for v in args]
    if name not in _DEFAULT_ARGS:
        return a, b
    if len(values) > 2:
        raise ValueError(f"transfer function {name!r} takes at most 2 arguments, got {values}")
    if len(values) >= 1:
        a = values[0]
    if len(values) == 2:
        b = values[1]
    if name == "tanh" and a == 0.0:
        raise ValueError("tanh needs a non-zero amplitude a (its derivative divides by a)")
    return a, b


@cached_njit(nogil=True)
def _transfer_forward(code, x, bias, a, b):
    """x <- f(x + bias) on a flat array."""
    for i in range(x.size):
        v = x[i] + bias
        if code == LINEAR:
            v = a * v + b
        elif code == RECTIFY_LINEAR:
            v = v if v > 0 else 0.0
        elif code == TANH:
            v = a * np.tanh(b * v)
        elif code == SOFT_SIGN:
            v = v / (1.0 + abs(v))
        else:  # LOGISTICS, FORWARD_LOGISTICS
            v = 1.0 / (1.0 + np.exp(-v))
        x[i] = v


@cached_njit(nogil=True)
def _transfer_grad(code, g, y, a, b):
    """g <- g * f'(y) on flat arrays, f' written in terms of the output y."""
    if code == FORWARD_LOGISTICS:
        return  # the cost's gradient is already w.r.t. the logit
    for i in range(g.size):
        v = y[i]
        if code == LINEAR:
            d = a
        elif code == RECTIFY_LINEAR:
            d = 1.0 if v > 0 else 0.0
        elif code == TANH:
            d = (b / a) * (a - v) * (a + v)
        elif code == SOFT_SIGN:
            d = (1.0 - abs(v)) * (1.0 - abs(v))
        else:  # LOGISTICS
            d = v * (1.0 - v)
        g[i] = g[i] * d


@cached_njit(nogil=True)
def _transfer_maps_forward(code, maps, bias, a, b):
    """maps[k] <- f(maps[k] + bias[k]) for every map; one branch per call, not per voxel,
    so each loop vectorises."""
    for k in range(maps.shape[0]):
        x = maps[k].reshape(-1)
        c = bias[k]
        if code == LINEAR:
            for i in range(x.size):
                x[i] = a * (x[i] + c) + b
        elif code == RECTIFY_LINEAR:
            for i in range(x.size):
                v = x[i] + c
                x[i] = v if v > 0 else 0.0
        elif code == TANH:
            for i in range(x.size):
                x[i] = a * np.tanh(b * (x[i] + c))
        elif code == SOFT_SIGN:
            for i in range(x.size):
                v = x[i] + c
                x[i] = v / (1.0 + abs(v))
        else:  # LOGISTICS, FORWARD_LOGISTICS
            for i in range(x.size):
                x[i] = 1.0 / (1.0 + np.exp(-(x[i] + c)))


@cached_njit(nogil=True, fastmath=True)
def _sum64(x):
    """Σ x in float64 (fastmath lets the additions be reordered, so the loop vectorises)."""
    total = 0.0
    for i in range(x.size):
        total += np.float64(x[i])
    return total


@cached_njit(nogil=True)
def _transfer_maps_backward(code, grad, out, a, b, bias_grad):
    """grad[k] <- grad[k] * f'(out[k]) and bias_grad[k] = Σ grad[k], for every map (the sum
    accumulated in float64)."""
    for k in range(grad.shape[0]):
        g = grad[k].reshape(-1)
        y = out[k].reshape(-1)
        if code == LINEAR:
            for i in range(g.size):
                g[i] = g[i] * a
        elif code == RECTIFY_LINEAR:
            for i in range(g.size):
                g[i] = g[i] if y[i] > 0 else 0.0
        elif code == TANH:
            s = b / a
            for i in range(g.size):
                g[i] = g[i] * (s * (a - y[i]) * (a + y[i]))
        elif code == SOFT_SIGN:
            for i in range(g.size):
                d = 1.0 - abs(y[i])
                g[i] = g[i] * d * d
        elif code == LOGISTICS:
            for i in range(g.size):
                g[i] = g[i] * (y[i] * (1.0 - y[i]))
        # FORWARD_LOGISTICS: the cost's gradient is already with respect to the logit
        bias_grad[k] = _sum64(g)


def transfer_maps_forward(name: str, maps: np.ndarray, bias: np.ndarray,
                          args: Sequence[float] | None = None) -> None:
    """maps[k] <- f(maps[k] + bias[k]) in place for maps (k, z, y, x), each map C-contiguous."""
    a, b = transfer_args(name, args)
    _transfer_maps_forward(transfer_code(name), maps, bias.astype(maps.dtype), a, b)


def transfer_maps_backward(name: str, grad: np.ndarray, out: np.ndarray,
                           args: Sequence[float] | None = None) -> np.ndarray:
    """grad <- grad * f'(out) in place (f' from the output, §3.2); returns the bias gradient
    (the sum of each map's result)."""
    if grad.shape != out.shape:
        raise ValueError(f"gradient shape {grad.shape} differs from output shape {out.shape}")
    a, b = transfer_args(name, args)
    bias_grad = np.empty(grad.shape[0], dtype=grad.dtype)
    _transfer_maps_backward(transfer_code(name), grad, out, a, b, bias_grad)
    return bias_grad


def _flat_view(array: np.ndarray, what: str) -> np.ndarray:
    if not array.flags.c_contiguous:
        raise ValueError(f"{what} must be C-contiguous to be updated in place")
    return array.reshape(-1)


def apply_transfer(
    name: str, x_inplace: np.ndarray, bias: float = 0.0, args: Sequence[float] | None = None
) -> None:
    """x <- f(x + bias) in place, f being the transfer function `name` with `function_args` args."""
    code = transfer_code(name)
    a, b = transfer_args(name, args)
    _transfer_forward(code, _flat_view(x_inplace, "x"), float(bias), a, b)


def transfer_grad_inplace(
    name: str, g: np.ndarray, y: np.ndarray, args: Sequence[float] | None = None
) -> None:
    """g <- g * f'(y) in place, where y = f(x) is the node's output (§3.2)."""
    if g.shape != y.shape:
        raise ValueError(f"gradient shape {g.shape} differs from output shape {y.shape}")
    code = transfer_code(name)
    a, b = transfer_args(name, args)
    _transfer_grad(code, _flat_view(g, "g"), np.ascontiguousarray(y).reshape(-1), a, b)


# ---------------------------------------------------------------------------------------------
# dropout


def draw_dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], keep_ratio: float) -> np.ndarray:
    """A fresh per-voxel Bernoulli(keep_ratio) mask (True = kept)."""
    return rng.random(shape) < keep_ratio


@cached_njit(nogil=True)
def _masked_scale(src, mask, scale, dst):
    """dst = src * scale where mask, 0 elsewhere (flat arrays)."""
    for i in range(src.size):
        dst[i] = src[i] * scale if mask[i] else 0.0


def _check_keep_ratio(keep_ratio: float) -> None:
    if not 0.0 < keep_ratio <= 1.0:
        raise ValueError(f"dropout ratio (keep probability) must be in (0, 1], got {keep_ratio}")


def dropout_forward(
    inp: np.ndarray,
    keep_ratio: float,
    rng_or_mask: np.random.Generator | np.ndarray | None,
    out: np.ndarray,
    train: bool = True,
) -> np.ndarray | None:
    """Inverted dropout. TRAIN: out = inp * mask / keep_ratio; TEST (`train=False`): out = inp.

    `rng_or_mask` is either a numpy Generator (a fresh mask is drawn) or a boolean mask of
    inp's shape. Returns the mask used (None in the TEST phase); pass it to `dropout_backward`.
    """
    if out.shape != inp.shape:
        raise ValueError(f"dropout output shape {out.shape} differs from input shape {inp.shape}")
    if not train:
        out[...] = inp
        return None
    _check_keep_ratio(keep_ratio)
    if isinstance(rng_or_mask, np.random.Generator):
        mask = draw_dropout_mask(rng_or_mask, inp.shape, keep_ratio)
    elif rng_or_mask is None:
        raise ValueError("the TRAIN phase of dropout needs a numpy Generator or a mask")
    else:
        mask = np.ascontiguousarray(rng_or_mask, dtype=np.bool_)
        if mask.shape != inp.shape:
            raise ValueError(f"dropout mask shape {mask.shape} differs from input shape {inp.shape}")
    _masked_scale(np.ascontiguousarray(inp).reshape(-1), mask.reshape(-1), 1.0 / keep_ratio,
                  _flat_view(out, "out"))
    return mask


def dropout_backward(
    grad_out: np.ndarray,
    keep_ratio: float,
    mask: np.ndarray | None,
    grad_in: np.ndarray,
    train: bool = True,
) -> None:
    """grad_in = grad_out * mask / keep_ratio (TRAIN, same mask as forward); grad_in = grad_out (TEST)."""
    if grad_in.shape != grad_out.shape:
        raise ValueError(f"dropout gradient shapes differ: {grad_out.shape} vs {grad_in.shape}")
    if not train:
        grad_in[...] = grad_out
        return
    _check_keep_ratio(keep_ratio)
    if mask is None or mask.shape != grad_out.shape:
        raise ValueError("dropout_backward in the TRAIN phase needs the forward mask")
    _masked_scale(np.ascontiguousarray(grad_out).reshape(-1),
                  np.ascontiguousarray(mask, dtype=np.bool_).reshape(-1),
                  1.0 / keep_ratio, _flat_view(grad_in, "grad_in"))


# ---------------------------------------------------------------------------------------------
# crop


def _crop_slices(shape: tuple[int, ...], offset: Sequence[int]) -> tuple[slice, ...]:
    if len(offset) != 3 or len(shape) != 3:
        raise ValueError(f"crop needs a 3-D map and 3 offsets, got shape {shape} and offset {offset}")
    o = [int(v) for v in offset]
    if any(v < 0 for v in o) or any(n - 2 * v < 1 for n, v in zip(shape, o)):
        raise ValueError(f"crop offset {tuple(o)} does not fit a map of extent {tuple(shape)}")
    return tuple(slice(v, n - v) for n, v in zip(shape, o))


def crop_output_shape(in_shape: tuple[int, ...], offset: Sequence[int]) -> tuple[int, int, int]:
    """Extent after removing `offset` voxels on both sides of each axis."""
    _crop_slices(in_shape, offset)
    return triple(int(n) - 2 * int(v) for n, v in zip(in_shape, offset))


def crop_forward(inp: np.ndarray, offset: Sequence[int], out: np.ndarray) -> None:
    """out = inp[o0:Z-o0, o1:Y-o1, o2:X-o2] (an offset of 0 keeps the whole axis)."""
    window = _crop_slices(inp.shape, offset)
    if out.shape != inp[window].shape:
        raise ValueError(f"crop output shape {out.shape} should be {inp[window].shape}")
    out[...] = inp[window]


def crop_backward(grad_out: np.ndarray, offset: Sequence[int], grad_in: np.ndarray) -> None:
    """grad_in = grad_out zero-padded by `offset` on both sides of each axis."""
    window = _crop_slices(grad_in.shape, offset)
    if grad_out.shape != grad_in[window].shape:
        raise ValueError(f"crop gradient shape {grad_out.shape} should be {grad_in[window].shape}")
    grad_in[...] = 0
    grad_in[window] = grad_out
