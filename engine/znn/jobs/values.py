"""Parsers and formatters for the values written in ZNN `.cfg`/`.spec` files.

Each parser takes the stripped text of one value and returns a Python value, or raises
`BadValue` saying what form was expected; the file readers turn that into a `ConfigError`
naming the file, line and key. Where the original ZNN silently skipped a malformed piece
(e.g. a range token like `3&5`), we refuse it and name it instead.

The vocabularies (conv modes, cost functions, output types, ...) follow the original's
rules: some are matched by *substring* (the stored text is kept as written and an
`effective_*` helper says what ZNN would do with it), others by exact name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Literal

from znn.base.cores import capped_threads
from znn.base.errors import did_you_mean
from znn.base.modes import (
    CONV_MODES,
    MALIS_NORMS,
    OPTIMIZERS,
    ConvMode,
    CostFn,
    Dtype,
    MalisNorm,
    Optimizer,
    OutputKind,
    Rebalance,
)
from znn.io.training_state import SEED_MAX


class BadValue(ValueError):
    """A value that does not have the expected form."""

    def __init__(self, expected: str, found: str, problem: str = "invalid value") -> None:
        self.expected = expected
        self.found = found
        self.problem = problem
        super().__init__(f"{problem}; expected {expected}, found {found!r}")


# --- scalars -----------------------------------------------------------------------------

_TRUE_WORDS = ("1", "yes", "true", "on")
_FALSE_WORDS = ("0", "no", "false", "off")
_INT_RE = re.compile(r"[+-]?[0-9]+")


def parse_bool(text: str) -> bool:
    """ConfigParser booleans: 1/yes/true/on and 0/no/false/off, any case."""
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise BadValue("yes/no (also true/false, on/off, 1/0)", text)


def format_bool(value: bool) -> str:
    return "yes" if value else "no"


def parse_int(text: str) -> int:
    """A plain decimal integer (no underscores, no exponent, as Python 2's int())."""
    word = text.strip()
    if not _INT_RE.fullmatch(word):
        raise BadValue("an integer", text)
    return int(word)


def effective_num_threads(num_threads: int) -> int:
    """ZNN's rule for num_threads (a value <= 0 means every CPU core), capped at the usable cores."""
    return capped_threads(num_threads)


def parse_thread_count(text: str) -> int:
    """`num_threads`: 0 (every core) or a positive count. ZNN also took a negative number for
    every core; we refuse it, as the command line's --threads does, since it is mostly a typo."""
    number = parse_int(text)
    if number < 0:
        raise BadValue("0 (every core) or a positive number of threads", text, "negative thread count")
    return number


def parse_seed(text: str) -> int:
    """`seed`: a whole number in numpy's seed range, which a checkpoint stores and a resumed run reuses."""
    number = parse_int(text)
    if not 0 <= number <= SEED_MAX:
        raise BadValue(f"a whole number from 0 to {SEED_MAX}", text, "seed out of range")
    return number


def parse_positive_int(text: str) -> int:
    number = parse_int(text)
    if number <= 0:
        raise BadValue("an integer > 0", text, "out of range")
    return number


def parse_float(text: str) -> float:
    """A finite decimal number such as 0.01 or 1e-3."""
    try:
        number = float(text.strip())
    except ValueError:
        raise BadValue("a number such as 0.01 or 1e-3", text) from None
    if not math.isfinite(number):
        raise BadValue("a finite number", text, "out of range")
    return number


def parse_nonnegative_float(text: str) -> float:
    number = parse_float(text)
    if number < 0:
        raise BadValue("a number >= 0", text, "out of range")
    return number


def parse_unit_float(text: str) -> float:
    """A number in the closed interval [0, 1] (momentum, annealing, weight decay)."""
    number = parse_float(text)
    if not 0.0 <= number <= 1.0:
        raise BadValue("a number between 0 and 1", text, "out of range")
    return number


def format_float(value: float) -> str:
    # repr is the shortest text that reads back to the same float.
    return repr(float(value))


def parse_path(text: str) -> str:
    """A file path or prefix, kept exactly as written (it is resolved later)."""
    if not text.strip():
        raise BadValue("a file path", text, "empty value")
    return text.strip()


# --- triples and ranges ------------------------------------------------------------------

def parse_triple(text: str) -> tuple[int, int, int]:
    """`z,y,x`: exactly three positive integers in numpy axis order."""
    parts = text.split(",")
    if len(parts) != 3:
        raise BadValue("three integers z,y,x such as 1,100,100", text,
                       f"{len(parts)} number{'s' if len(parts) != 1 else ''} instead of 3")
    sizes = []
    for part in parts:
        if not _INT_RE.fullmatch(part.strip()):
            raise BadValue("three integers z,y,x such as 1,100,100", text,
                           f"'{part.strip()}' is not an integer")
        size = int(part.strip())
        if size <= 0:
            raise BadValue("three integers > 0, z,y,x", text, f"size {size} is not positive")
        sizes.append(size)
    return sizes[0], sizes[1], sizes[2]


def format_triple(value: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in value)


def parse_outsz_or_auto(text: str) -> tuple[int, int, int] | Literal["auto"]:
    """`z,y,x`, or `auto`: the forward planner picks the patch under the RAM budget."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return parse_triple(text)
    except BadValue as bad:
        raise BadValue("three integers z,y,x such as 5,100,100, or 'auto'", text, bad.problem) from None


def format_outsz_or_auto(value: tuple[int, int, int] | str) -> str:
    return "auto" if isinstance(value, str) else format_triple(value)


def parse_ram_budget(text: str) -> str:
    """A RAM budget such as 8GiB, 500MB or 50% (checked by the planner's parser)."""
    from znn.planning.planner import PlanError, budget_from_string

    try:
        budget_from_string(text.strip(), total_ram=2**40)
    except PlanError as error:
        raise BadValue("a size such as 8GiB, 500MB or a share such as 50%", text, str(error)) from None
    return text.strip()


_ID_RE = re.compile(r"[0-9]+")
_RANGE_TOKEN_RE = re.compile(r"([0-9]+)\s*-\s*([0-9]+)")
# A typo such as 1-100000000 would otherwise build an enormous set.
_MAX_RANGE_SPAN = 100_000


def parse_range(text: str) -> tuple[int, ...]:
    """Sample ids like `2-3,7`: sorted, duplicates removed, `a-b` inclusive in either order.

    Like ZNN's `parseIntSet`, `5-3` means 3,4,5; unlike it, a token that is neither an id
    nor `a-b` (or an empty token from a stray comma) is an error naming the token.
    """
    expected = "sample ids such as 2-3,7 (positive integers and inclusive a-b ranges)"
    ids: set[int] = set()
    for raw_token in text.split(","):
        token = raw_token.strip()
        if _ID_RE.fullmatch(token):
            ids.add(int(token))
            continue
        span = _RANGE_TOKEN_RE.fullmatch(token)
        if span is None:
            problem = "empty entry (stray comma?)" if not token else f"bad entry '{token}'"
            raise BadValue(expected, text, problem)
        low, high = sorted((int(span.group(1)), int(span.group(2))))
        if high - low > _MAX_RANGE_SPAN:
            raise BadValue(expected, text, f"range '{token}' is implausibly long")
        ids.update(range(low, high + 1))
    if 0 in ids:
        raise BadValue(expected, text, "sample id 0 does not exist (ids start at 1)")
    return tuple(sorted(ids))


def format_range(ids: Iterable[int]) -> str:
    """Compact form of a set of ids: consecutive runs become `a-b`."""
    ordered = sorted(set(int(i) for i in ids))
    pieces: list[str] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = ordered[start], ordered[end]
        pieces.append(str(first) if first == last else f"{first}-{last}")
        start = end + 1
    return ",".join(pieces)


# --- vocabularies ------------------------------------------------------------------------

DTYPE_ALIASES: dict[str, Dtype] = {"float32": "float32", "single": "float32",
                                   "float64": "float64", "double": "float64"}


def parse_dtype(text: str) -> Dtype:
    """`float32`/`float64`, also `single`/`double` as `train.py -d` accepts; canonical name."""
    word = text.strip().lower()
    if word not in DTYPE_ALIASES:
        raise BadValue("float32 or float64 (or single/double)", text,
                       "unknown dtype" + did_you_mean(word, DTYPE_ALIASES))
    return DTYPE_ALIASES[word]


def effective_output_kind(out_type: str) -> OutputKind | None:
    """'boundary' or 'affinity' from an `out_type` (ZNN tests `boundary`, then `affin`)."""
    if "boundary" in out_type:
        return "boundary"
    if "affin" in out_type:
        return "affinity"
    return None


def parse_out_type(text: str) -> str:
    """An `out_type` containing `boundary` or `affin`; kept as written."""
    word = text.strip()
    if effective_output_kind(word) is None:
        if "semantic" in word:
            raise BadValue("boundary or affinity", text,
                           "semantic outputs are not supported (ZNN has no sample class for them)")
        raise BadValue("boundary or affinity", text,
                       "unknown output type" + did_you_mean(word, ("boundary", "affinity")))
    return word


def effective_conv_mode(mode: str) -> ConvMode:
    """What ZNN does with a conv mode string: contains `fft` → fft, else contains
    `optimize` → optimize, else direct (each layer keeps its own fft option)."""
    if "fft" in mode:
        return "fft"
    if "optimize" in mode:
        return "optimize"
    return "direct"


def parse_conv_mode(text: str) -> str:
    """`fft`, `direct` or `optimize`, kept as written.

    ZNN treats any string without `fft`/`optimize` as direct, so a typo such as
    `optimise` would silently mean direct; we require one of the three words.
    """
    word = text.strip()
    if not any(mode in word for mode in CONV_MODES):
        raise BadValue("fft, direct or optimize", text,
                       "unknown convolution mode" + did_you_mean(word, CONV_MODES))
    return word


COST_FUNCTIONS = ("auto", "square_loss", "square-square", "binomial_cross_entropy", "softmax_loss")


def effective_cost_fn(cost_fn: str, out_type: str | None) -> CostFn | None:
    """The cost function ZNN would run, by its substring rules; None when `auto` cannot be
    resolved because the output type is unknown."""
    if "auto" in cost_fn:
        kind = effective_output_kind(out_type or "")
        auto: dict[str, CostFn] = {"boundary": "softmax_loss", "affinity": "binomial_cross_entropy"}
        return auto.get(kind or "")
    if "square-square" in cost_fn:
        return "square_square_loss"
    if "square" in cost_fn:
        return "square_loss"
    if "binomial" in cost_fn:
        return "binomial_cross_entropy"
    if "softmax" in cost_fn:
        return "softmax_loss"
    return None


def parse_cost_fn(text: str) -> str:
    """A cost function name ZNN recognises (by substring); kept as written."""
    word = text.strip()
    if not any(part in word for part in ("auto", "square", "binomial", "softmax")):
        raise BadValue("auto, square_loss, square-square, binomial_cross_entropy or softmax_loss",
                       text, "unknown cost function" + did_you_mean(word, COST_FUNCTIONS))
    return word


MALIS_NORM_TYPES: tuple[MalisNorm, ...] = MALIS_NORMS


def parse_malis_norm_type(text: str) -> MalisNorm:
    word = text.strip().lower()
    if word not in MALIS_NORM_TYPES:
        raise BadValue("none, frac, num, pair or constrain", text,
                       "unknown MALIS normalisation" + did_you_mean(word, MALIS_NORM_TYPES))
    return word


def parse_optimizer(text: str) -> Optimizer:
    """`sgd` (ZNN's update) or `adam` (a napari-znn extension), any case."""
    word = text.strip().lower()
    for name in OPTIMIZERS:
        if word == name:
            return name
    raise BadValue("sgd or adam", text, "unknown optimizer" + did_you_mean(word, OPTIMIZERS))


def parse_rebalance_mode(text: str) -> str:
    """Kept exactly as written: ZNN gives every non-empty value a meaning (see below)."""
    return text.strip()


def effective_rebalance_mode(mode: str | None) -> Rebalance | None:
    """What ZNN does: absent or empty → no rebalancing; contains `patch` → 'patch';
    any other text, including `none`, → 'global' (reference §4.3, quirk 9)."""
    if not mode:
        return None
    return "patch" if "patch" in mode else "global"
