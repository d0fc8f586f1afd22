"""`.cfg` job files: ZNN's examples, defaults, legacy keys, errors with line numbers, round trips."""

from __future__ import annotations

import configparser
import dataclasses
import warnings
from pathlib import Path

import pytest

from znn.base.errors import ConfigError
from znn.jobs import (
    CFG_KEYS,
    ConfigWarning,
    DataConfig,
    ForwardConfig,
    JobConfig,
    NetworkConfig,
    TrainingConfig,
    read_cfg,
    read_spec,
    write_cfg,
    znn_key_for,
)


def write(tmp_path: Path, text: str, name: str = "job.cfg") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def read_quietly(path: Path, **options) -> JobConfig:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        return read_cfg(path, **options)


# --- the files shipped with ZNN (values read by eye from the files) ----------------------

def test_python_config_cfg(fixtures_dir):
    job = read_cfg(fixtures_dir / "config.cfg", load_spec=False)
    assert job.network.fnet_spec == "../networks/N4_relu.znn"
    assert job.network.num_threads == 0
    assert job.network.dtype == "float32"
    assert job.network.output_kind == "boundary"
    assert job.network.train_conv_mode == "fft" and job.network.forward_conv_mode == "fft"
    assert job.data.fdata_spec == "../dataset/test/dataset.spec"
    assert job.data.is_data_aug and job.data.is_bd_mirror
    assert job.data.effective_rebalance_mode == "global"
    training = job.training
    assert training.train_net_prefix == "../experiments/test/N4/net"
    assert training.train_range == (2,) and training.test_range == (1,)
    assert training.train_outsz == (1, 100, 100)
    assert (training.eta, training.anneal_factor, training.momentum) == (0.01, 0.997, 0.9)
    assert training.num_iter_per_test == 200 and training.test_num == 10
    assert training.max_iter == 200000 and training.is_stdio
    assert job.effective_cost_fn == "softmax_loss"  # auto + boundary
    assert job.forward.forward_outsz == (5, 100, 100)
    assert job.forward.output_prefix == "../experiments/piriform/N4/out"
    assert job.warnings == []
    assert job.key_line("Max_iter") == 96  # grep -n "Max_iter" config.cfg
    # its network and .spec are not shipped: every key is present and no file is opened
    job.check_training()
    job.check_forward()


def test_boundary_testsuite_config(fixtures_dir):
    path = fixtures_dir / "testsuit" / "boundary" / "config.cfg"
    with pytest.warns(ConfigWarning) as record:
        job = read_cfg(path, load_spec=False)
    assert job.network.fnet_spec == "../networks/srini2d.znn"
    assert job.network.train_conv_mode == "optimize"
    assert job.network.effective_train_conv_mode == "optimize"
    assert job.training.train_outsz == (1, 5, 5)
    assert job.training.anneal_factor == 1.0
    assert job.training.is_debug and job.training.is_check
    assert (job.training.num_iter_per_show, job.training.num_iter_per_save) == (1, 1)
    assert job.training.max_iter == 1000000
    assert job.forward.forward_net == "../testsuit/boundary/net_current.h5"
    # only the legacy booleans: no rebalance_mode key, so no rebalancing at all
    assert job.data.is_rebalance is False and job.data.is_patch_rebalance is False
    assert job.data.rebalance_mode is None and job.data.effective_rebalance_mode is None
    messages = [str(w.message) for w in record]
    assert any("config.cfg:51: legacy key 'is_rebalance' has no effect" in m for m in messages)
    assert any("config.cfg:53: legacy key 'is_patch_rebalance' has no effect" in m for m in messages)
    assert len(job.warnings) == 2


def test_forward_config(fixtures_dir):
    job = read_cfg(fixtures_dir / "testsuit" / "forward-config.cfg", load_spec=False)
    assert job.forward.forward_range == (1,)
    assert job.forward.forward_outsz == (1, 5, 5)
    assert job.forward.forward_net == "../experiments/test/srini2d/net_current.h5"
    assert job.forward.output_prefix == "../testsuit/forward/out"
    assert job.training.is_check is True and job.training.is_debug is False
    assert job.network.effective_forward_conv_mode == "fft"
    job.check_forward()  # its network and .spec are not shipped


def test_fixture_paths_resolve_from_the_cfg_directory(fixtures_dir):
    job = read_cfg(fixtures_dir / "config.cfg", load_spec=False)
    assert job.resolve(job.network.fnet_spec) == fixtures_dir / "../networks/N4_relu.znn"
    assert job.resolve("/abs/net") == Path("/abs/net")


def test_fixture_cfg_with_its_spec_missing(fixtures_dir):
    # the fixtures point at ../dataset/test/dataset.spec, which is not shipped
    with pytest.raises(ConfigError) as caught:
        read_cfg(fixtures_dir / "config.cfg")
    assert caught.value.key == "fdata_spec" and caught.value.line == 6
    assert "data spec file not found" in str(caught.value)


# --- defaults and the key table ----------------------------------------------------------

# The keys of reference §6.2, spelled as there.
REFERENCE_KEYS = {
    "fnet_spec", "fdata_spec", "num_threads", "dtype", "out_type", "logging", "train_net_prefix",
    "train_range", "test_range", "train_outsz", "train_conv_mode", "forward_conv_mode",
    "is_train_optimize", "is_forward_optimize", "force_fft", "cost_fn", "eta", "anneal_factor",
    "Num_iter_per_annealing", "momentum", "weight_decay", "is_data_aug", "is_bd_mirror",
    "rebalance_mode", "is_rebalance", "is_patch_rebalance", "is_malis", "malis_norm_type",
    "is_constrained_malis", "is_visual", "is_stdio", "is_debug", "is_check", "Num_iter_per_show",
    "Num_iter_per_test", "test_num", "Num_iter_per_save", "Max_iter", "forward_range",
    "forward_net", "forward_outsz", "output_prefix",
}
# Keys napari-znn adds; ZNN ignores them.
EXTENSION_KEYS = {"em_aug_missing_section", "em_aug_misalignment", "em_aug_intensity", "seed",
                  "forward_ram_budget", "forward_tif", "optimizer"}


def test_every_reference_key_has_exactly_one_field():
    assert {key.znn_name for key in CFG_KEYS} == REFERENCE_KEYS | EXTENSION_KEYS
    assert len(CFG_KEYS) == len(REFERENCE_KEYS | EXTENSION_KEYS)
    for group, cls in (("network", NetworkConfig), ("data", DataConfig),
                       ("training", TrainingConfig), ("forward", ForwardConfig)):
        assert {f.name for f in dataclasses.fields(cls)} == {k.field for k in CFG_KEYS if k.group == group}
    assert znn_key_for("num_iter_per_show") == "Num_iter_per_show"
    assert znn_key_for("max_iter") == "Max_iter"


def test_defaults_of_an_empty_parameters_section(tmp_path):
    job = read_cfg(write(tmp_path, "[parameters]\n"))
    assert job == JobConfig()
    t = job.training
    assert (t.eta, t.anneal_factor, t.momentum, t.weight_decay) == (0.01, 1.0, 0.0, 0.0)
    assert t.train_outsz == (1, 100, 100) and t.cost_fn == "auto"
    assert (t.num_iter_per_annealing, t.num_iter_per_show, t.num_iter_per_test) == (100, 100, 500)
    assert (t.test_num, t.num_iter_per_save, t.max_iter) == (10, 1000, 400000)
    assert t.malis_norm_type == "none"
    assert not (t.is_malis or t.is_constrained_malis or t.is_stdio or t.is_debug or t.is_check)
    assert not (job.data.is_data_aug or job.data.is_bd_mirror)
    assert job.data.rebalance_mode is None and job.data.fdata_spec is None
    assert job.network.fnet_spec is None and job.network.train_conv_mode is None
    assert job.forward == ForwardConfig()
    assert job.data_spec is None


def test_require_training_names_the_missing_keys_and_file(tmp_path):
    path = write(tmp_path, "[parameters]\nfnet_spec = n.znn\ndtype = double\n")
    job = read_cfg(path, load_spec=False)
    assert job.network.dtype == "float64"
    with pytest.raises(ConfigError) as caught:
        job.require_training()
    message = str(caught.value)
    assert str(path) in message
    for key in ("num_threads", "out_type", "fdata_spec", "train_conv_mode", "train_net_prefix",
                "train_range", "test_range"):
        assert key in message
    assert "fnet_spec" not in message and "forward" not in message


def test_require_forward_does_not_need_training_keys(tmp_path):
    path = write(tmp_path, "[parameters]\nfnet_spec = n.znn\nnum_threads = 2\ndtype = float32\n"
                           "out_type = affinity\nfdata_spec = d.spec\nforward_conv_mode = direct\n"
                           "forward_range = 1-2\nforward_net = net.h5\nforward_outsz = 1,10,10\n")
    job = read_cfg(path, load_spec=False)
    with pytest.raises(ConfigError) as caught:
        job.require_forward()
    assert caught.value.key == "output_prefix"
    assert "missing key needed for the forward pass: output_prefix" in str(caught.value)
    with pytest.raises(ConfigError, match="train_range"):
        job.require_training()


# --- ConfigParser rules ------------------------------------------------------------------

def test_keys_are_case_insensitive(tmp_path):
    path = write(tmp_path, "[parameters]\nNUM_ITER_PER_SHOW = 7\nETA: 0.5\nMax_Iter = 9000\n"
                           "num_iter_per_save = 30\nIS_STDIO = Yes\n")
    job = read_cfg(path)
    assert job.training.num_iter_per_show == 7
    assert job.training.eta == 0.5
    assert job.training.max_iter == 9000 and job.training.num_iter_per_save == 30
    assert job.training.is_stdio is True
    assert job.key_line("max_iter") == 4


def test_comments_and_inline_text(tmp_path):
    path = write(tmp_path, "# leading comment\n; another\nREM a Python 2 comment too\n[parameters]\n"
                           "output_prefix = out # not a comment in ConfigParser\n"
                           "eta = 0.5 ; but this is\n"
                           "   \n"
                           "forward_net = \"\"\n")
    with pytest.raises(ConfigError) as caught:
        read_cfg(path)
    # an empty path ("" means the empty string) is refused, on its own line
    assert caught.value.line == 8 and caught.value.key == "forward_net"
    path.write_text(path.read_text().replace('forward_net = ""', "forward_net = n.h5"))
    job = read_cfg(path)
    assert job.forward.output_prefix == "out # not a comment in ConfigParser"
    assert job.training.eta == 0.5


def test_repeated_key_keeps_the_last_value_with_a_warning(tmp_path):
    path = write(tmp_path, "[parameters]\neta = 0.1\neta = 0.2\n")
    with pytest.warns(ConfigWarning, match=r"job.cfg:3: key 'eta' repeated .*first at line 2"):
        job = read_cfg(path)
    assert job.training.eta == 0.2
    assert job.key_line("eta") == 3


def test_unknown_key_warns_with_line_and_closest_key(tmp_path):
    path = write(tmp_path, "[parameters]\neta = 0.1\nNum_iter_per_shwo = 5\n")
    with pytest.warns(ConfigWarning) as record:
        job = read_cfg(path)
    expected = "job.cfg:3: unknown key 'Num_iter_per_shwo' (did you mean 'Num_iter_per_show'?)"
    assert any(expected in str(w.message) for w in record)
    assert len(job.warnings) == 1 and expected in job.warnings[0]
    assert job.training.num_iter_per_show == 100


def test_other_sections_are_ignored_with_a_warning(tmp_path):
    path = write(tmp_path, "[parameters]\neta = 0.1\n[image1]\nfnames = a.tif\n")
    with pytest.warns(ConfigWarning, match=r"job.cfg:3: section \[image1\] ignored"):
        read_cfg(path)


# --- malformed files: the error names the line and the key -------------------------------

@pytest.mark.parametrize("bad_line, key, fragment", [
    ("is_data_aug = maybe", "is_data_aug", "expected yes/no"),
    ("Num_iter_per_show = 10.5", "Num_iter_per_show", "expected an integer"),
    ("test_num = 0", "test_num", "expected an integer > 0"),
    ("eta = -0.1", "eta", "expected a number >= 0"),
    ("momentum = 1.5", "momentum", "between 0 and 1"),
    ("weight_decay = lots", "weight_decay", "expected a number"),
    ("train_outsz = 1,100", "train_outsz", "2 numbers instead of 3"),
    ("forward_outsz = 1,100,0", "forward_outsz", "size 0 is not positive"),
    ("train_range = 1,3&5", "train_range", "bad entry '3&5'"),
    ("test_range = 2,,3", "test_range", "empty entry"),
    ("dtype = float16", "dtype", "expected float32 or float64"),
    ("out_type = semantic", "out_type", "semantic outputs are not supported"),
    ("cost_fn = hinge", "cost_fn", "unknown cost function"),
    ("malis_norm_type = fraction", "malis_norm_type", "did you mean 'frac'"),
    ("Train_Conv_Mode = optimise", "Train_Conv_Mode", "did you mean 'optimize'"),
    ("fnet_spec =", "fnet_spec", "empty value"),
])
def test_malformed_value(tmp_path, bad_line, key, fragment):
    path = write(tmp_path, f"# job\n[parameters]\neta = 0.1\n{bad_line}\nis_stdio = yes\n")
    with pytest.raises(ConfigError) as caught:
        read_cfg(path)
    error = caught.value
    assert (error.line, error.key) == (4, key)
    assert f"job.cfg:4: group 'parameters', key '{key}':" in str(error)
    assert fragment in str(error)


@pytest.mark.parametrize("text, line, key, fragment", [
    ("[parameters]\neta = 0.1\nfnet_spec ../n.znn\n", 3, None, "cannot read this line"),
    ("eta = 0.1\n[parameters]\n", 1, "eta", "before the first [section]"),
    ("[parameters]\n  eta = 0.1\n", 2, None, "no key above it"),
    ("[Parameters]\neta = 0.1\n", None, None, "no [parameters] section (did you mean 'Parameters'?)"),
    ("[parameters]\nMax_iter = 500\nNum_iter_per_save = 1000\n", 2, "Max_iter",
     "larger than Num_iter_per_save"),
    ("[parameters]\nNum_iter_per_save = 400000\n", 2, "Num_iter_per_save",
     "smaller than Max_iter (400000, the default)"),
    ("[parameters]\ntrain_net = \n", 2, "train_net", "empty value"),
])
def test_malformed_file(tmp_path, text, line, key, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_cfg(path)
    error = caught.value
    assert (error.line, error.key) == (line, key)
    assert (f"job.cfg:{line}:" if line else "job.cfg:") in str(error)
    assert fragment in str(error)


def test_missing_cfg_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        read_cfg(tmp_path / "missing.cfg")


# --- legacy keys -------------------------------------------------------------------------

def test_legacy_optimize_keys_set_the_conv_modes(tmp_path):
    job = read_cfg(write(tmp_path, "[parameters]\nis_train_optimize = yes\nis_forward_optimize = no\n"))
    assert job.network.train_conv_mode == "optimize"
    assert job.network.forward_conv_mode == "direct"
    assert job.warnings == []


def test_force_fft_beats_legacy_optimize(tmp_path):
    path = write(tmp_path, "[parameters]\nis_train_optimize = yes\nforce_fft = yes\n")
    with pytest.warns(ConfigWarning, match=r"job.cfg:2: 'is_train_optimize' is overridden by 'force_fft"):
        job = read_cfg(path)
    assert job.network.train_conv_mode == "fft" and job.network.forward_conv_mode == "fft"


def test_explicit_conv_mode_overrides_legacy_keys(tmp_path):
    path = write(tmp_path, "[parameters]\nis_train_optimize = yes\nforce_fft = yes\n"
                           "train_conv_mode = direct\n")
    with pytest.warns(ConfigWarning):
        job = read_cfg(path)
    assert job.network.train_conv_mode == "direct"
    assert job.network.forward_conv_mode == "fft"  # force_fft still applies here


def test_legacy_optimize_overridden_by_conv_mode_is_reported(tmp_path):
    path = write(tmp_path, "[parameters]\ntrain_conv_mode = fft\nis_train_optimize = yes\n")
    with pytest.warns(ConfigWarning, match=r"job.cfg:3: legacy key 'is_train_optimize' is overridden"
                                           r" by 'train_conv_mode' \(line 2\)"):
        job = read_cfg(path)
    assert job.network.train_conv_mode == "fft"


def test_train_net_fallbacks_drop_h5(tmp_path):
    job = read_cfg(write(tmp_path, "[parameters]\ntrain_net = ../exp/net.h5\n"))
    assert job.training.train_net_prefix == "../exp/net"
    assert job.key_line("train_net_prefix") == 2
    job = read_cfg(write(tmp_path, "[parameters]\ntrain_save_net = out/net_save.h5\n"))
    assert job.training.train_net_prefix == "out/net_save"
    path = write(tmp_path, "[parameters]\ntrain_save_net = b.h5\ntrain_net = a.h5\n")
    with pytest.warns(ConfigWarning, match="job.cfg:2: legacy key 'train_save_net' ignored: 'train_net'"):
        job = read_cfg(path)
    assert job.training.train_net_prefix == "a"


def test_train_net_prefix_beats_train_net(tmp_path):
    path = write(tmp_path, "[parameters]\ntrain_net = a.h5\ntrain_net_prefix = exp/net\n")
    with pytest.warns(ConfigWarning, match="job.cfg:2: legacy key 'train_net' ignored"):
        job = read_cfg(path)
    assert job.training.train_net_prefix == "exp/net"


@pytest.mark.parametrize("lines, effective, warned", [
    ("rebalance_mode = patch\n", "patch", None),
    ("rebalance_mode = none\n", "global", "rebalance_mode 'none' means 'global' rebalancing"),
    ("rebalance_mode =\n", None, "means no rebalancing"),
    ("is_rebalance = yes\n", None, "legacy key 'is_rebalance' has no effect"),
    ("is_patch_rebalance = yes\nrebalance_mode = global\n", "global", "'is_patch_rebalance' has no effect"),
])
def test_rebalance_mode_is_recorded_with_its_znn_effect(tmp_path, lines, effective, warned):
    path = write(tmp_path, "[parameters]\n" + lines)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        job = read_cfg(path)
    assert job.data.effective_rebalance_mode == effective
    messages = [str(w.message) for w in record if issubclass(w.category, ConfigWarning)]
    if warned is None:
        assert messages == []
    else:
        assert any(warned in m and "job.cfg:2:" in m for m in messages)


def test_ineffective_switches_warn(tmp_path):
    path = write(tmp_path, "[parameters]\nlogging = yes\nis_visual = yes\ncost_fn = square_square_loss\n")
    job = read_quietly(path)
    assert any("job.cfg:2: 'logging = yes' crashed the original" in m for m in job.warnings)
    assert any("job.cfg:3: 'is_visual' has no effect" in m for m in job.warnings)
    assert any("job.cfg:4: ZNN reads cost_fn 'square_square_loss' as square_loss" in m
               for m in job.warnings)
    assert job.effective_cost_fn == "square_loss"


# --- the data spec -----------------------------------------------------------------------

SPEC = ("[image1]\nfnames = img.tif\npp_types = standard2D\nis_auto_crop = yes\n"
        "[label1]\nfnames = lbl.tif\npp_types = auto\nis_auto_crop = yes\n"
        "[sample1]\ninput = 1\noutput = 1\n[sample2]\ninput = 1\n")


def full_job_text(spec_path: str, train_range: str = "1") -> str:
    return ("[parameters]\nfnet_spec = n.znn\nfdata_spec = " + spec_path + "\nnum_threads = 0\n"
            "dtype = float32\nout_type = boundary\ntrain_conv_mode = fft\n"
            f"train_net_prefix = exp/net\ntrain_range = {train_range}\ntest_range = 2\n")


def test_spec_is_loaded_relative_to_the_cfg(tmp_path):
    (tmp_path / "data").mkdir()
    write(tmp_path / "data", SPEC, "set.spec")
    job = read_cfg(write(tmp_path, full_job_text("data/set.spec")))
    assert job.data_spec == read_spec(tmp_path / "data" / "set.spec")
    assert job.data_spec.samples[1].bindings == {"input": 1, "output": 1}
    job.check_training()  # n.znn does not exist: keys and sample ids only


def test_range_ids_are_checked_against_the_spec(tmp_path):
    write(tmp_path, SPEC, "set.spec")
    job = read_cfg(write(tmp_path, full_job_text("set.spec", train_range="1-3")))
    with pytest.raises(ConfigError) as caught:
        job.require_training()
    assert (caught.value.key, caught.value.line) == ("train_range", 9)
    assert "sample id(s) [3]" in str(caught.value)


def test_spec_warnings_join_the_job_warnings(tmp_path):
    write(tmp_path, SPEC.replace("is_auto_crop = yes\n[label1]", "is_auto_crop = yes\nfmask = m\n[label1]"),
          "set.spec")
    with pytest.warns(ConfigWarning, match=r"set.spec:5: \[image1\] unknown key 'fmask'"):
        job = read_cfg(write(tmp_path, full_job_text("set.spec")))
    assert len(job.warnings) == 1


def test_missing_spec_names_the_cfg_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        read_cfg(write(tmp_path, full_job_text("nowhere/set.spec")))
    error = caught.value
    assert (error.key, error.line) == ("fdata_spec", 3)
    assert str(tmp_path / "nowhere" / "set.spec") in str(error)
    assert read_cfg(tmp_path / "job.cfg", load_spec=False).data_spec is None


# --- writing -----------------------------------------------------------------------------

def rich_job() -> JobConfig:
    return JobConfig(
        network=NetworkConfig(fnet_spec="nets/N4.znn", num_threads=0, dtype="float64",
                              out_type="affinity", train_conv_mode="optimize", forward_conv_mode="direct",
                              is_train_optimize=True, force_fft=False, logging=False),
        data=DataConfig(fdata_spec="data/set.spec", is_data_aug=True, is_bd_mirror=False,
                        rebalance_mode="patch", is_rebalance=False),
        training=TrainingConfig(train_net_prefix="exp/net", train_range=(1, 2, 3, 7), test_range=(4,),
                                train_outsz=(3, 50, 60), cost_fn="binomial_cross_entropy", eta=1e-5,
                                anneal_factor=0.997, num_iter_per_annealing=250, momentum=0.9,
                                weight_decay=0.001, is_malis=True, malis_norm_type="frac",
                                is_constrained_malis=True, is_stdio=True, is_debug=True,
                                num_iter_per_show=5, num_iter_per_test=50, test_num=3,
                                num_iter_per_save=500, max_iter=12345),
        forward=ForwardConfig(forward_range=(5, 6), forward_net="exp/net_current.h5",
                              forward_outsz=(1, 256, 256), output_prefix="out/fwd"),
    )


def test_cfg_round_trip(tmp_path):
    job = rich_job()
    path = tmp_path / "written.cfg"
    write_cfg(job, path)
    assert read_quietly(path, load_spec=False) == job


def test_fixture_cfg_round_trips(fixtures_dir, tmp_path):
    for name in ("config.cfg", "testsuit/boundary/config.cfg", "testsuit/forward-config.cfg"):
        original = read_quietly(fixtures_dir / name, load_spec=False)
        write_cfg(original, tmp_path / "copy.cfg")
        assert read_quietly(tmp_path / "copy.cfg", load_spec=False) == original


def test_round_trip_with_spec(tmp_path):
    write(tmp_path, SPEC, "set.spec")
    job = read_cfg(write(tmp_path, full_job_text("set.spec")))
    write_cfg(job, tmp_path / "again.cfg")
    assert read_cfg(tmp_path / "again.cfg") == job


def test_written_cfg_uses_znn_spellings(tmp_path):
    # Read back with Python's own configparser, the way the original ZNN reads it.
    path = tmp_path / "written.cfg"
    write_cfg(rich_job(), path)
    text = path.read_text()
    assert "Num_iter_per_show = 5" in text and "Max_iter = 12345" in text
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # keep the spelling so we can see it
    parser.read(path)
    assert parser.sections() == ["parameters"]
    section = parser["parameters"]
    assert section["Num_iter_per_annealing"] == "250"
    assert section["train_range"] == "1-3,7"
    assert section["train_outsz"] == "3,50,60"
    assert float(section["eta"]) == 1e-5
    assert section["is_malis"] == "yes"
    assert "is_forward_optimize" not in section  # unset legacy keys are left out
    assert "output_prefix" in section and section["dtype"] == "float64"


def test_extension_keys_read_and_round_trip(tmp_path):
    path = tmp_path / "job.cfg"
    path.write_text("[parameters]\nforward_outsz = auto\nforward_ram_budget = 2GiB\nseed = 7\n"
                    "em_aug_missing_section = 0.05\nforward_tif = yes\n")
    job = read_cfg(path, load_spec=False)
    assert job.forward.forward_outsz == "auto" and job.forward.forward_ram_budget == "2GiB"
    assert job.training.seed == 7 and job.data.em_aug_missing_section == 0.05 and job.forward.forward_tif
    write_cfg(job, tmp_path / "again.cfg")
    assert read_cfg(tmp_path / "again.cfg", load_spec=False) == job


@pytest.mark.parametrize("line, key", [("forward_outsz = automatic", "forward_outsz"),
                                       ("forward_ram_budget = lots", "forward_ram_budget")])
def test_extension_keys_reject_bad_values(tmp_path, line, key):
    path = tmp_path / "job.cfg"
    path.write_text(f"[parameters]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        read_cfg(path, load_spec=False)
    assert caught.value.key == key and caught.value.line == 2
