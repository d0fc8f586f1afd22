"""FFT convolution for the engine: reusable pyFFTW plans (`znn.fft.plans`) and ZNN's
frequency-domain convolution building blocks (`znn.fft.conv`).

Importing builds no plans and reads no files; wisdom is loaded/saved only when
`plans.load_wisdom()` / `plans.save_wisdom()` are called.
"""

from __future__ import annotations

from znn.fft.conv import (
    ConvCache,
    accumulate_products,
    fft_conv_backward,
    fft_conv_forward,
    grad_spectrum,
    input_grad_from_spectrum,
    input_spectrum,
    kernel_grad_from_spectrum,
    kernel_span,
    kernel_spectra,
    kernel_spectrum,
    transform_shape,
    valid_from_spectrum,
)
from znn.fft.plans import irfftn, load_wisdom, rfftn, save_wisdom

__all__ = [
    "ConvCache",
    "accumulate_products",
    "fft_conv_backward",
    "fft_conv_forward",
    "grad_spectrum",
    "input_grad_from_spectrum",
    "input_spectrum",
    "irfftn",
    "kernel_grad_from_spectrum",
    "kernel_span",
    "kernel_spectra",
    "kernel_spectrum",
    "load_wisdom",
    "rfftn",
    "save_wisdom",
    "transform_shape",
    "valid_from_spectrum",
]
