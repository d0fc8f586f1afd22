"""`.spec` data binding files: the ZNN examples, the multi-file syntax, errors, round trips."""

from __future__ import annotations

import configparser
import textwrap
from pathlib import Path

import pytest

from znn.base.errors import ConfigError
from znn.jobs import ConfigWarning, DataSpec, ImageSpec, LabelSpec, SampleSpec, format_spec, read_spec, write_spec


def write(tmp_path: Path, text: str, name: str = "data.spec") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# --- the files shipped with ZNN ----------------------------------------------------------

def test_test_dataset_spec(fixtures_dir):
    spec = read_spec(fixtures_dir / "test-dataset.spec")
    assert sorted(spec.images) == [1, 2, 3, 4]
    assert sorted(spec.labels) == [1, 2, 3, 4]
    assert sorted(spec.samples) == [1, 2, 3, 4]
    assert spec.images[3] == ImageSpec(["../dataset/test/stack3-image.tif"], ["standard2D"], True)
    assert spec.labels[2] == LabelSpec(["../dataset/test/stack2-label.tif"], ["binary_class"], True, [])
    assert spec.samples[4].bindings == {"input": 4, "output": 4}
    assert spec.warnings == []


def test_isbi2012_spec(fixtures_dir):
    spec = read_spec(fixtures_dir / "isbi2012-dataset.spec")
    assert spec.images[1].fnames == ["../dataset/ISBI2012/train-volume.tif"]
    assert spec.images[2].fnames == ["../dataset/ISBI2012/test-volume.tif"]
    assert spec.labels[1].pp_types == ["auto"]
    assert spec.labels[1].fmasks == []  # "fmasks =" means no mask
    assert list(spec.labels) == [1]
    # sample 2 has an input only: it can be used for the forward pass
    assert spec.samples[2].bindings == {"input": 2}
    assert spec.samples[1].binding_for("OUTPUT") == 1
    assert spec.samples[2].binding_for("output") is None


def test_fixture_line_numbers_are_kept(fixtures_dir):
    spec = read_spec(fixtures_dir / "isbi2012-dataset.spec")
    # after 36 comment lines and a blank: [image1] on line 38, its pp_types on 40;
    # the "input = 2" of [sample2] is the file's line 59
    assert spec.section_lines["image1"] == 38
    assert spec.images[1].lines["pp_types"] == 40
    assert spec.samples[2].lines["input"] == 59


# --- syntax ------------------------------------------------------------------------------

def test_several_files_on_continuation_lines(tmp_path):
    path = write(tmp_path, """
        [image1]
        fnames = stack1.tif,
            stack2.h5
        pp_types = standard2D, None
        is_auto_crop = no

        [label1]
        fnames = lbl1.tif,
          lbl2.tif
        pp_types = binary_class,binary_class
        is_auto_crop = yes
        fmasks = m1.tif,
        # a full-line comment inside the list is skipped, as in Python 2 ConfigParser
        \tm2.tif

        [sample1]
        input = 1
        output = 1
        """)
    spec = read_spec(path)
    assert spec.images[1] == ImageSpec(["stack1.tif", "stack2.h5"], ["standard2D", "none"], False)
    assert spec.labels[1].fnames == ["lbl1.tif", "lbl2.tif"]
    assert spec.labels[1].fmasks == ["m1.tif", "m2.tif"]
    assert spec.labels[1].pp_types == ["binary_class", "binary_class"]


def test_comma_on_one_line_is_one_file_name_with_a_warning(tmp_path):
    path = write(tmp_path, """
        [image1]
        fnames = a.tif, b.tif
        pp_types = standard3D
        is_auto_crop = yes
        [sample1]
        input = 1
        """)
    with pytest.warns(ConfigWarning, match=r"data.spec:2: .*'a.tif, b.tif' is read as ONE file"):
        spec = read_spec(path)
    assert spec.images[1].fnames == ["a.tif, b.tif"]


@pytest.mark.parametrize("written, canonical", [
    ("standard2D", "standard2D"), ("standard3D", "standard3D"),
    ("symetric_rescale", "symetric_rescale"), ("none", "none"), (" None", "none"),
])
def test_image_pp_types_by_substring(tmp_path, written, canonical):
    path = write(tmp_path, f"""
        [image1]
        fnames = a.tif
        pp_types = {written}
        is_auto_crop = yes
        [sample1]
        input = 1
        """)
    assert read_spec(path).images[1].pp_types == [canonical]


def test_keys_are_case_insensitive_and_unknown_keys_warn(tmp_path):
    path = write(tmp_path, """
        [image1]
        FNAMES = a.tif
        Pp_Types = none
        is_auto_crop = ON
        fmask = m.tif
        [sample1]
        Input = 1
        """)
    with pytest.warns(ConfigWarning, match=r"data.spec:5: \[image1\] unknown key 'fmask'"):
        spec = read_spec(path)
    assert spec.images[1] == ImageSpec(["a.tif"], ["none"], True)
    assert spec.samples[1].binding_for("input") == 1


def test_unknown_label_pp_type_only_warns(tmp_path):
    path = write(tmp_path, """
        [label1]
        fnames = l.tif
        pp_types = multiclass
        is_auto_crop = yes
        [sample1]
        output = 1
        """)
    with pytest.warns(ConfigWarning, match="unknown label pp_type 'multiclass'"):
        spec = read_spec(path)
    assert spec.labels[1].pp_types == ["multiclass"]


# --- malformed files: the error names the line and the key -------------------------------

IMAGE = "[image1]\nfnames = a.tif\npp_types = standard2D\nis_auto_crop = yes\n"  # lines 1-4


@pytest.mark.parametrize("text, line, key, fragment", [
    (IMAGE + "[imag2]\nfnames = b.tif\n", 5, None, "unknown section (did you mean 'image'?)"),
    (IMAGE + "[image01]\nfnames = b.tif\n", 5, None, "no leading zeros"),
    (IMAGE + "[sample]\ninput = 1\n", 5, None, "needs its number"),
    (IMAGE + "[parameters]\neta = 1\n", 5, None, "belong in the .cfg"),
    ("[image1]\nfnames = a.tif\npp_types = standard2D\n", 1, "is_auto_crop", "required key is missing"),
    ("[image1]\nfnames = a.tif\npp_types = symmetric_rescale\nis_auto_crop = yes\n", 3, "pp_types",
     "did you mean 'symetric_rescale'"),
    ("[image1]\nfnames = a.tif,\n  b.tif\npp_types = none\nis_auto_crop = yes\n", 4, "pp_types",
     "1 preprocessing types for 2 file(s)"),
    ("[image1]\nfnames =\npp_types = none\nis_auto_crop = yes\n", 2, "fnames", "no file named"),
    (IMAGE.replace("yes", "sometimes"), 4, "is_auto_crop", "expected yes/no"),
    (IMAGE + "[sample1]\ninput = one\n", 6, "input", "expected a positive integer"),
    (IMAGE + "[sample1]\ninput = 0\n", 6, "input", "section ids start at 1"),
    (IMAGE + "[sample1]\ninput = 1\noutput = 9\n", 7, "output", "no [image9] or [label9]"),
    (IMAGE + "[sample3]\n", 5, None, "sample binds no network node"),
    (IMAGE + "fnames\n", 5, None, "cannot read this line"),
    ("fnames = a.tif\n" + IMAGE, 1, "fnames", "before the first [section]"),
])
def test_malformed_spec(tmp_path, text, line, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_spec(path)
    error = caught.value
    assert error.line == line
    assert error.key == key
    assert f"data.spec:{line}:" in str(error)
    if key is not None:
        assert f"key '{key}'" in str(error)
    assert fragment in str(error)


def test_missing_spec_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_spec(tmp_path / "nope.spec")


# --- against a network's node names ------------------------------------------------------

@pytest.fixture
def two_sample_spec(tmp_path) -> DataSpec:
    text = (IMAGE  # lines 1-4
            + "[label1]\nfnames = l.tif\npp_types = auto\nis_auto_crop = yes\n"  # lines 5-8
            + "[sample1]\ninput = 1\noutput = 1\n"  # lines 9-11
            + "[sample2]\ninput = 1\n")  # lines 12-13
    return read_spec(write(tmp_path, text))


def test_check_against_network_accepts_matching_names(two_sample_spec):
    two_sample_spec.check_against_network(["input"], ["output"])
    two_sample_spec.check_against_network(["Input"], ["OUTPUT"])  # ConfigParser lower-cases


def test_check_against_network_unknown_node(two_sample_spec):
    with pytest.raises(ConfigError) as caught:
        two_sample_spec.check_against_network(["input1"], ["output"])
    error = caught.value
    assert (error.group, error.key, error.line) == ("sample1", "input", 10)
    assert "did you mean 'input1'" in str(error)


def test_check_against_network_missing_input(two_sample_spec):
    with pytest.raises(ConfigError) as caught:
        two_sample_spec.check_against_network(["input", "input2"], ["output"])
    error = caught.value
    assert (error.group, error.key, error.line) == ("sample1", "input2", 9)  # the [sample1] line
    assert "has no image" in str(error)


def test_check_against_network_output_bound_to_missing_label(tmp_path):
    spec = read_spec(write(tmp_path, IMAGE + "[image2]\nfnames = b.tif\npp_types = none\n"
                                             "is_auto_crop = no\n[sample1]\ninput = 1\noutput = 2\n"))
    spec.check_against_network(["input", "output"], [])  # both are images: fine for two inputs
    with pytest.raises(ConfigError) as caught:
        spec.check_against_network(["input"], ["output"])
    assert caught.value.line == 11
    assert "[label2], which is not defined" in str(caught.value)


# --- writing -----------------------------------------------------------------------------

def make_spec() -> DataSpec:
    return DataSpec(
        images={1: ImageSpec(["vol/a.tif", "vol/b.tif"], ["standard2D", "symetric_rescale"], True),
                2: ImageSpec(["/abs/c.h5"], ["none"], False)},
        labels={1: LabelSpec(["lbl/a.tif", "lbl/b.tif"], ["binary_class", "auto"], False,
                             ["msk/a.tif", "msk/b.tif"]),
                3: LabelSpec(["lbl/c.h5"], ["affinity"], True)},
        samples={1: SampleSpec({"input": 1, "output": 1}),
                 2: SampleSpec({"input": 2, "output": 3}),
                 7: SampleSpec({"Input": 2})})


def test_spec_round_trip(tmp_path):
    spec = make_spec()
    path = tmp_path / "out.spec"
    write_spec(spec, path)
    assert read_spec(path) == spec


def test_written_spec_is_read_the_znn_way_by_configparser(tmp_path):
    # Python's configparser joins continuation lines with a newline like Python 2's did;
    # ZNN then splits the value on comma+newline.
    path = tmp_path / "out.spec"
    write_spec(make_spec(), path)
    parser = configparser.RawConfigParser()
    parser.read(path)
    assert parser.get("image1", "fnames").split(",\n") == ["vol/a.tif", "vol/b.tif"]
    assert parser.get("label1", "fmasks").split(",\n") == ["msk/a.tif", "msk/b.tif"]
    assert parser.get("image1", "pp_types").split(",") == ["standard2D", "symetric_rescale"]
    assert parser.getboolean("label1", "is_auto_crop") is False
    assert parser.getint("sample7", "input") == 2
    assert sorted(parser.sections()) == ["image1", "image2", "label1", "label3",
                                         "sample1", "sample2", "sample7"]


def test_fixture_spec_round_trip(fixtures_dir, tmp_path):
    original = read_spec(fixtures_dir / "test-dataset.spec")
    write_spec(original, tmp_path / "copy.spec")
    assert read_spec(tmp_path / "copy.spec") == original


def test_resolve_is_relative_to_the_spec(tmp_path):
    spec = read_spec(write(tmp_path, IMAGE + "[sample1]\ninput = 1\n"))
    assert spec.resolve("a.tif") == tmp_path / "a.tif"
    assert spec.resolve("/abs/b.tif") == Path("/abs/b.tif")


# --- label modes ---------------------------------------------------------------------------

LABEL = "[label1]\nfnames = l.h5\npp_types = auto\nis_auto_crop = no\n"  # lines 1-4


def test_label_mode_keys_round_trip_and_defaults_are_not_written(tmp_path):
    spec = make_spec()
    spec.labels[1].label_mode = "sparse_strokes"
    spec.labels[1].stroke_membrane, spec.labels[1].stroke_cell = 7, 3
    spec.labels[3].label_mode = "dense_instances"
    text = format_spec(spec)
    assert "label_mode = sparse_strokes\nstroke_membrane = 7\nstroke_cell = 3\n" in text
    assert text.count("label_mode") == 2 and text.count("stroke_") == 2  # label3 keeps the default strokes
    write_spec(spec, tmp_path / "out.spec")
    back = read_spec(tmp_path / "out.spec")
    assert back == spec
    assert (back.labels[1].label_mode, back.labels[1].stroke_membrane, back.labels[1].stroke_cell) == (
        "sparse_strokes", 7, 3)
    assert "label_mode" not in format_spec(make_spec())  # a ZNN job stays a ZNN job


def test_label_mode_is_read_in_any_case_and_keeps_its_line(tmp_path):
    spec = read_spec(write(tmp_path, LABEL + "Label_Mode = Sparse_Strokes\nstroke_cell = 5\n"))
    label = spec.labels[1]
    assert (label.label_mode, label.stroke_membrane, label.stroke_cell) == ("sparse_strokes", 1, 5)
    assert label.lines["label_mode"] == 5 and label.lines["stroke_cell"] == 6


@pytest.mark.parametrize("extra, key, fragment", [
    ("label_mode = sparse\n", "label_mode", "unknown label mode (did you mean 'sparse_strokes'?)"),
    ("label_mode = strokes\n", "label_mode", "expected dense_boundary, dense_instances, sparse_strokes"),
    ("stroke_cell = 0\n", "stroke_cell", "0 means unlabelled"),
    ("stroke_membrane = -1\n", "stroke_membrane", "found '-1'"),
    ("stroke_membrane = one\n", "stroke_membrane", "expected a positive integer"),
    ("stroke_cell = 1\n", "stroke_cell", "stroke_membrane and stroke_cell are the same value"),
])
def test_bad_label_mode_values_are_refused_in_one_line(tmp_path, extra, key, fragment):
    with pytest.raises(ConfigError) as caught:
        read_spec(write(tmp_path, LABEL + extra))
    error = caught.value
    assert (error.line, error.group, error.key) == (5, "label1", key)
    assert f"data.spec:5: group 'label1', key '{key}':" in str(error)
    assert fragment in str(error) and "\n" not in str(error)
