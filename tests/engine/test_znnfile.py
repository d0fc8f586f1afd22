"""`.znn` parsing, writing and validation errors."""

from __future__ import annotations

import pytest

from tests.helpers.paths import NETWORKS
from tests.helpers.shared import FIXTURES, need_shared
from znn.base.errors import NetworkSpecError
from znn.netspec.znnfile import check_znn, format_znn, parse_znn, read_znn

# Without ../shared one placeholder case stands in, so the skip names the missing folder.
FIXTURE_NETS = sorted((FIXTURES / "networks").glob("*.znn")) or [FIXTURES / "networks"]
LIBRARY_NETS = sorted(NETWORKS.glob("*.znn"))

# A small valid network; malformed variants below are made from it line by line.
GOOD = """\
nodes input
type input
size 1

edges conv1
type conv
init xavier
size 1,3,3
input input
output hidden

nodes hidden
type transfer
function rectify_linear
size 4

edges pool
type max_filter
size 1,2,2
stride 1,2,2
input hidden
output pooled

nodes pooled
type sum
size 4

edges conv2
type conv
init uniform
init_args -0.05,0.05
size 1,2,2
input pooled
output output

nodes output
type transfer
function linear
function_args 2,0.5
size 2
"""


def test_shipped_fixture_count():
    nets = need_shared(FIXTURES / "networks")
    assert len(list(nets.glob("*.znn"))) >= 20


@pytest.mark.parametrize("path", FIXTURE_NETS, ids=lambda p: p.name)
def test_every_original_network_parses_and_round_trips(path):
    spec = read_znn(need_shared(path))
    assert spec.input_names and spec.output_names
    again = parse_znn(format_znn(spec), "rewritten")
    assert again == spec
    # Every group of the file is present: count the header lines independently.
    headers = [ln.split() for ln in path.read_text().splitlines() if ln.split()[:1] in (["nodes"], ["edges"])]
    assert len(headers) == len(spec.nodes) + len(spec.edges)


@pytest.mark.parametrize("path", LIBRARY_NETS, ids=lambda p: p.name)
def test_library_networks_parse_round_trip_and_document_themselves(path):
    spec = read_znn(path)
    assert spec.warnings == []
    assert any("Field of view" in c for c in spec.comments)
    assert parse_znn(format_znn(spec)) == spec


def test_values_are_typed():
    spec = parse_znn(GOOD)
    conv2 = spec.edges["conv2"]
    assert conv2.size == (1, 2, 2) and conv2.init_args == (-0.05, 0.05)
    assert conv2.stride is None and conv2.effective_stride == (1, 1, 1)
    assert spec.edges["pool"].stride == (1, 2, 2)
    out = spec.nodes["output"]
    assert out.function == "linear" and out.effective_function_args == (2.0, 0.5)
    assert spec.nodes["hidden"].effective_function_args == ()
    assert spec.output_names == ["output"] and spec.input_names == ["input"]
    # 1*4*9 + 4*2*4 kernels + 4 + 2 biases
    assert spec.parameter_count() == 36 + 32 + 6


def test_single_uniform_value_is_a_symmetric_range():
    spec = parse_znn(GOOD.replace("init_args -0.05,0.05", "init_args 0.2"))
    assert spec.edges["conv2"].effective_init_args == (-0.2, 0.2)
    assert spec.edges["conv1"].effective_init_args == ()
    spec = parse_znn(GOOD.replace("init xavier", "init uniform"))
    assert spec.edges["conv1"].effective_init_args == (-0.1, 0.1)


def test_linear_defaults_to_one_zero_as_the_code_does():
    spec = parse_znn(GOOD.replace("function_args 2,0.5\n", ""))
    assert spec.nodes["output"].effective_function_args == (1.0, 0.0)


def test_first_two_tokens_only_with_a_warning():
    spec = parse_znn(GOOD.replace("size 4\n", "size 4 maps of hidden units\n", 1))
    assert spec.nodes["hidden"].size == 4
    line = next(i for i, ln in enumerate(GOOD.splitlines(), 1) if ln == "size 4")
    assert any("ignored" in w and f":{line}:" in w for w in spec.warnings)


def test_comments_blank_lines_and_crlf_are_accepted():
    text = "# a comment\n" + GOOD.replace("\n", "\r\n").replace("type sum", "   \r\n# inside\ntype sum")
    spec = parse_znn(text)
    assert spec.comments == ["a comment", "inside"]
    assert spec == parse_znn(GOOD)


def test_writer_keeps_comments_after_the_first_header():
    spec = parse_znn("# top\n" + GOOD)
    text = format_znn(spec)
    assert text.splitlines()[:2] == ["nodes input", "# top"]
    assert parse_znn(text).comments == ["top"]


def test_inert_and_ignored_keys_round_trip():
    text = GOOD.replace("type sum\n", "type sum\nfunction rectify_linear\nload 0\n")
    spec = parse_znn(text)
    assert spec.nodes["pooled"].extra == {"function": "rectify_linear", "load": "0"}
    assert any("ignored by ZNN" in w for w in spec.warnings)
    assert parse_znn(format_znn(spec)) == spec


def test_max_pool_stride_is_kept_but_ignored():
    text = GOOD.replace("type max_filter\nsize 1,2,2\nstride 1,2,2", "type max_pool\nsize 1,2,2\nstride 1,2,2")
    spec = parse_znn(text)
    edge = spec.edges["pool"]
    assert edge.effective_stride == (1, 1, 1) and edge.extra == {"stride": "1,2,2"}
    assert spec.warnings == []


def test_duplicate_key_warns_and_last_wins():
    spec = parse_znn(GOOD.replace("size 4\n", "size 4\nsize 6\n", 1).replace("type sum\nsize 4", "type sum\nsize 6"))
    assert spec.nodes["hidden"].size == 6
    assert any("set again" in w for w in spec.warnings)


def _line_of(text: str, needle: str) -> int:
    """Number of the last line whose text is `needle`."""
    return [i for i, ln in enumerate(text.splitlines(), 1) if ln.strip() == needle][-1]


# (description, edit of GOOD (old, new), line whose text identifies the reported line, fragments of the message)
MALFORMED = [
    ("unknown edge type", ("type max_filter", "type max_filtr"), "type max_filtr",
     ["group 'pool'", "key 'type'", "unknown edge type", "did you mean 'max_filter'"]),
    ("unknown node type", ("type sum", "type summ"), "type summ", ["group 'pooled'", "unknown node type"]),
    ("softmax edge", ("type max_filter", "type softmax"), "type softmax", ["softmax", "not supported"]),
    ("unknown key", ("stride 1,2,2", "strde 1,2,2"), "strde 1,2,2", ["key 'strde'", "did you mean 'stride'"]),
    ("key of another type", ("type sum", "type sum\nratio 0.5"), "ratio 0.5",
     ["group 'pooled'", "key 'ratio'", "unknown key"]),
    ("edge key on conv", ("init xavier", "init xavier\noffset 1,1,1"), "offset 1,1,1",
     ["key 'offset'", "not allowed for edge type 'conv'"]),
    ("missing size", ("size 1,3,3\n", ""), "edges conv1", ["group 'conv1'", "key 'size'", "missing required"]),
    ("missing init", ("init xavier\n", ""), "edges conv1", ["key 'init'", "missing required"]),
    ("missing max_filter stride", ("stride 1,2,2\n", ""), "edges pool", ["key 'stride'", "missing required"]),
    ("missing function", ("function rectify_linear\n", ""), "nodes hidden", ["key 'function'"]),
    ("missing type", ("type transfer\nfunction rectify_linear", "function rectify_linear"), "nodes hidden",
     ["key 'type'", "missing required"]),
    ("two-component triple", ("size 1,3,3", "size 3,3"), "size 3,3", ["bad triple", "found '3,3'"]),
    ("zero in triple", ("size 1,3,3", "size 1,0,3"), "size 1,0,3", ["bad triple", "three positive integers"]),
    ("spaces in triple", ("size 1,3,3", "size 1, 3,3"), "size 1, 3,3", ["bad triple", "found '1,'"]),
    ("non-integer map count", ("size 4\n", "size four\n"), "size four", ["key 'size'", "positive integer"]),
    ("unknown transfer function", ("function rectify_linear", "function relu"), "function relu",
     ["unknown transfer function", "rectify_linear"]),
    ("logistic without s", ("function linear", "function forward_logistic"), "function forward_logistic",
     ["did you mean 'forward_logistics'"]),
    ("too many function args", ("function_args 2,0.5", "function_args 2,0.5,1"), "function_args 2,0.5,1",
     ["wrong number of arguments", "'linear'"]),
    ("unknown initialiser", ("init xavier", "init glorot"), "init glorot", ["unknown initialiser"]),
    ("gaussian needs two args", ("init_args -0.05,0.05", "init_args 0.1\ninit gaussian"), "init_args 0.1",
     ["wrong number of arguments", "gaussian"]),
    ("uniform range reversed", ("init_args -0.05,0.05", "init_args 0.05,-0.05"), "init_args 0.05,-0.05",
     ["group 'conv2'", "lower bound", "must not exceed"]),
    ("bernoulli above one", ("init_args -0.05,0.05", "init_args 1.5\ninit bernoulli"), "init_args 1.5",
     ["bernoulli probability"]),
    ("msra on biases", ("function rectify_linear", "function rectify_linear\ninit msra"),
     "init msra", ["group 'hidden'", "cannot initialise biases"]),
    ("bad float", ("type max_filter\nsize 1,2,2\nstride 1,2,2", "type dropout\nratio half"), "ratio half",
     ["key 'ratio'", "bad value"]),
    ("dropout ratio zero", ("type max_filter\nsize 1,2,2\nstride 1,2,2", "type dropout\nratio 0"), "ratio 0",
     ["key 'ratio'", "(0.0, 1.0]"]),
    ("momentum above one", ("init xavier", "init xavier\nmomentum 1.5"), "momentum 1.5", ["key 'momentum'"]),
    ("unknown node reference", ("output hidden", "output hiddn"), "output hiddn",
     ["group 'conv1'", "key 'output'", "unknown node group", "did you mean 'hidden'"]),
    ("duplicate group", ("nodes pooled", "nodes hidden"), "nodes hidden", ["duplicate group name"]),
    ("node and edge share a name", ("nodes pooled", "nodes pool"), "edges pool",
     ["same name as the node group"]),
    ("option before first group", ("nodes input\n", "size 3\nnodes input\n"), "size 3",
     ["before the first 'nodes' or 'edges'"]),
    ("group without a name", ("nodes pooled", "nodes"), "nodes", ["needs a group name"]),
    ("key without value", ("init xavier", "init"), "init", ["key 'init'", "has no value"]),
    ("one-to-one size mismatch", ("type sum\nsize 4", "type sum\nsize 5"), "output pooled",
     ["max_filter edge connects maps one to one", "size 5"]),
    ("edge into an input", ("output output", "output input"), "output input", ["cannot feed an input"]),
    ("orphan node",
     ("nodes pooled\ntype sum\nsize 4", "nodes pooled\ntype sum\nsize 4\n\nnodes stray\ntype sum\nsize 1"),
     "nodes stray", ["group 'stray'", "no edge enters"]),
    ("cycle", ("nodes output", "edges back\ntype dummy\ninput pooled\noutput hidden\n\nnodes output"),
     "edges back", ["group 'back'", "cycle", "hidden -> pooled -> hidden"]),
    ("repeat not dividing", ("size 1,2,2\ninput pooled", "size 1,2,2\nrepeat 1,3,1\ninput pooled"), "repeat 1,3,1",
     ["multiple of 'repeat'"]),
    ("maxout into sum", ("type max_filter\nsize 1,2,2\nstride 1,2,2", "type maxout"), "output pooled",
     ["maxout edge must end in a maxout"]),
    ("fft flag two", ("init xavier", "init xavier\nfft 2"), "fft 2", ["key 'fft'", "0 (direct) or 1"]),
    ("no input group", ("type input\nsize 1", "type sum\nsize 1"), None, ["no input node group"]),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_files_report_line_group_key_and_expectation(case, tmp_path):
    _name, (old, new), line_text, fragments = case
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = tmp_path / "bad.znn"
    path.write_text(text)
    with pytest.raises(NetworkSpecError) as info:
        read_znn(path)
    error = info.value
    message = str(error)
    assert message.startswith(str(path))
    if line_text is not None:
        assert error.line == _line_of(text, line_text), message
        assert f"{path}:{error.line}:" in message
    for fragment in fragments:
        assert fragment in message, message


def test_all_problems_are_collected_for_editors():
    text = GOOD.replace("init xavier", "init glorot").replace("type sum", "type summ")
    errors, _warnings = check_znn(text, "net.znn")
    assert [e.line for e in errors] == [_line_of(text, "init glorot"), _line_of(text, "type summ")]
    with pytest.raises(NetworkSpecError) as info:
        parse_znn(text)
    assert len(info.value.problems) == 2


def test_missing_file_is_named(tmp_path):
    with pytest.raises(NetworkSpecError, match="not found"):
        read_znn(tmp_path / "nope.znn")
