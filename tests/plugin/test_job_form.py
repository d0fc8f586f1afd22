"""The job settings form: it shows and writes back every training key a napari user sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from qtpy.QtWidgets import QAbstractSpinBox, QCheckBox, QComboBox, QLineEdit

from znn.jobs import CFG_KEYS, JobConfig, format_cfg, read_cfg

pytestmark = pytest.mark.gui

# Keys the form leaves out on purpose: files and sample ranges (the dock fills them) and
# legacy keys that do nothing. Every other CFG key must be in the form.
EXCLUDED = {
    "fnet_spec", "fdata_spec", "train_net_prefix", "train_range", "test_range", "forward_range",
    "forward_net", "output_prefix",
    "is_rebalance", "is_patch_rebalance", "logging", "is_visual", "is_stdio", "is_debug",
    "is_check", "is_train_optimize", "is_forward_optimize", "force_fft",
}
# A value for each form key that differs from ZNN's default (what JobConfig() holds, so a key the
# form forgets to write fails) and, but for two booleans checked with FLIPPED, from the form's.
NON_DEFAULT = {
    "num_threads": "3", "dtype": "float64", "out_type": "affinity", "train_conv_mode": "direct",
    "forward_conv_mode": "fft", "is_data_aug": "yes", "is_bd_mirror": "yes",
    "rebalance_mode": "patch", "em_aug_missing_section": "0.05", "em_aug_misalignment": "0.1",
    "em_aug_intensity": "0.2", "train_outsz": "3,40,48", "cost_fn": "square-square",
    "optimizer": "adam", "eta": "0.0005", "anneal_factor": "0.99", "Num_iter_per_annealing": "250", "momentum": "0.5",
    "weight_decay": "0.001", "is_malis": "yes", "malis_norm_type": "frac",
    "is_constrained_malis": "yes", "Num_iter_per_show": "7", "Num_iter_per_test": "33",
    "test_num": "4", "Num_iter_per_save": "200", "Max_iter": "5000", "seed": "1234",
    "forward_outsz": "5,60,60", "forward_ram_budget": "4GiB", "forward_tif": "yes",
}
FLIPPED = {"is_data_aug": "no", "is_bd_mirror": "no"}
FORM_CFG_KEYS = [key for key in CFG_KEYS if key.znn_name not in EXCLUDED]


def _get(job: JobConfig, key: Any) -> Any:
    return getattr(getattr(job, key.group), key.field)


def _read(tmp_path: Path, text: str, name: str = "job.cfg") -> JobConfig:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_cfg(path, load_spec=False)


def _non_default_job(tmp_path: Path, flip: bool = False) -> JobConfig:
    values = NON_DEFAULT | (FLIPPED if flip else {})
    lines = ["[parameters]"] + [f"{name} = {value}" for name, value in values.items()]
    return _read(tmp_path, "\n".join(lines) + "\n")


@pytest.fixture
def form(qtbot):
    from napari_znn._job_form import JobSettingsForm

    widget = JobSettingsForm()
    qtbot.addWidget(widget)
    return widget


def test_the_form_covers_every_key_but_the_excluded_ones():
    from napari_znn._job_form import FORM_KEYS

    assert set(NON_DEFAULT) == {key.znn_name for key in FORM_CFG_KEYS}
    assert set(FORM_KEYS) == set(NON_DEFAULT)


def test_load_then_write_back_gives_the_same_values(form, tmp_path):
    from napari_znn._job_form import form_defaults

    job = _non_default_job(tmp_path)
    for key in FORM_CFG_KEYS:  # so that a key the form drops cannot pass by accident
        assert _get(job, key) != _get(JobConfig(), key), key.znn_name
        if key.znn_name not in FLIPPED:
            assert _get(job, key) != _get(form_defaults(), key), key.znn_name
    form.load_from(job)
    target = JobConfig()
    target.network.fnet_spec, target.training.train_range = "net.znn", (1, 2)
    out = form.values_into(target)
    assert out is target
    for key in FORM_CFG_KEYS:
        assert _get(out, key) == _get(job, key), key.znn_name
    assert (out.network.fnet_spec, out.training.train_range) == ("net.znn", (1, 2))
    flipped = _non_default_job(tmp_path, flip=True)
    form.load_from(flipped)
    out = form.values_into(JobConfig())
    for name in FLIPPED:
        key = next(k for k in FORM_CFG_KEYS if k.znn_name == name)
        assert _get(out, key) is False and _get(flipped, key) != _get(form_defaults(), key), name


@pytest.mark.parametrize("source", ["non-default", "form defaults"])
def test_the_form_writes_cfg_text_that_reads_back(form, tmp_path, source):
    if source == "non-default":
        form.load_from(_non_default_job(tmp_path))
    written = form.values_into(JobConfig())
    again = _read(tmp_path, format_cfg(written), "again.cfg")
    for key in FORM_CFG_KEYS:
        assert _get(again, key) == _get(written, key), key.znn_name


def test_unset_fields_get_the_form_defaults(form, tmp_path):
    form.load_from(_non_default_job(tmp_path))
    form.load_from(JobConfig())  # unset fields → form defaults; set ones and None-as-off are kept
    out = form.values_into(JobConfig())
    assert (out.network.num_threads, out.network.dtype, out.network.out_type) == (0, "float32", "boundary")
    assert out.network.train_conv_mode == out.network.forward_conv_mode == "optimize"
    assert out.forward.forward_outsz == "auto" and out.forward.forward_ram_budget == "50%"
    assert out.training.seed is None and out.data.rebalance_mode is None
    assert out.training.momentum == 0.0 and out.training.eta == 0.01


def test_legacy_spellings_are_shown_by_what_znn_does(form, tmp_path):
    with pytest.warns(UserWarning, match="rebalance_mode 'none' means 'global'"):
        job = _read(tmp_path, "[parameters]\nrebalance_mode = none\ncost_fn = softmax\n"
                              "train_conv_mode = use_fft\nout_type = affin\nforward_outsz = auto\n")
    form.load_from(job)
    out = form.values_into(JobConfig())
    assert out.data.rebalance_mode == "global" and out.training.cost_fn == "softmax_loss"
    assert out.network.train_conv_mode == "fft" and out.network.out_type == "affinity"


def test_every_input_has_a_tooltip_naming_its_key(form):
    from napari_znn._job_form import FORM_KEYS, readable

    inputs = [w for kind in (QAbstractSpinBox, QComboBox, QCheckBox, QLineEdit)
              for w in form.findChildren(kind)
              if not isinstance(w.parent(), (QAbstractSpinBox, QComboBox))]
    assert len(inputs) >= len(FORM_KEYS)
    assert all(w.toolTip().strip() for w in inputs), [w for w in inputs if not w.toolTip()]
    for key in FORM_KEYS:
        assert form.widgets[key].toolTip().startswith(f"{readable(key)} ({key} in job.cfg): "), key
    assert readable("Num_iter_per_annealing") == "Decay every"  # names a user reads, not .cfg keys


def test_changed_fires_once_per_edit_and_once_per_load(form, qtbot):
    seen: list[int] = []
    form.changed.connect(lambda: seen.append(1))
    with qtbot.waitSignal(form.changed, timeout=1000):
        form.widgets["eta"].setValue(0.02)
    assert len(seen) == 1
    form.widgets["is_malis"].setChecked(True)
    form.widgets["rebalance_mode"].setCurrentText("patch")
    assert len(seen) == 3
    form.load_from(JobConfig())
    assert len(seen) == 4


def test_problems_name_the_conflicts(form):
    assert form.problems() == []
    form.widgets["Num_iter_per_save"].setValue(1000)
    form.widgets["Max_iter"].setValue(1000)
    form.widgets["is_malis"].setChecked(True)
    problems = form.problems()
    assert any("Max updates (job file) (1000) must be larger than Checkpoint every (1000)" in p for p in problems)
    assert any("MALIS needs Output affinity" in p for p in problems)
    assert len(form.errors()) == 2
    form.widgets["Max_iter"].setValue(2000)
    form.widgets["out_type"].setCurrentText("affinity")
    form.widgets["cost_fn"].setCurrentText("softmax_loss")
    assert form.errors() == []
    assert any(p.startswith("Warning: softmax_loss with affinity") for p in form.problems())
    form.widgets["forward_ram_budget"].setText("lots")
    assert any(p.startswith("Prediction memory: RAM budget 'lots' is not understood") for p in form.errors())
    assert form.values_into(JobConfig()).forward.forward_ram_budget is None  # left unset while invalid
    assert form.widgets["forward_ram_budget"].styleSheet()  # and shown in red
    form.widgets["eta"].setValue(10)
    assert any("Learning rate 10 makes every update overshoot" in p for p in form.errors())


def test_a_run_locks_what_it_has_read(form):
    form.set_enabled_for_run(True)
    assert not form.widgets["eta"].isEnabled() and not form.widgets["out_type"].isEnabled()
    assert form.widgets["forward_tif"].isEnabled() and form.widgets["forward_ram_budget"].isEnabled()
    form.set_enabled_for_run(False)
    assert form.widgets["eta"].isEnabled()
    assert not form.widgets["forward_outsz"].isEnabled()  # 'auto' is ticked


@pytest.mark.parametrize("key, value, fragment", [
    ("is_malis", "yes", "MALIS needs out_type affinity"),
    ("eta", "10", "eta 10 makes every update overshoot"),
])
def test_the_dock_and_the_cfg_reader_refuse_the_same_jobs_in_the_same_words(form, tmp_path, key, value, fragment):
    from napari_znn._job_fields import in_form_words
    from znn.base.errors import ConfigError
    from znn.jobs.rules import job_problems

    job = form.values_into(JobConfig())
    path = tmp_path / "job.cfg"
    path.write_text(format_cfg(job) + f"{key} = {value}\n")
    with pytest.raises(ConfigError) as refused:
        read_cfg(path, load_spec=False)
    assert fragment in str(refused.value) and refused.value.key == key
    widget = form.widgets[key]
    if key == "is_malis":
        widget.setChecked(True)
    else:
        widget.setValue(float(value))
    rule = [p for p in job_problems(form.values_into(JobConfig())) if p.severity == "error"]
    assert [p.key for p in rule] == [key] and fragment in rule[0].message
    assert [e for e in form.errors() if in_form_words(fragment) in e]
