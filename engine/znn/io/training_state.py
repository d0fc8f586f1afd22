"""The resume state a checkpoint carries (`/processing/znn/train/state`), and what each value may be.

A resumed run takes its first iteration, random seed and optimiser step count from this group, so a
value no training could have written (iteration -5, seed NaN, a text where a number belongs) is
refused when the file is read, naming the file, the dataset and the value, instead of failing deep
inside the run or quietly training from a wrong place. Keys this module does not know are kept as
they are (a newer napari-znn may add some).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from znn.base.errors import SavedNetworkError

TRAINING_STATE = "/processing/znn/train/state"
SEED_MAX = 2 ** 32 - 1  # numpy's legacy seed range; a seed is read from the .cfg and stored as int64

State = dict[str, int | float | str]


def _count(value: object) -> bool:
    return isinstance(value, int) and value >= 0


def _seed(value: object) -> bool:
    return isinstance(value, int) and 0 <= value <= SEED_MAX


def _finite_at_least_zero(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


def _optimizer(value: object) -> bool:
    return value in ("sgd", "adam")


def _word(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[a-z_0-9]+", value) is not None


def _patch(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*", value) is not None


# key -> (rule, what the rule wants, in a user's words)
RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "iteration": (_count, "a whole number >= 0"),
    "seed": (_seed, f"a whole number from 0 to {SEED_MAX}"),
    "adam_steps": (_count, "a whole number >= 0"),
    "eta": (_finite_at_least_zero, "a finite number >= 0"),
    "validation_cost": (_finite_at_least_zero, "a finite number >= 0"),
    "optimizer": (_optimizer, "'sgd' or 'adam'"),
    "cost_fn": (_word, "a cost function name"),
    "train_outsz": (_patch, "three positive sizes 'z,y,x'"),
}


def check_state(state: State, file: str) -> State:
    """`state` unchanged when every known key holds a value training could have written; else a
    SavedNetworkError naming `file`, the dataset and the value."""
    for key, (rule, wanted) in RULES.items():
        if key in state and not rule(state[key]):
            value = state[key]
            raise SavedNetworkError("the checkpoint's training state holds a value no training writes (a damaged "
                                    "or hand-edited file)", file=file, key=f"{TRAINING_STATE}/{key}",
                                    expected=f"{wanted} (or train from an earlier checkpoint)",
                                    found=value if isinstance(value, str) else repr(value))
    return state
