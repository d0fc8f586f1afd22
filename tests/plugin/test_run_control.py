"""The run's state machine, without Qt or a viewer: what each phase allows and where each intent
and event leads."""

from __future__ import annotations

import pytest

from napari_znn._run_control import RunControl, RunControlError


def test_a_run_goes_idle_starting_training_stopping_idle():
    control = RunControl()
    assert (control.phase, control.training, control.can_train(), control.can_stop()) == ("idle", False, True, False)
    control.start()
    assert control.phase == "starting" and control.training and not control.can_train() and control.can_stop()
    control.began()
    assert control.phase == "training"
    control.stop()
    assert control.phase == "stopping" and not control.can_stop() and not control.can_continue()
    assert control.finished() is False
    assert control.phase == "idle" and not control.training


def test_continue_while_training_stops_then_goes_on():
    control = RunControl()
    control.start()
    control.began()
    assert control.can_continue()
    control.continue_after_stop()
    assert control.phase == "continuing" and control.training and not control.can_stop()
    assert control.finished() is True  # the dock starts the next run at once
    control.start()
    assert control.phase == "starting"


def test_a_failed_start_returns_to_idle_without_going_on():
    control = RunControl()
    control.start()
    assert control.finished() is False and control.phase == "idle"
    control.began()  # a late event of the ended worker changes nothing
    assert control.phase == "idle"


@pytest.mark.parametrize("intent, phase", [
    ("start", "training"), ("start", "stopping"), ("stop", "idle"), ("stop", "stopping"),
    ("continue_after_stop", "idle"), ("continue_after_stop", "continuing"),
])
def test_intents_the_phase_does_not_allow_are_refused(intent, phase):
    control = RunControl(phase=phase)
    with pytest.raises(RunControlError, match=f"while {phase}"):
        getattr(control, intent)()
    assert control.phase == phase
