"""scikit-learn imputers as baselines: KNN and MICE (IterativeImputer) over the features of each time step."""

from __future__ import annotations

import numpy as np
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer, KNNImputer

from .simple import mean_impute

__all__ = ["knn_impute", "mice_impute"]


def _rows(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, x.shape[-1])


def _fit_rows(train: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    rows = _rows(train)
    rows = rows[~np.isnan(rows).all(1)]  # rows with nothing observed carry no information
    if len(rows) > max_rows:
        rows = rows[np.random.default_rng(seed).choice(len(rows), max_rows, replace=False)]
    return rows


def knn_impute(x: np.ndarray, train: np.ndarray, k: int = 5, max_rows: int = 5_000, seed: int = 0) -> np.ndarray:
    """KNNImputer fitted on (a sample of) the training time steps; each step is a row of K features."""
    imp = KNNImputer(n_neighbors=k, keep_empty_features=True).fit(_fit_rows(train, max_rows, seed))
    out = imp.transform(_rows(x)).reshape(x.shape)
    return mean_impute(np.where(np.isnan(x), out, x), train)


def mice_impute(
    x: np.ndarray, train: np.ndarray, max_iter: int = 10, max_rows: int = 20_000, seed: int = 0
) -> np.ndarray:
    """MICE (sklearn's IterativeImputer with Bayesian ridge) fitted on the training time steps."""
    imp = IterativeImputer(max_iter=max_iter, random_state=seed, keep_empty_features=True)
    imp.fit(_fit_rows(train, max_rows, seed))
    out = imp.transform(_rows(x)).reshape(x.shape)
    return mean_impute(np.where(np.isnan(x), out, x), train)
