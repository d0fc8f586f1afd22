"""The classical peer of training from strokes: an ilastik-style random forest on multiscale filters.

What EM labs use when they paint a few strokes: every pixel described by smoothed intensity,
edge strength and texture (Hessian eigenvalues) at Gaussian scales 1 to 16 pixels
(scikit-image's `multiscale_basic_features`, section by section), a random forest of 100 trees
(scikit-learn) fitted on the painted pixels, and its membrane probability for every pixel. Both
libraries come with the `bench` extra.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from znn.base.errors import ZnnError

SIGMA_MIN, SIGMA_MAX = 1.0, 16.0
TREES = 100


@dataclass(frozen=True)
class ForestResult:
    membrane: np.ndarray  # (z, y, x) float32 membrane probability
    features_s: float  # computing the filters of every section
    fit_s: float  # fitting the forest on the painted pixels
    predict_s: float  # the probability of every pixel
    painted: int

    @property
    def train_s(self) -> float:
        """What a user waits for before the forest can predict: filters and fit."""
        return self.features_s + self.fit_s


def _require_libraries() -> None:
    try:
        import skimage  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as missing:
        raise ZnnError(f"the random-forest peer needs scikit-learn and scikit-image ({missing}); install them "
                       "with pip install 'napari-znn[bench]'") from None


def multiscale_features(image: np.ndarray, threads: int) -> np.ndarray:
    """(z, y, x, features) float32: the filters of every section (`threads` 0: all cores)."""
    from skimage.feature import multiscale_basic_features

    sections = [multiscale_basic_features(np.asarray(section, dtype=np.float32), sigma_min=SIGMA_MIN,
                                          sigma_max=SIGMA_MAX, workers=threads or None)
                for section in np.asarray(image)]
    return np.stack(sections).astype(np.float32, copy=False)


def forest_on_strokes(image: np.ndarray, strokes: np.ndarray, *, membrane: int = 1, cell: int = 2,
                      threads: int = 0, seed: int = 0) -> ForestResult:
    """Fit the forest on the pixels of `strokes` (z, y, x; `membrane` and `cell` painted, 0 unlabelled)
    and predict the membrane probability of every pixel of `image`."""
    _require_libraries()
    from sklearn.ensemble import RandomForestClassifier

    strokes = np.asarray(strokes)
    if strokes.shape != np.shape(image):
        raise ZnnError(f"strokes {strokes.shape} and image {np.shape(image)} differ in shape")
    painted = (strokes == membrane) | (strokes == cell)
    if not ((strokes == membrane).any() and (strokes == cell).any()):
        raise ZnnError("the forest needs strokes of both kinds (membrane and cell)")
    jobs = threads if threads > 0 else -1
    started = time.perf_counter()
    features = multiscale_features(image, threads)
    featured = time.perf_counter()
    forest = RandomForestClassifier(n_estimators=TREES, n_jobs=jobs, random_state=seed)
    forest.fit(features[painted], (strokes[painted] == membrane).astype(np.uint8))
    fitted = time.perf_counter()
    flat = features.reshape(-1, features.shape[-1])
    membrane_column = list(forest.classes_).index(1)
    probability = forest.predict_proba(flat)[:, membrane_column].reshape(strokes.shape).astype(np.float32)
    return ForestResult(probability, featured - started, fitted - featured, time.perf_counter() - fitted,
                        int(painted.sum()))
