"""FFT extents the engine uses: FFTW-friendly sizes (products of 2, 3, 5 and 7).

A leaf module: the transforms (`znn.fft`), the memory estimate and the cost model all
size their spectra with it.
"""

from __future__ import annotations

from znn.base.triples import Triple, triple


def fft_size(n: int) -> int:
    """Smallest integer >= n whose only prime factors are 2, 3, 5 and 7."""
    candidate = max(1, n)
    while True:
        rest = candidate
        for p in (2, 3, 5, 7):
            while rest % p == 0:
                rest //= p
        if rest == 1:
            return candidate
        candidate += 1


def fft_shape(shape: Triple) -> Triple:
    return triple(fft_size(s) for s in shape)


def spectrum_elements(shape: Triple) -> int:
    """Complex elements of the real-to-complex transform of a map of `shape`."""
    z, y, x = fft_shape(shape)
    return z * y * (x // 2 + 1)
