"""napari-znn: the napari plugin around the `znn` engine."""

__version__ = "0.1.0"
