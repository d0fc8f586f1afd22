"""`python -m napari_znn`: a napari viewer with the ZNN sample loaded and ZNN's widgets docked."""

from __future__ import annotations

PLUGIN = "napari-znn"
SAMPLE = "synthetic_em"


def plugin_widget_names() -> list[str]:
    """Display names of the dock widgets napari.yaml declares, in manifest order.

    The launcher docks every one of them, so a widget added to the manifest appears
    here without touching this file.
    """
    from npe2 import PluginManager

    manifest = PluginManager.instance().get_manifest(PLUGIN)
    return [widget.display_name for widget in manifest.contributions.widgets or []]


def open_viewer() -> object:
    """A napari viewer with the synthetic sample and the plugin's widgets."""
    import napari

    viewer = napari.Viewer(title="ZNN")
    viewer.open_sample(PLUGIN, SAMPLE)
    for widget_name in plugin_widget_names():
        viewer.window.add_plugin_dock_widget(PLUGIN, widget_name)
    left, top, width, height = window_geometry()
    viewer.window.set_geometry(left, top, width, height)
    return viewer


def window_geometry(share: float = 0.9) -> tuple[int, int, int, int]:
    """Most of the screen, centred: the dock is tall and the canvas needs room beside it
    (napari's default window leaves a sliver of canvas next to the dock)."""
    from qtpy.QtWidgets import QApplication

    screen = QApplication.primaryScreen()
    if screen is None:
        return 0, 0, 1400, 900
    area = screen.availableGeometry()
    width, height = int(area.width() * share), int(area.height() * share)
    return area.x() + (area.width() - width) // 2, area.y() + (area.height() - height) // 2, width, height


def main() -> None:
    import napari

    open_viewer()
    napari.run()


if __name__ == "__main__":
    main()
