"""Settings that follow what the user chose: a trained start brings its network and the
fine-tuning recipe, painted strokes on a new network the strokes recipe (`znn.jobs.recipes`).

A recipe is applied when the start or the label mode changes (the moments that change what
suits), into the Settings form, where every value stays editable; the Data tab says which recipe
was applied and why. Nothing is applied while a run trains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from napari.utils.notifications import show_error

from napari_znn._data_tab import volume_of
from napari_znn._start_from import NEW, Start, start_network_text
from znn.base.errors import ZnnError
from znn.jobs import JobConfig
from znn.jobs.recipes import recipe_for

if TYPE_CHECKING:
    from napari_znn._data_tab import DataTab
    from napari_znn._job_form import JobSettingsForm
    from napari_znn._network_editor import NetworkEditor


class RecipeChoice:
    """Keeps the Network tab and the Settings form in step with *Start from* and the label mode."""

    def __init__(self, data: DataTab, form: JobSettingsForm, editor: NetworkEditor,
                 running: Callable[[], bool]) -> None:
        self.data, self.form, self.editor, self.running = data, form, editor, running
        self._start: Start = NEW
        self._library_choice = editor.choice.currentText()  # the network before a trained start replaced it
        self._mode = data.label_mode.current()
        data.start.changed.connect(self._start_changed)
        data.label_mode.changed.connect(self._mode_changed)
        self.apply()

    def _start_changed(self) -> None:
        start = self.data.start.current()
        if start == self._start:
            return
        previous, self._start = self._start, start
        if start.trained:
            try:
                text = start_network_text(start)
            except ZnnError as error:
                show_error(f"Cannot start from {start.label}: {error}")
                self._start = previous
                self.data.start.pick(previous)
                return
            if self.editor.is_file_entry(self.editor.choice.currentText()):
                self._library_choice = self.editor.choice.currentText()
            self.editor.show_network(f"{start.label.split(' (')[0]} (trained start)", text)
        elif previous.trained:  # back to a new network: the layout shown before the trained start
            self.editor.choice.setCurrentText(self._library_choice)
        self.apply()

    def _mode_changed(self) -> None:
        mode = self.data.label_mode.current()
        if mode != self._mode:
            self._mode = mode
            self.apply()

    def apply(self) -> None:
        """Apply the recipe that suits the current start and labels, and say so."""
        if self.running():
            return
        start, mode = self.data.start.current(), self.data.label_mode.current()
        recipe = recipe_for(mode, trained_start=start.trained)
        if recipe is None:
            self.data.recipe_note.setText("")
            return
        image = self.data.image.layer()
        volume = volume_of(image) if image else None
        self.form.load_from(recipe.apply(self.form.values_into(JobConfig()), volume))
        why = (f"fine-tuning {start.label}: a small step, and the run keeps the start as its best checkpoint "
               "until the held-back labels say something is better" if start.trained else
               "painted strokes on a new network")
        suggestion = ("" if start.trained or self.editor.choice.currentText() == recipe.network else
                      f" A small network ({recipe.network}) learns strokes fastest.")
        self.data.recipe_note.setText(f"Settings for {why}: {recipe.describe(volume)}.{suggestion}")
