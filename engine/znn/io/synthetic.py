"""A seeded generator of anisotropic ssTEM-like volumes with exact ground truth.

The recipe, in a "cell space" where a voxel is 1 unit wide in y and x and
`anisotropy` units thick in z (serial sections are thicker than the pixel size):

1. Scatter cell seeds with a minimum spacing and give each a random size weight.
2. Warp every voxel coordinate with a smooth random displacement field, and give
   it to the seed whose (distance - weight) is smallest: an additively weighted
   Voronoi diagram seen through a smooth warp. Cells are stretched along z
   (`z_elongation`) so that they run through several sections like neurites.
3. In every section, pixels close to an interface between two cells become
   membrane (label 0); the band is wider or narrower as a smooth random width
   field varies between `membrane_width[0]` and `membrane_width[1]` pixels.
4. Paint the image: grey cytoplasm with a per-cell tone and fine texture, dark
   membranes, dark mitochondria with a darker rim, then per-section contrast
   jitter, in-plane blur and noise.

Imaging defects as in real stacks:

* A *misaligned* section shows the tissue displaced in-plane. Its labels are
  displaced with it: ground truth describes what the image shows (an annotator
  traces the objects where they appear), so raw and labels stay consistent in
  every section and only the continuity between sections jumps. The shifts are
  recorded in `params["misaligned"]`. The volume is generated with a margin, so
  a displaced section shows real tissue at its edges, not padding.
* A *missing* section is a flat grey image. Its labels are kept: the tissue is
  there, only its image is lost; `params["missing"]` lists these sections so that
  a trainer can mask them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

MAX_MISALIGNMENT = 12  # pixels, the largest in-plane displacement of a misaligned section
MISSING_SECTION_VALUE = 128  # the flat grey of a missing section


@dataclass(frozen=True)
class SyntheticEM:
    """A synthetic EM volume and its ground truth, all (z, y, x)."""

    raw: np.ndarray  # uint8 image
    labels: np.ndarray  # uint32 cell ids, 0 = membrane/boundary
    boundary: np.ndarray  # uint8, 1 on membranes (== labels == 0)
    params: dict[str, Any] = field(default_factory=dict)


def make_em_volume(
    shape: tuple[int, int, int] = (24, 256, 256),
    *,
    seed: int = 0,
    anisotropy: float = 5.0,
    mean_cell_diameter: float = 40.0,
    membrane_width: tuple[float, float] = (1.5, 3.5),
    mito_density: float = 0.5,
    blur_sigma: float = 1.0,
    noise_sigma: float = 0.045,
    misaligned_sections: int = 0,
    missing_sections: int = 0,
    z_elongation: float = 2.0,
) -> SyntheticEM:
    """Generate a synthetic serial-section EM stack; the same seed gives identical arrays.

    `mean_cell_diameter` and `membrane_width` are in xy pixels; `mito_density` is
    the mean number of mitochondria per cell; `blur_sigma` is the in-plane Gaussian
    blur in pixels; `noise_sigma` the Gaussian noise as a fraction of the 0-255 range.
    """
    shape = _check_shape(shape)
    if misaligned_sections + missing_sections > shape[0] - 1:
        raise ValueError(f"{misaligned_sections} misaligned + {missing_sections} missing sections "
                         f"do not fit in {shape[0]} sections (the first one is never defective)")
    rng = np.random.default_rng(seed)
    margin = MAX_MISALIGNMENT if misaligned_sections else 0
    work_shape = (shape[0], shape[1] + 2 * margin, shape[2] + 2 * margin)
    z_scale = anisotropy / z_elongation  # cell-space thickness of one section

    cells = _cell_ids(rng, work_shape, z_scale, mean_cell_diameter)
    interface_distance = _interface_distance(cells)
    half_width = 0.5 * _smooth_field(rng, work_shape, 12.0, z_scale, *membrane_width)
    # Every pixel touching an interface is membrane, however thin the dark line.
    membrane = interface_distance < np.maximum(half_width, 0.51)
    labels = np.where(membrane, 0, cells).astype(np.uint32)

    image = _cytoplasm(rng, cells, work_shape, z_scale)
    # The dark stain spreads a little beyond the labelled band, as in real membranes.
    depth = _smooth_field(rng, work_shape, 20.0, z_scale, 0.50, 0.66)
    image -= depth * np.exp(-((interface_distance / (1.15 * half_width + 0.3)) ** 2))
    n_cells = int(cells.max())
    _add_mitochondria(rng, image, cells, interface_distance, round(mito_density * n_cells), z_scale)

    # Sections are cut, stained and imaged one by one: contrast varies between them.
    gain = 1.0 + rng.normal(0.0, 0.04, size=(shape[0], 1, 1))
    offset = rng.normal(0.0, 0.02, size=(shape[0], 1, 1))
    image = image * gain + offset
    if blur_sigma > 0:
        image = ndimage.gaussian_filter(image, sigma=(0, blur_sigma, blur_sigma))
    image += rng.normal(0.0, noise_sigma, size=work_shape)
    raw = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)

    defective = rng.choice(np.arange(1, shape[0]), size=misaligned_sections + missing_sections,
                           replace=False)
    misaligned = {int(z): _random_shift(rng) for z in sorted(defective[:misaligned_sections])}
    missing = sorted(int(z) for z in defective[misaligned_sections:])
    raw, labels = _crop_sections(raw, labels, shape, margin, misaligned)
    raw[missing] = MISSING_SECTION_VALUE

    labels = _consecutive_ids(labels)
    params = dict(shape=shape, seed=seed, anisotropy=anisotropy, mean_cell_diameter=mean_cell_diameter,
                  membrane_width=tuple(membrane_width), mito_density=mito_density,
                  blur_sigma=blur_sigma, noise_sigma=noise_sigma, z_elongation=z_elongation,
                  misaligned=misaligned, missing=missing, n_cells=int(labels.max()))
    return SyntheticEM(raw=raw, labels=labels, boundary=(labels == 0).astype(np.uint8), params=params)


def _check_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape must be three positive sizes (z, y, x), not {shape!r}")
    return (int(shape[0]), int(shape[1]), int(shape[2]))


# ------------------------------------------------------------------------------- cells


def _cell_ids(rng: np.random.Generator, work_shape: tuple[int, int, int], z_scale: float,
              diameter: float) -> np.ndarray:
    """Warped, additively weighted Voronoi cells; ids start at 1."""
    extent = np.array([work_shape[0] * z_scale, work_shape[1], work_shape[2]], dtype=float)
    seeds = _spaced_seeds(rng, extent, diameter)
    # Weights make neighbours unequal (thick dendrites beside thin axons) and bend the interfaces.
    weights = 0.35 * diameter * (rng.gamma(2.0, 0.5, size=len(seeds)) - 1.0)

    grid = np.indices(work_shape, dtype=np.float32)
    grid[0] = (grid[0] + 0.5) * z_scale
    amplitude = 0.25 * diameter
    for axis in range(3):
        grid[axis] += amplitude * _smooth_field(rng, work_shape, 0.45 * diameter, z_scale, -1.0, 1.0)
    points = grid.reshape(3, -1).T

    neighbours = min(12, len(seeds))
    distance, index = cKDTree(seeds).query(points, k=neighbours, workers=-1)
    distance = distance.reshape(-1, neighbours)
    index = index.reshape(-1, neighbours)
    best = np.argmin(distance - weights[index], axis=1)
    owner = np.take_along_axis(index, best[:, None], axis=1)[:, 0]
    return (owner + 1).astype(np.uint32).reshape(work_shape)


def _spaced_seeds(rng: np.random.Generator, extent: np.ndarray, diameter: float) -> np.ndarray:
    """Random points at least 0.7 diameters apart, covering the box and a rim around it."""
    low, high = -0.5 * diameter, extent + 0.5 * diameter
    wanted = max(2, int(np.prod(high - low) / diameter**3 * 1.2))
    candidates = rng.uniform(low, high, size=(wanted * 8, 3))
    tree = cKDTree(candidates)
    too_close = np.zeros(len(candidates), dtype=bool)
    kept: list[int] = []
    for i in range(len(candidates)):  # dart throwing, in random (= candidate) order
        if too_close[i]:
            continue
        kept.append(i)
        if len(kept) == wanted:
            break
        too_close[tree.query_ball_point(candidates[i], 0.7 * diameter)] = True
    return candidates[kept]


def _interface_distance(cells: np.ndarray) -> np.ndarray:
    """Per section, the in-plane distance in pixels from each pixel centre to the nearest cell interface."""
    touching = np.zeros(cells.shape, dtype=bool)
    step_y = cells[:, 1:, :] != cells[:, :-1, :]
    step_x = cells[:, :, 1:] != cells[:, :, :-1]
    touching[:, 1:, :] |= step_y
    touching[:, :-1, :] |= step_y
    touching[:, :, 1:] |= step_x
    touching[:, :, :-1] |= step_x
    distance = np.empty(cells.shape, dtype=np.float32)
    for z in range(cells.shape[0]):
        if touching[z].any():
            distance[z] = ndimage.distance_transform_edt(~touching[z]) + 0.5
        else:
            distance[z] = np.inf
    return distance


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int, int], sigma_xy: float,
                  z_scale: float, low: float, high: float) -> np.ndarray:
    """Smooth random values spread over [low, high] (correlation length in cell-space units).

    Made on a coarse grid (about three samples per sigma) and interpolated up,
    which is much cheaper than filtering full-size noise with a wide kernel.
    """
    sigmas = np.array([sigma_xy / z_scale, sigma_xy, sigma_xy])
    steps = np.maximum(1.0, sigmas / 3.0)
    coarse_shape = tuple(int(np.ceil(n / step)) + 1 for n, step in zip(shape, steps))
    noise = rng.normal(size=coarse_shape).astype(np.float32)
    coarse = ndimage.gaussian_filter(noise, sigma=sigmas / steps, mode="wrap")
    zoom = [n / c for n, c in zip(shape, coarse_shape)]
    smooth = ndimage.zoom(coarse, zoom, order=1, grid_mode=True, mode="grid-wrap")
    smooth /= max(float(np.abs(smooth).max()), 1e-12)
    return (low + (smooth + 1.0) * 0.5 * (high - low)).astype(np.float32)


# ------------------------------------------------------------------------------- image


def _cytoplasm(rng: np.random.Generator, cells: np.ndarray, work_shape: tuple[int, int, int],
               z_scale: float) -> np.ndarray:
    """Grey cell interiors: a tone per cell, fine and coarse texture, vesicles in some cells."""
    n_ids = int(cells.max()) + 1
    tone = rng.uniform(0.62, 0.76, size=n_ids).astype(np.float32)
    image = tone[cells]
    fine = rng.normal(size=work_shape).astype(np.float32)
    image += 0.16 * ndimage.gaussian_filter(fine, sigma=(0, 1.0, 1.0))
    image += _smooth_field(rng, work_shape, 6.0, z_scale, -0.05, 0.05)
    # Synaptic vesicles: small dark rings, crowded in about a third of the cells.
    crowding = np.where(rng.random(n_ids) < 0.3, 0.006, 0.0005).astype(np.float32)
    centres = (rng.random(work_shape) < crowding[cells]).astype(np.float32)
    ring = ndimage.gaussian_filter(centres, sigma=(0, 1.6, 1.6)) - ndimage.gaussian_filter(
        centres, sigma=(0, 0.8, 0.8))
    image -= 7.0 * np.maximum(ring, 0.0)
    return image


def _add_mitochondria(rng: np.random.Generator, image: np.ndarray, cells: np.ndarray,
                      interface_distance: np.ndarray, count: int, z_scale: float) -> None:
    """Paint dark elongated blobs with a darker rim, each inside one cell."""
    depth, height, width = image.shape
    for _ in range(count):
        radius_long, radius_short = rng.uniform(8.0, 18.0), rng.uniform(5.0, 8.0)
        radius_z = rng.uniform(5.0, 15.0) / z_scale  # in sections
        z, y, x = (int(rng.integers(0, n)) for n in image.shape)
        if interface_distance[z, y, x] < 0.7 * radius_short:
            continue  # too close to a membrane for a blob of this size
        angle = rng.uniform(0.0, np.pi)
        reach = int(np.ceil(radius_long)) + 2
        zs = slice(max(0, int(z - radius_z)), min(depth, int(z + radius_z) + 1))
        ys, xs = slice(max(0, y - reach), min(height, y + reach + 1)), slice(max(0, x - reach),
                                                                             min(width, x + reach + 1))
        gz, gy, gx = np.ogrid[zs, ys, xs]
        along = (gy - y) * np.cos(angle) + (gx - x) * np.sin(angle)
        across = -(gy - y) * np.sin(angle) + (gx - x) * np.cos(angle)
        radius = np.sqrt((along / radius_long) ** 2 + (across / radius_short) ** 2
                         + ((gz - z) / max(radius_z, 0.5)) ** 2)
        inside = (radius < 1.0) & (cells[zs, ys, xs] == cells[z, y, x])
        # Cristae: faint stripes across the long axis; the outer membrane: a darker rim.
        stripes = 0.06 * np.sin(along * 1.3 + rng.uniform(0, 2 * np.pi))
        rim = 0.15 * np.exp(-(((1.0 - radius) * radius_short) / 1.0) ** 2)
        block = image[zs, ys, xs]
        block[inside] = (0.34 + stripes - rim)[inside] + 0.4 * (block[inside] - 0.7)


def _random_shift(rng: np.random.Generator) -> tuple[int, int]:
    magnitude = rng.uniform(4.0, MAX_MISALIGNMENT)
    angle = rng.uniform(0.0, 2 * np.pi)
    dy, dx = np.rint(magnitude * np.sin(angle)), np.rint(magnitude * np.cos(angle))
    return int(np.clip(dy, -MAX_MISALIGNMENT, MAX_MISALIGNMENT)), int(np.clip(dx, -MAX_MISALIGNMENT,
                                                                             MAX_MISALIGNMENT))


def _crop_sections(raw: np.ndarray, labels: np.ndarray, shape: tuple[int, int, int], margin: int,
                   misaligned: dict[int, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Cut the field of view out of the margin; a misaligned section sees it displaced."""
    out_raw = np.empty(shape, dtype=raw.dtype)
    out_labels = np.empty(shape, dtype=labels.dtype)
    for z in range(shape[0]):
        dy, dx = misaligned.get(z, (0, 0))
        # Content at p in aligned sections appears at p + (dy, dx) here.
        window = (z, slice(margin - dy, margin - dy + shape[1]), slice(margin - dx, margin - dx + shape[2]))
        out_raw[z] = raw[window]
        out_labels[z] = labels[window]
    return out_raw, out_labels


def _consecutive_ids(labels: np.ndarray) -> np.ndarray:
    """Renumber the cells still visible 1..n, keeping their order (0 stays 0)."""
    present = np.unique(labels)
    present = present[present != 0]
    lookup = np.zeros(int(labels.max()) + 1, dtype=np.uint32)
    lookup[present] = np.arange(1, len(present) + 1, dtype=np.uint32)
    return lookup[labels]


# --------------------------------------------------------------------------- volumes by name

SYNTHETIC_SCHEME = "synthetic:"
_PARTS = ("raw", "labels", "boundary")
_NUMBER_OPTIONS = {"anisotropy", "mean_cell_diameter", "mito_density", "blur_sigma", "noise_sigma",
                   "z_elongation"}
_COUNT_OPTIONS = {"seed", "misaligned_sections", "missing_sections"}


def is_synthetic_name(path: str | Path) -> bool:
    return str(path).startswith(SYNTHETIC_SCHEME)


def synthetic_volume(name: str | Path) -> np.ndarray:
    """A generated volume named like a file, so job files can use data that is never stored:
    `synthetic:raw?shape=16,256,256&seed=1` (also `labels`, `boundary`; any numeric option of
    `make_em_volume`). The same name always gives the same array."""
    text = str(name)
    if not is_synthetic_name(text):
        raise ValueError(f"{text!r} is not a synthetic volume name ({SYNTHETIC_SCHEME}...)")
    part, _, query = text[len(SYNTHETIC_SCHEME):].partition("?")
    if part not in _PARTS:
        raise ValueError(f"{text!r}: expected one of {', '.join(_PARTS)} after '{SYNTHETIC_SCHEME}', found {part!r}")
    options: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, _, value = item.partition("=")
        try:
            if key == "shape":
                options["shape"] = tuple(int(v) for v in value.split(","))
            elif key in _COUNT_OPTIONS:
                options[key] = int(value)
            elif key in _NUMBER_OPTIONS:
                options[key] = float(value)
            else:
                known = ", ".join(sorted(_COUNT_OPTIONS | _NUMBER_OPTIONS))
                raise ValueError(f"unknown option {key!r}; known: shape, {known}")
        except ValueError as error:
            raise ValueError(f"{text!r}: {error}") from None
    volume = _cached_volume(tuple(sorted(options.items())))
    return getattr(volume, part)


@functools.lru_cache(maxsize=4)
def _cached_volume(options: tuple[tuple[str, Any], ...]) -> SyntheticEM:
    return make_em_volume(**dict(options))
