"""What ZNN's network builder accepts: group types, their keys, functions and initialisers.

Facts follow the original builder (`network::add_nodes/add_edges`, `transfer_function/*`,
`initializator/*`). Keys the original reads nowhere but that appear in shipped files
(`load`, `seeding`) are accepted and kept, so such files still load and round-trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from znn.layers.base import Triple
from znn.layers.conv import DEFAULT_REPEAT, DEFAULT_STRIDE
from znn.layers.dropout import DEFAULT_KEEP_RATIO as DEFAULT_DROPOUT_RATIO
from znn.layers.table import EDGE_KINDS, NODE_KINDS

# The group types and their keys come from the layer kinds (znn.layers.table).
NODE_TYPES = tuple(NODE_KINDS)
EDGE_TYPES = tuple(EDGE_KINDS)

# Types that exist in ZNN's source but that its builder rejects; the message says why.
REJECTED_EDGE_TYPES = {
    "softmax": "ZNN's builder does not accept softmax edges; softmax is applied by the cost function",
    "normalize": "ZNN's builder has no normalize edge",
}

# Keys nobody reads but that shipped networks contain (see reference §1.3).
INERT_KEYS = ("load", "seeding")

NODE_KEYS: dict[str, tuple[str, ...]] = {name: kind.keys for name, kind in NODE_KINDS.items()}
NODE_REQUIRED: dict[str, tuple[str, ...]] = {name: kind.required for name, kind in NODE_KINDS.items()}
EDGE_KEYS: dict[str, tuple[str, ...]] = {name: kind.keys for name, kind in EDGE_KINDS.items()}
EDGE_REQUIRED: dict[str, tuple[str, ...]] = {name: kind.required for name, kind in EDGE_KINDS.items()}

# Keys that ZNN silently ignores on some types: accepted with a warning, so that shipped
# files such as hd2d_strided (`function` on sum nodes) still load.
IGNORED_KEYS: dict[str, tuple[str, ...]] = {
    name: kind.ignored_keys for kinds in (NODE_KINDS, EDGE_KINDS) for name, kind in kinds.items()
    if kind.ignored_keys}

ALL_NODE_KEYS = sorted({k for keys in NODE_KEYS.values() for k in keys} | set(INERT_KEYS))
ALL_EDGE_KEYS = sorted({k for keys in EDGE_KEYS.values() for k in keys} | set(INERT_KEYS))


@dataclass(frozen=True)
class ArgRule:
    """How many comma-separated numbers an option accepts, and their defaults."""

    counts: tuple[int, ...]  # allowed numbers of values; 0 means "may be omitted"
    defaults: tuple[float, ...]
    form: str  # human-readable expected form, for error messages


# Transfer functions and their `function_args` (reference §2.3).
TRANSFER_FUNCTIONS: dict[str, ArgRule] = {
    "linear": ArgRule((0, 1, 2), (1.0, 0.0), "'a' or 'a,b' (default 1,0)"),
    "rectify_linear": ArgRule((0,), (), "no arguments"),
    "tanh": ArgRule((0, 2), (1.0, 1.0), "exactly two values 'a,b' (default 1,1)"),
    "soft_sign": ArgRule((0,), (), "no arguments"),
    "logistics": ArgRule((0,), (), "no arguments"),
    "forward_logistics": ArgRule((0,), (), "no arguments"),
}

# Initialisers and their `init_args` (reference §2.4).
INITIALISERS: dict[str, ArgRule] = {
    "zero": ArgRule((0,), (), "no arguments"),
    "constant": ArgRule((1,), (), "one value c"),
    "uniform": ArgRule((0, 1, 2), (-0.1, 0.1), "'r' or 'lo,hi' (default -0.1,0.1)"),
    "gaussian": ArgRule((0, 2), (0.0, 0.01), "exactly two values 'mu,sigma' (default 0,0.01)"),
    "bernoulli": ArgRule((0, 1), (0.5,), "'p' (default 0.5)"),
    "xavier": ArgRule((0,), (), "no arguments"),
    "msra": ArgRule((0,), (), "no arguments"),
}

# Initialisers that need a kernel's fan-in/fan-out and so cannot initialise biases.
FAN_INITIALISERS = ("xavier", "msra")

# Defaults the C++ core uses when the file says nothing (reference §1.2, §1.3).
DEFAULT_ETA = 0.0001
DEFAULT_MOMENTUM = 0.0
DEFAULT_WEIGHT_DECAY = 0.0

# Edge types with one-to-one connectivity (n_in must equal n_out).
ONE_TO_ONE_EDGES = tuple(name for name, kind in EDGE_KINDS.items() if kind.one_to_one)

__all__ = ["DEFAULT_DROPOUT_RATIO", "DEFAULT_REPEAT", "DEFAULT_STRIDE", "Triple"]


def resolve_init_args(init: str, given: tuple[float, ...] | None) -> tuple[float, ...]:
    """`init_args` with ZNN's defaults; a single uniform value r means the range [-r, r)."""
    given = tuple(given or ())
    if init == "uniform" and len(given) == 1:
        return (-given[0], given[0])
    return given + tuple(INITIALISERS[init].defaults[len(given):])


def init_args_problem(init: str, args: tuple[float, ...]) -> str | None:
    """Why resolved `args` cannot parameterise `init`, or None when they can."""
    if init == "uniform" and args[0] > args[1]:
        return "the lower bound of a uniform range must not exceed the upper bound"
    if init == "gaussian" and args[1] < 0:
        return "the standard deviation of a gaussian must not be negative"
    if init == "bernoulli" and not 0.0 <= args[0] <= 1.0:
        return "a bernoulli probability must lie in [0, 1]"
    return None
