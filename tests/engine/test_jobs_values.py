"""Value parsers of ZNN job files, checked against hand-computed expectations."""

from __future__ import annotations

import random

import pytest

from znn.jobs import values as v
from znn.jobs.values import BadValue

# --- booleans ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1", "yes", "YES", "true", "True", "on", " On "])
def test_true_words(text):
    assert v.parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "no", "No", "false", "FALSE", "off"])
def test_false_words(text):
    assert v.parse_bool(text) is False


@pytest.mark.parametrize("text", ["maybe", "", "y", "2", "yes please"])
def test_bad_booleans_name_the_value(text):
    with pytest.raises(BadValue) as caught:
        v.parse_bool(text)
    assert caught.value.found == text
    assert "yes/no" in caught.value.expected


def test_bool_formatting_reads_back():
    assert v.format_bool(True) == "yes" and v.format_bool(False) == "no"
    assert v.parse_bool(v.format_bool(True)) is True
    assert v.parse_bool(v.format_bool(False)) is False


# --- numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, number", [("10", 10), ("-3", -3), ("+4", 4), (" 7 ", 7), ("007", 7)])
def test_integers(text, number):
    assert v.parse_int(text) == number


@pytest.mark.parametrize("text", ["10.5", "1e3", "1_000", "", "ten", "0x10"])
def test_bad_integers(text):
    with pytest.raises(BadValue):
        v.parse_int(text)


def test_positive_int_rejects_zero_and_negatives():
    assert v.parse_positive_int("1") == 1
    for text in ("0", "-5"):
        with pytest.raises(BadValue, match="> 0"):
            v.parse_positive_int(text)


@pytest.mark.parametrize("text, number", [("0.01", 0.01), ("1e-3", 0.001), ("2", 2.0), (" .5 ", 0.5)])
def test_floats(text, number):
    assert v.parse_float(text) == number


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "abc", "", "0,5"])
def test_bad_floats(text):
    with pytest.raises(BadValue):
        v.parse_float(text)


def test_unit_interval_is_closed():
    assert v.parse_unit_float("0") == 0.0
    assert v.parse_unit_float("1") == 1.0
    assert v.parse_unit_float("0.997") == 0.997
    for text in ("1.5", "-0.1", "1.0000001"):
        with pytest.raises(BadValue, match="between 0 and 1"):
            v.parse_unit_float(text)


def test_nonnegative_float():
    assert v.parse_nonnegative_float("0") == 0.0
    with pytest.raises(BadValue, match=">= 0"):
        v.parse_nonnegative_float("-0.01")


@pytest.mark.parametrize("number", [0.01, 0.997, 1e-5, 1.0, 123456.789, 0.1 + 0.2])
def test_float_formatting_reads_back_exactly(number):
    assert v.parse_float(v.format_float(number)) == number


# --- triples -----------------------------------------------------------------------------

def test_triples():
    assert v.parse_triple("1,100,100") == (1, 100, 100)
    assert v.parse_triple(" 5 , 6 ,7") == (5, 6, 7)
    assert v.format_triple((1, 5, 5)) == "1,5,5"


@pytest.mark.parametrize("text, problem", [
    ("1,100", "2 numbers instead of 3"),
    ("1,2,3,4", "4 numbers instead of 3"),
    ("100", "1 number instead of 3"),
    ("1,x,3", "'x' is not an integer"),
    ("1,,3", "'' is not an integer"),
    ("0,1,1", "size 0 is not positive"),
    ("1,-2,1", "size -2 is not positive"),
])
def test_bad_triples(text, problem):
    with pytest.raises(BadValue) as caught:
        v.parse_triple(text)
    assert caught.value.problem == problem
    assert caught.value.found == text


# --- ranges ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, ids", [
    ("2-3,7", (2, 3, 7)),
    ("5-3", (3, 4, 5)),
    ("1,4-6,8", (1, 4, 5, 6, 8)),
    ("7,2,2,3-4,4", (2, 3, 4, 7)),
    (" 4 , 2 ", (2, 4)),
    ("3 - 5", (3, 4, 5)),
    ("6-6", (6,)),
    ("1", (1,)),
])
def test_ranges(text, ids):
    assert v.parse_range(text) == ids


@pytest.mark.parametrize("text, bad_part", [
    ("1,3&5", "'3&5'"),
    ("1,,2", "empty entry"),
    ("1,", "empty entry"),
    ("", "empty entry"),
    ("a", "'a'"),
    ("1-2-3", "'1-2-3'"),
    ("-3", "'-3'"),
    ("2.5", "'2.5'"),
    ("0-2", "id 0"),
])
def test_bad_range_tokens_are_named(text, bad_part):
    with pytest.raises(BadValue) as caught:
        v.parse_range(text)
    assert bad_part in caught.value.problem
    assert caught.value.found == text


def test_range_formatting_is_compact():
    assert v.format_range((1, 2, 3, 7, 9, 10)) == "1-3,7,9-10"
    assert v.format_range([5]) == "5"
    assert v.format_range([3, 1, 2, 2]) == "1-3"


def test_range_format_parse_round_trip():
    generator = random.Random(7)
    for _ in range(200):
        ids = {generator.randint(1, 40) for _ in range(generator.randint(1, 15))}
        assert v.parse_range(v.format_range(ids)) == tuple(sorted(ids))


# --- vocabularies ------------------------------------------------------------------------

@pytest.mark.parametrize("text, dtype", [
    ("float32", "float32"), ("single", "float32"), ("Float64", "float64"), ("double", "float64"),
])
def test_dtype_aliases(text, dtype):
    assert v.parse_dtype(text) == dtype


def test_bad_dtype_suggests_a_name():
    with pytest.raises(BadValue) as caught:
        v.parse_dtype("float23")
    assert "float32" in caught.value.problem


@pytest.mark.parametrize("mode, effective", [
    ("fft", "fft"), ("optimize", "optimize"), ("direct", "direct"),
    ("optimize_fft", "fft"),  # ZNN tests 'fft' first
])
def test_conv_modes(mode, effective):
    assert v.parse_conv_mode(mode) == mode
    assert v.effective_conv_mode(mode) == effective


def test_misspelt_conv_mode_is_an_error_not_silently_direct():
    with pytest.raises(BadValue) as caught:
        v.parse_conv_mode("optimise")
    assert "did you mean 'optimize'" in caught.value.problem


@pytest.mark.parametrize("cost_fn, out_type, effective", [
    ("auto", "boundary", "softmax_loss"),
    ("auto", "affinity", "binomial_cross_entropy"),
    ("auto", None, None),
    ("square_loss", "boundary", "square_loss"),
    ("square-square", "boundary", "square_square_loss"),
    ("square_square_loss", "boundary", "square_loss"),  # ZNN's substring order
    ("binomial_cross_entropy", "boundary", "binomial_cross_entropy"),
    ("softmax_loss", "affinity", "softmax_loss"),
])
def test_effective_cost_function(cost_fn, out_type, effective):
    assert v.parse_cost_fn(cost_fn) == cost_fn
    assert v.effective_cost_fn(cost_fn, out_type) == effective


def test_unknown_cost_function():
    with pytest.raises(BadValue, match="unknown cost function"):
        v.parse_cost_fn("hinge")


def test_output_types():
    assert v.effective_output_kind("boundary") == "boundary"
    assert v.effective_output_kind("affin") == "affinity"
    assert v.parse_out_type("affinity") == "affinity"
    with pytest.raises(BadValue, match="semantic outputs are not supported"):
        v.parse_out_type("semantic")
    with pytest.raises(BadValue, match="did you mean 'boundary'"):
        v.parse_out_type("boundry")


def test_malis_norm_types():
    for name in ("none", "frac", "num", "pair", "constrain"):
        assert v.parse_malis_norm_type(name.upper()) == name
    with pytest.raises(BadValue, match="did you mean 'frac'"):
        v.parse_malis_norm_type("fract")


@pytest.mark.parametrize("mode, effective", [
    (None, None), ("", None), ("global", "global"), ("patch", "patch"),
    ("none", "global"), ("off", "global"), ("per_patch", "patch"),
])
def test_effective_rebalance_mode(mode, effective):
    assert v.effective_rebalance_mode(mode) == effective


def test_paths_are_kept_as_written():
    assert v.parse_path(" ../networks/N4.znn ") == "../networks/N4.znn"
    with pytest.raises(BadValue, match="empty value"):
        v.parse_path("  ")
